// User mappings of files and the fault path: mmap_file/munmap/mprotect take mmap_lock write;
// access_read/access_write fault pages in under the per-VMA read lock (mmap_lock read as the
// fallback), call ->fault / ->page_mkwrite, install the page at the user address (a "pte":
// the memfd page mapped there) and copy through it while the handler keeps the folio locked
// and the page table lock is held.
#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "core/mm/mm.h"
#include "locking/check.h"

namespace lockfs::core {

Result<uint64_t> Mm::mmap_file(VmObject& obj, uint64_t pgoff, uint64_t len, uint32_t prot) {
  if (len == 0) return err(-EINVAL);
  len = (len + kVmPageSize - 1) & ~(kVmPageSize - 1);
  if (int rc = mmap_write_lock_killable(); rc != 0) return err(rc);
  MmapWriteSection section(*this);  // mmap_region allocates: it may throw
  Result<uint64_t> out = err(-ENOMEM);
  if (auto a = get_unmapped_area(len)) {
    const uint32_t flags = (prot & (kVmRead | kVmWrite)) | kVmShared;
    auto v = mmap_region(*a, len, pgoff, flags, &obj);
    if (v) next_fit_ = *a + len;
    out = v ? Result<uint64_t>(*a) : Result<uint64_t>(err(v.error()));
  }
  return out;
}

Result<void> Mm::munmap(uint64_t addr, uint64_t len) {
  if (int rc = mmap_write_lock_killable(); rc != 0) return err(rc);
  MmapWriteSection section(*this);  // a split allocates: it may throw
  return do_munmap(addr, len);
}

Result<void> Mm::mprotect(uint64_t addr, uint64_t len, uint32_t prot) {
  if (int rc = mmap_write_lock_killable(); rc != 0) return err(rc);
  MmapWriteSection section(*this);  // a split allocates: it may throw
  VmArea* v = vma_lookup(addr);
  if (!v) return err(-ENOMEM);
  return mprotect_range(addr, (len + kVmPageSize - 1) & ~(kVmPageSize - 1),
                        (v->vm_flags & ~(kVmRead | kVmWrite)) | (prot & (kVmRead | kVmWrite)));
}

Result<size_t> Mm::access_read(uint64_t addr, std::span<char> out) {
  return access(addr, out.data(), out.size(), false);
}

Result<size_t> Mm::access_write(uint64_t addr, std::span<const char> in) {
  return access(addr, const_cast<char*>(in.data()), in.size(), true);
}

// LOCKFS_NO_THREAD_SAFETY_ANALYSIS: which lock keeps the VMA stable (its read lock or
// mmap_lock read) is decided at run time; each branch releases what it took, and the
// callbacks assert it (vmf.locked_vma says which).
Result<size_t> Mm::access(uint64_t addr, char* buf, size_t len,
                          bool write) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  size_t done = 0;
  auto fail = [&](int e) -> Result<size_t> {
    if (done > 0) return done;
    return err(e);
  };
  while (done < len) {
    const uint64_t a = addr + done;
    const uint64_t page = a & ~(kVmPageSize - 1);
    const size_t n = std::min<size_t>(len - done, page + kVmPageSize - a);
    VmArea* vma = lock_vma_under_rcu(page);
    const bool vma_locked = vma != nullptr;
    if (vma_locked) {
      faults_vma_.fetch_add(1, std::memory_order_relaxed);
    } else {
      if (int rc = mmap_read_lock_killable(); rc != 0) return fail(rc);
      vma = vma_lookup(page);
      if (!vma) {
        mmap_read_unlock();
        return fail(-EFAULT);
      }
      faults_mmap_.fetch_add(1, std::memory_order_relaxed);
    }
    auto unlock = [&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
      if (vma_locked)
        vma_end_read(vma);
      else
        mmap_read_unlock();
    };
    if (!(vma->vm_flags & (write ? kVmWrite : kVmRead)) || !vma->vm_ops || !vma->vm_file ||
        (vma->vm_flags & kVmPageCache)) {
      unlock();
      return fail(-EFAULT);  // SIGSEGV
    }
    VmFaultInfo vmf{vma, page, vma->pgoff_of(page), write, vma_locked};
    VmOperations* ops = vma->vm_ops;
    VmObject* obj = vma->vm_file;
    VmFault res = ops->fault(vmf);  // never throws: out of memory is kOom (vma.h)
    if (res == VmFault::kLocked && write) {
      // do_shared_fault: the folio is unlocked for ->page_mkwrite, which locks it again.
      ops->unlock_page(vmf);
      res = ops->page_mkwrite(vmf);
    }
    int e = 0;
    if (res == VmFault::kLocked) {
      // Install the page at the user address (read faults map it read-only so that the first
      // write faults again and goes through ->page_mkwrite), then copy through it.
      const int prot = write ? PROT_READ | PROT_WRITE : PROT_READ;
      locking::SpinGuard ptl(ptl_);
      void* got = ::mmap(reinterpret_cast<void*>(page), kVmPageSize, prot, MAP_SHARED | MAP_FIXED,
                         obj->fd, static_cast<off_t>(vmf.pgoff << kVmPageShift));
      if (got == MAP_FAILED) {
        e = -ENOMEM;
        reserve_memory(page, page + kVmPageSize);
      } else if (write) {
        std::memcpy(reinterpret_cast<char*>(a), buf + done, n);
      } else {
        std::memcpy(buf + done, reinterpret_cast<const char*>(a), n);
      }
      ops->unlock_page(vmf);
    }
    if (vmf.handle) ops->put_page(vmf);
    unlock();
    switch (res) {
      case VmFault::kLocked:
        if (e != 0) return fail(e);
        done += n;
        break;
      case VmFault::kRetry:
        break;
      case VmFault::kSigbus:
        return fail(-EFAULT);
      case VmFault::kOom:
        return fail(-ENOSPC);
      case VmFault::kKilled:
        return fail(-EINTR);
    }
  }
  return done;
}

bool Mm::is_mapped(const VmObject& obj) {
  locking::ReadGuard g(i_mmap_lock_);
  return i_mmap_.count(&obj) != 0;
}

void Mm::unmap_mapping_range(VmObject& obj, uint64_t first, uint64_t count) {
  locking::ReadGuard g(i_mmap_lock_);
  auto it = i_mmap_.find(&obj);
  if (it == i_mmap_.end()) return;
  for (VmArea* v : it->second) {
    const uint64_t lo = std::max(v->vm_pgoff, first);
    const uint64_t hi = std::min(v->vm_pgoff + v->pages(), first + count);
    if (lo >= hi) continue;
    locking::SpinGuard ptl(ptl_);
    reserve_memory(v->vm_start + ((lo - v->vm_pgoff) << kVmPageShift),
                   v->vm_start + ((hi - v->vm_pgoff) << kVmPageShift));
  }
}

}  // namespace lockfs::core

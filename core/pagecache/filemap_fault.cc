// vm_operations of user mappings of a file: filemap_fault (find or allocate the folio under
// invalidate_lock shared, return it locked after rechecking EOF), filemap_page_mkwrite
// (invalidate_lock shared, folio locked and dirtied), and open/close bookkeeping.
#include <cstring>
#include <new>

#include "core/mm/on_exit.h"
#include "core/pagecache/mapping_impl.h"
#include "locking/check.h"
#include "locking/sync_point.h"

namespace lockfs::core {

namespace {
// vmf.handle holds the fault's folio reference (Folio*: taken over from a FolioRef).
Folio& folio_of(VmFaultInfo& vmf) { return *static_cast<Folio*>(vmf.handle); }
}  // namespace

void FileVmOps::open(VmArea& vma) {
  // Row vm_operations.open: mmap_lock write.
  m_.mm().mmap_assert_write_locked();
  m_.vm_opens.fetch_add(1, std::memory_order_relaxed);
}

void FileVmOps::close(VmArea& vma) {
  // Row vm_operations.close: mmap_lock read or write.
  m_.mm().mmap_assert_locked();
  m_.vm_closes.fetch_add(1, std::memory_order_relaxed);
}

void FileVmOps::assert_fault_locks(const VmFaultInfo& vmf) const {
  // Rows fault / page_mkwrite: mmap_lock read, or the VMA read lock (per-VMA lock faults).
  if (vmf.locked_vma) {
    vmf.vma->vm_lock.assert_held(locking::Mode::kShared);
  } else {
    m_.mm().mmap_assert_locked();
  }
}

// LOCKFS_NO_THREAD_SAFETY_ANALYSIS: returns with the folio locked (kLocked), which the caller
// releases through unlock_page(); invalidate_lock is paired within the function.
// An allocation failure (the folio, its window, an index node) is VM_FAULT_OOM, as in the
// kernel: the access returns the bytes it copied before this page (mm.h's short count) --
// for access_write those are in the file already -- rather than losing that count to an
// exception. do_fault releases everything on the way out (its OnExits and FolioRef).
VmFault FileVmOps::fault(VmFaultInfo& vmf) {
  try {
    return do_fault(vmf);
  } catch (const std::bad_alloc&) {
    return VmFault::kOom;
  }
}

VmFault FileVmOps::do_fault(VmFaultInfo& vmf) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  assert_fault_locks(vmf);
  m_.stats.fault.fetch_add(1, std::memory_order_relaxed);
  if (vmf.pgoff * kPageSize >= m_.fault_size.load(std::memory_order_acquire)) {
    return VmFault::kSigbus;
  }
  // Bringing a folio in (or finding it) is done under invalidate_lock shared, so a punch or
  // truncate (exclusive) cannot drop it between the lookup and our lock.
  if (m_.as.invalidate_lock.down_read_killable() != 0) return VmFault::kKilled;
  // Released on every path out, std::bad_alloc from the allocations below included.
  // LOCKFS_NO_THREAD_SAFETY_ANALYSIS: the lambda runs in this function, which holds the lock.
  OnExit invalidate_unlock([&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
    m_.as.invalidate_lock.up_read();
  });
  // Again under the lock: a truncate that finished while we waited set the size first, and
  // a page must not be allocated past it (it would outlive the truncate).
  if (vmf.pgoff * kPageSize >= m_.fault_size.load(std::memory_order_acquire)) {
    return VmFault::kSigbus;
  }
  FolioRef f = m_.find(vmf.pgoff);
  if (!f) {
    // A hole inside i_size: shmem_fault allocates a page for it.
    if (!m_.budget().charge(1)) return VmFault::kOom;
    // Given back unless a new folio uses the page (storage_map and add_locked may throw).
    OnExit uncharge([&] { m_.budget().uncharge(1); });
    char* mem = nullptr;
    Result<void> r = m_.ensure_memfd();
    if (r) r = m_.mm().storage_map(m_.obj, vmf.pgoff, 1, &mem);
    if (!r) return r.error() == -EINTR ? VmFault::kKilled : VmFault::kOom;
    bool created = false;
    f = m_.add_locked(vmf.pgoff, mem, &created);
    if (created) {
      uncharge.dismiss();
      m_.read_folio(*f);  // fills it and unlocks, as filemap_read_folio
    }
  }
  if (f->flags.lock_killable() != 0) return VmFault::kKilled;
  if (!f->flags.uptodate()) {
    m_.read_folio(*f);
    if (f->flags.lock_killable() != 0) return VmFault::kKilled;
  }
  invalidate_unlock.dismiss();
  m_.as.invalidate_lock.up_read();
  // Recheck under the folio lock: truncated out, or i_size moved below it.
  if (!f->mapped.load(std::memory_order_acquire)) {
    f->flags.unlock();
    return VmFault::kRetry;
  }
  if (vmf.pgoff * kPageSize >= m_.fault_size.load(std::memory_order_acquire)) {
    f->flags.unlock();
    return VmFault::kSigbus;
  }
  vmf.page = f->data;
  vmf.handle = f.release();
  LOCKFS_SYNC_POINT("filemap_fault:folio_locked");
  return VmFault::kLocked;
}

VmFault FileVmOps::page_mkwrite(VmFaultInfo& vmf) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  assert_fault_locks(vmf);
  m_.stats.page_mkwrite.fetch_add(1, std::memory_order_relaxed);
  Folio& f = folio_of(vmf);
  if (m_.as.invalidate_lock.down_read_killable() != 0) return VmFault::kKilled;
  if (f.flags.lock_killable() != 0) {
    m_.as.invalidate_lock.up_read();
    return VmFault::kKilled;
  }
  m_.as.invalidate_lock.up_read();
  if (!f.mapped.load(std::memory_order_acquire)) {  // truncated meanwhile: VM_FAULT_NOPAGE
    f.flags.unlock();
    return VmFault::kRetry;
  }
  m_.dirty_folio(f);
  f.flags.wait_writeback();  // folio_wait_stable
  return VmFault::kLocked;
}

void FileVmOps::unlock_page(VmFaultInfo& vmf) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  folio_of(vmf).flags.unlock();
}

void FileVmOps::put_page(VmFaultInfo& vmf) {
  if (vmf.handle) folio_of(vmf).put();
  vmf.handle = nullptr;
  vmf.page = nullptr;
}

}  // namespace lockfs::core

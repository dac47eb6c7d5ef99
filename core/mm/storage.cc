// Page cache storage windows: each folio's memory is a page of its file's memfd, mapped into
// init_mm by VMAs with kVmPageCache. Growing expands a window (vma_expand) or maps a new one
// (mmap_region, which merges with neighbours); pages leaving the cache get their windows
// unmapped (do_munmap: shrink, split or remove).
#include <algorithm>
#include <new>
#include <vector>

#include "core/mm/mm.h"
#include "locking/check.h"
#include "locking/task.h"

namespace lockfs::core {

namespace {
constexpr uint32_t kStorageFlags = kVmRead | kVmWrite | kVmShared | kVmPageCache | kVmPopulate;

// Releasing memory is not something a fatal signal may stop (the kernel's evict and
// truncate_inode_pages have no killable waits): run it as a task with no signal pending.
class UnkillableScope {
 public:
  UnkillableScope() : task_(0, 0, 0, "mm_release"), scope_(task_) {}

 private:
  locking::Task task_;
  locking::TaskScope scope_;
};
}  // namespace

Result<void> Mm::storage_map(VmObject& obj, uint64_t first, uint64_t count, char** addrs) {
  if (init_mm_) return init_mm_->storage_map(obj, first, count, addrs);
  if (int rc = mmap_write_lock_killable(); rc != 0) return err(rc);
  // vma_expand and mmap_region allocate: a std::bad_alloc leaves the windows mapped so far
  // (each one whole: rewrite changes all or nothing), which later calls reuse.
  MmapWriteSection section(*this);
  Result<void> r;
  const uint64_t end = first + count;
  // One search of obj's windows around page pg: the window covering pg (if any), the one
  // ending right at pg (covering pg - 1, when pg is not covered) and the page where the next
  // window starts (so [pg, next) is known uncovered without a search per page).
  struct Around {
    VmArea* cover = nullptr;
    VmArea* before = nullptr;
    uint64_t next = UINT64_MAX;
  };
  auto around = [&](uint64_t pg) LOCKFS_REQUIRES(mmap_lock) {
    Around a;
    auto it = storage_.find(&obj);
    if (it == storage_.end()) return a;
    auto w = it->second.upper_bound(pg);
    if (w != it->second.end()) a.next = w->first;
    if (w == it->second.begin()) return a;
    VmArea* v = std::prev(w)->second;
    if (pg < v->vm_pgoff + v->pages()) {
      a.cover = v;
    } else if (pg > 0 && v->vm_pgoff + v->pages() == pg) {
      a.before = v;
    }
    return a;
  };
  const uint64_t hi = base_ + size_;
  for (uint64_t p = first; r && p < end;) {
    const Around at = around(p);
    if (VmArea* w = at.cover) {
      for (; p < end && p < w->vm_pgoff + w->pages(); ++p) {
        addrs[p - first] =
            reinterpret_cast<char*>(w->vm_start + ((p - w->vm_pgoff) << kVmPageShift));
      }
      continue;
    }
    uint64_t n = std::min(end, at.next) - p;
    // Grow the window holding page p-1 when the addresses after it are free.
    if (VmArea* prev = at.before) {
      VmArea* after = find_vma(prev->vm_end);
      const uint64_t room = ((after ? after->vm_start : hi) - prev->vm_end) >> kVmPageShift;
      if (room > 0) {
        const uint64_t m = std::min(room, n);
        uint64_t new_end = prev->vm_end + (m << kVmPageShift);
        // Filling the gap up to the next window of the same run: swallow it too.
        if (after && after->vm_start == new_end && after->vm_file == &obj &&
            after->vm_pgoff == p + m) {
          new_end = after->vm_end;
        }
        r = vma_expand(prev, prev->vm_start, new_end);
        continue;
      }
    }
    // Else a new window, as large as a free gap allows (halving down to one page).
    for (;;) {
      auto a = get_unmapped_area(n << kVmPageShift);
      if (a) {
        auto v = mmap_region(*a, n << kVmPageShift, p, kStorageFlags, &obj);
        if (v) {
          next_fit_ = *a + (n << kVmPageShift);
        } else {
          r = err(v.error());
        }
        break;
      }
      if (n == 1) {
        r = err(-ENOMEM);  // cannot happen while windows stay within the reservation
        break;
      }
      n /= 2;
    }
  }
  return r;
}

void Mm::storage_unmap(VmObject& obj, uint64_t first, uint64_t count) {
  if (init_mm_) return init_mm_->storage_unmap(obj, first, count);
  if (count == 0) return;
  UnkillableScope unkillable;
  mmap_write_lock();
  MmapWriteSection section(*this);
  // Releasing memory must finish (truncate has dropped the folios already and cannot undo
  // that), so running out of memory here is not an error: a window whose unmap cannot get
  // the memory it needs (a split's VMA object, the plan, the list below) stays mapped whole.
  // It is address space only -- the pages were punched -- and storage_map reuses it when
  // those pages come back; a later truncate, punch or eviction of them unmaps it.
  try {
    // Collect the address ranges first: do_munmap edits the index we would be walking.
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    if (auto it = storage_.find(&obj); it != storage_.end()) {
      // count may mean "to the end": clamp the overflow.
      const uint64_t stop = count > UINT64_MAX - first ? UINT64_MAX : first + count;
      for (auto& [pg, v] : it->second) {
        const uint64_t lo = std::max(pg, first);
        const uint64_t hi = std::min(pg + v->pages(), stop);
        if (lo < hi) {
          ranges.emplace_back(v->vm_start + ((lo - pg) << kVmPageShift), (hi - lo) << kVmPageShift);
        }
      }
    }
    for (auto [a, len] : ranges) {
      Result<void> r = do_munmap(a, len);
      // Only an allocation failure (new(std::nothrow) of a split's VMA object) gets here.
      LOCKFS_CHECK(r.ok() || r.error() == -ENOMEM, "storage_unmap: do_munmap failed");
    }
  } catch (const std::bad_alloc&) {
  }
}

uint64_t Mm::storage_pages_mapped() {
  if (init_mm_) return init_mm_->storage_pages_mapped();
  locking::ReadGuard g(mmap_lock);
  uint64_t n = 0;
  for (auto& [o, idx] : storage_) {
    for (auto& [pg, v] : idx) n += v->pages();
  }
  return n;
}

size_t Mm::storage_windows() {
  if (init_mm_) return init_mm_->storage_windows();
  locking::ReadGuard g(mmap_lock);
  size_t n = 0;
  for (auto& [o, idx] : storage_) n += idx.size();
  return n;
}

}  // namespace lockfs::core

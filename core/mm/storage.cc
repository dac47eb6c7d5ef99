// Page cache storage windows: each folio's memory is a page of its file's memfd, mapped into
// init_mm by VMAs with kVmPageCache. Growing expands a window (vma_expand) or maps a new one
// (mmap_region, which merges with neighbours); pages leaving the cache get their windows
// unmapped (do_munmap: shrink, split or remove).
#include <algorithm>
#include <new>

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
  // A write maps its pages' whole clusters, so the next writes into them find their windows
  // there: a lookup, which mmap_lock shared covers (as it covers a fault's find_vma). Only a
  // missing window needs the lock for write, and the lookup starts over under it.
  if (int rc = mmap_read_lock_killable(); rc != 0) return err(rc);
  const bool covered = storage_covered(obj, first, first + count, first, addrs) == first + count;
  mmap_read_unlock();
  if (covered) return ok();
  if (int rc = mmap_write_lock_killable(); rc != 0) return err(rc);
  // vma_expand and mmap_region allocate: running out of memory is -ENOMEM wherever it
  // happens (rewrite's VMA objects and nodes say so; their plans' lists throw, caught
  // below), so that callers fall back alike (PageAddrs::map retries the span alone). It
  // leaves the windows mapped so far (each one whole: rewrite changes all or nothing),
  // which later calls reuse.
  MmapWriteSection section(*this);
  try {
    return storage_map_locked(obj, first, count, addrs);
  } catch (const std::bad_alloc&) {
    return err(-ENOMEM);
  }
}

uint64_t Mm::storage_covered(const VmObject& obj, uint64_t p, uint64_t end, uint64_t first,
                             char** addrs) {
  auto it = storage_.find(&obj);
  if (it == storage_.end()) return p;
  const std::map<uint64_t, VmArea*>& windows = it->second;
  while (p < end) {
    auto w = windows.upper_bound(p);
    if (w == windows.begin()) return p;
    const VmArea* v = std::prev(w)->second;
    const uint64_t v_end = v->vm_pgoff + v->pages();
    if (p >= v_end) return p;
    for (; p < end && p < v_end; ++p) {
      addrs[p - first] =
          reinterpret_cast<char*>(v->vm_start + ((p - v->vm_pgoff) << kVmPageShift));
    }
  }
  return p;
}

Result<void> Mm::storage_map_locked(VmObject& obj, uint64_t first, uint64_t count,
                                    char** addrs) {
  Result<void> r;
  const uint64_t end = first + count;
  // One search of obj's windows around an uncovered page pg: the window ending right at pg
  // (covering pg - 1) and the page where the next window starts (so [pg, next) is known
  // uncovered without a search per page).
  struct Around {
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
    if (pg > 0 && v->vm_pgoff + v->pages() == pg) a.before = v;
    return a;
  };
  const uint64_t hi = base_ + size_;
  for (uint64_t p = first; r && p < end;) {
    p = storage_covered(obj, p, end, first, addrs);  // pages in windows already
    if (p == end) break;
    const Around at = around(p);
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
  // count may mean "to the end": clamp the overflow.
  const uint64_t stop = count > UINT64_MAX - first ? UINT64_MAX : first + count;
  // One window at a time, looked up afresh each time (removing one edits the index; the
  // lookups allocate nothing). A window wholly inside the range goes without allocating
  // (remove_storage_window), so eviction -- every window of the object, right before the
  // object is freed -- always finishes: a window left behind would outlive its object and
  // be handed to the next object allocated at the same address.
  for (uint64_t pg = first; pg < stop;) {
    auto it = storage_.find(&obj);
    if (it == storage_.end()) break;
    auto w = it->second.upper_bound(pg);
    if (w != it->second.begin() && pg < std::prev(w)->first + std::prev(w)->second->pages()) {
      w = std::prev(w);
    }
    if (w == it->second.end() || w->first >= stop) break;
    VmArea* v = w->second;
    const uint64_t v_first = w->first, v_end = v_first + v->pages();
    const uint64_t lo = std::max(v_first, first), hi = std::min(v_end, stop);
    pg = v_end;
    if (lo == v_first && hi == v_end) {
      remove_storage_window(v);
      continue;
    }
    // Part of a window: shrinking or splitting it allocates a VMA object and index nodes.
    // Releasing memory must finish (truncate has dropped the folios already and cannot undo
    // that), so running out of memory here is not an error: this window stays mapped whole.
    // It is address space only -- the caller punches the pages next -- and storage_map reuses it when
    // those pages come back; a later truncate, punch or eviction of them unmaps it. The
    // other windows of the range are unmapped all the same.
    try {
      Result<void> r = do_munmap(v->vm_start + ((lo - v_first) << kVmPageShift),
                                 (hi - lo) << kVmPageShift);
      // Only an allocation failure (new(std::nothrow) of a split's VMA object) gets here.
      LOCKFS_CHECK(r.ok() || r.error() == -ENOMEM, "storage_unmap: do_munmap failed");
    } catch (const std::bad_alloc&) {
    }
  }
}

// do_munmap of a whole window without its allocations: nothing is split, so no VMA object
// or index node is needed; unlinking, erasing and freeing allocate nothing.
void Mm::remove_storage_window(VmArea* v) {
  mmap_assert_write_locked();
  vma_start_write(v);  // not killable: memory release must finish
  unlink_file(v);
  tree_erase(v);
  const uint64_t start = v->vm_start, end = v->vm_end;
  delete v;
  reserve_memory(start, end);
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

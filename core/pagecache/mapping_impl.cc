// The folio index of an AddressSpace and its address_space_operations (shmem-like: memory is
// the backing store, so "reading" a folio zero-fills it and "writing back" only moves the
// flags). Each operation asserts the folio state its contract row gives.
#include "core/pagecache/mapping_impl.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/mm/on_exit.h"
#include "locking/check.h"

namespace lockfs::core {

namespace {
const locking::LockClass& i_pages_class() {
  static const locking::LockClass cls("i_pages", locking::LockKind::kSpinLock);
  return cls;
}
}  // namespace

const locking::LockClass& folio_lock_class() {
  static const locking::LockClass cls("folio_lock", locking::LockKind::kFolioBit);
  return cls;
}

AddressSpace::Impl::Impl(AddressSpace& a)
    : as(a), vm_ops(*this), i_pages(i_pages_class(), a.ino_), fault_size(a.fault_size_) {
  obj.ops = &vm_ops;
  obj.id = a.ino_;
}

AddressSpace::Impl::~Impl() {
  if (obj.fd >= 0) ::close(obj.fd);
}

// The memfd is created when the file's first page needs memory, not with the inode: empty
// files (most of a metadata workload) then hold no file descriptor, and the daemon's fd limit
// bounds only the files that have data. Running out of descriptors (or of memory for the
// memfd) is -ENOSPC for the write that needed the page, never an abort.
Result<void> AddressSpace::Impl::ensure_memfd() {
  if (memfd_ready.load(std::memory_order_acquire)) return ok();
  const int fd = ::memfd_create("lockfs-mapping", MFD_CLOEXEC);
  if (fd < 0) return err(-ENOSPC);
  // Sparse: the size only makes the page offsets mappable; pages exist once written.
  if (::ftruncate(fd, static_cast<off_t>(kMaxFilePages * kPageSize)) != 0) {
    ::close(fd);
    return err(-ENOSPC);
  }
  int expected = -1;
  if (memfd_owner.compare_exchange_strong(expected, fd, std::memory_order_acq_rel)) {
    obj.fd = fd;  // published by memfd_ready's release store
    memfd_ready.store(true, std::memory_order_release);
    return ok();
  }
  ::close(fd);  // another thread created it first: wait until it is published
  while (!memfd_ready.load(std::memory_order_acquire)) {
  }
  return ok();
}

FolioRef AddressSpace::Impl::find(uint64_t index) {
  locking::SpinGuard g(i_pages);
  Folio* f = pages.load(index);
  if (f) f->get();  // folio_try_get: the index's reference keeps it alive meanwhile
  return FolioRef::adopt(f);
}

void AddressSpace::Impl::find_batch(uint64_t first, size_t n, FolioRef* out) {
  LOCKFS_CHECK(n <= kReadBatch, "read batch too large");
  locking::SpinGuard g(i_pages);
  pages.for_each(first, first + n, [&](uint64_t index, Folio* f) {
    f->get();
    out[index - first] = FolioRef::adopt(f);
    return true;
  });
}

size_t AddressSpace::Impl::find_next_batch(uint64_t first, uint64_t end, FolioRef* out) {
  size_t n = 0;
  locking::SpinGuard g(i_pages);
  pages.for_each(first, end, [&](uint64_t, Folio* f) {
    f->get();
    out[n++] = FolioRef::adopt(f);
    return n < kReadBatch;
  });
  return n;
}

FolioRef AddressSpace::Impl::find_next(uint64_t first, uint64_t end) {
  locking::SpinGuard g(i_pages);
  Folio* f = pages.find_next(first, end);
  if (f) f->get();
  return FolioRef::adopt(f);
}

AddressSpace::Impl::AbsentScan AddressSpace::Impl::scan_absent(uint64_t first, uint64_t end,
                                                               uint64_t limit) {
  AbsentScan r{0, end, end, end};
  // Counts the absent run [lo, hi); false once the limit stops the scan.
  auto gap = [&](uint64_t lo, uint64_t hi) {
    if (lo >= hi) return true;
    if (r.count == limit) {
      r.stop = lo;
      return false;
    }
    const uint64_t take = std::min(hi - lo, limit - r.count);
    if (r.count == 0) r.first = lo;
    r.count += take;
    r.last = lo + take - 1;
    if (take < hi - lo) {
      r.stop = lo + take;
      return false;
    }
    return true;
  };
  uint64_t at = first;
  locking::SpinGuard g(i_pages);
  const bool whole = pages.for_each(first, end, [&](uint64_t index, Folio*) {
    if (!gap(at, index)) return false;
    at = index + 1;
    return true;
  });
  if (whole) gap(at, end);
  return r;
}

// LOCKFS_NO_THREAD_SAFETY_ANALYSIS: returns a new folio locked; the caller owns that lock.
// As filemap_add_folio: PG_locked is set before the folio is visible, and the acquisition is
// reported once it is in the mapping (outside i_pages: a fault-injection hold may sleep).
FolioRef AddressSpace::Impl::add_locked(uint64_t index, char* mem,
                                        bool* created) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  Folio* f = new Folio(as.ino_, index, mem);
  f->flags.set_locked_unpublished();
  f->get();  // the index's reference
  Folio* there;
  {
    // An index node allocation may throw: the folio was never visible, so it just goes.
    // LOCKFS_NO_THREAD_SAFETY_ANALYSIS: its lock was set unpublished, never reported taken.
    OnExit never_added([&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
      f->flags.clear_locked_unpublished();
      delete f;
    });
    locking::SpinGuard g(i_pages);
    there = pages.insert_if_absent(index, f);
    never_added.dismiss();
    if (there) there->get();
  }
  if (there) {
    f->flags.clear_locked_unpublished();
    delete f;  // never visible to anyone
    *created = false;
    return FolioRef::adopt(there);
  }
  f->flags.lock_published();
  nr.fetch_add(1, std::memory_order_relaxed);
  *created = true;
  return FolioRef::adopt(f);
}

size_t AddressSpace::Impl::add_new_batch(uint64_t first, size_t n, char* const* mems,
                                         FolioRef* out) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  LOCKFS_CHECK(n <= kReadBatch, "store batch too large");
  Folio* fresh[kReadBatch];
  size_t made = 0;
  size_t added = 0;
  // Folios not in the index were never visible to anyone: freed here, also when a folio or
  // an index node allocation throws. LOCKFS_NO_THREAD_SAFETY_ANALYSIS: their locks were set
  // unpublished, never reported taken.
  OnExit free_unused([&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
    for (size_t i = added; i < made; ++i) {
      fresh[i]->flags.clear_locked_unpublished();
      delete fresh[i];
    }
  });
  for (; made < n && mems[made]; ++made) {
    fresh[made] = new Folio(as.ino_, first + made, mems[made]);
    fresh[made]->flags.set_locked_unpublished();
    fresh[made]->get();  // the index's reference
  }
  {
    locking::SpinGuard g(i_pages);
    // All or none: the ones inserted before a node allocation throws are locked and not
    // published, so nobody could ever unlock them; they come out again (erase allocates
    // nothing) and are freed with the rest. LOCKFS_NO_THREAD_SAFETY_ANALYSIS: the lambda runs
    // in this scope, under i_pages (g outlives it).
    OnExit take_out([&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
      while (added > 0) {
        --added;
        pages.erase(first + added);
      }
    });
    while (added < made && !pages.insert_if_absent(first + added, fresh[added])) ++added;
    take_out.dismiss();
  }
  for (size_t i = 0; i < added; ++i) out[i] = FolioRef::adopt(fresh[i]);
  nr.fetch_add(added, std::memory_order_relaxed);
  return added;
}

void AddressSpace::Impl::begin_new(Folio& f, bool write_begin) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  if (write_begin) stats.write_begin.fetch_add(1, std::memory_order_relaxed);
  f.flags.lock_published();
}

Result<FolioRef> AddressSpace::Impl::lock_found(FolioRef f, size_t off, size_t len,
                                                bool write_begin)
    LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  // Counted on entry: ->write_begin is running while it waits for the lock.
  if (write_begin) stats.write_begin.fetch_add(1, std::memory_order_relaxed);
  if (int rc = f->flags.lock_killable(); rc != 0) return err(rc);
  if (!f->mapped.load(std::memory_order_acquire)) {
    f->flags.unlock();
    return err(-ENOENT);
  }
  if (!f->flags.uptodate()) zero_outside(*f, off, len);
  return f;
}

void AddressSpace::Impl::zero_outside(Folio& f, size_t off, size_t len) {
  if (off > 0) std::memset(f.data, 0, off);
  if (off + len < kPageSize) std::memset(f.data + off + len, 0, kPageSize - off - len);
}

void AddressSpace::Impl::remove_locked(Folio& f) {
  f.flags.assert_locked();
  {
    locking::SpinGuard g(i_pages);
    Folio* gone = pages.erase(f.index());
    LOCKFS_CHECK(gone == &f, "removing a folio not cached");
  }
  f.mapped.store(false, std::memory_order_release);
  nr.fetch_sub(1, std::memory_order_relaxed);
  f.put();  // the index's reference; the caller still holds its own
}

void AddressSpace::Impl::read_folio(Folio& f) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  // Row read_folio: folio locked on entry, the method unlocks it.
  f.flags.assert_locked();
  stats.read_folio.fetch_add(1, std::memory_order_relaxed);
  std::memset(f.data, 0, kPageSize);  // a page never written reads as zeros
  f.flags.set_uptodate();
  f.flags.unlock();
}

void AddressSpace::Impl::write_end(Folio& f, size_t off,
                                   size_t len) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  stats.write_end.fetch_add(1, std::memory_order_relaxed);
  store_end(f);
}

// LOCKFS_NO_THREAD_SAFETY_ANALYSIS: returns the folio locked; write_end / store_end release it.
Result<FolioRef> AddressSpace::Impl::lock_for_store(uint64_t index, char* mem, size_t off,
                                                    size_t len, bool* created, bool write_begin)
    LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  if (write_begin) stats.write_begin.fetch_add(1, std::memory_order_relaxed);
  *created = false;
  for (;;) {
    FolioRef f = mem ? add_locked(index, mem, created) : find(index);
    if (*created) {
      // Fresh memory is zero already; zero the rest anyway so the folio can be uptodate
      // after the copy whatever the memfd held (simple_write_begin's zeroing).
      zero_outside(*f, off, len);
      return f;
    }
    LOCKFS_CHECK(f != nullptr, "a store without memory for a new folio");
    Result<FolioRef> locked = lock_found(std::move(f), off, len, false);
    if (locked || locked.error() != -ENOENT) return locked;
    // Truncated while we waited: look again.
  }
}

void AddressSpace::Impl::store_end(Folio& f) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  f.flags.assert_locked();
  f.flags.set_uptodate();
  dirty_folio(f);
  f.flags.unlock();
}

void AddressSpace::Impl::dirty_folio(Folio& f) {
  stats.dirty_folio.fetch_add(1, std::memory_order_relaxed);
  (void)f.flags.set_dirty();
}

void AddressSpace::Impl::invalidate_folio(Folio& f, size_t off, size_t len) {
  // Row invalidate_folio: folio locked.
  f.flags.assert_locked();
  stats.invalidate_folio.fetch_add(1, std::memory_order_relaxed);
  if (off == 0 && len == kPageSize) (void)f.flags.test_clear_dirty();
}

bool AddressSpace::Impl::release_folio(Folio& f) {
  // Row release_folio: folio locked. Nothing private to drop: always releasable.
  f.flags.assert_locked();
  stats.release_folio.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void AddressSpace::Impl::launder_folio(Folio& f) {
  // Row launder_folio: folio locked; writes a dirty folio back before it is invalidated.
  f.flags.assert_locked();
  stats.launder_folio.fetch_add(1, std::memory_order_relaxed);
  if (f.flags.test_clear_dirty()) {
    f.flags.start_writeback();
    f.flags.end_writeback();
  }
}

Result<void> AddressSpace::Impl::writepages() {
  stats.writepages.fetch_add(1, std::memory_order_relaxed);
  FolioRef batch[kReadBatch];
  for (uint64_t next = 0;;) {
    const size_t n = find_next_batch(next, UINT64_MAX, batch);
    if (n == 0) break;
    next = batch[n - 1]->index() + 1;
    for (size_t i = 0; i < n; ++i) {
      FolioRef f = std::move(batch[i]);
      if (!f->flags.dirty()) continue;
      f->flags.lock();
      if (f->mapped.load(std::memory_order_acquire) && f->flags.test_clear_dirty()) {
        // The memory is the store: "I/O" completes at once, but the bit is really set and
        // cleared so waiters (folio_wait_writeback) and traces see it.
        f->flags.start_writeback();
        f->flags.unlock();
        f->flags.end_writeback();
      } else {
        f->flags.unlock();
      }
    }
  }
  return ok();
}

uint64_t AddressSpace::Impl::charge_some(uint64_t n) {
  if (n == 0) return 0;
  if (as.budget_.charge(n)) return n;
  uint64_t got = 0;
  while (got < n && as.budget_.charge(1)) ++got;
  return got;
}

void AddressSpace::Impl::punch_memory(uint64_t first, uint64_t end) {
  end = std::min(end, kMaxFilePages);
  if (first >= end || !memfd_ready.load(std::memory_order_acquire)) return;  // no page yet
  const int rc = ::fallocate(obj.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                             static_cast<off_t>(first * kPageSize),
                             static_cast<off_t>((end - first) * kPageSize));
  LOCKFS_CHECK(rc == 0, "memfd punch hole failed");
}

void AddressSpace::Impl::unfill(std::span<const std::pair<uint64_t, uint64_t>> runs,
                                bool invalidate_locked) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  if (runs.empty()) return;
  if (invalidate_locked) {
    for (auto [first, end] : runs) remove_range(first, end);
    return;
  }
  as.invalidate_lock.down_write();  // not killable: the undo must finish
  for (auto [first, end] : runs) {
    as.mm_.unmap_mapping_range(obj, first, end - first);
    remove_range(first, end, Remove::kKeepDirty);
    as.mm_.unmap_mapping_range(obj, first, end - first);
  }
  as.invalidate_lock.up_write();
}

void AddressSpace::Impl::remove_range(uint64_t first, uint64_t end,
                                      Remove how) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  const bool keep_dirty = how == Remove::kKeepDirty;
  uint64_t removed = 0, kept = 0;
  FolioRef batch[kReadBatch];
  for (uint64_t next = first; next < end;) {
    const size_t n = find_next_batch(next, end, batch);
    if (n == 0) break;
    next = batch[n - 1]->index() + 1;
    for (size_t i = 0; i < n; ++i) {
      FolioRef f = std::move(batch[i]);
      f->flags.lock();  // truncate_inode_pages: not killable, it must finish
      if (!f->mapped.load(std::memory_order_acquire)) {
        f->flags.unlock();
        continue;
      }
      f->flags.wait_writeback();
      if (keep_dirty && f->flags.dirty()) {
        f->flags.unlock();
        ++kept;
        continue;
      }
      if (f->flags.dirty()) launder_folio(*f);
      invalidate_folio(*f, 0, kPageSize);
      (void)release_folio(*f);
      const uint64_t index = f->index();
      remove_locked(*f);
      f->flags.unlock();
      if (keep_dirty) punch_memory(index, index + 1);
      ++removed;
    }
  }
  if (kept) {  // their memory and windows stay
    if (removed) as.budget_.uncharge(removed);
    return;
  }
  // Unmap the windows (every window in the range: pages that never got a folio, from an
  // interrupted write or a write's cluster, may still have one), then free the memory. In
  // that order the punch finds no window mapping the pages and has no page table entry to
  // zap: the unmap's TLB shootdown is the only one. A cluster (kStorageCluster) left with no
  // folio at all loses its windows too, so windows never outlive their cluster's last page
  // (init_mm is sized on that).
  uint64_t unmap_first = first, unmap_end = end;
  const uint64_t cluster_first = first & ~(kStorageCluster - 1);
  if (cluster_first < first && !find_next(cluster_first, first)) unmap_first = cluster_first;
  if (end < kMaxFilePages && end % kStorageCluster) {
    const uint64_t cluster_end = (end | (kStorageCluster - 1)) + 1;
    if (!find_next(end, cluster_end)) unmap_end = cluster_end;
  }
  as.mm_.storage_unmap(obj, unmap_first, unmap_end - unmap_first);
  punch_memory(first, end);
  if (removed) as.budget_.uncharge(removed);
}

void AddressSpace::Impl::zero_partial(uint64_t index, size_t from,
                                      size_t to) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  FolioRef f = find(index);
  if (!f || from >= to) return;
  f->flags.lock();
  if (f->mapped.load(std::memory_order_acquire)) {
    f->flags.wait_writeback();
    invalidate_folio(*f, from, to - from);
    std::memset(f->data + from, 0, to - from);
    if (f->flags.uptodate()) dirty_folio(*f);
  }
  f->flags.unlock();
}

}  // namespace lockfs::core

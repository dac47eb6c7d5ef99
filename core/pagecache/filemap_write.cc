// The write side of an AddressSpace: generic_perform_write, preallocation, and the
// invalidating operations (truncate, punch hole, zero range), with the budget charged before
// any page is allocated and given back for every page that is not used or is dropped.
#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/mm/on_exit.h"
#include "core/pagecache/address_space.h"
#include "core/pagecache/mapping_impl.h"
#include "locking/check.h"
#include "locking/validator.h"

namespace lockfs::core {

namespace {
// The addresses of the windows of the pages a write or preallocation allocates: on the stack
// for the usual write (a FUSE write is at most 1 MiB: 257 pages), on the heap past that.
class PageAddrs {
 public:
  // The address of page a.first + i.
  char* operator[](uint64_t i) const { return addrs_[skip_ + i]; }
  // Maps windows for the absent pages a.first..a.last: one storage_map call over their span
  // (present pages in between included), widened to whole kStorageCluster clusters, past
  // i_size too: a file written in order (cp, tar, a log) then maps once per cluster instead
  // of once per write, and an mmap(2) of the memfd is a syscall under init_mm's mmap_lock.
  // The windows cost address space only (init_mm has room for a cluster per page) and go
  // with their cluster's last folio. When the address space cannot take the wider range,
  // maps the span alone.
  Result<void> map(AddressSpace::Impl& m, const AddressSpace::Impl::AbsentScan& a) {
    if (a.count == 0) return ok();
    LOCKFS_TRY(m.ensure_memfd());
    const uint64_t lo = a.first & ~(kStorageCluster - 1);
    const uint64_t hi = std::min((a.last | (kStorageCluster - 1)) + 1, kMaxFilePages);
    if (Result<void> r = map_range(m, lo, hi, a.first - lo); r || r.error() != -ENOMEM) return r;
    if (lo == a.first && hi == a.last + 1) return err(-ENOMEM);
    return map_range(m, a.first, a.last + 1, 0);
  }

 private:
  Result<void> map_range(AddressSpace::Impl& m, uint64_t lo, uint64_t hi, uint64_t skip) {
    const uint64_t span = hi - lo;
    if (span > kInline && span > heap_len_) {
      heap_ = std::make_unique<char*[]>(span);
      heap_len_ = span;
    }
    addrs_ = span > kInline ? heap_.get() : inline_;
    skip_ = skip;
    return m.mm().storage_map(m.obj, lo, span, addrs_);
  }

  static constexpr uint64_t kInline = 320;
  char* inline_[kInline];
  std::unique_ptr<char*[]> heap_;
  uint64_t heap_len_ = 0;
  char** addrs_ = inline_;
  uint64_t skip_ = 0;
};

// Makes pages first..first+n-1 zero and present in the memfd, their windows (mems[i]) mapped
// writable: one punch (they must read as zeros whatever the memfd held) and one
// MADV_POPULATE_WRITE per run of adjacent windows, instead of a fault and a memset per page.
// False (nothing promised; the caller zeroes through the windows) if the kernel refuses.
bool populate_zeroed(AddressSpace::Impl& m, uint64_t first, char* const* mems, size_t n) {
  if (::fallocate(m.obj.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  static_cast<off_t>(first * kPageSize), static_cast<off_t>(n * kPageSize)) != 0) {
    return false;
  }
  for (size_t i = 0; i < n;) {
    size_t run = 1;
    while (i + run < n && mems[i + run] == mems[i] + run * kPageSize) ++run;
    if (::madvise(mems[i], run * kPageSize, MADV_POPULATE_WRITE) != 0) return false;
    i += run;
  }
  return true;
}

// Fills the fresh pages index..index+n-1 of the memfd with one pwritev(2): the bytes the
// store [pos, pos + data.size()) has for them, zeros around those on a partial first or last
// page (composed in a page on the stack; only those two can be partial). False (nothing
// promised: the caller zeroes and copies through the windows) if the call fails or falls
// short; it rewrites whole pages, so whatever it left is overwritten then.
bool write_fresh_run(AddressSpace::Impl& m, uint64_t index, size_t n, uint64_t pos,
                     std::span<const char> data) {
  const uint64_t end = pos + data.size();
  alignas(64) char partial[2][kPageSize];
  size_t partials = 0;
  iovec iov[3];
  int cnt = 0;
  bool last_is_data = false;
  for (uint64_t p = index; p < index + n; ++p) {
    const uint64_t lo = std::max(pos, p * kPageSize), hi = std::min(end, (p + 1) * kPageSize);
    const char* src = data.data() + (lo - pos);
    if (hi - lo == kPageSize) {
      if (last_is_data && static_cast<const char*>(iov[cnt - 1].iov_base) +
                                  iov[cnt - 1].iov_len == src) {
        iov[cnt - 1].iov_len += kPageSize;
        continue;
      }
      LOCKFS_CHECK(cnt < 3, "write_fresh_run: a whole page after a partial last one");
      iov[cnt++] = iovec{const_cast<char*>(src), kPageSize};
      last_is_data = true;
      continue;
    }
    LOCKFS_CHECK(partials < 2 && cnt < 3, "write_fresh_run: a partial page inside the store");
    char* page = partial[partials++];
    const size_t off = lo - p * kPageSize;
    std::memset(page, 0, off);
    std::memcpy(page + off, src, hi - lo);
    std::memset(page + off + (hi - lo), 0, kPageSize - off - (hi - lo));
    iov[cnt++] = iovec{page, kPageSize};
    last_is_data = false;
  }
  const ssize_t want = static_cast<ssize_t>(n * kPageSize);
  return ::pwritev(m.obj.fd, iov, cnt, static_cast<off_t>(index * kPageSize)) == want;
}
}  // namespace

// How a store into the cache is serialised, and so which steps it runs per folio.
enum class StoreKind {
  // generic_perform_write under i_rwsem exclusive: ->write_begin / copy / ->write_end.
  kWriteIter,
  // Data the FUSE client's own page cache wrote back (a store through a shared mapping, or
  // the writeback cache): the steps ->page_mkwrite's text gives, invalidate_lock shared
  // against truncate / hole punch / copy_file_range and the folio locked while it is filled
  // and dirtied. Never past i_size, so i_rwsem (which guards i_size) is not needed.
  kMkwrite,
};

// ->write_end, or its equivalent for a store: uptodate, dirty, unlocked.
static void finish_store(AddressSpace::Impl& m, StoreKind kind, Folio& f, size_t off, size_t n) {
  if (kind == StoreKind::kWriteIter) {
    m.write_end(f, off, n);
  } else {
    m.store_end(f);
  }
}

static Result<size_t> store_pages(AddressSpace::Impl& m, uint64_t pos, std::span<const char> data,
                                  StoreKind kind, bool try_overwrite = true);

// The common small overwrite (random writes, a mapping's writeback): every page is present
// and `found` holds them, looked up in one i_pages section; no scan, charge or window. Locks
// each in turn (killable). A page truncated meanwhile sends the rest down the general path.
static Result<size_t> overwrite(AddressSpace::Impl& m, uint64_t pos, std::span<const char> data,
                                StoreKind kind, FolioRef* found) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  const uint64_t first = pos / kPageSize;
  size_t done = 0;
  for (uint64_t index = first; done < data.size(); ++index) {
    const size_t off = index == first ? pos % kPageSize : 0;
    const size_t n = std::min<size_t>(kPageSize - off, data.size() - done);
    Result<FolioRef> f =
        m.lock_found(std::move(found[index - first]), off, n, kind == StoreKind::kWriteIter);
    if (!f && f.error() == -ENOENT) {
      Result<size_t> rest = err(-ENOMEM);
      try {
        rest = store_pages(m, pos + done, data.subspan(done), kind, false);
      } catch (const std::bad_alloc&) {
        if (done == 0) throw;
        return done;  // as store_pages: bytes stored are reported, never dropped
      }
      if (rest) return done + *rest;
      return done > 0 ? Result<size_t>(done) : rest;
    }
    if (!f) return done > 0 ? Result<size_t>(done) : err(f.error());
    std::memcpy((*f)->data + off, data.data() + done, n);
    finish_store(m, kind, **f, off, n);
    done += n;
  }
  return done;
}

// Copies data into the folios of [pos, pos + data.size()), allocating absent ones.
// LOCKFS_NO_THREAD_SAFETY_ANALYSIS: each folio is locked (begin_new / lock_found /
// lock_for_store) and unlocked (write_end / store_end) in the same iteration, or for a run of
// new folios in the same pass over the run; the analysis cannot follow the FolioRef.
// A store killed after its windows were mapped gives the unused pages' charge back at once;
// their windows (address space only: no memory is ever touched through them) stay until a
// truncate, punch or eviction of that range unmaps them -- unmapping them here would race a
// fault allocating the same page, which only invalidate_lock exclusive excludes.
// Returns bytes stored; short when the budget runs out after some progress, -ENOSPC when
// nothing could be stored, -EINTR when killed before any progress.
static Result<size_t> store_pages(AddressSpace::Impl& m, uint64_t pos, std::span<const char> data,
                                  StoreKind kind, bool try_overwrite)
    LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  const uint64_t end = pos + data.size();
  const uint64_t first = pos / kPageSize;
  const uint64_t last = (end - 1) / kPageSize;
  constexpr size_t kBatch = AddressSpace::Impl::kReadBatch;
  // A run holds kBatch folio locks at once, inside i_rwsem (or invalidate_lock) and whatever
  // the caller holds (copy_file_range: two files' locks).
  static_assert(kBatch + 8 <= locking::kMaxHeldLocks, "a run of folio locks overflows the stack");
  if (try_overwrite && last - first < kBatch) {
    FolioRef found[kBatch];
    const size_t count = static_cast<size_t>(last - first + 1);
    m.find_batch(first, count, found);
    if (std::all_of(found, found + count, [](const FolioRef& f) { return bool(f); })) {
      return overwrite(m, pos, data, kind, found);
    }
  }
  // Charge the pages to allocate before allocating any; the store stops short at the first
  // page the budget cannot cover (a second walk, only when the budget runs out).
  AddressSpace::Impl::AbsentScan absent = m.scan_absent(first, last + 1, UINT64_MAX);
  const uint64_t charged = m.charge_some(absent.count);
  uint64_t used = 0;
  // Pages charged but not allocated (a fault allocated them first, we were killed, or an
  // allocation threw) are given back on every way out.
  OnExit give_back([&] {
    if (charged > used) m.budget().uncharge(charged - used);
  });
  if (charged < absent.count) absent = m.scan_absent(first, last + 1, charged);
  const uint64_t stop = absent.stop;
  if (stop == first) return err(-ENOSPC);
  PageAddrs addrs;
  if (Result<void> r = addrs.map(m, absent); !r) return err(r.error());
  size_t done = 0;
  int error = 0;
  // Copies the store's bytes for page `index` into the locked folio f (unless `stored`: they
  // are in the memfd already) and unlocks it.
  auto fill = [&](uint64_t index, Folio& f, size_t off, size_t n, bool stored) {
    if (!stored) std::memcpy(f.data + off, data.data() + (index * kPageSize + off - pos), n);
    finish_store(m, kind, f, off, n);
    done += n;
  };
  auto mem_of = [&](uint64_t index) -> char* {
    const bool in_span = absent.count && index >= absent.first && index <= absent.last;
    return in_span ? addrs[index - absent.first] : nullptr;
  };
  auto span_of = [&](uint64_t index) {
    const size_t off = index == first ? pos % kPageSize : 0;
    return std::pair{off, static_cast<size_t>(std::min<uint64_t>(
                              kPageSize - off, end - index * kPageSize - off))};
  };
  uint64_t index = first;
  // An allocation that throws (a folio, an index node) after some bytes are stored must not
  // lose them: they are in the cache, past i_size perhaps, and only a short count makes the
  // caller move i_size over them (generic_perform_write returns its progress, not the error).
  // Before any progress nothing is changed and the exception goes on up.
  try {
    while (index < stop) {
      // A run of absent pages goes in with one i_pages section; nothing in it can wait (no
      // folio in it is anyone else's), so a kill never leaves part of it unused.
      char* mems[kBatch];
      size_t run = 0;
      while (run < kBatch && index + run < stop && (mems[run] = mem_of(index + run))) ++run;
      FolioRef fresh[kBatch];
      const size_t added = run ? m.add_new_batch(index, run, mems, fresh) : 0;
      if (added > 0) {
        // The run goes into the memfd with one pwritev(2) while every folio of it is locked:
        // shmem fills fresh pages without zeroing them first and without the fault a store
        // through the windows would take (the fault is the dearest part of a small write on
        // a VM; with the zeroing, a third of a sequential write's cost), and one call instead
        // of one per page. The windows see the same pages. Only if that fails are the pages
        // zeroed and copied through their windows. The folios are unlocked last first, so
        // that the validator's and the tracer's held stacks pop from the top: a release from
        // the bottom of 32 held locks moves every entry above it.
        for (size_t i = 0; i < added; ++i) m.begin_new(*fresh[i], kind == StoreKind::kWriteIter);
        const bool stored = write_fresh_run(m, index, added, pos, data);
        for (size_t i = added; i-- > 0;) {
          const auto [off, n] = span_of(index + i);
          if (!stored) AddressSpace::Impl::zero_outside(*fresh[i], off, n);
          fill(index + i, *fresh[i], off, n, stored);
        }
        used += added;
        index += added;
        continue;
      }
      // Present pages (or one a fault added meanwhile): each lock is a killable wait. A run of
      // pages present at the scan is looked up with one i_pages section.
      FolioRef found[kBatch];
      size_t present = 0;
      while (present < kBatch && index + present < stop && !mem_of(index + present)) ++present;
      if (present > 0) m.find_batch(index, present, found);
      const size_t count = std::max<size_t>(present, 1);
      for (size_t i = 0; i < count && error == 0; ++i, ++index) {
        const auto [off, n] = span_of(index);
        const bool write_begin = kind == StoreKind::kWriteIter;
        const bool looked_up = found[i] != nullptr;
        bool created = false;
        Result<FolioRef> f =
            looked_up ? m.lock_found(std::move(found[i]), off, n, write_begin) : err(-ENOENT);
        if (!f && f.error() == -ENOENT) {
          // Not looked up: present inside the span of absent pages (add_new_batch stopped at
          // it), so no new folio is needed. Or truncated meanwhile: then it may need one.
          char* mem = looked_up ? mem_of(index) : nullptr;
          f = m.lock_for_store(index, mem, off, n, &created, write_begin && !looked_up);
        }
        if (!f) {
          error = f.error();
          break;
        }
        if (created) ++used;
        const bool stored = created && n == kPageSize && write_fresh_run(m, index, 1, pos, data);
        fill(index, **f, off, n, stored);
      }
      if (error != 0) break;
    }
  } catch (const std::bad_alloc&) {
    if (done == 0) throw;
  }
  if (done > 0) return done;
  return err(error != 0 ? error : -ENOSPC);
}

static bool past_max_size(uint64_t pos, size_t len) {
  return pos + len < pos || pos + len > kMaxFilePages * kPageSize;
}

Result<size_t> AddressSpace::write(uint64_t pos, std::span<const char> data) {
  host_rwsem_.assert_held_exclusive();
  if (data.empty()) return size_t{0};
  if (past_max_size(pos, data.size())) return err(-EFBIG);
  Result<size_t> done = store_pages(impl(), pos, data, StoreKind::kWriteIter);
  if (done.ok()) {
    uint64_t cur = fault_size_.load(std::memory_order_relaxed);
    while (cur < pos + *done &&
           !fault_size_.compare_exchange_weak(cur, pos + *done, std::memory_order_release)) {
    }
  }
  return done;
}

// LOCKFS_NO_THREAD_SAFETY_ANALYSIS: invalidate_lock is taken killable and released on every
// path, in branches the analysis cannot pair.
std::optional<Result<size_t>> AddressSpace::write_cached(
    uint64_t pos, std::span<const char> data) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  if (data.empty()) return size_t{0};
  if (past_max_size(pos, data.size())) return err(-EFBIG);
  if (int rc = invalidate_lock.down_read_killable(); rc != 0) return err(rc);
  // Released on every path out, std::bad_alloc from store_pages included.
  // LOCKFS_NO_THREAD_SAFETY_ANALYSIS: the lambda runs in this function, which holds the lock.
  OnExit unlock([&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS { invalidate_lock.up_read(); });
  // Under the lock: a truncate (exclusive) has either finished, size first, or not begun.
  if (pos + data.size() > i_size_read()) return std::nullopt;
  return store_pages(impl(), pos, data, StoreKind::kMkwrite);
}

// Makes [off, off+len) present with zeroed pages; all of them or none (-ENOSPC, -EINTR).
// With zero = true, pages already present get the range zeroed as well (zero_range).
static Result<void> fill_range(AddressSpace::Impl& m, uint64_t off, uint64_t len,
                               bool zero) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  if (len == 0) return ok();
  if (off + len < off || off + len > kMaxFilePages * kPageSize) return err(-EFBIG);
  const uint64_t first = off / kPageSize;
  const uint64_t end = (off + len - 1) / kPageSize + 1;
  const AddressSpace::Impl::AbsentScan absent = m.scan_absent(first, end, UINT64_MAX);
  // The runs of folios this call adds, [first, end) each, adjacent batches merged: taken
  // out again if a later batch throws (shmem_fallocate's shmem_undo_range), so that the
  // range is all or none. One entry per hole of the range at most, reserved before the
  // charge; a fault filling part of a hole meanwhile can split one, then the list grows
  // before the next batch, never between adding folios and recording them.
  std::vector<std::pair<uint64_t, uint64_t>> runs;
  runs.reserve(std::min(absent.count, end - first - absent.count + 1));
  if (absent.count) LOCKFS_TRY(m.budget().charge(absent.count));
  uint64_t used = 0;
  // Pages charged but not allocated -- present after all, or an allocation threw (the pages
  // this call allocated are taken out again: the range reads as before) -- are given back.
  OnExit give_back([&] {
    if (used < absent.count) m.budget().uncharge(absent.count - used);
  });
  PageAddrs addrs;
  if (Result<void> r = addrs.map(m, absent); !r) return err(r.error());
  constexpr size_t kBatch = AddressSpace::Impl::kReadBatch;
  try {
    for (uint64_t index = absent.first; absent.count && index <= absent.last;) {
      char* mems[kBatch];
      const size_t run = static_cast<size_t>(std::min<uint64_t>(kBatch, absent.last + 1 - index));
      for (size_t i = 0; i < run; ++i) mems[i] = addrs[index + i - absent.first];
      if (runs.size() == runs.capacity()) runs.reserve(2 * runs.size() + 1);
      FolioRef fresh[kBatch];
      const size_t added = m.add_new_batch(index, run, mems, fresh);
      if (added == 0) {  // present from the start, or a fault got there first
        ++index;
        continue;
      }
      if (!runs.empty() && runs.back().second == index) {
        runs.back().second += added;
      } else {
        runs.emplace_back(index, index + added);  // within the capacity: cannot throw
      }
      const bool zeroed = populate_zeroed(m, index, mems, added);
      for (size_t i = 0; i < added; ++i) {
        Folio& f = *fresh[i];
        f.flags.lock_published();
        if (!zeroed) std::memset(f.data, 0, kPageSize);
        f.flags.set_uptodate();
        if (zero) m.dirty_folio(f);
        f.flags.unlock();
      }
      used += added;
      index += added;
    }
  } catch (const std::bad_alloc&) {
    m.unfill(runs, zero);
    throw;
  }
  if (zero) {
    // Present pages: zero the part of the range they hold.
    for (uint64_t index = first; index < end; ++index) {
      const uint64_t lo = std::max(off, index * kPageSize);
      const uint64_t hi = std::min(off + len, (index + 1) * kPageSize);
      m.zero_partial(index, lo - index * kPageSize, hi - index * kPageSize);
    }
  }
  return ok();
}

Result<void> AddressSpace::allocate(uint64_t off, uint64_t len) {
  host_rwsem_.assert_held_exclusive();
  return fill_range(impl(), off, len, false);
}

Result<void> AddressSpace::zero_range(uint64_t off, uint64_t len) {
  host_rwsem_.assert_held_exclusive();
  invalidate_lock.assert_held_exclusive();
  return fill_range(impl(), off, len, true);
}

Result<void> AddressSpace::truncate(uint64_t new_size) {
  host_rwsem_.assert_held_exclusive();
  invalidate_lock.assert_held_exclusive();
  const uint64_t first_gone = (new_size + kPageSize - 1) / kPageSize;
  // truncate_pagecache: zap user ptes, drop the folios, zap again for faults that raced
  // (they recheck the folio under its lock, so none can map a dropped page after this).
  fault_size_.store(new_size, std::memory_order_release);
  // No inside yet: no folio and no user mapping (a mapping creates it first).
  Impl* m = impl_if();
  if (!m) return ok();
  mm_.unmap_mapping_range(m->obj, first_gone, UINT64_MAX - first_gone);
  m->remove_range(first_gone, UINT64_MAX);
  if (new_size % kPageSize) m->zero_partial(new_size / kPageSize, new_size % kPageSize, kPageSize);
  mm_.unmap_mapping_range(m->obj, first_gone, UINT64_MAX - first_gone);
  return ok();
}

Result<void> AddressSpace::punch_hole(uint64_t off, uint64_t len) {
  host_rwsem_.assert_held_exclusive();
  invalidate_lock.assert_held_exclusive();
  Impl* m = impl_if();
  if (len == 0 || !m) return ok();  // no inside yet: nothing cached, nothing mapped
  const uint64_t end = off + len < off ? UINT64_MAX : off + len;
  const uint64_t full_first = (off + kPageSize - 1) / kPageSize;
  const uint64_t full_end = end / kPageSize;
  if (full_first < full_end) {
    mm_.unmap_mapping_range(m->obj, full_first, full_end - full_first);
    m->remove_range(full_first, full_end);
    mm_.unmap_mapping_range(m->obj, full_first, full_end - full_first);
  }
  // Partial pages at either edge keep their folio; only the bytes in the range are zeroed.
  const uint64_t head = off / kPageSize;
  const uint64_t tail = (end - 1) / kPageSize;
  if (head == tail && (off % kPageSize || end % kPageSize)) {
    m->zero_partial(head, off % kPageSize, end - head * kPageSize);
  } else {
    if (off % kPageSize) m->zero_partial(head, off % kPageSize, kPageSize);
    if (end % kPageSize) m->zero_partial(tail, 0, end % kPageSize);
  }
  return ok();
}

}  // namespace lockfs::core

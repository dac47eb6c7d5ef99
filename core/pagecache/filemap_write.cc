// The write side of an AddressSpace: generic_perform_write, preallocation, and the
// invalidating operations (truncate, punch hole, zero range), with the budget charged before
// any page is allocated and given back for every page that is not used or is dropped.
#include <algorithm>
#include <cstring>

#include "core/pagecache/address_space.h"
#include "core/pagecache/mapping_impl.h"
#include "locking/check.h"

namespace lockfs::core {

namespace {
// Maps windows for the pages `absent[0..n)` (one storage_map call over their span) and
// returns each one's address, indexed by page - absent[0].
Result<std::vector<char*>> map_new_pages(AddressSpace::Impl& m,
                                         const std::vector<uint64_t>& absent, uint64_t n) {
  std::vector<char*> addrs;
  if (n == 0) return addrs;
  LOCKFS_TRY(m.ensure_memfd());
  const uint64_t span = absent[n - 1] - absent[0] + 1;
  addrs.resize(span);
  LOCKFS_TRY(m.mm().storage_map(m.obj, absent[0], span, addrs.data()));
  return addrs;
}
}  // namespace

// LOCKFS_NO_THREAD_SAFETY_ANALYSIS: each folio is locked by write_begin and unlocked by
// write_end in the same iteration; the analysis cannot follow the FolioRef.
// A write killed after its windows were mapped gives the unused pages' charge back at once;
// their windows (address space only: no memory is ever touched through them) stay until a
// truncate, punch or eviction of that range unmaps them — unmapping them here would race a
// fault allocating the same page, which only invalidate_lock (not held here) excludes.
Result<size_t> AddressSpace::write(uint64_t pos,
                                   std::span<const char> data) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  host_rwsem_.assert_held_exclusive();
  if (data.empty()) return size_t{0};
  if (pos + data.size() < pos || pos + data.size() > kMaxFilePages * kPageSize) {
    return err(-EFBIG);
  }
  const uint64_t end = pos + data.size();
  const uint64_t first = pos / kPageSize;
  const uint64_t last = (end - 1) / kPageSize;
  // Charge the pages to allocate before allocating any; the write stops short at the first
  // page the budget cannot cover.
  std::vector<uint64_t> absent = impl_->absent_in(first, last + 1);
  const uint64_t charged = impl_->charge_some(absent.size());
  const uint64_t stop = charged < absent.size() ? absent[charged] : last + 1;
  if (stop == first) return err(-ENOSPC);
  auto addrs = map_new_pages(*impl_, absent, charged);
  if (!addrs) {
    budget_.uncharge(charged);
    return err(addrs.error());
  }
  uint64_t used = 0;
  size_t done = 0;
  int error = 0;
  for (uint64_t index = first; index < stop; ++index) {
    const uint64_t page_pos = index * kPageSize;
    const size_t off = index == first ? pos % kPageSize : 0;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kPageSize - off, end - page_pos - off));
    char* mem = nullptr;
    if (charged && index >= absent[0] && index <= absent[charged - 1]) {
      mem = (*addrs)[index - absent[0]];
    }
    bool created = false;
    auto f = impl_->write_begin(index, mem, off, n, &created);
    if (!f) {
      error = f.error();
      break;
    }
    if (created) ++used;
    std::memcpy((*f)->data + off, data.data() + done, n);
    impl_->write_end(**f, off, n);
    done += n;
  }
  // Pages charged but not allocated (a fault allocated them first, or we were killed).
  if (charged > used) budget_.uncharge(charged - used);
  if (done > 0) {
    uint64_t cur = impl_->fault_size.load(std::memory_order_relaxed);
    while (cur < pos + done &&
           !impl_->fault_size.compare_exchange_weak(cur, pos + done, std::memory_order_release)) {
    }
    return done;
  }
  return err(error != 0 ? error : -ENOSPC);
}

// Makes [off, off+len) present with zeroed pages; all of them or none (-ENOSPC, -EINTR).
// With zero = true, pages already present get the range zeroed as well (zero_range).
static Result<void> fill_range(AddressSpace::Impl& m, uint64_t off, uint64_t len,
                               bool zero) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  if (len == 0) return ok();
  if (off + len < off || off + len > kMaxFilePages * kPageSize) return err(-EFBIG);
  const uint64_t first = off / kPageSize;
  const uint64_t end = (off + len - 1) / kPageSize + 1;
  std::vector<uint64_t> absent = m.absent_in(first, end);
  if (!absent.empty()) LOCKFS_TRY(m.budget().charge(absent.size()));
  auto addrs = map_new_pages(m, absent, absent.size());
  if (!addrs) {
    m.budget().uncharge(absent.size());
    return err(addrs.error());
  }
  uint64_t used = 0;
  for (uint64_t index : absent) {
    bool created = false;
    FolioRef f = m.add_locked(index, (*addrs)[index - absent[0]], &created);
    if (!created) continue;  // a fault got there first
    ++used;
    std::memset(f->data, 0, kPageSize);
    f->flags.set_uptodate();
    if (zero) m.dirty_folio(*f);
    f->flags.unlock();
  }
  if (used < absent.size()) m.budget().uncharge(absent.size() - used);
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
  return fill_range(*impl_, off, len, false);
}

Result<void> AddressSpace::zero_range(uint64_t off, uint64_t len) {
  host_rwsem_.assert_held_exclusive();
  invalidate_lock.assert_held_exclusive();
  return fill_range(*impl_, off, len, true);
}

Result<void> AddressSpace::truncate(uint64_t new_size) {
  host_rwsem_.assert_held_exclusive();
  invalidate_lock.assert_held_exclusive();
  const uint64_t first_gone = (new_size + kPageSize - 1) / kPageSize;
  // truncate_pagecache: zap user ptes, drop the folios, zap again for faults that raced
  // (they recheck the folio under its lock, so none can map a dropped page after this).
  impl_->fault_size.store(new_size, std::memory_order_release);
  mm_.unmap_mapping_range(impl_->obj, first_gone, UINT64_MAX - first_gone);
  impl_->remove_range(first_gone, UINT64_MAX);
  if (new_size % kPageSize)
    impl_->zero_partial(new_size / kPageSize, new_size % kPageSize, kPageSize);
  mm_.unmap_mapping_range(impl_->obj, first_gone, UINT64_MAX - first_gone);
  return ok();
}

Result<void> AddressSpace::punch_hole(uint64_t off, uint64_t len) {
  host_rwsem_.assert_held_exclusive();
  invalidate_lock.assert_held_exclusive();
  if (len == 0) return ok();
  const uint64_t end = off + len < off ? UINT64_MAX : off + len;
  const uint64_t full_first = (off + kPageSize - 1) / kPageSize;
  const uint64_t full_end = end / kPageSize;
  if (full_first < full_end) {
    mm_.unmap_mapping_range(impl_->obj, full_first, full_end - full_first);
    impl_->remove_range(full_first, full_end);
    mm_.unmap_mapping_range(impl_->obj, full_first, full_end - full_first);
  }
  // Partial pages at either edge keep their folio; only the bytes in the range are zeroed.
  const uint64_t head = off / kPageSize;
  const uint64_t tail = (end - 1) / kPageSize;
  if (head == tail && (off % kPageSize || end % kPageSize)) {
    impl_->zero_partial(head, off % kPageSize, end - head * kPageSize);
  } else {
    if (off % kPageSize) impl_->zero_partial(head, off % kPageSize, kPageSize);
    if (end % kPageSize) impl_->zero_partial(tail, 0, end % kPageSize);
  }
  return ok();
}

}  // namespace lockfs::core

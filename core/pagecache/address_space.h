// AddressSpace: a regular file's page cache (its "mapping"): folios that are windows into
// memory the VMA manager maps. The VFS callers take i_rwsem / invalidate_lock as the contract
// says; these functions assert what they rely on and take folio locks themselves.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <span>

#include "locking/result.h"
#include "locking/rwsem.h"

namespace lockfs::core {

class Mm;
struct VmObject;

// Page accounting shared by every AddressSpace of one superblock (-o size=).
// Thread safety: lock-free; safe from any thread.
class PageBudget {
 public:
  explicit PageBudget(uint64_t max_pages) : max_pages_(max_pages) {}
  // Charges n pages: -ENOSPC (nothing charged) when it would exceed the limit.
  Result<void> charge(uint64_t n);
  void uncharge(uint64_t n);
  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  uint64_t max_pages() const { return max_pages_; }

 private:
  std::atomic<uint64_t> used_{0};
  const uint64_t max_pages_;
};

inline constexpr uint64_t kPageSize = 4096;

// Thread safety: see each method's locking line. Readers may run concurrently with each other
// and with writers of other folios; the host inode's i_rwsem serialises writers.
class AddressSpace {
 public:
  // host_rwsem: the owning inode's i_rwsem, asserted by the write side.
  AddressSpace(Mm& mm, PageBudget& budget, locking::RwSemaphore& host_rwsem, uint64_t ino);
  ~AddressSpace();  // drops every folio and its memory (after evict_inode)
  AddressSpace(const AddressSpace&) = delete;
  AddressSpace& operator=(const AddressSpace&) = delete;

  // mapping->invalidate_lock: shared while filling the cache (read, fault), exclusive while
  // invalidating it (truncate, punch hole, zero range, copy_file_range's destination).
  locking::RwSemaphore invalidate_lock;

  // filemap_read. Reads [pos, pos + out.size()) clipped to i_size; holes read as zeros.
  // Locking: none required; takes invalidate_lock shared to bring folios in, folio locks
  // (killable) around ->read_folio. Errors: -EINTR.
  Result<size_t> read(uint64_t pos, std::span<char> out, uint64_t i_size);

  // generic_perform_write: ->write_begin (locks the folio, killable) / copy / ->write_end
  // (marks dirty, unlocks) per folio. Locking: i_rwsem exclusive (caller).
  // Returns bytes written; a short count when the budget runs out after some progress,
  // -ENOSPC when nothing could be written, -EINTR when killed before any progress.
  Result<size_t> write(uint64_t pos, std::span<const char> data);

  // A write of data the FUSE client's page cache held (FUSE_WRITE_CACHE: a store through a
  // shared mapping written back, or the writeback cache). Serialised as ->page_mkwrite is:
  // takes invalidate_lock shared (killable) and each folio's lock, not i_rwsem. It never moves
  // i_size: nullopt (nothing written) when the range ends past i_size, and the caller writes
  // it with write() under i_rwsem instead. Errors and short counts as write().
  // Locking: none required.
  std::optional<Result<size_t>> write_cached(uint64_t pos, std::span<const char> data);

  // truncate_pagecache: drops folios wholly past new_size (invalidate_folio/release_folio with
  // the folio locked, launder_folio first if dirty) and zeroes the tail of the partial one.
  // Locking: i_rwsem exclusive and invalidate_lock exclusive (caller).
  Result<void> truncate(uint64_t new_size);
  // Frees the pages wholly inside the range, zeroes partial pages. Same locking as truncate.
  Result<void> punch_hole(uint64_t off, uint64_t len);
  // Zeroes the range, allocating pages. Same locking as truncate. -ENOSPC leaves it unchanged.
  Result<void> zero_range(uint64_t off, uint64_t len);
  // Preallocates zeroed pages for the range. Locking: i_rwsem exclusive.
  Result<void> allocate(uint64_t off, uint64_t len);

  // ->writepages for fsync: writes back every dirty folio (writeback bit set/cleared).
  Result<void> writepages();

  // First data / hole offset at or after off, below i_size. -ENXIO past the end.
  Result<uint64_t> seek_data(uint64_t off, uint64_t i_size) const;
  Result<uint64_t> seek_hole(uint64_t off, uint64_t i_size) const;

  uint64_t nr_pages() const;  // pages present (statfs / st_blocks)
  uint64_t ino() const { return ino_; }

  // i_size as the fault path sees it (filemap_fault's EOF check: SIGBUS past it). write()
  // and truncate() keep it current; a caller that changes i_size otherwise (fallocate or
  // setattr growing the file) calls this too. Lock-free.
  void i_size_write(uint64_t size);
  // That i_size, read without a lock (i_size_read): what filemap_read clips a read to.
  uint64_t i_size_read() const { return fault_size_.load(std::memory_order_acquire); }
  // The object user mappings map (Mm::mmap_file): this file's memfd and vm_operations
  // (fault, page_mkwrite, open, close).
  VmObject& vm_object();

  // How often each address_space operation ran (tests check the contract's folio states).
  struct AopsStats {
    uint64_t read_folio, write_begin, write_end, dirty_folio, invalidate_folio, release_folio,
        launder_folio, writepages, fault, page_mkwrite;
  };
  AopsStats aops_stats() const;

  // The index as a checker sees it (quiescent: no operation runs on the file): folios in the
  // index, the count nr_pages() keeps, and folios left locked or stored at another index.
  struct IndexCheck {
    uint64_t folios = 0, nr = 0, locked = 0, misplaced = 0;
  };
  IndexCheck check_index() const;

  struct Impl;  // opaque outside core/pagecache (mapping_impl.h)

 private:
  // The inside, created on first need (first page, first user mapping): an empty file costs
  // only this shell. Never null after impl(); impl_if() may return null (nothing cached).
  Impl& impl();
  Impl* impl_if() const { return impl_.load(std::memory_order_acquire); }

  Mm& mm_;
  PageBudget& budget_;
  locking::RwSemaphore& host_rwsem_;
  const uint64_t ino_;
  std::atomic<uint64_t> fault_size_{0};  // i_size for the fault path (Impl::fault_size)
  std::atomic<Impl*> impl_{nullptr};     // set once (release), freed by the destructor
};

}  // namespace lockfs::core

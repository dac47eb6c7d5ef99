// The inside of an AddressSpace (private to core/pagecache): the folio index (i_pages), the
// memfd the folios' memory lives in, and the address_space / vm operations with the folio
// states their contract rows give. Not for use outside core/pagecache.
#pragma once

#include <atomic>
#include <span>
#include <utility>

#include "core/mm/mm.h"
#include "core/pagecache/address_space.h"
#include "core/pagecache/folio.h"
#include "core/pagecache/folio_index.h"
#include "locking/mutex.h"

namespace lockfs::core {

static_assert(kPageSize == kVmPageSize, "page cache and mm disagree on the page size");

// Page offsets at or past this are not addressable in a mapping's memfd: -EFBIG (4 PiB).
inline constexpr uint64_t kMaxFilePages = uint64_t{1} << 40;

// vm_operations of a user mapping of the file (filemap_fault, filemap_page_mkwrite).
class FileVmOps final : public VmOperations {
 public:
  explicit FileVmOps(AddressSpace::Impl& m) : m_(m) {}
  void open(VmArea& vma) override;
  void close(VmArea& vma) override;
  bool has_close() const override { return true; }
  VmFault fault(VmFaultInfo& vmf) override;
  VmFault page_mkwrite(VmFaultInfo& vmf) override;
  void unlock_page(VmFaultInfo& vmf) override;
  void put_page(VmFaultInfo& vmf) override;

 private:
  void assert_fault_locks(const VmFaultInfo& vmf) const;
  VmFault do_fault(VmFaultInfo& vmf);  // fault, which may throw std::bad_alloc
  AddressSpace::Impl& m_;
};

// Thread safety: `pages` is guarded by i_pages (the xa_lock); each folio by its own lock;
// counters are atomics. Created with the mapping's first page, first user mapping or first
// invalidation that needs it (AddressSpace::impl()), destroyed with the AddressSpace: once
// published it stays at one address (the mm holds &obj).
struct AddressSpace::Impl {
  explicit Impl(AddressSpace& as);
  ~Impl();

  AddressSpace& as;
  Mm& mm() { return as.mm_; }
  PageBudget& budget() { return as.budget_; }
  VmObject obj;  // obj.fd is -1 until ensure_memfd() succeeds
  FileVmOps vm_ops;
  // Creates obj.fd on first need; -ENOSPC when no memfd can be had. Safe from any thread.
  Result<void> ensure_memfd();
  std::atomic<int> memfd_owner{-1};
  std::atomic<bool> memfd_ready{false};
  locking::SpinLock i_pages;
  FolioIndex pages LOCKFS_GUARDED_BY(i_pages);  // holds a reference to each folio
  std::atomic<uint64_t> nr{0};
  std::atomic<uint64_t>& fault_size;                // the AddressSpace's (i_size for faults)
  std::atomic<uint64_t> vm_opens{0}, vm_closes{0};  // ->open / ->close calls (stats)
  struct {
    std::atomic<uint64_t> read_folio{0}, write_begin{0}, write_end{0}, dirty_folio{0},
        invalidate_folio{0}, release_folio{0}, launder_folio{0}, writepages{0}, fault{0},
        page_mkwrite{0};
  } stats;

  // --- the index
  FolioRef find(uint64_t index);  // filemap_get_folio (a reference, not locked)
  FolioRef find_next(uint64_t first, uint64_t end);  // the first present in [first, end)
  // filemap_get_read_batch: references to the folios of [first, first + n) in one i_pages
  // section, out[i] for page first + i (null: a hole). n <= kReadBatch.
  static constexpr size_t kReadBatch = 32;
  void find_batch(uint64_t first, size_t n, FolioRef* out);
  // find_get_entries: references to the next (up to kReadBatch) present folios of
  // [first, end), in index order, in one i_pages section. Returns how many.
  size_t find_next_batch(uint64_t first, uint64_t end, FolioRef* out);
  // The absent pages of [first, end), counting at most `limit` of them: how many were
  // counted, the first and last of those, and `stop`, the first absent page past them (end
  // when there is none). One walk of the index.
  struct AbsentScan {
    uint64_t count, first, last, stop;
  };
  AbsentScan scan_absent(uint64_t first, uint64_t end, uint64_t limit);
  // __filemap_add_folio for a run of absent pages: new folios for first, first + 1, ... with
  // memory mems[i], added in one i_pages section and returned in out[], locked and not
  // uptodate. Stops at the first page that is present after all (or has no mems[i]); returns
  // how many it added (n <= kReadBatch). As with readahead's batch, the folios stay locked
  // until the caller has filled them; their locks are reported taken (lock_published) when
  // it reaches each (begin_new).
  size_t add_new_batch(uint64_t first, size_t n, char* const* mems, FolioRef* out);
  // Adds a new folio at index with memory `mem`, returned locked and not uptodate, unless one
  // is there already: then that one is returned (not locked) and *created is false.
  FolioRef add_locked(uint64_t index, char* mem, bool* created);
  // Takes the (locked) folio out of the cache: mapped = false, index erased.
  void remove_locked(Folio& f);

  // --- address_space_operations, each asserting its contract row's folio state.
  void read_folio(Folio& f);  // locked on entry; fills it, marks uptodate, unlocks
  // The first step of every store into the cache, ->write_begin's for a write_iter (counted
  // as a write_begin when `write_begin` is set) and the folio lock ->page_mkwrite returns
  // with for the client's writeback (row write_begin wants i_rwsem, which that does not
  // hold). Each returns the folio locked; lock_found and lock_for_store zero what the store
  // will not cover on a folio that is not uptodate; write_end / store_end finish it.
  //   begin_new: a folio add_new_batch added (its lock is reported taken here); the caller
  //     fills all of it (the memfd write of its run, or zero_outside and a copy).
  //   lock_found: a folio find_batch returned; killable. -ENOENT (unlocked) when it was
  //     truncated meanwhile: the caller looks again.
  //   lock_for_store: the folio of `index`, created with memory `mem` when absent (then
  //     *created; with mem, one index walk inserts it or finds the one there); killable.
  void begin_new(Folio& f, bool write_begin);
  Result<FolioRef> lock_found(FolioRef f, size_t off, size_t len, bool write_begin);
  Result<FolioRef> lock_for_store(uint64_t index, char* mem, size_t off, size_t len,
                                  bool* created, bool write_begin);
  void write_end(Folio& f, size_t off, size_t len);  // uptodate, dirty, unlocks
  static void zero_outside(Folio& f, size_t off, size_t len);  // all but [off, off + len)
  void store_end(Folio& f);
  void dirty_folio(Folio& f);
  void invalidate_folio(Folio& f, size_t off, size_t len);
  bool release_folio(Folio& f);
  void launder_folio(Folio& f);
  Result<void> writepages();

  // --- helpers for the write side
  // Charges up to n pages, as many as the budget allows; returns how many.
  uint64_t charge_some(uint64_t n);
  // Drops the folios of [first, end) (truncate_inode_pages_range): each locked, laundered if
  // dirty, invalidated, released and removed; then their windows are unmapped and the memfd
  // pages punched. Locking: invalidate_lock exclusive (caller), or none at eviction.
  // kKeepDirty: dirty folios stay (and so do the range's windows, when one did).
  enum class Remove { kTruncate, kKeepDirty };
  void remove_range(uint64_t first, uint64_t end, Remove how = Remove::kTruncate);
  // Takes back the folios a failed fill (fallocate) added, runs of [first, end), as
  // shmem_fallocate's shmem_undo_range: under zero_range (invalidate_locked: the caller holds
  // invalidate_lock exclusive, so nobody else reached them) all of them; for a preallocation
  // it takes invalidate_lock exclusive itself, zaps user ptes, and keeps the folios written
  // meanwhile (dirty: a write fault or the client's writeback stored data there). Allocates
  // nothing.
  void unfill(std::span<const std::pair<uint64_t, uint64_t>> runs, bool invalidate_locked);
  // Zeroes [from, to) of the folio at index, if present (truncate_inode_partial_folio).
  void zero_partial(uint64_t index, size_t from, size_t to);
  void punch_memory(uint64_t first, uint64_t end);
};

}  // namespace lockfs::core

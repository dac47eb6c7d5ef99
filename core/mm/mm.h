// Mm (the kernel's mm_struct): a reserved range of real virtual memory, the mmap_lock, and the
// ordered tree of VMAs carved out of it, with per-VMA locks whose write side is killable.
// The page cache keeps its folios' memory in "storage" windows here; user mappings of files
// (mmap_file) fault pages in through their vm_operations.
//
// Lock order used by core/mm and core/pagecache (outer first; process_addrs.rst, mm/filemap.c):
//   i_rwsem -> mmap_lock -> vma_lock (write: only while draining readers) -> mm_tree_lock
//   vma_lock (read, a fault) or mmap_lock (read) -> invalidate_lock -> folio_lock -> ptl
//   i_rwsem / invalidate_lock -> init_mm.mmap_lock -> init_mm.vma_lock -> init_mm.tree_lock
//   mmap_lock / invalidate_lock -> i_mmap_rwsem -> ptl
// Page cache windows live in init_mm precisely so that truncate and zero_range, which hold
// invalidate_lock, can change them: the user mmap_lock ranks above invalidate_lock.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "core/mm/vma.h"
#include "locking/annotations.h"
#include "locking/mutex.h"
#include "locking/result.h"
#include "locking/rwsem.h"

namespace lockfs::core {

const locking::LockClass& mmap_lock_class();

// The page cache maps storage windows ahead in aligned clusters of this many pages (address
// space only: no memory until a page is written), so scattered writes share windows instead
// of costing one window, one mmap(2) and one kernel VMA per page. init_mm reserves room for
// the windows of every page of the budget each to be in its own cluster.
inline constexpr uint64_t kStorageCluster = 16;

// One VMA as a dump shows it (tests compare dumps before and after a failed operation).
struct VmaSnapshot {
  uint64_t start, end, pgoff;
  uint32_t flags;
  const VmObject* obj;
  bool operator==(const VmaSnapshot&) const = default;
};

// Thread safety: the tree is written with mmap_lock write held (and, per VMA, its write lock);
// it is read under mmap_lock (either mode), or, for one VMA, under that VMA's read lock after
// lock_vma_under_rcu(). Operations below state their lock on their own line.
class Mm {
 public:
  // A user mm: reserves address space for user mappings (at least 64 MiB) and creates its
  // init_mm() with room for kStorageCluster + 1 times `reserve_bytes` of page cache windows
  // (PROT_NONE, MAP_NORESERVE: address space only, no memory until mapped).
  explicit Mm(uint64_t reserve_bytes);
  ~Mm();  // every VMA must be gone (LOCKFS_CHECK); releases the reservation
  Mm(const Mm&) = delete;
  Mm& operator=(const Mm&) = delete;

  locking::RwSemaphore mmap_lock;

  // --- mmap_lock. Write lock/unlock open and close a "write section": VMA write locks taken
  // inside it are all released by mmap_write_unlock (mm_lock_seq moves on).
  void mmap_read_lock() LOCKFS_ACQUIRE_SHARED(mmap_lock) { mmap_lock.down_read(); }
  [[nodiscard]] int mmap_read_lock_killable() LOCKFS_TRY_ACQUIRE_SHARED(0, mmap_lock) {
    return mmap_lock.down_read_killable();
  }
  void mmap_read_unlock() LOCKFS_RELEASE_SHARED(mmap_lock) { mmap_lock.up_read(); }
  void mmap_write_lock() LOCKFS_ACQUIRE(mmap_lock);
  [[nodiscard]] int mmap_write_lock_killable() LOCKFS_TRY_ACQUIRE(0, mmap_lock);
  void mmap_write_unlock() LOCKFS_RELEASE(mmap_lock);
  void mmap_assert_write_locked() const LOCKFS_ASSERT_CAPABILITY(mmap_lock) {
    mmap_lock.assert_held_exclusive();
  }
  void mmap_assert_locked() const LOCKFS_ASSERT_SHARED_CAPABILITY(mmap_lock) {
    mmap_lock.assert_held(locking::Mode::kShared);
  }

  // --- per-VMA locks.
  // lock_vma_under_rcu: the VMA containing addr, read-locked, or nullptr when there is none or
  // it is write-locked / being write-locked (the caller falls back to mmap_lock read).
  // Takes no mmap_lock; never blocks.
  VmArea* lock_vma_under_rcu(uint64_t addr);
  // The read trylock itself: false when vma is write-locked or a writer is draining its
  // readers. The caller keeps vma from being freed meanwhile (tree lookup or mmap_lock).
  [[nodiscard]] bool vma_start_read(VmArea* vma);
  void vma_end_read(VmArea* vma);
  // Write-locks vma until mmap_write_unlock: waits for its readers to drain. Locking: mmap_lock
  // write. The killable form returns -EINTR (vma not locked) when current() has a fatal signal
  // pending, checked before waiting and while waiting, even for a new detached VMA.
  void vma_start_write(VmArea* vma) LOCKFS_REQUIRES(mmap_lock);
  [[nodiscard]] int vma_start_write_killable(VmArea* vma) LOCKFS_REQUIRES(mmap_lock);
  bool vma_is_write_locked(const VmArea* vma) const;
  void vma_assert_write_locked(const VmArea* vma) const;
  // Counts vma_start_write(_killable) calls that locked a VMA (tests: "vma_write_started").
  uint64_t vma_write_lock_count() const { return write_locks_.load(std::memory_order_relaxed); }

  // --- lookup. Locking: mmap_lock (either mode).
  VmArea* find_vma(uint64_t addr) const LOCKFS_REQUIRES_SHARED(mmap_lock);    // first vm_end > addr
  VmArea* vma_lookup(uint64_t addr) const LOCKFS_REQUIRES_SHARED(mmap_lock);  // containing addr
  std::vector<VmaSnapshot> snapshot() const LOCKFS_REQUIRES_SHARED(mmap_lock);
  std::string dump() const LOCKFS_REQUIRES_SHARED(mmap_lock);
  size_t map_count() const LOCKFS_REQUIRES_SHARED(mmap_lock) { return tree_.size(); }

  // --- VMA operations. Locking: mmap_lock write (caller). Each takes the VMA write locks it
  // needs (killable) and allocates what it needs before it changes anything: on -EINTR (a
  // fatal signal) or -ENOMEM the tree is exactly as it was. Errors otherwise as Linux.
  //
  // Maps [addr, addr+len) (must be free, page aligned, inside the reservation) at pgoff of obj
  // (may be null: anonymous), merging with compatible neighbours. Returns the VMA now covering
  // the range. Memory: mapped at once for kVmPopulate, else installed by faults.
  Result<VmArea*> mmap_region(uint64_t addr, uint64_t len, uint64_t pgoff, uint32_t flags,
                              VmObject* obj) LOCKFS_REQUIRES(mmap_lock);
  // Unmaps [addr, addr+len): splits VMAs at the edges, gathers and removes those inside
  // (->close each). Nothing mapped there is not an error.
  Result<void> do_munmap(uint64_t addr, uint64_t len) LOCKFS_REQUIRES(mmap_lock);
  // Changes the flags of [addr, addr+len) (all mapped, else -ENOMEM): splits, then merges the
  // result with its neighbours (vma_merge_existing_range).
  Result<void> mprotect_range(uint64_t addr, uint64_t len, uint32_t flags)
      LOCKFS_REQUIRES(mmap_lock);
  // Grows vma to [start, end) ⊇ its range; the added part must be free or be exactly the next
  // VMA when that one is compatible (it is then removed).
  Result<void> vma_expand(VmArea* vma, uint64_t start, uint64_t end) LOCKFS_REQUIRES(mmap_lock);
  // Shrinks vma to [start, end), which keeps one of its edges.
  Result<void> vma_shrink(VmArea* vma, uint64_t start, uint64_t end) LOCKFS_REQUIRES(mmap_lock);
  // Write-locks every VMA (mm_take_all_locks). -EINTR on a fatal signal; the locks taken so far
  // stay until mmap_write_unlock, as the kernel's do.
  Result<void> mm_take_all_locks() LOCKFS_REQUIRES(mmap_lock);

  // --- address space: [base, base+size). A free, page aligned range of len bytes (next-fit),
  // or -ENOMEM.
  uint64_t base() const { return base_; }
  uint64_t size() const { return size_; }
  Result<uint64_t> get_unmapped_area(uint64_t len) const LOCKFS_REQUIRES_SHARED(mmap_lock);

  // --- page cache storage windows (used by core/pagecache). They live in init_mm(), a
  // kernel mm with its own lock classes ("init_mm.mmap_lock", "init_mm.vma_lock"): page cache
  // memory is not a user mapping, and its lock nests inside invalidate_lock and i_rwsem,
  // while the user mmap_lock ranks above invalidate_lock (filemap_fault).
  Mm& init_mm() { return init_mm_ ? *init_mm_ : *this; }
  // Makes pages [first, first+count) of obj addressable: pages already in a window are
  // reused; the rest expand the window holding the page before them when the next addresses
  // are free (vma_expand), else get new windows (mmap_region, which merges). addrs[i] gets
  // page first+i's address, valid until storage_unmap of that page. Locking: init_mm's
  // mmap_lock shared (killable) for the lookup; when a window is missing, then for write
  // (killable) to map it. Errors: -EINTR, -ENOMEM.
  Result<void> storage_map(VmObject& obj, uint64_t first, uint64_t count, char** addrs)
      LOCKFS_EXCLUDES(mmap_lock);
  // Unmaps the windows of pages [first, first+count) of obj (do_munmap: shrinks, splits or
  // removes windows). Not killable: memory release must finish (as truncate_inode_pages).
  void storage_unmap(VmObject& obj, uint64_t first, uint64_t count) LOCKFS_EXCLUDES(mmap_lock);
  uint64_t storage_pages_mapped();
  size_t storage_windows();

  // --- user mappings (in-process "mmap(2)" of a file, for checkers and tests).
  // Maps [pgoff, pgoff + len) of obj at a new user address; prot: kVmRead [| kVmWrite].
  // Locking: takes mmap_lock write (killable). Errors: -EINTR, -ENOMEM.
  Result<uint64_t> mmap_file(VmObject& obj, uint64_t pgoff, uint64_t len, uint32_t prot)
      LOCKFS_EXCLUDES(mmap_lock);
  Result<void> munmap(uint64_t addr, uint64_t len) LOCKFS_EXCLUDES(mmap_lock);
  Result<void> mprotect(uint64_t addr, uint64_t len, uint32_t prot) LOCKFS_EXCLUDES(mmap_lock);
  // Copies out of (read) or into (write) user memory at addr, faulting pages in: the per-VMA
  // read lock first, mmap_lock read as the fallback; ->fault (and ->page_mkwrite for writes)
  // return the page locked while it is copied. Errors: -EFAULT (nothing mapped, or SIGBUS:
  // beyond EOF, or a write to a read-only VMA), -ENOSPC (page allocation), -EINTR.
  // Returns the bytes copied before an error (a short count) when some were.
  Result<size_t> access_read(uint64_t addr, std::span<char> out) LOCKFS_EXCLUDES(mmap_lock);
  Result<size_t> access_write(uint64_t addr, std::span<const char> in) LOCKFS_EXCLUDES(mmap_lock);
  // Faults of the last access that used the per-VMA lock / the mmap_lock fallback.
  uint64_t faults_vma_locked() const { return faults_vma_.load(std::memory_order_relaxed); }
  uint64_t faults_mmap_locked() const { return faults_mmap_.load(std::memory_order_relaxed); }

  // True while some user VMA maps obj (i_mmap is not empty). Takes i_mmap shared.
  bool is_mapped(const VmObject& obj);

  // Zaps user ptes of obj for pages [first, first+count) (unmap_mapping_range): the next access
  // faults again. Locking: invalidate_lock exclusive (caller); takes i_mmap internally.
  void unmap_mapping_range(VmObject& obj, uint64_t first, uint64_t count);

 private:
  // One VMA of a planned layout: the range it will have and the VMA it continues (src, whose
  // address -> pgoff relation it keeps), or nullptr for a new mapping.
  struct Piece {
    uint64_t start, end, pgoff;
    uint32_t flags;
    VmObject* obj;
    VmOperations* ops;
    VmArea* src;
    bool force_new = false;  // munmap's remainders: new VMAs, as __split_vma makes them
  };

  // Replaces the VMAs of `window` (address order) by `final` (address order, merged): plans
  // which VMA objects are reused, allocated and removed, then allocates, write-locks (killable)
  // and maps memory — all before the first change to the tree — then commits. Returns the VMA
  // covering `want` afterwards (nullptr if none). -EINTR / -ENOMEM leave everything unchanged.
  // Running out of memory anywhere before the commit is -ENOMEM as well (a VMA object or a
  // container node alike), never std::bad_alloc.
  Result<VmArea*> rewrite(const std::vector<VmArea*>& window, std::vector<Piece> final,
                          uint64_t want) LOCKFS_REQUIRES(mmap_lock);
  Result<VmArea*> rewrite_or_throw(const std::vector<VmArea*>& window,
                                   const std::vector<Piece>& final, uint64_t want)
      LOCKFS_REQUIRES(mmap_lock);
  // Merges adjacent compatible pieces in place (never removing a VMA with ->close).
  static void merge_pieces(std::vector<Piece>& pieces);
  static Piece piece_of(const VmArea* v) {
    return Piece{v->vm_start, v->vm_end, v->vm_pgoff,           v->vm_flags,
                 v->vm_file,  v->vm_ops, const_cast<VmArea*>(v)};
  }
  std::vector<VmArea*> overlapping(uint64_t start, uint64_t end) const
      LOCKFS_REQUIRES_SHARED(mmap_lock);

  // The container nodes linking one VMA needs (tree_, and storage_ or i_mmap_, with an entry
  // for its object when it has none yet), allocated by rewrite before it changes anything,
  // so that its commit allocates nothing and so cannot fail half way. The commit's unlinks
  // keep emptied object entries until its links are done, so an object that has an entry
  // at planning time still has it then: no entry node is allocated for it.
  struct LinkNodes {
    std::map<uint64_t, VmArea*>::node_type tree;
    std::map<const VmObject*, std::map<uint64_t, VmArea*>>::node_type storage_obj;
    std::map<uint64_t, VmArea*>::node_type storage_page;
    std::map<const VmObject*, std::set<VmArea*>>::node_type i_mmap_obj;
    std::set<VmArea*>::node_type i_mmap_vma;
  };
  // The nodes a VMA of piece p needs. May throw std::bad_alloc.
  LinkNodes make_link_nodes(const Piece& p) const LOCKFS_REQUIRES(mmap_lock);

  // Tree edits (mmap_lock write + VMA write locks held): insert/erase under tree_lock_ so that
  // lock_vma_under_rcu can look up concurrently. Inserting and linking use `nodes`
  // (make_link_nodes): they allocate nothing.
  void tree_insert(VmArea* vma, LinkNodes& nodes) LOCKFS_REQUIRES(mmap_lock);
  void tree_erase(VmArea* vma) LOCKFS_REQUIRES(mmap_lock);
  void link_file(VmArea* vma, LinkNodes& nodes) LOCKFS_REQUIRES(mmap_lock);
  // keep_empty: an object entry left empty stays (rewrite's commit), for
  // erase_empty_entry to drop once the commit's links are done.
  void unlink_file(VmArea* vma, bool keep_empty = false) LOCKFS_REQUIRES(mmap_lock);
  void erase_empty_entry(const VmArea* vma) LOCKFS_REQUIRES(mmap_lock);
  // storage_map's lookup: fills in addrs[pg - first] for the pages from p on that are in
  // windows already, and returns the first page before `end` that is not (or `end`).
  // Allocates nothing.
  uint64_t storage_covered(const VmObject& obj, uint64_t p, uint64_t end, uint64_t first,
                           char** addrs) LOCKFS_REQUIRES_SHARED(mmap_lock);
  // storage_map's work, under its mmap_lock write; may throw std::bad_alloc.
  Result<void> storage_map_locked(VmObject& obj, uint64_t first, uint64_t count, char** addrs)
      LOCKFS_REQUIRES(mmap_lock);
  // Unmaps a whole storage window (storage_unmap): allocates nothing, so it cannot fail.
  void remove_storage_window(VmArea* v) LOCKFS_REQUIRES(mmap_lock);
  // Memory: map [start, end) of vma's backing at its pgoff (populate), or give it back to the
  // reservation. map_memory may fail (-ENOMEM); reserve_memory may not.
  Result<void> map_memory(const Piece& p, uint64_t start, uint64_t end);
  Result<void> protect_memory(const Piece& p, uint64_t start, uint64_t end);
  void reserve_memory(uint64_t start, uint64_t end);
  Result<size_t> access(uint64_t addr, char* buf, size_t len, bool write)
      LOCKFS_EXCLUDES(mmap_lock);
  enum class Kind : uint8_t { kUser, kKernel };
  Mm(uint64_t reserve_bytes, Kind kind);
  const locking::LockClass& vma_class() const;

  const Kind kind_;
  std::unique_ptr<Mm> init_mm_;  // user mm only
  uint64_t base_ = 0;
  uint64_t size_ = 0;
  // mm_lock_seq: odd while mmap_lock is write-held. A VMA is write-locked when its
  // vm_lock_seq equals this (so mmap_write_unlock releases them all by bumping it).
  std::atomic<uint64_t> mm_lock_seq_{0};
  std::atomic<uint64_t> write_locks_{0};
  std::atomic<uint64_t> faults_vma_{0};
  std::atomic<uint64_t> faults_mmap_{0};

  // The VMA tree, keyed by vm_start. Written under mmap_lock write AND tree_lock_; read under
  // either (lock_vma_under_rcu uses tree_lock_ in place of RCU).
  locking::SpinLock tree_lock_;
  std::map<uint64_t, VmArea*> tree_;
  // Storage windows per object, keyed by vm_pgoff. Written under mmap_lock write.
  std::map<const VmObject*, std::map<uint64_t, VmArea*>> storage_ LOCKFS_GUARDED_BY(mmap_lock);
  uint64_t next_fit_ LOCKFS_GUARDED_BY(mmap_lock) = 0;  // get_unmapped_area's cursor
  // User VMAs per object (i_mmap), for unmap_mapping_range. Written under mmap_lock write and
  // i_mmap_lock_ exclusive; read under either.
  locking::RwSemaphore i_mmap_lock_;
  // The page table lock: held while a fault installs a page at a user address and copies
  // through it, and while unmap_mapping_range zaps user pages, so a copy never runs into a
  // page zapped under it (the kernel's copy_from_user would fault and retry instead).
  locking::SpinLock ptl_;
  std::map<const VmObject*, std::set<VmArea*>> i_mmap_;
};

// An mmap_lock write section the caller opened (mmap_write_lock, or mmap_write_lock_killable
// returning 0), closed by mmap_write_unlock when the scope ends -- std::bad_alloc from a VMA
// operation included, so that an allocation failing under mmap_lock never leaves it held.
// Thread safety: a scope object of the thread that holds mmap_lock.
class LOCKFS_SCOPED_CAPABILITY MmapWriteSection {
 public:
  explicit MmapWriteSection(Mm& mm) LOCKFS_REQUIRES(mm.mmap_lock) : mm_(mm) {}
  ~MmapWriteSection() LOCKFS_RELEASE() { mm_.mmap_write_unlock(); }
  MmapWriteSection(const MmapWriteSection&) = delete;
  MmapWriteSection& operator=(const MmapWriteSection&) = delete;

 private:
  Mm& mm_;
};

}  // namespace lockfs::core

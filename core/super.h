// SuperBlock: the mounted filesystem's shared state: s_umount, s_vfs_rename_sem, rename_lock,
// the inode table with its lifetime counts, and the capacity counters (-o nr_inodes, -o size).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_set>
#include <vector>

#include "core/contract_scope.h"
#include "core/inode.h"
#include "core/inode_table.h"
#include "core/pagecache/address_space.h"
#include "core/vfs.h"
#include "locking/mutex.h"
#include "locking/rwsem.h"
#include "locking/seqlock.h"

namespace lockfs::core {

class Mm;

// Largest file size (EFBIG past it): tmpfs allows MAX_LFS_FILESIZE; lockfs keeps offsets
// within what the page cache can index.
inline constexpr uint64_t kMaxFileSize = uint64_t{1} << 40;
inline constexpr size_t kNameMax = 255;
inline constexpr size_t kPathMax = 4096;
inline constexpr size_t kXattrNameMax = 255;
inline constexpr size_t kXattrSizeMax = 65536;

// Thread safety: the locks are public members used per the contract; the inode table and the
// lifetime counts of every inode are guarded by s_inode_lock (a spinlock, never held across a
// sleep), except that a pin count above 0 moves without it (Inode::i_count says how) and that
// iget reads the table under RCU. An evicted inode is freed by RCU.
// Construct with mount options; the root directory exists from construction on.
class SuperBlock {
 public:
  SuperBlock(const MountOptions& opts, contract::Profile profile);
  ~SuperBlock();
  // kill_sb: frees files nobody released and evicts every inode. Locking: s_umount exclusive.
  void kill_sb();
  SuperBlock(const SuperBlock&) = delete;
  SuperBlock& operator=(const SuperBlock&) = delete;

  locking::RwSemaphore s_umount;
  // Per-superblock rename serialisation; only ever taken exclusive (the kernel's mutex).
  locking::RwSemaphore s_vfs_rename_sem;
  // rename_lock: writers move directories between parents; walkers of ".." retry.
  locking::SeqLock rename_lock;
  mutable locking::SpinLock s_inode_lock;

  const MountOptions s_opts;
  const uint64_t s_max_inodes;
  std::unique_ptr<Mm> s_mm;
  PageBudget s_budget;
  const Contract s_contract;
  Inode* s_root = nullptr;

  // alloc_inode + inode_init: a new inode with a fresh number, pinned once by the caller, or
  // -ENOSPC when the inode limit is reached (nothing allocated). `nlookup`: lookups counted
  // in the same inode_hash_lock section, for the entry a create replies with (an error
  // after it gives them back with forget()).
  Result<Inode*> new_inode(const InodeAttr& attr, std::string_view link_target = {},
                           uint64_t nlookup = 0);
  // Pins the inode with that number; nullptr when it does not exist (never existed or evicted).
  // An inode already pinned -- every inode the client holds a lookup on -- takes no lock.
  Inode* iget(Ino ino);
  // Pins an inode the caller already reaches safely: under a lock that keeps it linked (its
  // directory's i_rwsem), or holding a pin. Takes no lock while another pin is held.
  void ihold(Inode* inode);
  // Drops a pin; evicts the inode when nothing keeps it (no links, pins or lookups).
  void iput(Inode* inode);
  // Adds lookups the client now holds (a successful lookup/create/readdirplus entry).
  void nlookup_get(Inode* inode, uint64_t n);
  // One more lookup for each inode (readdirplus), in one s_inode_lock section.
  void nlookup_get_each(std::span<Inode* const> inodes);
  // Drops lookups (FUSE forget); evicts as iput does. Unknown ino: ignored (already gone).
  void forget(Ino ino, uint64_t n);
  // The ".." of directory `ino` (0 when unknown/removed). Reads the table under s_inode_lock.
  Ino parent_of(Ino ino) const;
  // Makes a tmpfile linkable or not (O_EXCL: never linkable).
  void set_linkable(Inode* inode, bool linkable);
  bool linkable(Inode* inode) const;

  uint64_t nr_inodes() const { return nr_inodes_.load(std::memory_order_relaxed); }
  uint64_t nr_pages() const;  // pages really present in all page caches
  // Lifetime counts of `ino` (tests and the namespace checker): {pins, i_nlookup}, the pins
  // not counting the one the client's lookups share.
  std::pair<uint64_t, uint64_t> counts(Ino ino) const;
  // Tests: the chain of the inode hash `ino` falls in, and how many chains there are.
  size_t inode_hash_bucket(Ino ino) const;
  size_t inode_hash_buckets() const;
  // Every live inode number (the namespace checker).
  std::vector<Ino> all_inos() const;
  // Raw access without pinning: only for the single-threaded namespace checker.
  Inode* find_unlocked_for_check(Ino ino) const;

  // Open files, so unmount can free the ones nobody released.
  void file_opened(File* f);
  void file_released(File* f);

 private:
  bool evictable(const Inode* inode) const LOCKFS_REQUIRES(s_inode_lock);
  // Removes the inode from the table (s_inode_lock held); the caller evicts it.
  void unhash(Inode* inode) LOCKFS_REQUIRES(s_inode_lock);
  // evict_inode, then the memory once RCU readers are past it. No lock held.
  void evict(Inode* inode);
  Inode* iget_rcu(Ino ino) const;

  // The inodes, owned by the superblock through the table (new_inode .. evict).
  InodeTable s_itable_ LOCKFS_GUARDED_BY(s_inode_lock);
  std::unordered_set<File*> s_files_ LOCKFS_GUARDED_BY(s_inode_lock);
  std::atomic<Ino> next_ino_{kRootIno};
  std::atomic<uint64_t> nr_inodes_{0};
};

// Returns the superblock's mount-time contract (the profile's rows).
inline const Contract& contract_of(const SuperBlock& sb) { return sb.s_contract; }

}  // namespace lockfs::core

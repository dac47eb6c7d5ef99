// Dentry: one name of an inode in a parent directory (the kernel's struct dentry, without the
// dcache: lockfs keeps every positive entry and no negative ones).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "locking/mutex.h"

namespace lockfs::core {

class Inode;

// Thread safety: owned by the parent directory's entry map, created and destroyed with the
// parent's i_rwsem exclusive. d_name and d_parent change only in rename, with both parents'
// i_rwsem exclusive and d_lock held (d_parent also under rename_lock's write side); readers
// hold the parent's i_rwsem (either mode) or d_lock. d_inode is constant.
class Dentry {
 public:
  Dentry(std::string_view name, Inode* parent, Inode* inode, uint64_t seq);
  Dentry(const Dentry&) = delete;
  Dentry& operator=(const Dentry&) = delete;

  // A copy of the name, taken under d_lock (for callers that hold no parent lock).
  std::string name() const;
  // The name itself, for a caller holding the parent's i_rwsem (either mode): d_move, the
  // only writer, runs with the parent's i_rwsem exclusive, so the name cannot change (the
  // kernel's d_name is stable for the same reason). Valid while that lock is held.
  std::string_view name_under_parent() const LOCKFS_NO_THREAD_SAFETY_ANALYSIS { return d_name; }
  // The directory-entry sequence number: readdir's cursor (stable across unlinks).
  uint64_t seq() const { return d_seq; }

  mutable locking::SpinLock d_lock;
  std::string d_name LOCKFS_GUARDED_BY(d_lock);
  std::atomic<Inode*> d_parent;
  Inode* const d_inode;
  uint64_t d_seq;  // written with the parent's i_rwsem exclusive
};

}  // namespace lockfs::core

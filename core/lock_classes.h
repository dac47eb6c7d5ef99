// The lock classes of core/: one per kind of VFS lock, registered once by name, so the
// validator orders them and the tracer and lock_stat report them under the kernel's names.
#pragma once

#include <sys/types.h>

#include "locking/lock_class.h"

namespace lockfs::core::lock_class {

// i_rwsem per inode type, as lockdep keys i_rwsem per file type (directories get their own
// class so "parent, then child" nesting is visible; non-directories are ranked after them).
extern const locking::LockClass kIRwsemDir;      // "i_rwsem(dir)"
extern const locking::LockClass kIRwsemReg;      // "i_rwsem(reg)"
extern const locking::LockClass kIRwsemLnk;      // "i_rwsem(lnk)"
extern const locking::LockClass kIRwsemSpecial;  // "i_rwsem(special)": fifo, socket, device
extern const locking::LockClass kILock;          // "i_lock": attribute writes, xattrs, counts
extern const locking::LockClass kFlcLock;        // "flc_lock": the inode's file-lock lists
extern const locking::LockClass kDLock;          // "d_lock"
extern const locking::LockClass kRenameLock;     // "rename_lock" (seqlock)
extern const locking::LockClass kSUmount;        // "s_umount"
extern const locking::LockClass kSVfsRenameSem;  // "s_vfs_rename_sem"
extern const locking::LockClass kInodeHashLock;  // "inode_hash_lock": the inode table
extern const locking::LockClass kFPosLock;       // "f_pos_lock"
extern const locking::LockClass kBlockedLockLock;  // "blocked_lock_lock": who waits for whom

// The i_rwsem class for an inode of type `mode & S_IFMT`.
const locking::LockClass& i_rwsem_class(mode_t mode);

}  // namespace lockfs::core::lock_class

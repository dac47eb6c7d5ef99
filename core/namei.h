// Name lookup in a locked directory and the multi-directory lock helpers of
// directory-locking.rst: lock_rename / unlock_rename, lock_two_directories, the ancestor
// checks, and the inode-order locking of non-directories.
#pragma once

#include <string_view>

#include "core/inode.h"
#include "core/super.h"

namespace lockfs::core {

// The entry `name` of dir, or nullptr. Locking: dir->i_rwsem held (either mode).
Dentry* d_lookup(Inode* dir, std::string_view name) LOCKFS_REQUIRES_SHARED(dir->i_rwsem);

// d_ancestor: when directory `anc` is a proper ancestor of directory `ino`, the inode number of
// anc's child on the way to ino; 0 otherwise. Walks ".." under rename_lock's read side and
// retries when a directory moved meanwhile.
Ino d_ancestor(SuperBlock& sb, Ino anc, Ino ino);
// is_subdir: directory `ino` is `anc` or below it (same walk).
bool is_subdir(SuperBlock& sb, Ino ino, Ino anc);

// follow_dotdot: pins the parent of directory `dir` (empty when dir was removed). The ".."
// pointer may change under us (a cross-directory rename); rename_lock's count tells, and the
// walk retries.
InodeRef follow_dotdot(SuperBlock& sb, Inode* dir);

// p1 != p2, same superblock, s_vfs_rename_sem held. Ancestor first, else p1 first. Returns the
// trap: the child of the ancestor on the way to the other parent (0 if neither is an ancestor).
// Both end up locked exclusive: the first as kParent, the second as kParent2.
Ino lock_two_directories(Inode* p1, Inode* p2) LOCKFS_NO_THREAD_SAFETY_ANALYSIS;

// lock_rename: same directory: its i_rwsem exclusive (kParent), trap 0. Different directories:
// s_vfs_rename_sem, then lock_two_directories. unlock_rename releases in reverse.
Ino lock_rename(Inode* p1, Inode* p2) LOCKFS_NO_THREAD_SAFETY_ANALYSIS;
void unlock_rename(Inode* p1, Inode* p2) LOCKFS_NO_THREAD_SAFETY_ANALYSIS;

// Non-directories (either may be null, they may be equal) exclusive in inode order ("inode
// pointer order" of directory-locking.rst): the first kNormal, the second kNonDir2.
void lock_two_nondirectories(Inode* a, Inode* b) LOCKFS_NO_THREAD_SAFETY_ANALYSIS;
void unlock_two_nondirectories(Inode* a, Inode* b) LOCKFS_NO_THREAD_SAFETY_ANALYSIS;

}  // namespace lockfs::core

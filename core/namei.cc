// Lookup in a locked directory and the ordered multi-lock helpers (directory-locking.rst).
#include "core/namei.h"

#include <utility>

#include "locking/sync_point.h"

namespace lockfs::core {

using locking::Subclass;

Dentry* d_lookup(Inode* dir, std::string_view name) {
  auto it = dir->i_dir->by_name.find(name);
  return it == dir->i_dir->by_name.end() ? nullptr : it->second.get();
}

namespace {

// One walk up from `ino` towards the root; 0 if anc is not a proper ancestor. The result is
// only trustworthy if no directory moved meanwhile (the caller retries on rename_lock).
Ino walk_to(SuperBlock& sb, Ino anc, Ino ino) {
  Ino prev = ino;
  Ino cur = sb.parent_of(ino);
  // A tree deeper than this would need a loop, which the rename checks never let exist.
  for (int depth = 0; depth < (1 << 20); ++depth) {
    if (cur == 0) return 0;  // removed directory: no ancestor
    if (cur == anc) return prev;
    if (cur == kRootIno) return 0;
    prev = cur;
    cur = sb.parent_of(cur);
  }
  LOCKFS_CHECK(false, "directory loop in the namespace");
  return 0;
}

}  // namespace

Ino d_ancestor(SuperBlock& sb, Ino anc, Ino ino) {
  if (anc == ino) return 0;
  for (;;) {
    const unsigned seq = sb.rename_lock.read_seqbegin();
    const Ino r = walk_to(sb, anc, ino);
    if (!sb.rename_lock.read_seqretry(seq)) return r;
  }
}

bool is_subdir(SuperBlock& sb, Ino ino, Ino anc) {
  return ino == anc || anc == kRootIno || d_ancestor(sb, anc, ino) != 0;
}

InodeRef follow_dotdot(SuperBlock& sb, Inode* dir) {
  for (;;) {
    const unsigned seq = sb.rename_lock.read_seqbegin();
    InodeRef up(&sb, sb.iget(sb.parent_of(dir->i_ino)));
    if (!sb.rename_lock.read_seqretry(seq)) return up;
  }
}

Ino lock_two_directories(Inode* p1, Inode* p2) {
  SuperBlock& sb = p1->i_sb;
  sb.s_vfs_rename_sem.assert_held(locking::Mode::kExclusive);
  LOCKFS_CHECK(p1 != p2, "lock_two_directories: same directory");
  // With s_vfs_rename_sem held no directory changes parent, so the relation found here holds
  // until unlock_rename.
  if (Ino trap = d_ancestor(sb, p2->i_ino, p1->i_ino)) {
    p2->i_rwsem.down_write(Subclass::kParent);
    LOCKFS_SYNC_POINT("lock_two_directories:first");
    p1->i_rwsem.down_write(Subclass::kParent2);
    return trap;
  }
  const Ino trap = d_ancestor(sb, p1->i_ino, p2->i_ino);
  p1->i_rwsem.down_write(Subclass::kParent);
  LOCKFS_SYNC_POINT("lock_two_directories:first");
  p2->i_rwsem.down_write(Subclass::kParent2);
  return trap;
}

Ino lock_rename(Inode* p1, Inode* p2) {
  if (p1 == p2) {
    p1->i_rwsem.down_write(Subclass::kParent);
    return 0;
  }
  p1->i_sb.s_vfs_rename_sem.down_write();
  return lock_two_directories(p1, p2);
}

void unlock_rename(Inode* p1, Inode* p2) {
  p1->i_rwsem.up_write();
  if (p1 != p2) {
    p2->i_rwsem.up_write();
    p1->i_sb.s_vfs_rename_sem.up_write();
  }
}

void lock_two_nondirectories(Inode* a, Inode* b) {
  if (a == b) b = nullptr;
  if (a == nullptr) std::swap(a, b);
  if (a == nullptr) return;
  if (b == nullptr) {
    a->i_rwsem.down_write();
    return;
  }
  if (b->i_ino < a->i_ino) std::swap(a, b);
  a->i_rwsem.down_write();
  b->i_rwsem.down_write(Subclass::kNonDir2);
}

void unlock_two_nondirectories(Inode* a, Inode* b) {
  if (a == b) b = nullptr;
  if (a != nullptr) a->i_rwsem.up_write();
  if (b != nullptr) b->i_rwsem.up_write();
}

}  // namespace lockfs::core

// vfs_rename: the trickiest caller. Same directory: class 5 of directory-locking.rst; across
// directories: class 6 (s_vfs_rename_sem, ancestors first, loop checks, subdirectories source
// before target, non-directories in inode order).
#include "core/memfs.h"
#include "core/namei.h"
#include "core/permission.h"
#include "core/vfs_internal.h"
#include "locking/sync_point.h"

namespace lockfs::core {

using locking::Subclass;

namespace {

// The children a rename locks after the parents, and in which order.
struct RenameChildren {
  Inode* dirs[2] = {nullptr, nullptr};     // subdirectories: source before target
  Inode* nondirs[2] = {nullptr, nullptr};  // non-directories: inode order (namei helper)
};

RenameChildren children_to_lock(Inode* src, Inode* tgt, bool cross, bool exchange) {
  RenameChildren c;
  // directory-locking.rst: the source needs locking if it is a non-directory (or, across
  // directories, a subdirectory changing parent); the target if it is a non-directory or
  // about to be removed (or a subdirectory changing parent in an exchange).
  const bool lock_src = !src->is_dir() || cross;
  const bool lock_tgt = tgt != nullptr && (!tgt->is_dir() || !exchange || cross);
  int nd = 0;
  int dd = 0;
  if (lock_src) (src->is_dir() ? c.dirs[dd++] : c.nondirs[nd++]) = src;
  if (lock_tgt && tgt != src) (tgt->is_dir() ? c.dirs[dd++] : c.nondirs[nd++]) = tgt;
  return c;
}

void lock_children(const RenameChildren& c) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  if (c.dirs[0]) c.dirs[0]->i_rwsem.down_write(Subclass::kChild);
  // A second subdirectory uses the second-object subclass, as lock_two_inodes() does.
  if (c.dirs[1]) c.dirs[1]->i_rwsem.down_write(Subclass::kNonDir2);
  lock_two_nondirectories(c.nondirs[0], c.nondirs[1]);
}

void unlock_children(const RenameChildren& c) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  unlock_two_nondirectories(c.nondirs[0], c.nondirs[1]);
  if (c.dirs[1]) c.dirs[1]->i_rwsem.up_write();
  if (c.dirs[0]) c.dirs[0]->i_rwsem.up_write();
}

// Everything after lock_rename and before the method: lookups, the loop checks, may_delete /
// may_create. Returns 0 or the errno; *same: nothing to do (both names are one inode).
int rename_checks(SuperBlock& sb, Inode* old_dir, Dentry* od, Inode* new_dir, Dentry* nd,
                  Ino trap, unsigned flags, bool* same) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  const bool exchange = flags & RENAME_EXCHANGE;
  if (old_dir->i_dir->dead || new_dir->i_dir->dead) return -ENOENT;
  if (od == nullptr) return -ENOENT;
  if ((flags & RENAME_NOREPLACE) && nd != nullptr) return -EEXIST;
  if (exchange && nd == nullptr) return -ENOENT;
  Inode* src = od->d_inode;
  Inode* tgt = nd ? nd->d_inode : nullptr;
  // Source must not be an ancestor of the target; target not an ancestor of the source.
  if (trap != 0 && src->i_ino == trap) return -EINVAL;
  if (trap != 0 && tgt != nullptr && tgt->i_ino == trap) return exchange ? -EINVAL : -ENOTEMPTY;
  if (src == tgt) {
    *same = true;  // POSIX: two links to one file: do nothing, successfully
    return 0;
  }
  const bool is_dir = src->is_dir();
  if (int rc = may_delete(*old_dir, *src, is_dir)) return rc;
  if (tgt == nullptr) {
    if (int rc = may_create(*new_dir)) return rc;
  } else {
    const bool new_is_dir = tgt->is_dir();
    if (int rc = may_delete(*new_dir, *tgt, exchange ? new_is_dir : is_dir)) return rc;
  }
  // A directory changing parent rewrites its "..": it needs write permission on itself.
  if (old_dir != new_dir) {
    if (is_dir) {
      if (int rc = inode_permission(*src, kMayWrite)) return rc;
    }
    if (exchange && tgt->is_dir()) {
      if (int rc = inode_permission(*tgt, kMayWrite)) return rc;
    }
  }
  return 0;
}

}  // namespace

// vfs_rename — row inode_operations.rename: "exclusive (both parents, some children)";
// cross-directory also s_vfs_rename_sem; the victim, all non-directories involved and any
// subdirectory that changes parent exclusive. May block.
// Errors: -EINVAL (into own subtree, bad flags), -EBUSY ("." / ".."), -ENOTEMPTY, -EEXIST
// (RENAME_NOREPLACE), -ENOENT, -ENOTDIR, -EISDIR, -EPERM (sticky, immutable), -EACCES.
Result<void> Vfs::rename(Ino oldparent, std::string_view oldname, Ino newparent,
                         std::string_view newname, unsigned flags)
    LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  locking::OpScope op("rename");
  SuperBlock& sb = *sb_;
  auto fail = [&](int rc) {
    op.set_result(rc);
    return Result<void>(err(rc));
  };
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) return fail(-EINVAL);
  if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE)) return fail(-EINVAL);
  if (flags & RENAME_WHITEOUT) return fail(-EINVAL);  // no whiteouts in memfs
  InodeRef old_dir = pin(sb, oldparent);
  // Most renames stay in one directory: pin it twice without looking it up twice.
  InodeRef new_dir =
      newparent == oldparent && old_dir ? pin_again(sb, old_dir) : pin(sb, newparent);
  if (!old_dir || !new_dir) return fail(-ENOENT);
  if (!old_dir->is_dir() || !new_dir->is_dir()) return fail(-ENOTDIR);
  // do_renameat2: a last component that is "." or ".." is -EBUSY.
  if (is_dot_or_dotdot(oldname) || is_dot_or_dotdot(newname)) return fail(-EBUSY);
  if (int rc = check_name(oldname)) return fail(rc);
  if (int rc = check_name(newname)) return fail(rc);
  if (int rc = inode_permission(*old_dir.get(), kMayExec)) return fail(rc);
  if (int rc = inode_permission(*new_dir.get(), kMayExec)) return fail(rc);

  Inode* p1 = old_dir.get();
  Inode* p2 = new_dir.get();
  const bool cross = p1 != p2;
  // Pins so that a replaced target is evicted only after every lock is dropped: declared
  // before the locks' guards, so they outlive them, an exception included.
  InodeRef src_ref, tgt_ref;
  const Ino trap = lock_rename(p1, p2);
  OnExit parents_locked([&] { unlock_rename(p1, p2); });
  LOCKFS_SYNC_POINT("rename:parents_locked");
  Dentry* od = memfs::lookup(p1, oldname);
  Dentry* nd = memfs::lookup(p2, newname);
  bool same = false;
  int rc = rename_checks(sb, p1, od, p2, nd, trap, flags, &same);
  if (rc != 0 || same) return rc != 0 ? fail(rc) : Result<void>();
  Inode* src = od->d_inode;
  Inode* tgt = nd ? nd->d_inode : nullptr;
  sb.ihold(src);
  src_ref = InodeRef(&sb, src);
  if (tgt) {
    sb.ihold(tgt);
    tgt_ref = InodeRef(&sb, tgt);
  }
  const RenameChildren children = children_to_lock(src, tgt, cross, flags & RENAME_EXCHANGE);
  lock_children(children);
  OnExit children_locked([&] { unlock_children(children); });
  LOCKFS_SYNC_POINT("rename:children_locked");
  Result<void> r = memfs::rename({p1, od, p2, newname, nd, flags});
  if (!r.ok()) return fail(r.error());
  return {};
}

}  // namespace lockfs::core

// The namespace callers: lookup, mknod/mkdir/symlink, link, unlink, rmdir, plus forget,
// getattr, readlink and access. Each names its contract row and takes what it prescribes in
// directory-locking.rst's order before calling memfs.
#include "core/memfs.h"
#include "core/namei.h"
#include "core/permission.h"
#include "core/vfs_internal.h"
#include "locking/sync_point.h"

namespace lockfs::core {

using locking::Mode;
using locking::OpScope;
using locking::Subclass;

// vfs lookup — row inode_operations.lookup: the directory's i_rwsem shared (3.x: i_mutex,
// i.e. exclusive; the mount's profile decides). Read access, class 1 of directory-locking.rst.
// Errors: -ENOENT, -ENOTDIR, -EACCES (no search permission), -ENAMETOOLONG.
// The directory lock's mode is a run-time value (the profile's row), which the static analysis
// cannot follow; memfs::lookup asserts it at run time.
Result<EntryOut> Vfs::lookup(Ino parent, std::string_view name) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  OpScope op("lookup");
  SuperBlock& sb = *sb_;
  InodeRef dir = pin(sb, parent);
  if (!dir) return traced(op, Result<EntryOut>(err(-ENOENT)));
  if (!dir->is_dir()) return traced(op, Result<EntryOut>(err(-ENOTDIR)));
  if (int rc = inode_permission(*dir.get(), kMayExec)) return traced(op, Result<EntryOut>(err(rc)));
  if (name == ".") return make_entry(sb, dir.get());
  if (name == "..") {
    InodeRef up = follow_dotdot(sb, dir.get());
    if (!up) return traced(op, Result<EntryOut>(err(-ENOENT)));
    return make_entry(sb, up.get());
  }
  if (int rc = check_name(name)) return traced(op, Result<EntryOut>(err(rc)));

  RwsemHold locked(dir->i_rwsem, dir_mode(sb.s_contract, Op::kLookup));
  Dentry* d = memfs::lookup(dir.get(), name);
  // The lookup the reply hands the client is counted here, while the directory lock keeps
  // the name linked: the pin the client's lookups hold then keeps the inode for the rest of
  // this request too (no forget can take that lookup back before the reply), so the request
  // takes no pin of its own -- one inode_hash_lock section, not two.
  Inode* child = d != nullptr ? d->d_inode : nullptr;
  if (child != nullptr) sb.nlookup_get(child, 1);
  locked.unlock();
  if (child == nullptr) return traced(op, Result<EntryOut>(err(-ENOENT)));
  return counted_entry(child);
}

void Vfs::forget(Ino ino, uint64_t nlookup) { sb_->forget(ino, nlookup); }

// vfs getattr — row inode_operations.getattr: no lock.
Result<struct stat> Vfs::getattr(Ino ino) {
  OpScope op("getattr");
  InodeRef inode = pin(*sb_, ino);
  if (!inode) return err(-ENOENT);
  return memfs::getattr(inode.get());
}

// vfs readlink — row inode_operations.readlink: no lock. -EINVAL for a non-symlink.
Result<std::string> Vfs::readlink(Ino ino) {
  OpScope op("readlink");
  InodeRef inode = pin(*sb_, ino);
  if (!inode) return err(-ENOENT);
  return memfs::readlink(inode.get());
}

// access(2): the permission check alone (row inode_operations.permission: no lock).
Result<void> Vfs::access(Ino ino, int mask) {
  OpScope op("access");
  InodeRef inode = pin(*sb_, ino);
  if (!inode) return err(-ENOENT);
  if (mask == F_OK) return {};
  return Result<void>::from_int(inode_permission(*inode.get(), mask & 7));
}

namespace {

// Object creation, class 2 of directory-locking.rst: lock the directory exclusive, check the
// name is free (-EEXIST comes before permission, as filename_create does), allocate (ENOSPC
// leaves nothing behind), link via memfs. Rows inode_operations.{create,mknod,symlink,mkdir}:
// the directory's i_rwsem exclusive.
Result<EntryOut> do_create(SuperBlock& sb, Op op, Ino parent, std::string_view name, mode_t mode,
                           dev_t rdev, std::string_view target) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  InodeRef dir = pin(sb, parent);
  if (!dir) return err(-ENOENT);
  if (!dir->is_dir()) return err(-ENOTDIR);
  if (is_dot_or_dotdot(name)) return err(-EEXIST);
  if (int rc = check_name(name)) return err(rc);
  if (int rc = inode_permission(*dir.get(), kMayExec)) return err(rc);

  InodeRef inode;  // dropped after the directory: an eviction runs with no lock held
  RwsemHold locked(dir->i_rwsem, Mode::kExclusive, Subclass::kParent);
  if (dir->i_dir->dead) return err(-ENOENT);
  if (memfs::lookup(dir.get(), name) != nullptr) return err(-EEXIST);
  if (int rc = may_create(*dir.get())) return err(rc);

  InodeAttr a;
  inode_init_owner(a, dir->perm_attr(), mode);
  a.nlink = S_ISDIR(mode) ? 2 : 1;
  a.rdev = rdev;
  a.size = S_ISLNK(mode) ? target.size() : 0;
  a.atime = a.mtime = a.ctime = a.btime = current_time();
  // Counted with the reply's lookup, in one inode_hash_lock section.
  Result<Inode*> made = sb.new_inode(a, target, 1);
  if (!made.ok()) return err(made.error());
  inode = InodeRef(&sb, *made);
  // Counted but not linked until memfs::create succeeds: an error or an exception takes it
  // back (evicted by the last iput).
  OnExit never_linked([&] {
    inode->clear_nlink();
    sb.forget(inode->i_ino, 1);
  });
  LOCKFS_TRY(memfs::create(op, dir.get(), name, inode.get()));
  never_linked.dismiss();
  locked.unlock();
  return counted_entry(inode.get());
}

}  // namespace

// vfs_mknod — row inode_operations.mknod: the directory's i_rwsem exclusive.
// Errors: -EEXIST, -EACCES, -EPERM (device nodes need CAP_MKNOD; S_IFDIR), -EINVAL (type),
// -ENOSPC, -ENAMETOOLONG, -ENOENT, -ENOTDIR.
Result<EntryOut> Vfs::mknod(Ino parent, std::string_view name, mode_t mode, dev_t rdev) {
  OpScope op("mknod");
  if ((mode & S_IFMT) == 0) mode |= S_IFREG;
  switch (mode & S_IFMT) {
    case S_IFREG: case S_IFIFO: case S_IFSOCK: rdev = 0; break;
    case S_IFCHR: case S_IFBLK:
      if (!capable()) return traced(op, Result<EntryOut>(err(-EPERM)));
      break;
    case S_IFDIR: return traced(op, Result<EntryOut>(err(-EPERM)));
    default: return traced(op, Result<EntryOut>(err(-EINVAL)));
  }
  return traced(op, do_create(*sb_, Op::kMknod, parent, name, mode & (S_IFMT | 07777), rdev, {}));
}

// vfs_mkdir — row inode_operations.mkdir: the directory's i_rwsem exclusive.
Result<EntryOut> Vfs::mkdir(Ino parent, std::string_view name, mode_t mode) {
  OpScope op("mkdir");
  return traced(op, do_create(*sb_, Op::kMkdir, parent, name, S_IFDIR | (mode & 07777), 0, {}));
}

// vfs_symlink — row inode_operations.symlink: the directory's i_rwsem exclusive.
// -ENOENT for an empty target, -ENAMETOOLONG past PATH_MAX.
Result<EntryOut> Vfs::symlink(Ino parent, std::string_view name, std::string_view target) {
  OpScope op("symlink");
  if (target.empty()) return traced(op, Result<EntryOut>(err(-ENOENT)));
  if (target.size() >= kPathMax) return traced(op, Result<EntryOut>(err(-ENAMETOOLONG)));
  return traced(op, do_create(*sb_, Op::kSymlink, parent, name, S_IFLNK | 0777, 0, target));
}

// vfs_link — row inode_operations.link: "exclusive (both)". Class 4 of directory-locking.rst:
// lock the parent, check the source is not a directory, lock the source.
// Errors: -EPERM (directory, immutable/append-only source), -EEXIST, -ENOENT (source has no
// links left and is not a linkable tmpfile), -EACCES, -ENOSPC never (no new inode).
Result<EntryOut> Vfs::link(Ino ino, Ino newparent, std::string_view newname)
    LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  OpScope op("link");
  SuperBlock& sb = *sb_;
  InodeRef src = pin(sb, ino);
  InodeRef dir = pin(sb, newparent);
  if (!src || !dir) return traced(op, Result<EntryOut>(err(-ENOENT)));
  if (!dir->is_dir()) return traced(op, Result<EntryOut>(err(-ENOTDIR)));
  if (is_dot_or_dotdot(newname)) return traced(op, Result<EntryOut>(err(-EEXIST)));
  if (int rc = check_name(newname)) return traced(op, Result<EntryOut>(err(rc)));
  if (int rc = inode_permission(*dir.get(), kMayExec)) return traced(op, Result<EntryOut>(err(rc)));

  RwsemHold locked_dir(dir->i_rwsem, Mode::kExclusive, Subclass::kParent);
  int rc = 0;
  if (dir->i_dir->dead) {
    rc = -ENOENT;
  } else if (memfs::lookup(dir.get(), newname) != nullptr) {
    rc = -EEXIST;
  } else if ((rc = may_create(*dir.get())) != 0) {
  } else if (src->is_dir()) {
    rc = -EPERM;
  } else if (src->flags() & (kFlagImmutable | kFlagAppend)) {
    rc = -EPERM;
  }
  if (rc != 0) return traced(op, Result<EntryOut>(err(rc)));
  RwsemHold locked_src(src->i_rwsem, Mode::kExclusive);
  if (src->nlink() == 0 && !sb.linkable(src.get())) {
    rc = -ENOENT;
  } else {
    Result<void> r = memfs::link(src.get(), dir.get(), newname);
    rc = r.ok() ? 0 : r.error();
  }
  locked_src.unlock();
  locked_dir.unlock();
  if (rc != 0) return traced(op, Result<EntryOut>(err(rc)));
  return make_entry(sb, src.get());
}

namespace {

// Object removal, class 3 of directory-locking.rst: lock the parent, find the victim, lock the
// victim. Rows inode_operations.unlink ("exclusive (both)", victim and non-directories
// exclusive) and rmdir ("exclusive (both)", victim exclusive).
Result<void> do_remove(SuperBlock& sb, Ino parent, std::string_view name, bool isdir)
    LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  InodeRef dir = pin(sb, parent);
  if (!dir) return err(-ENOENT);
  if (!dir->is_dir()) return err(-ENOTDIR);
  if (name == ".") return err(isdir ? -EINVAL : -EISDIR);
  if (name == "..") return err(isdir ? -ENOTEMPTY : -EISDIR);
  if (int rc = check_name(name)) return err(rc);
  if (int rc = inode_permission(*dir.get(), kMayExec)) return err(rc);

  // Keep the victim pinned past the unlock (declared before the locks, dropped after them):
  // eviction (if this was its last link and nobody looked it up) runs with no lock held.
  InodeRef victim;
  RwsemHold locked_dir(dir->i_rwsem, Mode::kExclusive, Subclass::kParent);
  Dentry* d = memfs::lookup(dir.get(), name);
  if (d == nullptr) return err(-ENOENT);
  LOCKFS_SYNC_POINT("remove:found");
  sb.ihold(d->d_inode);
  victim = InodeRef(&sb, d->d_inode);
  if (int rc = may_delete(*dir.get(), *victim.get(), isdir)) return err(rc);
  RwsemHold locked_victim(victim->i_rwsem, Mode::kExclusive,
                          isdir ? Subclass::kChild : Subclass::kNormal);
  LOCKFS_SYNC_POINT("remove:victim_locked");
  return isdir ? memfs::rmdir(dir.get(), d) : memfs::unlink(dir.get(), d);
}

}  // namespace

// vfs_unlink — row inode_operations.unlink: parent and victim i_rwsem exclusive.
// Errors: -ENOENT, -EISDIR, -EPERM (sticky, immutable/append-only), -EACCES.
Result<void> Vfs::unlink(Ino parent, std::string_view name) {
  OpScope op("unlink");
  return traced(op, do_remove(*sb_, parent, name, /*isdir=*/false));
}

// vfs_rmdir — row inode_operations.rmdir: parent and victim i_rwsem exclusive.
// Errors: -ENOENT, -ENOTDIR, -ENOTEMPTY, -EINVAL ("."), -EPERM, -EACCES.
Result<void> Vfs::rmdir(Ino parent, std::string_view name) {
  OpScope op("rmdir");
  return traced(op, do_remove(*sb_, parent, name, /*isdir=*/true));
}

}  // namespace lockfs::core

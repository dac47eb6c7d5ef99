// setattr (notify_change + setattr_prepare) and the chattr flags (fileattr get/set).
#include <optional>

#include "core/file.h"
#include "core/memfs.h"
#include "core/permission.h"
#include "core/vfs_internal.h"

namespace lockfs::core {

namespace {

// setattr_prepare and the VFS checks around it (chown_ok, chgrp_ok, inode_newsize_ok,
// may_setattr). Returns 0 or the errno; may adjust `in` (S_ISGID drop on chmod, privilege
// kill on chown and on truncate by the unprivileged).
int setattr_prepare(Inode* inode, SetAttrIn& in, File* f) {
  const InodeAttr a = inode->attr();
  const uid_t uid = locking::current().uid;
  const bool owner = owner_or_capable(a);
  if ((in.valid & (kSetMode | kSetUid | kSetGid | kSetAtime | kSetMtime)) &&
      (a.flags & (kFlagImmutable | kFlagAppend))) {
    return -EPERM;
  }
  if (in.valid & kSetSize) {
    if (S_ISDIR(a.mode)) return -EISDIR;
    if (!S_ISREG(a.mode)) return -EINVAL;
    if (a.flags & (kFlagImmutable | kFlagAppend)) return -EPERM;
    if (in.size > kMaxFileSize) return -EFBIG;
    if (f != nullptr) {
      if (!f->writable()) return -EINVAL;  // do_sys_ftruncate
    } else if (int rc = inode_permission(*inode, kMayWrite)) {
      return rc;
    }
    if (!capable() && (a.mode & (S_ISUID | S_ISGID))) in.valid |= kKillSuidGid;
  }
  if ((in.valid & kSetUid) && !capable() && (uid != a.uid || in.uid != a.uid)) return -EPERM;
  if ((in.valid & kSetGid) && !capable() &&
      (uid != a.uid || (in.gid != a.gid && !in_group_p(in.gid)))) {
    return -EPERM;
  }
  if (in.valid & kSetMode) {
    if (!owner) return -EPERM;
    const gid_t g = (in.valid & kSetGid) ? in.gid : a.gid;
    if (!capable() && !in_group_p(g)) in.mode &= ~S_ISGID;
  }
  if ((in.valid & (kSetAtime | kSetMtime)) && !owner) return -EPERM;
  if (in.valid & (kSetAtimeNow | kSetMtimeNow)) {
    if (a.flags & (kFlagImmutable | kFlagAppend)) return -EPERM;
    if (!owner) {
      if (int rc = inode_permission(*inode, kMayWrite)) return rc;
    }
  }
  // chown of a non-directory drops setuid, and setgid when group-executable (chown_common).
  if ((in.valid & (kSetUid | kSetGid)) && !S_ISDIR(a.mode)) in.valid |= kKillSuidGid;
  if ((in.valid & kKillSuidGid) && capable() && !(in.valid & (kSetUid | kSetGid))) {
    in.valid &= ~kKillSuidGid;  // a write by a CAP_FSETID task keeps the bits
  }
  return 0;
}

}  // namespace

Result<void> notify_change(Inode* inode, const SetAttrIn& req, File* f)
    LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  SetAttrIn in = req;
  locking::WriteGuard locked(inode->i_rwsem);
  if (int rc = setattr_prepare(inode, in, f)) return err(rc);
  std::optional<locking::WriteGuard> invalidate_locked;
  if ((in.valid & kSetSize) && inode->i_mapping) {
    invalidate_locked.emplace(inode->i_mapping->invalidate_lock);
  }
  return memfs::setattr(inode, in);
}

// vfs setattr (notify_change) — row inode_operations.setattr: i_rwsem exclusive; a size
// change also holds invalidate_lock exclusive around the truncate of the page cache.
// Errors: -EPERM (not owner; immutable/append-only), -EACCES, -EISDIR/-EINVAL (size of a
// non-regular file), -EFBIG.
Result<struct stat> Vfs::setattr(Ino ino, const SetAttrIn& in, File* f) {
  locking::OpScope op("setattr");
  InodeRef inode = pin(*sb_, ino);
  if (!inode) return err(-ENOENT);
  Result<void> r = notify_change(inode.get(), in, f);
  if (!r.ok()) {
    op.set_result(r.error());
    return err(r.error());
  }
  return memfs::getattr(inode.get());
}

// vfs_fileattr_get — row inode_operations.fileattr_get: "no or exclusive" (none taken).
Result<unsigned> Vfs::fileattr_get(Ino ino) {
  locking::OpScope op("fileattr_get");
  InodeRef inode = pin(*sb_, ino);
  if (!inode) return err(-ENOENT);
  return memfs::fileattr_get(inode.get());
}

// vfs_fileattr_set — row inode_operations.fileattr_set: i_rwsem exclusive.
// Errors: -EOPNOTSUPP (flags memfs does not keep), -EPERM (not owner; immutable/append-only
// changes need CAP_LINUX_IMMUTABLE, i.e. root).
Result<void> Vfs::fileattr_set(Ino ino, unsigned flags) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  locking::OpScope op("fileattr_set");
  if (flags & ~(kFlagImmutable | kFlagAppend | kFlagNoatime)) return err(-EOPNOTSUPP);
  InodeRef inode = pin(*sb_, ino);
  if (!inode) return err(-ENOENT);
  Result<void> r;
  {
    locking::WriteGuard locked(inode->i_rwsem);
    const InodeAttr a = inode->attr();
    int rc = 0;
    if (!owner_or_capable(a)) {
      rc = -EPERM;
    } else if (((a.flags ^ flags) & (kFlagImmutable | kFlagAppend)) && !capable()) {
      rc = -EPERM;
    }
    r = rc ? Result<void>(err(rc)) : memfs::fileattr_set(inode.get(), flags);
  }
  if (!r.ok()) op.set_result(r.error());
  return r;
}

}  // namespace lockfs::core

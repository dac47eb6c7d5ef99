// xattr callers: namespace rules (user., trusted., security.), sizes, flags, then the handler
// with the row's locking (set/remove: i_rwsem exclusive; get/list: none).
#include <sys/xattr.h>

#include "core/memfs.h"
#include "core/permission.h"
#include "core/vfs_internal.h"

namespace lockfs::core {

using locking::OpScope;

namespace {

// xattr_resolve_name + xattr_permission. mask: kMayRead or kMayWrite.
int xattr_permission(Inode* inode, std::string_view name, int mask) {
  const bool write = mask & kMayWrite;
  const InodeAttr a = inode->attr();
  std::string_view suffix;
  if (name.starts_with("user.")) {
    suffix = name.substr(5);
  } else if (name.starts_with("trusted.")) {
    suffix = name.substr(8);
  } else if (name.starts_with("security.")) {
    suffix = name.substr(9);
  } else {
    return -EOPNOTSUPP;  // system.* (no POSIX ACLs here) and unknown namespaces
  }
  if (suffix.empty()) return -EINVAL;
  if (write && (a.flags & (kFlagImmutable | kFlagAppend))) return -EPERM;
  if (name.starts_with("trusted.")) {
    if (!capable()) return write ? -EPERM : -ENODATA;
    return 0;
  }
  if (name.starts_with("security.")) return 0;
  // user.*: only regular files and directories; sticky directories only for their owner.
  if (!S_ISREG(a.mode) && !S_ISDIR(a.mode)) return write ? -EPERM : -ENODATA;
  if (S_ISDIR(a.mode) && (a.mode & S_ISVTX) && write && !owner_or_capable(a)) return -EPERM;
  return generic_permission(a, mask);
}

int check_xattr_name(std::string_view name) {
  if (name.empty() || name.size() > kXattrNameMax) return -ERANGE;
  return 0;
}

}  // namespace

// vfs_setxattr — row xattr_handler.set: i_rwsem exclusive.
// Errors: -ERANGE (name), -E2BIG (value > 64 KiB), -EINVAL (flags), -EEXIST (XATTR_CREATE),
// -ENODATA (XATTR_REPLACE), -EPERM, -EOPNOTSUPP, -EACCES, -ENOSPC.
Result<void> Vfs::setxattr(Ino ino, std::string_view name, std::span<const char> value,
                           int flags) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  OpScope op("setxattr");
  if (flags & ~(XATTR_CREATE | XATTR_REPLACE)) return err(-EINVAL);
  if (int rc = check_xattr_name(name)) return err(rc);
  if (value.size() > kXattrSizeMax) return err(-E2BIG);
  InodeRef inode = pin(*sb_, ino);
  if (!inode) return err(-ENOENT);
  Result<void> r;
  {
    locking::WriteGuard locked(inode->i_rwsem);
    if (int rc = xattr_permission(inode.get(), name, kMayWrite)) {
      r = err(rc);
    } else {
      r = memfs::xattr_set(inode.get(), name, value, flags);
    }
  }
  return traced(op, r);
}

// vfs_getxattr — row xattr_handler.get: no lock. -ENODATA, -ERANGE, -EOPNOTSUPP, -EACCES.
Result<std::string> Vfs::getxattr(Ino ino, std::string_view name) {
  OpScope op("getxattr");
  if (int rc = check_xattr_name(name)) return err(rc);
  InodeRef inode = pin(*sb_, ino);
  if (!inode) return err(-ENOENT);
  if (int rc = xattr_permission(inode.get(), name, kMayRead)) return err(rc);
  return memfs::xattr_get(inode.get(), name);
}

// vfs_listxattr — row inode_operations.listxattr: no lock.
Result<std::string> Vfs::listxattr(Ino ino) {
  OpScope op("listxattr");
  InodeRef inode = pin(*sb_, ino);
  if (!inode) return err(-ENOENT);
  return memfs::listxattr(inode.get());
}

// vfs_removexattr — row xattr_handler.set (a set with no value): i_rwsem exclusive.
Result<void> Vfs::removexattr(Ino ino, std::string_view name) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  OpScope op("removexattr");
  if (int rc = check_xattr_name(name)) return err(rc);
  InodeRef inode = pin(*sb_, ino);
  if (!inode) return err(-ENOENT);
  Result<void> r;
  {
    locking::WriteGuard locked(inode->i_rwsem);
    if (int rc = xattr_permission(inode.get(), name, kMayWrite)) {
      r = err(rc);
    } else {
      r = memfs::xattr_set(inode.get(), name, std::nullopt, 0);
    }
  }
  return traced(op, r);
}

}  // namespace lockfs::core

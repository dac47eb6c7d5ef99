// Permission checks (fs/namei.c, fs/inode.c, fs/attr.c semantics).
#include "core/permission.h"

#include <algorithm>

#include "core/super.h"
#include "locking/task.h"

namespace lockfs::core {

bool capable() { return locking::current().uid == 0; }

bool in_group_p(gid_t gid) {
  const locking::Task& t = locking::current();
  return t.gid == gid || std::find(t.groups.begin(), t.groups.end(), gid) != t.groups.end();
}

bool owner_or_capable(const InodeAttr& a) { return locking::current().uid == a.uid || capable(); }

int generic_permission(const InodeAttr& a, int mask) {
  mask &= kMayRead | kMayWrite | kMayExec;
  if (capable()) {
    // CAP_DAC_OVERRIDE: everything but executing a file nobody may execute.
    if (!(mask & kMayExec) || S_ISDIR(a.mode) || (a.mode & 0111)) return 0;
    return -EACCES;
  }
  mode_t bits;
  if (locking::current().uid == a.uid) {
    bits = (a.mode >> 6) & 7;
  } else if (in_group_p(a.gid)) {
    bits = (a.mode >> 3) & 7;
  } else {
    bits = a.mode & 7;
  }
  return (static_cast<int>(bits) & mask) == mask ? 0 : -EACCES;
}

int inode_permission(const Inode& inode, int mask) {
  const InodeAttr a = inode.perm_attr();
  if ((mask & kMayWrite) && (a.flags & kFlagImmutable)) return -EPERM;
  return generic_permission(a, mask);
}

int check_name(std::string_view name) {
  if (name.empty()) return -ENOENT;
  if (name.size() > kNameMax) return -ENAMETOOLONG;
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return -EINVAL;
  }
  return 0;
}

bool is_dot_or_dotdot(std::string_view name) { return name == "." || name == ".."; }

int may_create(const Inode& dir) { return inode_permission(dir, kMayWrite | kMayExec); }

int may_delete(const Inode& dir, const Inode& victim, bool isdir) {
  if (int rc = inode_permission(dir, kMayWrite | kMayExec)) return rc;
  const InodeAttr d = dir.perm_attr();
  const InodeAttr v = victim.perm_attr();
  // Sticky directory: only the victim's owner, the directory's owner or root may remove.
  if ((d.mode & S_ISVTX) && !capable()) {
    const uid_t uid = locking::current().uid;
    if (uid != v.uid && uid != d.uid) return -EPERM;
  }
  if (v.flags & (kFlagImmutable | kFlagAppend)) return -EPERM;
  if (isdir) {
    if (!S_ISDIR(v.mode)) return -ENOTDIR;
  } else if (S_ISDIR(v.mode)) {
    return -EISDIR;
  }
  return 0;
}

void inode_init_owner(InodeAttr& a, const InodeAttr& dir, mode_t mode) {
  a.uid = locking::current().uid;
  if (dir.mode & S_ISGID) {
    a.gid = dir.gid;
    if (S_ISDIR(mode)) mode |= S_ISGID;
  } else {
    a.gid = locking::current().gid;
  }
  if ((mode & S_ISGID) && !S_ISDIR(mode) && (mode & S_IXGRP) && !in_group_p(a.gid) &&
      !capable()) {
    mode &= ~S_ISGID;
  }
  a.mode = mode;
}

mode_t mode_after_write(mode_t mode) {
  if (capable()) return mode;
  mode_t out = mode & ~S_ISUID;
  if ((mode & S_ISGID) && (mode & S_IXGRP)) out &= ~S_ISGID;
  return out;
}

}  // namespace lockfs::core

// memfs attribute methods: setattr (incl. truncate), chattr flags, xattrs.
#include <sys/xattr.h>

#include "core/memfs.h"
#include "core/permission.h"

namespace lockfs::core::memfs {

using contract::LockId;
using contract::Role;
using locking::Mode;

namespace {
const locking::LockMap* rw(const Inode* i) { return &i->i_rwsem.map(); }
const Contract& cx(const Inode* i) { return contract_of(i->i_sb); }
}  // namespace

Result<void> setattr(Inode* inode, const SetAttrIn& in) {
  ContractScope scope(cx(inode), Op::kSetattr,
                      {{Role::kInode, LockId::kIRwsem, rw(inode)},
                       {Role::kMapping, LockId::kInvalidateLock,
                        (in.valid & kSetSize) && inode->i_mapping
                            ? &inode->i_mapping->invalidate_lock.map()
                            : nullptr}});
  inode->i_rwsem.assert_held_exclusive();
  const struct timespec now = current_time();
  bool data_changed = false;
  if (in.valid & kSetSize) {
    LOCKFS_CHECK(inode->is_reg(), "setattr size on a non-regular file");
    inode->i_mapping->invalidate_lock.assert_held(Mode::kExclusive);
    const uint64_t old = inode->size();
    if (in.size != old) {
      // truncate_setsize: shrink the cache before publishing the new size only when
      // shrinking; growing leaves a hole.
      if (in.size < old) LOCKFS_TRY(inode->i_mapping->truncate(in.size));
      {
        locking::SpinGuard g(inode->i_lock);
        InodeAttr a = inode->attr_locked();
        a.size = in.size;
        inode->set_attr_locked(a);
      }
      inode->i_mapping->i_size_write(in.size);
      data_changed = true;
    }
  }
  locking::SpinGuard g(inode->i_lock);
  InodeAttr a = inode->attr_locked();
  if (in.valid & kSetUid) a.uid = in.uid;
  if (in.valid & kSetGid) a.gid = in.gid;
  if (in.valid & kSetMode) a.mode = (a.mode & S_IFMT) | (in.mode & 07777);
  if (in.valid & kKillSuidGid) {
    a.mode &= ~S_ISUID;
    if (a.mode & S_IXGRP) a.mode &= ~S_ISGID;
  }
  // A size change or a chown drops file capabilities whoever the caller (ATTR_KILL_PRIV).
  if ((in.valid & kSetSize) || (!S_ISDIR(a.mode) && (in.valid & (kSetUid | kSetGid)))) {
    inode->kill_priv_locked();
  }
  if (in.valid & kSetAtime) a.atime = in.atime;
  if (in.valid & kSetAtimeNow) a.atime = now;
  if (in.valid & kSetMtime) a.mtime = in.mtime;
  if (in.valid & kSetMtimeNow) a.mtime = now;
  if (data_changed && !(in.valid & (kSetMtime | kSetMtimeNow))) a.mtime = now;
  // Every attribute change moves ctime (an explicit ctime, as FUSE may send, wins).
  a.ctime = (in.valid & kSetCtime) ? in.ctime : now;
  inode->set_attr_locked(a);
  return {};
}

unsigned fileattr_get(Inode* inode) {
  ContractScope scope(cx(inode), Op::kFileattrGet, {{Role::kInode, LockId::kIRwsem, rw(inode)}});
  return inode->flags();
}

Result<void> fileattr_set(Inode* inode, unsigned flags) {
  ContractScope scope(cx(inode), Op::kFileattrSet, {{Role::kInode, LockId::kIRwsem, rw(inode)}});
  inode->i_rwsem.assert_held_exclusive();
  const struct timespec now = current_time();
  locking::SpinGuard g(inode->i_lock);
  InodeAttr a = inode->attr_locked();
  a.flags = flags;
  a.ctime = now;
  inode->set_attr_locked(a);
  return {};
}

Result<std::string> xattr_get(Inode* inode, std::string_view name) {
  ContractScope scope(cx(inode), Op::kXattrGet, {{Role::kInode, LockId::kIRwsem, rw(inode)}});
  locking::SpinGuard g(inode->i_lock);
  if (!inode->i_xattrs) return err(-ENODATA);
  auto it = inode->i_xattrs->map.find(name);
  if (it == inode->i_xattrs->map.end()) return err(-ENODATA);
  return it->second;
}

Result<void> xattr_set(Inode* inode, std::string_view name,
                       std::optional<std::span<const char>> value, int flags) {
  ContractScope scope(cx(inode), Op::kXattrSet, {{Role::kInode, LockId::kIRwsem, rw(inode)}});
  inode->i_rwsem.assert_held_exclusive();
  // simple_xattr space: bounded per inode like tmpfs bounds it (a page's worth of names plus
  // values would be too small for real use; use the value limit times a few).
  constexpr size_t kMaxXattrBytes = 4 * kXattrSizeMax;
  std::string v = value ? std::string(value->data(), value->size()) : std::string();
  // Allocated outside i_lock (a spinlock), used only if the inode has no xattrs yet.
  auto fresh = value ? std::make_unique<Xattrs>() : nullptr;
  const struct timespec now = current_time();
  locking::SpinGuard g(inode->i_lock);
  if (!inode->i_xattrs) {
    if (!value) return err(-ENODATA);
    inode->i_xattrs = std::move(fresh);
  }
  Xattrs& xs = *inode->i_xattrs;
  auto it = xs.map.find(name);
  if (!value) {
    if (it == xs.map.end()) return err(-ENODATA);
    xs.bytes -= it->first.size() + it->second.size();
    xs.map.erase(it);
  } else {
    if (it != xs.map.end() && (flags & XATTR_CREATE)) return err(-EEXIST);
    if (it == xs.map.end() && (flags & XATTR_REPLACE)) return err(-ENODATA);
    const size_t old = it == xs.map.end() ? 0 : name.size() + it->second.size();
    const size_t now_bytes = xs.bytes - old + name.size() + v.size();
    if (now_bytes > kMaxXattrBytes) return err(-ENOSPC);
    xs.bytes = now_bytes;
    if (it == xs.map.end()) {
      xs.map.emplace(std::string(name), std::move(v));
    } else {
      it->second = std::move(v);
    }
  }
  InodeAttr a = inode->attr_locked();
  a.ctime = now;
  inode->set_attr_locked(a);
  return {};
}

std::string listxattr(Inode* inode) {
  ContractScope scope(cx(inode), Op::kListxattr, {{Role::kInode, LockId::kIRwsem, rw(inode)}});
  const bool root = capable();
  std::string out;
  locking::SpinGuard g(inode->i_lock);
  if (!inode->i_xattrs) return out;
  for (const auto& [name, value] : inode->i_xattrs->map) {
    if (!root && name.starts_with("trusted.")) continue;  // trusted_xattr_list
    out += name;
    out.push_back('\0');
  }
  return out;
}

}  // namespace lockfs::core::memfs

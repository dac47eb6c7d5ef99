// getattr, setattr, access, statfs.
//   getattr  Replies: attr | err.     Calls Vfs::getattr.
//   setattr  Replies: attr | err.     Calls Vfs::setattr (with the open file for ftruncate).
//   access   Replies: err (0 = ok).   Calls Vfs::access.
//   statfs   Replies: statfs | err.   Calls Vfs::statfs.
#include <spdlog/spdlog.h>

#include "fs/log.h"
#include "fs/ops/ops.h"

namespace lockfs::fs::ops {

Result<Attr> getattr(Request& r, fuse_ino_t ino) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "getattr ino={}", ino);
  auto st = r.vfs().getattr(ino);
  if (!st.ok()) return err(st.error());
  return Attr{*st};
}

Result<Attr> setattr(Request& r, fuse_ino_t ino, const struct stat* attr, int to_set,
                     fuse_file_info* fi) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "setattr ino={} to_set={:#x}", ino, to_set);
  core::SetAttrIn in;
  if (to_set & FUSE_SET_ATTR_MODE) {
    in.valid |= core::kSetMode;
    in.mode = attr->st_mode;
  }
  if (to_set & FUSE_SET_ATTR_UID) {
    in.valid |= core::kSetUid;
    in.uid = attr->st_uid;
  }
  if (to_set & FUSE_SET_ATTR_GID) {
    in.valid |= core::kSetGid;
    in.gid = attr->st_gid;
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    in.valid |= core::kSetSize;
    in.size = static_cast<uint64_t>(attr->st_size);
  }
  // The kernel sets both ATIME and ATIME_NOW for utimensat(UTIME_NOW): "now" wins.
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
    in.valid |= core::kSetAtimeNow;
  } else if (to_set & FUSE_SET_ATTR_ATIME) {
    in.valid |= core::kSetAtime;
    in.atime = attr->st_atim;
  }
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
    in.valid |= core::kSetMtimeNow;
  } else if (to_set & FUSE_SET_ATTR_MTIME) {
    in.valid |= core::kSetMtime;
    in.mtime = attr->st_mtim;
  }
  if (to_set & FUSE_SET_ATTR_CTIME) {
    in.valid |= core::kSetCtime;
    in.ctime = attr->st_ctim;
  }
  if (to_set & (FUSE_SET_ATTR_KILL_SUID | FUSE_SET_ATTR_KILL_SGID | FUSE_SET_ATTR_KILL_PRIV))
    in.valid |= core::kKillSuidGid;
  core::File* f = fi ? file_of(fi) : nullptr;
  auto st = r.vfs().setattr(ino, in, f);
  if (!st.ok()) return err(st.error());
  return Attr{*st};
}

Result<void> access(Request& r, fuse_ino_t ino, int mask) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "access ino={} mask={}", ino, mask);
  return r.vfs().access(ino, mask);
}

Result<StatfsOut> statfs(Request& r, fuse_ino_t ino) {
  // Releases the kernel queued before this statfs free the space of unlinked files first.
  r.daemon().wait_earlier(&r, "release");
  auto st = r.vfs().statfs(ino);
  if (!st.ok()) return err(st.error());
  return StatfsOut{*st};
}

}  // namespace lockfs::fs::ops

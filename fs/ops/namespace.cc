// Directory-modifying ops and readlink: the kernel already resolved the parent; core takes
// the parent's i_rwsem (and rename's locks) as the contract rows say.
//   mknod/mkdir/symlink/link  Replies: entry | err.  Calls Vfs::mknod/mkdir/symlink/link.
//   unlink/rmdir/rename       Replies: err (0 = ok). Calls Vfs::unlink/rmdir/rename.
//   readlink                  Replies: readlink | err. Calls Vfs::readlink.
// Modes arrive with the caller's umask already applied by the kernel unless
// FUSE_CAP_DONT_MASK was granted; applying ctx.umask again is idempotent and keeps both right.
#include <spdlog/spdlog.h>

#include "fs/log.h"
#include "fs/ops/ops.h"

namespace lockfs::fs::ops {
namespace {

mode_t masked(const Request& r, mode_t mode) { return mode & ~(r.ctx().umask & 07777); }

}  // namespace

Result<LinkTarget> readlink(Request& r, fuse_ino_t ino) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "readlink ino={}", ino);
  auto t = r.vfs().readlink(ino);
  if (!t.ok()) return err(t.error());
  return LinkTarget{std::move(*t)};
}

Result<core::EntryOut> mknod(Request& r, fuse_ino_t parent, const char* name, mode_t mode,
                             dev_t rdev) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "mknod parent={} name={} mode={:o}", parent, name, mode);
  return r.vfs().mknod(parent, name, masked(r, mode), rdev);
}

Result<core::EntryOut> mkdir(Request& r, fuse_ino_t parent, const char* name, mode_t mode) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "mkdir parent={} name={} mode={:o}", parent, name, mode);
  return r.vfs().mkdir(parent, name, masked(r, mode));
}

Result<core::EntryOut> symlink(Request& r, const char* target, fuse_ino_t parent,
                               const char* name) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "symlink parent={} name={}", parent, name);
  return r.vfs().symlink(parent, name, target);
}

Result<core::EntryOut> link(Request& r, fuse_ino_t ino, fuse_ino_t newparent,
                            const char* newname) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "link ino={} newparent={} name={}", ino, newparent, newname);
  return r.vfs().link(ino, newparent, newname);
}

Result<void> unlink(Request& r, fuse_ino_t parent, const char* name) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "unlink parent={} name={}", parent, name);
  return r.vfs().unlink(parent, name);
}

Result<void> rmdir(Request& r, fuse_ino_t parent, const char* name) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "rmdir parent={} name={}", parent, name);
  return r.vfs().rmdir(parent, name);
}

Result<void> rename(Request& r, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
                    const char* newname, unsigned flags) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "rename parent={} name={} newparent={} newname={} flags={}",
                      parent, name, newparent, newname, flags);
  return r.vfs().rename(parent, name, newparent, newname, flags);
}

}  // namespace lockfs::fs::ops

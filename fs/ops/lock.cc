// File locks. The kernel forwards fcntl(2) record locks and flock(2) because init asked for
// FUSE_CAP_POSIX_LOCKS and FUSE_CAP_FLOCK_LOCKS; the lock owner is the kernel's fl_owner.
//   getlk  Replies: lock | err.       Calls Vfs::getlk.
//   setlk  Replies: err (0 = ok).     Calls Vfs::setlk (sleep: F_SETLKW, a killable wait).
//   flock  Replies: err (0 = ok).     Calls Vfs::flock (without LOCK_NB: a killable wait).
#include <spdlog/spdlog.h>

#include "fs/log.h"
#include "fs/ops/ops.h"

namespace lockfs::fs::ops {

Result<LockOut> getlk(Request& r, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "getlk ino={} type={} start={} len={}", ino, lock->l_type,
                      lock->l_start, lock->l_len);
  auto lk = r.vfs().getlk(file_of(fi), fi->lock_owner, *lock);
  if (!lk.ok()) return err(lk.error());
  return LockOut{*lk};
}

Result<void> setlk(Request& r, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock,
                   int sleep) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "setlk ino={} type={} start={} len={} sleep={}", ino,
                      lock->l_type, lock->l_start, lock->l_len, sleep);
  return r.vfs().setlk(file_of(fi), fi->lock_owner, *lock, sleep != 0);
}

Result<void> flock(Request& r, fuse_ino_t ino, fuse_file_info* fi, int op) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "flock ino={} op={}", ino, op);
  return r.vfs().flock(file_of(fi), fi->lock_owner, op);
}

}  // namespace lockfs::fs::ops

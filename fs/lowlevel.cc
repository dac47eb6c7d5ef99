// The fuse_lowlevel_ops table: one noexcept trampoline per entry. Each builds the Request
// (task + op scope), calls its handler in fs/ops and hands the Result to dispatch. A
// std::bad_alloc becomes ENOMEM; any other exception is a bug: EIO and a critical log line.
#include "fs/lowlevel.h"

#include <spdlog/spdlog.h>
#include <sys/file.h>

#include <exception>
#include <functional>
#include <new>

#include "fs/daemon.h"
#include "fs/dispatch.h"
#include "fs/init_reply.h"
#include "fs/log.h"
#include "fs/ops/ops.h"
#include "fs/request.h"
#include "locking/inject.h"

namespace lockfs::fs {
namespace {

// kSecondHalf: the rest of a request handed off by its first half (serve_lock); counted
// and offered to fault injection once, by the first. kInterruptCounted: that first half was
// interrupted (and counted it).
enum Flags : unsigned {
  kPlain = 0, kInterruptible = 1, kNoReply = 2, kSecondHalf = 4, kInterruptCounted = 8
};

Request make_request(fuse_req_t req, OpStat& stat, unsigned flags) {
  if (flags & kSecondHalf) return Request(req, stat, Request::SecondHalf{(flags & kInterruptCounted) != 0});
  return Request(req, stat, (flags & kInterruptible) != 0 || locking::inject::enabled());
}

// Runs `fn` (which ends with exactly one reply) for the request. The Request is destroyed
// before an exception reply, so interrupt delivery is already unregistered by then.
template <typename Fn>
void serve(fuse_req_t req, OpStat& stat, unsigned flags, uint64_t ino, Fn&& fn) noexcept {
  int e = 0;
  try {
    // Any op may sleep in an injected delay, so rules make every request interruptible.
    Request r = make_request(req, stat, flags);
    // Fault injection (lockfs-ctl inject): a delay or a failure before the op takes a lock.
    if (int rc = (flags & kSecondHalf) ? 0 : locking::inject::on_op_begin(stat.name, ino); rc < 0) {
      if (flags & kNoReply) reply_none(r);
      else reply_err(r, rc);
      return;
    }
    fn(r);
    return;
  } catch (const std::bad_alloc&) {
    e = -ENOMEM;
  } catch (const std::exception& ex) {
    fs_log()->critical("op={} threw: {}", stat.name, ex.what());
    e = -EIO;
  } catch (...) {
    fs_log()->critical("op={} threw a non-std exception", stat.name);
    e = -EIO;
  }
  stat.errors.fetch_add(1, std::memory_order_relaxed);
  if (flags & kNoReply) fuse_reply_none(req);
  else reply_err_raw(req, e);
}

// ino: the inode the request is about, for ino= injection rules.
#define LOCKFS_SERVE(name, flags, ino, body)                 \
  do {                                                       \
    static OpStat stat_{name};                               \
    serve(req, stat_, flags, ino, [&](Request & r) body);    \
  } while (0)

void ll_init(void* userdata, fuse_conn_info* conn) noexcept {
  auto* d = static_cast<Daemon*>(userdata);
  auto want = [conn](unsigned cap) {
    if (conn->capable & cap) conn->want |= cap;
  };
  // Parallel lookups/readdirs of one directory reach core, so shared i_rwsem is shared.
  want(FUSE_CAP_PARALLEL_DIROPS);
#if FUSE_VERSION < FUSE_MAKE_VERSION(3, 16)
  if (conn->want & FUSE_CAP_PARALLEL_DIROPS) add_init_reply_flags(kInitParallelDirops);
#endif
  // HANDLE_KILLPRIV_V2: core clears suid/sgid (callers without CAP_FSETID) and
  // security.capability on write, truncate and chown itself, as the flag asks, so the kernel
  // stops calling file_remove_privs -- one GETXATTR(security.capability) round trip -- before
  // every write (and sets SB_NOSEC). libfuse 3.14 knows neither the flag nor the request
  // bits that come with it; core needs neither, it decides from the caller's credentials.
#ifdef FUSE_CAP_HANDLE_KILLPRIV_V2
  want(FUSE_CAP_HANDLE_KILLPRIV_V2);
#else
  if (conn->proto_major == 7 && conn->proto_minor >= 33) add_init_reply_flags(kInitHandleKillprivV2);
#endif
  want(FUSE_CAP_POSIX_LOCKS);
  want(FUSE_CAP_FLOCK_LOCKS);
  want(FUSE_CAP_READDIRPLUS);
  // Async reads and async direct I/O are background requests the kernel never interrupts;
  // -o sync_read turns both off so a killed reader's wait in lockfs (folio lock,
  // invalidate_lock) ends -EINTR.
  if (d->options().sync_read) {
    conn->want &= ~(FUSE_CAP_ASYNC_READ | FUSE_CAP_ASYNC_DIO);
  } else {
    want(FUSE_CAP_ASYNC_READ);
  }
  // libfuse refuses ioctls on directories without it, and the kernel sends the chattr
  // flag ioctls (lsattr -d, chattr on a directory) as directory ioctls.
  want(FUSE_CAP_IOCTL_DIR);
  if (d->options().writeback) want(FUSE_CAP_WRITEBACK_CACHE);
  else conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  // O_TRUNC arrives as a separate setattr (core's open does not truncate); the kernel
  // applies the umask; HANDLE_KILLPRIV (v1, which kills suid even for CAP_FSETID callers) is
  // superseded by v2 above; no NFS export; no splice.
  // AUTO_INVAL_DATA is for data that changes behind the kernel's back; here it would only
  // drop a file's page cache whenever a stat sees the mtime a write through this mount set.
  conn->want &= ~(FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_DONT_MASK | FUSE_CAP_HANDLE_KILLPRIV |
                  FUSE_CAP_AUTO_INVAL_DATA |
                  FUSE_CAP_EXPORT_SUPPORT | FUSE_CAP_SPLICE_READ |
                  FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  fs_log()->info("init proto={}.{} capable={:#x} want={:#x}", conn->proto_major,
                 conn->proto_minor, conn->capable, conn->want);
}

void ll_destroy(void* userdata) noexcept {
  auto* d = static_cast<Daemon*>(userdata);
  d->shutdown();
  fs_log()->info("destroy: connection closed");
}

void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept {
  LOCKFS_SERVE("lookup", kPlain, parent, { reply_lookup(r, ops::lookup(r, parent, name)); });
}
void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) noexcept {
  LOCKFS_SERVE("forget", kNoReply, ino, {
    ops::forget(r, ino, nlookup);
    reply_none(r);
  });
}
void ll_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) noexcept {
  LOCKFS_SERVE("forget_multi", kNoReply, 0, {
    ops::forget_multi(r, count, forgets);
    reply_none(r);
  });
}
void ll_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) noexcept {
  LOCKFS_SERVE("getattr", kPlain, ino, { reply(r, ops::getattr(r, ino)); });
}
void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
                fuse_file_info* fi) noexcept {
  LOCKFS_SERVE("setattr", kInterruptible, ino, { reply(r, ops::setattr(r, ino, attr, to_set, fi)); });
}
void ll_readlink(fuse_req_t req, fuse_ino_t ino) noexcept {
  LOCKFS_SERVE("readlink", kPlain, ino, { reply(r, ops::readlink(r, ino)); });
}
void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              dev_t rdev) noexcept {
  LOCKFS_SERVE("mknod", kInterruptible, parent, { reply(r, ops::mknod(r, parent, name, mode, rdev)); });
}
void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) noexcept {
  LOCKFS_SERVE("mkdir", kInterruptible, parent, { reply(r, ops::mkdir(r, parent, name, mode)); });
}
void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept {
  LOCKFS_SERVE("unlink", kInterruptible, parent, { reply(r, ops::unlink(r, parent, name)); });
}
void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept {
  LOCKFS_SERVE("rmdir", kInterruptible, parent, { reply(r, ops::rmdir(r, parent, name)); });
}
void ll_symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) noexcept {
  LOCKFS_SERVE("symlink", kInterruptible, parent, { reply(r, ops::symlink(r, link, parent, name)); });
}
void ll_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
               const char* newname, unsigned int flags) noexcept {
  LOCKFS_SERVE("rename", kInterruptible, parent,
               { reply(r, ops::rename(r, parent, name, newparent, newname, flags)); });
}
void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) noexcept {
  LOCKFS_SERVE("link", kInterruptible, ino, { reply(r, ops::link(r, ino, newparent, newname)); });
}
void ll_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  LOCKFS_SERVE("open", kInterruptible, ino, { reply(r, fi, ops::open(r, ino, fi)); });
}
void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) noexcept {
  LOCKFS_SERVE("read", kInterruptible, ino, { reply(r, ops::read(r, ino, size, off, fi)); });
}
void ll_write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
              fuse_file_info* fi) noexcept {
  LOCKFS_SERVE("write", kInterruptible, ino, { reply(r, ops::write(r, ino, buf, size, off, fi)); });
}
void ll_write_buf(fuse_req_t req, fuse_ino_t ino, fuse_bufvec* bufv, off_t off,
                  fuse_file_info* fi) noexcept {
  LOCKFS_SERVE("write", kInterruptible, ino, { reply(r, ops::write_buf(r, ino, bufv, off, fi)); });
}
void ll_flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  LOCKFS_SERVE("flush", kPlain, ino, { reply(r, ops::flush(r, ino, fi)); });
}
void ll_release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  LOCKFS_SERVE("release", kPlain, ino, { reply(r, ops::release(r, ino, fi)); });
}
void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) noexcept {
  LOCKFS_SERVE("fsync", kInterruptible, ino, { reply(r, ops::fsync(r, ino, datasync, fi)); });
}
void ll_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  LOCKFS_SERVE("opendir", kPlain, ino, { reply(r, fi, ops::opendir(r, ino, fi)); });
}
void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                fuse_file_info* fi) noexcept {
  LOCKFS_SERVE("readdir", kInterruptible, ino,
               { reply(r, ops::readdir(r, ino, size, off, fi, false)); });
}
void ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    fuse_file_info* fi) noexcept {
  LOCKFS_SERVE("readdirplus", kInterruptible, ino,
               { reply(r, ops::readdir(r, ino, size, off, fi, true)); });
}
void ll_releasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  LOCKFS_SERVE("releasedir", kPlain, ino, { reply(r, ops::releasedir(r, ino, fi)); });
}
void ll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) noexcept {
  LOCKFS_SERVE("fsyncdir", kInterruptible, ino, { reply(r, ops::fsyncdir(r, ino, datasync, fi)); });
}
void ll_statfs(fuse_req_t req, fuse_ino_t ino) noexcept {
  LOCKFS_SERVE("statfs", kPlain, ino, { reply(r, ops::statfs(r, ino)); });
}
void ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                 int flags) noexcept {
  LOCKFS_SERVE("setxattr", kInterruptible, ino,
               { reply(r, ops::setxattr(r, ino, name, value, size, flags)); });
}
void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) noexcept {
  LOCKFS_SERVE("getxattr", kPlain, ino, { reply(r, ops::getxattr(r, ino, name, size)); });
}
void ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) noexcept {
  LOCKFS_SERVE("listxattr", kPlain, ino, { reply(r, ops::listxattr(r, ino, size)); });
}
void ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) noexcept {
  LOCKFS_SERVE("removexattr", kInterruptible, ino, { reply(r, ops::removexattr(r, ino, name)); });
}
void ll_access(fuse_req_t req, fuse_ino_t ino, int mask) noexcept {
  LOCKFS_SERVE("access", kPlain, ino, { reply(r, ops::access(r, ino, mask)); });
}
void ll_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
               fuse_file_info* fi) noexcept {
  LOCKFS_SERVE("create", kInterruptible, parent, { reply(r, fi, ops::create(r, parent, name, mode, fi)); });
}
void ll_getlk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock) noexcept {
  LOCKFS_SERVE("getlk", kPlain, ino, { reply(r, ops::getlk(r, ino, fi, lock)); });
}
// A lock request that may sleep (F_SETLKW; flock without LOCK_NB) is first tried without
// sleeping, on the worker. One that has to wait goes on on a thread of its own
// (Daemon::start_lock_waiter), which then replies: every client task can have a lock request
// asleep, and were they asleep on libfuse's workers (max_threads), none would be left to
// read the unlock that wakes them. `fi` and `lock` are libfuse's for this call only: the
// waiter gets copies. With no thread to be had, the worker waits, as it did.
template <typename Try, typename Wait>
void serve_lock(fuse_req_t req, OpStat& stat, uint64_t ino, bool may_sleep, Try try_now,
                Wait wait) noexcept {
  bool must_wait = false;
  unsigned second = kSecondHalf;
  serve(req, stat, kInterruptible, ino, [&](Request& r) {
    Result<void> res = try_now(r);
    if (may_sleep && !res.ok() && res.error() == -EAGAIN) {
      must_wait = true;  // no reply yet: the second half sends it
      if (r.hand_off()) second |= kInterruptCounted;
      return;
    }
    reply(r, std::move(res));
  });
  if (!must_wait) return;
  auto rest = [req, &stat, ino, second, wait]() mutable noexcept {
    serve(req, stat, second, ino, [&](Request& r) { reply(r, wait(r)); });
  };
  bool started = false;
  try {
    started = daemon_of(req).start_lock_waiter(std::function<void()>(rest));
  } catch (const std::bad_alloc&) {
    // No room for the waiter's closure: wait here, as when no thread can be had.
  }
  if (!started) rest();
}

void ll_setlk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock,
              int sleep) noexcept {
  static OpStat stat{"setlk"};
  serve_lock(
      req, stat, ino, sleep != 0, [&](Request& r) { return ops::setlk(r, ino, fi, lock, 0); },
      [ino, file = *fi, lk = *lock](Request& r) mutable {
        return ops::setlk(r, ino, &file, &lk, 1);
      });
}
void ll_flock(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, int op) noexcept {
  static OpStat stat{"flock"};
  serve_lock(
      req, stat, ino, (op & LOCK_NB) == 0,
      [&](Request& r) { return ops::flock(r, ino, fi, op | LOCK_NB); },
      [ino, file = *fi, op](Request& r) mutable { return ops::flock(r, ino, &file, op); });
}
void ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                  fuse_file_info* fi) noexcept {
  LOCKFS_SERVE("fallocate", kInterruptible, ino,
               { reply(r, ops::fallocate(r, ino, mode, off, len, fi)); });
}
void ll_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in, fuse_file_info* fi_in,
                        fuse_ino_t ino_out, off_t off_out, fuse_file_info* fi_out, size_t len,
                        int flags) noexcept {
  LOCKFS_SERVE("copy_file_range", kInterruptible, ino_in, {
    reply(r, ops::copy_file_range(r, ino_in, off_in, fi_in, ino_out, off_out, fi_out, len, flags));
  });
}
void ll_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, fuse_file_info* fi) noexcept {
  LOCKFS_SERVE("lseek", kPlain, ino, { reply(r, ops::lseek(r, ino, off, whence, fi)); });
}
void ll_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void*, fuse_file_info* fi,
              unsigned flags, const void* in_buf, size_t in_bufsz, size_t out_bufsz) noexcept {
  LOCKFS_SERVE("ioctl", kInterruptible, ino, {
    reply(r, ops::ioctl(r, ino, cmd, fi, flags, in_buf, in_bufsz, out_bufsz));
  });
}
void ll_poll(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, fuse_pollhandle* ph) noexcept {
  LOCKFS_SERVE("poll", kPlain, ino, { reply(r, ops::poll(r, ino, fi, ph)); });
}

#undef LOCKFS_SERVE

fuse_lowlevel_ops make_ops() {
  fuse_lowlevel_ops o{};
  o.init = ll_init;
  o.destroy = ll_destroy;
  o.lookup = ll_lookup;
  o.forget = ll_forget;
  o.forget_multi = ll_forget_multi;
  o.getattr = ll_getattr;
  o.setattr = ll_setattr;
  o.readlink = ll_readlink;
  o.mknod = ll_mknod;
  o.mkdir = ll_mkdir;
  o.unlink = ll_unlink;
  o.rmdir = ll_rmdir;
  o.symlink = ll_symlink;
  o.rename = ll_rename;
  o.link = ll_link;
  o.open = ll_open;
  o.read = ll_read;
  o.write = ll_write;
  o.write_buf = ll_write_buf;
  o.flush = ll_flush;
  o.release = ll_release;
  o.fsync = ll_fsync;
  o.opendir = ll_opendir;
  o.readdir = ll_readdir;
  o.readdirplus = ll_readdirplus;
  o.releasedir = ll_releasedir;
  o.fsyncdir = ll_fsyncdir;
  o.statfs = ll_statfs;
  o.setxattr = ll_setxattr;
  o.getxattr = ll_getxattr;
  o.listxattr = ll_listxattr;
  o.removexattr = ll_removexattr;
  o.access = ll_access;
  o.create = ll_create;
  o.getlk = ll_getlk;
  o.setlk = ll_setlk;
  o.flock = ll_flock;
  o.fallocate = ll_fallocate;
  o.copy_file_range = ll_copy_file_range;
  o.lseek = ll_lseek;
  o.ioctl = ll_ioctl;
  o.poll = ll_poll;
  return o;
}

}  // namespace

const fuse_lowlevel_ops& lowlevel_ops() {
  static const fuse_lowlevel_ops ops = make_ops();
  return ops;
}

}  // namespace lockfs::fs

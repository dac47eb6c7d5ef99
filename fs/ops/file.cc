// Regular-file I/O on open files.
//   open/create  Replies: open | create | err.  Calls Vfs::open / Vfs::create (fi->fh = File*).
//   read         Replies: buf | err.            Calls Vfs::read.
//   write(_buf)  Replies: write | err.          Calls Vfs::write, or Vfs::write_cached for
//                                               the kernel's writeback (FUSE_WRITE_CACHE).
//   flush        Replies: err (0 = ok).         Calls Vfs::flush (drops the owner's POSIX locks).
//   release      Replies: err (0 = ok).         Calls Vfs::release (frees the File).
//   fsync        Replies: err (0 = ok).         Calls Vfs::fsync.
//   poll         Replies: poll.                 Regular files are always ready (as on tmpfs).
#include <poll.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <memory>
#include <span>

#include "fs/log.h"
#include "fs/ops/ops.h"

namespace lockfs::fs::ops {

namespace {

// With the writeback cache the kernel reads pages through any open file (to fill a partly
// written page) and places appends itself (writes come at explicit offsets, from the page
// cache). So a write-only open is made read-write when the caller could also read, and
// O_APPEND is left to the kernel, as libfuse's passthrough_ll does.
int writeback_flags(int flags) {
  flags &= ~O_APPEND;
  if ((flags & O_ACCMODE) == O_WRONLY) flags = (flags & ~O_ACCMODE) | O_RDWR;
  return flags;
}

}  // namespace

Result<OpenOut> open(Request& r, fuse_ino_t ino, fuse_file_info* fi) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "open ino={} flags={:#o}", ino, fi->flags);
  int flags = fi->flags;
  if (r.options().writeback) {
    auto f = r.vfs().open(ino, writeback_flags(flags));
    if (f.ok()) return OpenOut{*f, false};
    if (f.error() != -EACCES) return err(f.error());
    flags &= ~O_APPEND;  // write permission only: the kernel's page reads will get EBADF
  }
  auto f = r.vfs().open(ino, flags);
  if (!f.ok()) return err(f.error());
  return OpenOut{*f, false};
}

Result<core::Vfs::CreateOut> create(Request& r, fuse_ino_t parent, const char* name,
                                    mode_t mode, fuse_file_info* fi) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "create parent={} name={} mode={:o} flags={:#o}", parent, name,
                      mode, fi->flags);
  // A new file belongs to the caller, who may read it: read-write is always allowed here.
  int flags = r.options().writeback ? writeback_flags(fi->flags) : fi->flags;
  return r.vfs().create(parent, name, mode & ~(r.ctx().umask & 07777), flags);
}

Result<Bytes> read(Request& r, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "read ino={} size={} off={}", ino, size, off);
  if (off < 0) return err(-EINVAL);
  Bytes b;
  // Not value-initialised: read() fills what it returns and only that much is sent.
  b.data.reset(new char[size ? size : 1]);
  auto n = r.vfs().read(file_of(fi), static_cast<uint64_t>(off), std::span<char>(b.data.get(), size));
  if (!n.ok()) return err(n.error());
  b.len = *n;
  return b;
}

Result<Written> write(Request& r, fuse_ino_t ino, const char* buf, size_t size, off_t off,
                      fuse_file_info* fi) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "write ino={} size={} off={} cache={}", ino, size, off,
                      fi->writepage);
  if (off < 0) return err(-EINVAL);
  // FUSE_WRITE_CACHE (fi->writepage): the kernel writes back pages of its own cache.
  const std::span<const char> data(buf, size);
  auto n = fi->writepage ? r.vfs().write_cached(file_of(fi), static_cast<uint64_t>(off), data)
                         : r.vfs().write(file_of(fi), static_cast<uint64_t>(off), data);
  if (!n.ok()) return err(n.error());
  return Written{*n};
}

Result<Written> write_buf(Request& r, fuse_ino_t ino, fuse_bufvec* bufv, off_t off,
                          fuse_file_info* fi) {
  // The common case is one in-memory buffer: write from it directly. Anything else (pipe
  // buffers from splice) is gathered into memory first.
  if (bufv->count == 1 && !(bufv->buf[0].flags & FUSE_BUF_IS_FD)) {
    const fuse_buf& b = bufv->buf[0];
    return write(r, ino, static_cast<const char*>(b.mem) + bufv->off, b.size - bufv->off, off,
                 fi);
  }
  size_t size = fuse_buf_size(bufv);
  std::unique_ptr<char[]> mem(new char[size ? size : 1]);
  fuse_bufvec dst = FUSE_BUFVEC_INIT(size);
  dst.buf[0].mem = mem.get();
  ssize_t got = fuse_buf_copy(&dst, bufv, static_cast<fuse_buf_copy_flags>(0));
  if (got < 0) return err(static_cast<int>(got));
  return write(r, ino, mem.get(), static_cast<size_t>(got), off, fi);
}

Result<void> flush(Request& r, fuse_ino_t ino, fuse_file_info* fi) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "flush ino={} owner={:#x}", ino, fi->lock_owner);
  return r.vfs().flush(file_of(fi), fi->lock_owner);
}

Result<void> release(Request& r, fuse_ino_t ino, fuse_file_info* fi) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "release ino={}", ino);
  return r.vfs().release(file_of(fi));
}

Result<void> fsync(Request& r, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "fsync ino={} datasync={}", ino, datasync);
  return r.vfs().fsync(file_of(fi), datasync != 0);
}

Result<PollOut> poll(Request& r, fuse_ino_t ino, fuse_file_info* fi, fuse_pollhandle* ph) {
  // Readiness never changes, so no notification will ever be sent on this handle.
  if (ph) fuse_pollhandle_destroy(ph);
  return PollOut{POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM};
}

}  // namespace lockfs::fs::ops

// Space and offset ops on open files.
//   fallocate        Replies: err (0 = ok).  Calls Vfs::fallocate (modes as fallocate(2)).
//   lseek            Replies: lseek | err.   Calls Vfs::lseek (the kernel only sends
//                                            SEEK_DATA / SEEK_HOLE).
//   copy_file_range  Replies: write | err.   Calls Vfs::copy_file_range.
#include <spdlog/spdlog.h>

#include "fs/log.h"
#include "fs/ops/ops.h"

namespace lockfs::fs::ops {

Result<void> fallocate(Request& r, fuse_ino_t ino, int mode, off_t off, off_t len,
                       fuse_file_info* fi) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "fallocate ino={} mode={:#x} off={} len={}", ino, mode, off, len);
  return r.vfs().fallocate(file_of(fi), mode, off, len);
}

Result<SeekOut> lseek(Request& r, fuse_ino_t ino, off_t off, int whence, fuse_file_info* fi) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "lseek ino={} off={} whence={}", ino, off, whence);
  auto pos = r.vfs().lseek(file_of(fi), off, whence);
  if (!pos.ok()) return err(pos.error());
  return SeekOut{*pos};
}

Result<Written> copy_file_range(Request& r, fuse_ino_t ino_in, off_t off_in,
                                fuse_file_info* fi_in, fuse_ino_t ino_out, off_t off_out,
                                fuse_file_info* fi_out, size_t len, int flags) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "copy_file_range in={} off_in={} out={} off_out={} len={}",
                      ino_in, off_in, ino_out, off_out, len);
  auto n = r.vfs().copy_file_range(file_of(fi_in), off_in, file_of(fi_out), off_out, len,
                                   static_cast<unsigned>(flags));
  if (!n.ok()) return err(n.error());
  return Written{*n};
}

}  // namespace lockfs::fs::ops

// ioctl: only the chattr flags. The kernel's fileattr code (vfs_fileattr_get/set) sends
// FS_IOC_FSGETXATTR first and falls back to FS_IOC_GETFLAGS/SETFLAGS with a 4-byte value
// when that is ENOTTY, in restricted mode (sizes known up front), also on directories.
//   ioctl  Replies: ioctl | err.  Calls Vfs::fileattr_get / fileattr_set. Others: ENOTTY.
#include <linux/fs.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "fs/log.h"
#include "fs/ops/ops.h"

namespace lockfs::fs::ops {

Result<IoctlOut> ioctl(Request& r, fuse_ino_t ino, unsigned int cmd, fuse_file_info* fi,
                       unsigned flags, const void* in_buf, size_t in_bufsz, size_t out_bufsz) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "ioctl ino={} cmd={:#x} in={} out={}", ino, cmd, in_bufsz,
                      out_bufsz);
  if (flags & FUSE_IOCTL_COMPAT) return err(-ENOTTY);
  unsigned value;
  if (cmd == static_cast<unsigned>(FS_IOC_GETFLAGS) ||
      cmd == static_cast<unsigned>(FS_IOC32_GETFLAGS)) {
    if (out_bufsz < sizeof value) return err(-EINVAL);
    auto f = r.vfs().fileattr_get(ino);
    if (!f.ok()) return err(f.error());
    value = *f;
    IoctlOut out;
    out.out.assign(reinterpret_cast<const char*>(&value), sizeof value);
    return out;
  }
  if (cmd == static_cast<unsigned>(FS_IOC_SETFLAGS) ||
      cmd == static_cast<unsigned>(FS_IOC32_SETFLAGS)) {
    if (in_bufsz < sizeof value) return err(-EINVAL);
    memcpy(&value, in_buf, sizeof value);
    LOCKFS_TRY(r.vfs().fileattr_set(ino, value));
    return IoctlOut{};
  }
  return err(-ENOTTY);
}

}  // namespace lockfs::fs::ops

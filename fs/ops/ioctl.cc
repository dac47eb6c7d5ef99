// ioctl: only the chattr flags. The kernel's fileattr code (vfs_fileattr_get/set) turns
// chattr/lsattr into FS_IOC_GETFLAGS/SETFLAGS with a 4-byte value or, e.g. when reading the
// old attributes before a change, FS_IOC_FSGETXATTR/FSSETXATTR with a struct fsxattr; all in
// restricted mode (sizes known up front), also on directories.
//   ioctl  Replies: ioctl | err.  Calls Vfs::fileattr_get / fileattr_set. Others: ENOTTY.
#include <linux/fs.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "fs/log.h"
#include "fs/ops/ops.h"

namespace lockfs::fs::ops {
namespace {

// The chattr flags core keeps, as FS_IOC_GETFLAGS bits and as fsxattr xflags.
constexpr struct {
  unsigned flag, xflag;
} kFlagMap[] = {
    {core::kFlagImmutable, FS_XFLAG_IMMUTABLE},
    {core::kFlagAppend, FS_XFLAG_APPEND},
    {core::kFlagNoatime, FS_XFLAG_NOATIME},
};

unsigned to_xflags(unsigned flags) {
  unsigned x = 0;
  for (const auto& m : kFlagMap)
    if (flags & m.flag) x |= m.xflag;
  return x;
}

Result<unsigned> from_xflags(unsigned xflags) {
  unsigned flags = 0;
  for (const auto& m : kFlagMap) {
    if (xflags & m.xflag) {
      flags |= m.flag;
      xflags &= ~m.xflag;
    }
  }
  if (xflags != 0) return err(-EOPNOTSUPP);
  return flags;
}

}  // namespace

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
  if (cmd == static_cast<unsigned>(FS_IOC_FSGETXATTR)) {
    if (out_bufsz < sizeof(struct fsxattr)) return err(-EINVAL);
    auto f = r.vfs().fileattr_get(ino);
    if (!f.ok()) return err(f.error());
    struct fsxattr fa;
    memset(&fa, 0, sizeof fa);
    fa.fsx_xflags = to_xflags(*f);
    IoctlOut out;
    out.out.assign(reinterpret_cast<const char*>(&fa), sizeof fa);
    return out;
  }
  if (cmd == static_cast<unsigned>(FS_IOC_FSSETXATTR)) {
    if (in_bufsz < sizeof(struct fsxattr)) return err(-EINVAL);
    struct fsxattr fa;
    memcpy(&fa, in_buf, sizeof fa);
    // No extent sizes or project ids here, as on tmpfs.
    if (fa.fsx_extsize != 0 || fa.fsx_projid != 0 || fa.fsx_cowextsize != 0)
      return err(-EOPNOTSUPP);
    auto flags = from_xflags(fa.fsx_xflags);
    if (!flags.ok()) return err(flags.error());
    LOCKFS_TRY(r.vfs().fileattr_set(ino, *flags));
    return IoctlOut{};
  }
  return err(-ENOTTY);
}

}  // namespace lockfs::fs::ops

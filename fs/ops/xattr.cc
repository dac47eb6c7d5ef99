// Extended attributes. getxattr(2)/listxattr(2) size semantics live here, since core returns
// whole values: size 0 asks for the length, a buffer too small is ERANGE.
//   setxattr/removexattr  Replies: err (0 = ok).    Calls Vfs::setxattr / removexattr.
//   getxattr/listxattr    Replies: xattr | buf | err. Calls Vfs::getxattr / listxattr.
#include <spdlog/spdlog.h>

#include <span>

#include "fs/log.h"
#include "fs/ops/ops.h"

namespace lockfs::fs::ops {
namespace {

Result<XattrOut> sized(Result<std::string>&& v, size_t size) {
  if (!v.ok()) return err(v.error());
  XattrOut out;
  out.value = std::move(*v);
  if (size == 0) {
    out.size_only = true;
  } else if (out.value.size() > size) {
    return err(-ERANGE);
  }
  return out;
}

}  // namespace

Result<void> setxattr(Request& r, fuse_ino_t ino, const char* name, const char* value,
                      size_t size, int flags) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "setxattr ino={} name={} size={} flags={}", ino, name, size,
                      flags);
  return r.vfs().setxattr(ino, name, std::span<const char>(value, size), flags);
}

Result<XattrOut> getxattr(Request& r, fuse_ino_t ino, const char* name, size_t size) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "getxattr ino={} name={} size={}", ino, name, size);
  return sized(r.vfs().getxattr(ino, name), size);
}

Result<XattrOut> listxattr(Request& r, fuse_ino_t ino, size_t size) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "listxattr ino={} size={}", ino, size);
  return sized(r.vfs().listxattr(ino), size);
}

Result<void> removexattr(Request& r, fuse_ino_t ino, const char* name) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "removexattr ino={} name={}", ino, name);
  return r.vfs().removexattr(ino, name);
}

}  // namespace lockfs::fs::ops

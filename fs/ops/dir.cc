// Directory handles.
//   opendir      Replies: open | err.   Calls Vfs::opendir (fi->fh = File*).
//   readdir(plus) Replies: buf | err.   Calls Vfs::readdir; "plus" entries carry attributes
//                                       and each one sent counts as a lookup (except . and ..,
//                                       which the kernel never links and we send with ino 0).
//   releasedir   Replies: err (0 = ok). Calls Vfs::releasedir.
//   fsyncdir     Replies: err (0 = ok). Calls Vfs::fsyncdir.
#include <spdlog/spdlog.h>

#include <cstring>
#include <string>

#include "fs/log.h"
#include "fs/ops/ops.h"

namespace lockfs::fs::ops {

Result<OpenOut> opendir(Request& r, fuse_ino_t ino, fuse_file_info* fi) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "opendir ino={}", ino);
  auto f = r.vfs().opendir(ino, fi->flags);
  if (!f.ok()) return err(f.error());
  return OpenOut{*f, true};
}

Result<Bytes> readdir(Request& r, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
                      bool plus) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "readdir ino={} size={} off={} plus={}", ino, size, off, plus);
  if (off < 0) return err(-EINVAL);
  Bytes b;
  b.data.reset(new char[size ? size : 1]);
  const Options& o = r.options();
  std::string cname;
  auto emit = [&](std::string_view name, const struct stat& st, uint64_t next_off) -> bool {
    cname.assign(name);  // libfuse wants a NUL-terminated name
    size_t room = size - b.len;
    size_t need;
    bool counted = false;  // an entry the client links: core counts a lookup for it
    if (plus) {
      fuse_entry_param e;
      memset(&e, 0, sizeof e);
      if (name == "." || name == "..") {
        e.attr.st_ino = st.st_ino;
        e.attr.st_mode = st.st_mode;
      } else {
        e.ino = st.st_ino;
        counted = true;
        e.generation = core::kInodeGeneration;  // as lookup sends it, or the kernel
                                                 // takes the nodeid for reused (bad inode)
        e.attr = st;
        // core's readdir reports a directory's st_size as 0 while getattr reports tmpfs's
        // (entries + 2) * 20; an expired attribute makes the next stat ask getattr, so tar
        // does not see a directory "change" between two stats.
        e.attr_timeout = S_ISDIR(st.st_mode) ? 0.0 : o.attr_timeout;
        e.entry_timeout = o.entry_timeout;
      }
      need = fuse_add_direntry_plus(r.req(), b.data.get() + b.len, room, cname.c_str(), &e,
                                    static_cast<off_t>(next_off));
    } else {
      need = fuse_add_direntry(r.req(), b.data.get() + b.len, room, cname.c_str(), &st,
                               static_cast<off_t>(next_off));
    }
    if (need > room) return false;  // not consumed: the kernel asks again from this offset
    b.len += need;
    if (counted) b.lookups.push_back(st.st_ino);
    return true;
  };
  LOCKFS_TRY(r.vfs().readdir(file_of(fi), static_cast<uint64_t>(off), plus, emit));
  return b;
}

Result<void> releasedir(Request& r, fuse_ino_t ino, fuse_file_info* fi) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "releasedir ino={}", ino);
  return r.vfs().releasedir(file_of(fi));
}

Result<void> fsyncdir(Request& r, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  return r.vfs().fsyncdir(file_of(fi), datasync != 0);
}

}  // namespace lockfs::fs::ops

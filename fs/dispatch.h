// The one place that replies to the kernel. Handlers (fs/ops) return Result<T>; each reply()
// overload sends exactly one reply for its T, flipping the errno's sign for libfuse.
#pragma once

#include <sys/statvfs.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/vfs.h"
#include "fs/fuse.h"
#include "fs/request.h"
#include "locking/result.h"

namespace lockfs::fs {

// Reply payloads, one type per kind of reply so the overload says which fuse_reply_* is sent.
struct Attr {                 // fuse_reply_attr
  struct stat st;
};
struct OpenOut {              // fuse_reply_open (fi->fh = file)
  core::File* file;
  bool dir = false;
};
struct Bytes {                // fuse_reply_buf (read, readdir)
  std::unique_ptr<char[]> data;
  size_t len = 0;
  // readdirplus: the entries whose lookup core counted; given back if the reply fails.
  std::vector<fuse_ino_t> lookups;
};
struct LinkTarget {           // fuse_reply_readlink
  std::string target;
};
struct XattrOut {             // fuse_reply_xattr (size probe) or fuse_reply_buf
  bool size_only = false;
  std::string value;
};
struct Written {              // fuse_reply_write
  size_t n;
};
struct SeekOut {              // fuse_reply_lseek
  int64_t off;
};
struct LockOut {              // fuse_reply_lock
  struct flock lk;
};
struct StatfsOut {            // fuse_reply_statfs
  struct statvfs st;
};
struct IoctlOut {             // fuse_reply_ioctl
  int result = 0;
  std::string out;
};
struct PollOut {              // fuse_reply_poll
  unsigned revents;
};

void reply_err(Request& r, int neg_errno) noexcept;
// For the trampolines' exception path, when no Request could be kept.
void reply_err_raw(fuse_req_t req, int neg_errno) noexcept;
void reply_none(Request& r) noexcept;  // forget, forget_multi

void reply(Request& r, Result<void>&& res) noexcept;
// A lookup the kernel never receives (request interrupted meanwhile) is forgotten again.
void reply(Request& r, Result<core::EntryOut>&& res) noexcept;
// lookup: -ENOENT becomes a negative entry (ino 0) the kernel may cache for entry_timeout;
// every later change to that name goes through the kernel, which drops the negative dentry.
void reply_lookup(Request& r, Result<core::EntryOut>&& res) noexcept;
void reply(Request& r, Result<Attr>&& res) noexcept;
void reply(Request& r, fuse_file_info* fi, Result<OpenOut>&& res) noexcept;
void reply(Request& r, fuse_file_info* fi, Result<core::Vfs::CreateOut>&& res) noexcept;
void reply(Request& r, Result<Bytes>&& res) noexcept;
void reply(Request& r, Result<LinkTarget>&& res) noexcept;
void reply(Request& r, Result<XattrOut>&& res) noexcept;
void reply(Request& r, Result<Written>&& res) noexcept;
void reply(Request& r, Result<SeekOut>&& res) noexcept;
void reply(Request& r, Result<LockOut>&& res) noexcept;
void reply(Request& r, Result<StatfsOut>&& res) noexcept;
void reply(Request& r, Result<IoctlOut>&& res) noexcept;
void reply(Request& r, Result<PollOut>&& res) noexcept;

}  // namespace lockfs::fs

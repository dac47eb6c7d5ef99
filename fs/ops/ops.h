// The request handlers, one file per op family. Each turns one FUSE request into core::Vfs
// calls under the request's task and returns a Result; fs/dispatch.cc replies. Only
// fs/lowlevel.cc calls these (from the noexcept trampolines of the fuse_lowlevel_ops table).
#pragma once

#include <cstdint>

#include "core/vfs.h"
#include "fs/dispatch.h"
#include "fs/fuse.h"
#include "fs/request.h"

namespace lockfs::fs::ops {

// entry.cc
Result<core::EntryOut> lookup(Request& r, fuse_ino_t parent, const char* name);
void forget(Request& r, fuse_ino_t ino, uint64_t nlookup);
void forget_multi(Request& r, size_t count, fuse_forget_data* forgets);

// attr.cc
Result<Attr> getattr(Request& r, fuse_ino_t ino);
Result<Attr> setattr(Request& r, fuse_ino_t ino, const struct stat* attr, int to_set,
                     fuse_file_info* fi);
Result<void> access(Request& r, fuse_ino_t ino, int mask);
Result<StatfsOut> statfs(Request& r, fuse_ino_t ino);

// namespace.cc
Result<LinkTarget> readlink(Request& r, fuse_ino_t ino);
Result<core::EntryOut> mknod(Request& r, fuse_ino_t parent, const char* name, mode_t mode,
                             dev_t rdev);
Result<core::EntryOut> mkdir(Request& r, fuse_ino_t parent, const char* name, mode_t mode);
Result<core::EntryOut> symlink(Request& r, const char* target, fuse_ino_t parent,
                               const char* name);
Result<core::EntryOut> link(Request& r, fuse_ino_t ino, fuse_ino_t newparent,
                            const char* newname);
Result<void> unlink(Request& r, fuse_ino_t parent, const char* name);
Result<void> rmdir(Request& r, fuse_ino_t parent, const char* name);
Result<void> rename(Request& r, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
                    const char* newname, unsigned flags);

// file.cc
Result<OpenOut> open(Request& r, fuse_ino_t ino, fuse_file_info* fi);
Result<core::Vfs::CreateOut> create(Request& r, fuse_ino_t parent, const char* name,
                                    mode_t mode, fuse_file_info* fi);
Result<Bytes> read(Request& r, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
Result<Written> write(Request& r, fuse_ino_t ino, const char* buf, size_t size, off_t off,
                      fuse_file_info* fi);
Result<Written> write_buf(Request& r, fuse_ino_t ino, fuse_bufvec* bufv, off_t off,
                          fuse_file_info* fi);
Result<void> flush(Request& r, fuse_ino_t ino, fuse_file_info* fi);
Result<void> release(Request& r, fuse_ino_t ino, fuse_file_info* fi);
Result<void> fsync(Request& r, fuse_ino_t ino, int datasync, fuse_file_info* fi);
Result<PollOut> poll(Request& r, fuse_ino_t ino, fuse_file_info* fi, fuse_pollhandle* ph);

// file_space.cc
Result<void> fallocate(Request& r, fuse_ino_t ino, int mode, off_t off, off_t len,
                       fuse_file_info* fi);
Result<SeekOut> lseek(Request& r, fuse_ino_t ino, off_t off, int whence, fuse_file_info* fi);
Result<Written> copy_file_range(Request& r, fuse_ino_t ino_in, off_t off_in,
                                fuse_file_info* fi_in, fuse_ino_t ino_out, off_t off_out,
                                fuse_file_info* fi_out, size_t len, int flags);

// dir.cc
Result<OpenOut> opendir(Request& r, fuse_ino_t ino, fuse_file_info* fi);
Result<Bytes> readdir(Request& r, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
                      bool plus);
Result<void> releasedir(Request& r, fuse_ino_t ino, fuse_file_info* fi);
Result<void> fsyncdir(Request& r, fuse_ino_t ino, int datasync, fuse_file_info* fi);

// xattr.cc
Result<void> setxattr(Request& r, fuse_ino_t ino, const char* name, const char* value,
                      size_t size, int flags);
Result<XattrOut> getxattr(Request& r, fuse_ino_t ino, const char* name, size_t size);
Result<XattrOut> listxattr(Request& r, fuse_ino_t ino, size_t size);
Result<void> removexattr(Request& r, fuse_ino_t ino, const char* name);

// lock.cc
Result<LockOut> getlk(Request& r, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock);
Result<void> setlk(Request& r, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock,
                   int sleep);
Result<void> flock(Request& r, fuse_ino_t ino, fuse_file_info* fi, int op);

// ioctl.cc
Result<IoctlOut> ioctl(Request& r, fuse_ino_t ino, unsigned int cmd, fuse_file_info* fi,
                       unsigned flags, const void* in_buf, size_t in_bufsz, size_t out_bufsz);

// The File* a FUSE open/opendir/create stored in fi->fh.
inline core::File* file_of(const fuse_file_info* fi) {
  return reinterpret_cast<core::File*>(fi->fh);
}

}  // namespace lockfs::fs::ops

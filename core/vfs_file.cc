// The file callers: open/create/tmpfile, read/write, flush/release/fsync, lseek, fallocate,
// copy_file_range.
#include <linux/falloc.h>

#include "core/file.h"
#include "core/memfs.h"
#include "core/permission.h"
#include "core/vfs_internal.h"

namespace lockfs::core {

using locking::Mode;
using locking::OpScope;
using locking::Subclass;

namespace {

// may_open: the permission and flag checks of opening an existing inode.
int may_open(Inode* inode, int flags) {
  const InodeAttr a = inode->attr();
  if (S_ISLNK(a.mode)) return -ELOOP;
  const int acc = flags & O_ACCMODE;
  if (S_ISDIR(a.mode) && (acc != O_RDONLY || (flags & O_TRUNC) || (flags & O_CREAT))) {
    return -EISDIR;
  }
  if ((flags & O_DIRECTORY) && !S_ISDIR(a.mode)) return -ENOTDIR;
  int mask = 0;
  if (acc != O_WRONLY) mask |= kMayRead;
  if (acc != O_RDONLY || (flags & O_TRUNC)) mask |= kMayWrite;
  if (int rc = inode_permission(*inode, mask)) return rc;
  if (a.flags & kFlagAppend) {
    if (acc != O_RDONLY && !(flags & O_APPEND)) return -EPERM;
    if (flags & O_TRUNC) return -EPERM;
  }
  return 0;
}

// Makes the File (taking over `ref`'s pin) and runs ->open.
Result<File*> finish_open(SuperBlock& sb, InodeRef ref, int flags) {
  Inode* inode = ref.get();
  auto f = std::make_unique<File>(inode, flags);
  LOCKFS_TRY(memfs::open(inode, f.get()));
  sb.file_opened(f.get());  // may throw: then nothing is registered and `f` is freed
  ref.release();
  return f.release();
}

// handle_truncate: O_TRUNC of a regular file, under setattr's locking.
Result<void> handle_truncate(Inode* inode) {
  SetAttrIn in;
  in.valid = kSetSize | kSetMtimeNow;
  in.size = 0;
  return notify_change(inode, in, nullptr);
}

}  // namespace

// vfs_open — row file_operations.open: no lock held. O_TRUNC truncates under setattr's locking
// (i_rwsem and invalidate_lock exclusive). Errors: -EACCES, -EISDIR, -ENOTDIR, -ELOOP,
// -EPERM (immutable for writing; append-only without O_APPEND or with O_TRUNC).
Result<File*> Vfs::open(Ino ino, int flags) {
  OpScope op("open");
  InodeRef inode = pin(*sb_, ino);
  if (!inode) return err(-ENOENT);
  if (int rc = may_open(inode.get(), flags)) {
    op.set_result(rc);
    return err(rc);
  }
  if ((flags & O_TRUNC) && inode->is_reg()) LOCKFS_TRY(handle_truncate(inode.get()));
  return finish_open(*sb_, std::move(inode), flags);
}

// vfs_create via open(O_CREAT) — row inode_operations.create: the directory's i_rwsem
// exclusive (atomic_open's "exclusive if O_CREAT"). An existing name is opened (O_EXCL:
// -EEXIST). The new file is opened whatever its mode says, as POSIX wants.
Result<Vfs::CreateOut> Vfs::create(Ino parent, std::string_view name, mode_t mode, int flags)
    LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  OpScope op("create");
  SuperBlock& sb = *sb_;
  auto fail = [&](int rc) {
    op.set_result(rc);
    return Result<CreateOut>(err(rc));
  };
  InodeRef dir = pin(sb, parent);
  if (!dir) return fail(-ENOENT);
  if (!dir->is_dir()) return fail(-ENOTDIR);
  if (is_dot_or_dotdot(name)) return fail((flags & O_EXCL) ? -EEXIST : -EISDIR);
  if (int rc = check_name(name)) return fail(rc);
  if (int rc = inode_permission(*dir.get(), kMayExec)) return fail(rc);

  const int open_flags = flags & ~(O_CREAT | O_EXCL | O_TRUNC);
  InodeRef inode;  // dropped after the directory lock: an eviction runs with no lock held
  bool counted = false;  // the reply's lookup is counted already (a new inode's is)
  RwsemHold locked(dir->i_rwsem, Mode::kExclusive, Subclass::kParent);
  if (dir->i_dir->dead) return fail(-ENOENT);
  if (Dentry* d = memfs::lookup(dir.get(), name)) {
    sb.ihold(d->d_inode);
    inode = InodeRef(&sb, d->d_inode);
    locked.unlock();
    if (flags & O_EXCL) return fail(-EEXIST);
    if (int rc = may_open(inode.get(), flags & ~O_CREAT)) return fail(rc);
    if ((flags & O_TRUNC) && inode->is_reg()) {
      Result<void> t = handle_truncate(inode.get());
      if (!t.ok()) return fail(t.error());
    }
  } else {
    if (int rc = may_create(*dir.get())) return fail(rc);
    InodeAttr a;
    inode_init_owner(a, dir->perm_attr(), S_IFREG | (mode & 07777));
    a.nlink = 1;
    a.atime = a.mtime = a.ctime = a.btime = current_time();
    // Counted with the reply's lookup, in one inode_hash_lock section.
    Result<Inode*> made = sb.new_inode(a, {}, 1);
    if (!made.ok()) return fail(made.error());
    inode = InodeRef(&sb, *made);
    counted = true;
    // Counted but not linked until memfs::create succeeds: an error or an exception takes
    // it back (evicted with the last pin).
    OnExit never_linked([&] {
      inode->clear_nlink();
      sb.forget(inode->i_ino, 1);
    });
    Result<void> r = memfs::create(Op::kCreate, dir.get(), name, inode.get());
    if (!r.ok()) return fail(r.error());
    never_linked.dismiss();
    locked.unlock();
  }
  // The reply's lookup, given back if the open fails (the name stays, as the kernel's
  // create does when its open then fails).
  const EntryOut e = counted ? counted_entry(inode.get()) : make_entry(sb, inode.get());
  OnExit give_back([&] { sb.forget(e.ino, 1); });
  Result<File*> f = finish_open(sb, std::move(inode), open_flags);
  if (!f.ok()) return fail(f.error());
  give_back.dismiss();
  return CreateOut{e, *f};
}

// vfs_tmpfile — row inode_operations.tmpfile: no lock. An unnamed regular file (nlink 0)
// that linkat() may name later unless O_EXCL. Errors: -EINVAL (not opened for writing),
// -EACCES, -ENOTDIR, -ENOSPC.
Result<Vfs::CreateOut> Vfs::tmpfile(Ino parent, mode_t mode, int flags) {
  OpScope op("tmpfile");
  SuperBlock& sb = *sb_;
  if ((flags & O_ACCMODE) == O_RDONLY) return err(-EINVAL);
  InodeRef dir = pin(sb, parent);
  if (!dir) return err(-ENOENT);
  if (!dir->is_dir()) return err(-ENOTDIR);
  if (int rc = may_create(*dir.get())) return err(rc);
  InodeAttr a;
  inode_init_owner(a, dir->perm_attr(), S_IFREG | (mode & 07777));
  a.nlink = 0;
  a.atime = a.mtime = a.ctime = a.btime = current_time();
  Result<Inode*> made = sb.new_inode(a);
  if (!made.ok()) return err(made.error());
  InodeRef inode(&sb, *made);
  LOCKFS_TRY(memfs::tmpfile(dir.get(), inode.get()));
  sb.set_linkable(inode.get(), !(flags & O_EXCL));
  const EntryOut e = make_entry(sb, inode.get());
  OnExit give_back([&] { sb.forget(e.ino, 1); });  // the reply's lookup, if the open fails
  Result<File*> f = finish_open(sb, std::move(inode), flags & ~(O_CREAT | O_EXCL | O_TRUNC));
  if (!f.ok()) return err(f.error());
  give_back.dismiss();
  return CreateOut{e, *f};
}

// vfs_read — row file_operations.read_iter: no lock on entry. -EISDIR, -EBADF.
Result<size_t> Vfs::read(File* f, uint64_t off, std::span<char> buf) {
  OpScope op("read");
  if (f->f_inode->is_dir()) return err(-EISDIR);
  if (!f->readable()) return err(-EBADF);
  return traced(op, memfs::read_iter(f, off, buf));
}

// vfs_write's checks before the method: 0 or -EISDIR, -EBADF, -EPERM (immutable, or an
// append-only file not opened O_APPEND). IS_IMMUTABLE / IS_APPEND read i_flags without a lock.
static int may_write(const File* f) {
  if (f->f_inode->is_dir()) return -EISDIR;
  if (!f->writable()) return -EBADF;
  const unsigned fl = f->f_inode->perm_attr().flags;
  if (fl & kFlagImmutable) return -EPERM;
  if ((fl & kFlagAppend) && !f->append()) return -EPERM;
  return 0;
}

// vfs_write — row file_operations.write_iter: no lock on entry; the method takes i_rwsem
// exclusive (generic_file_write_iter). may_write's errors, -EFBIG, -ENOSPC.
Result<size_t> Vfs::write(File* f, uint64_t off, std::span<const char> data) {
  OpScope op("write");
  if (int rc = may_write(f)) return err(rc);
  return traced(op, memfs::write_iter(f, off, data));
}

// The client's writeback of pages it holds (FUSE_WRITE_CACHE) -- for our page cache, the
// store ->page_mkwrite allows: no lock on entry; the method takes invalidate_lock shared and
// folio locks, and i_rwsem only to grow the file. The checks are vfs_write's.
Result<size_t> Vfs::write_cached(File* f, uint64_t off, std::span<const char> data) {
  OpScope op("writepage");
  if (int rc = may_write(f)) return err(rc);
  return traced(op, memfs::write_cached(f, off, data));
}

// vfs flush (filp_close) — row file_operations.flush: no lock. Drops the owner's POSIX locks.
Result<void> Vfs::flush(File* f, uint64_t lock_owner) {
  OpScope op("flush");
  // locks_remove_posix: an inode that never had a lock has no context and nothing to drop,
  // so no nested setlk either (every close sends a flush).
  if (f->f_inode->flctx_if_any() != nullptr) {
    struct flock unlock {};
    unlock.l_type = F_UNLCK;
    unlock.l_whence = SEEK_SET;
    (void)setlk(f, lock_owner, unlock, false);
  }
  return memfs::flush(f);
}

// vfs release (__fput) — row file_operations.release: no lock. Drops the file's flock locks,
// then the file's pin on the inode (which may evict an unlinked inode).
Result<void> Vfs::release(File* f) {
  OpScope op("release");
  // locks_remove_file: likewise only where a lock context exists.
  if (f->f_inode->flctx_if_any() != nullptr) (void)flock(f, 0, LOCK_UN);
  Result<void> r = memfs::release(f);
  Inode* inode = f->f_inode;
  sb_->file_released(f);
  delete f;
  sb_->iput(inode);
  return r;
}

// vfs_fsync — row file_operations.fsync: no lock (writes back dirty folios).
Result<void> Vfs::fsync(File* f, bool datasync) {
  OpScope op("fsync");
  return traced(op, memfs::fsync(f, datasync));
}

// vfs_llseek — row file_operations.llseek: "moved to the individual implementations"; memfs
// takes i_rwsem itself for SEEK_DATA/SEEK_HOLE. -ENXIO past EOF, -EINVAL.
Result<int64_t> Vfs::lseek(File* f, int64_t off, int whence) {
  OpScope op("lseek");
  return traced(op, memfs::llseek(f, off, whence));
}

// vfs_fallocate — row file_operations.fallocate: no lock on entry; the method takes i_rwsem
// and, to punch or zero, invalidate_lock exclusive (the note on ->fallocate).
// Errors: -EINVAL, -EOPNOTSUPP, -EBADF, -EPERM, -EISDIR, -ENODEV, -EFBIG, -ENOSPC.
Result<void> Vfs::fallocate(File* f, int mode, int64_t off, int64_t len) {
  OpScope op("fallocate");
  auto fail = [&](int rc) {
    op.set_result(rc);
    return Result<void>(err(rc));
  };
  constexpr int kSupported = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
  if (off < 0 || len <= 0) return fail(-EINVAL);
  if (mode & ~kSupported) return fail(-EOPNOTSUPP);
  if ((mode & FALLOC_FL_PUNCH_HOLE) && (mode & FALLOC_FL_ZERO_RANGE)) return fail(-EINVAL);
  if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE)) return fail(-EOPNOTSUPP);
  if (!f->writable()) return fail(-EBADF);
  Inode* inode = f->f_inode;
  const unsigned fl = inode->flags();
  if (fl & kFlagImmutable) return fail(-EPERM);
  if ((mode & ~FALLOC_FL_KEEP_SIZE) && (fl & kFlagAppend)) return fail(-EPERM);
  if (inode->is_dir()) return fail(-EISDIR);
  if (!inode->is_reg()) return fail(-ENODEV);
  if (uint64_t(off) > kMaxFileSize || uint64_t(len) > kMaxFileSize - uint64_t(off)) {
    return fail(-EFBIG);
  }
  return traced(op, memfs::fallocate(f, mode, off, len));
}

// vfs_copy_file_range — row file_operations.copy_file_range: no lock on entry; the method
// serialises against writers with the destination's i_rwsem and against ->page_mkwrite with
// its invalidate_lock (the note). Errors: -EINVAL (flags, overlap in one file, negative
// offsets, non-regular), -EBADF, -EISDIR, -EPERM, -EFBIG, -ENOSPC.
Result<size_t> Vfs::copy_file_range(File* in, int64_t off_in, File* out, int64_t off_out,
                                    size_t len, unsigned flags) {
  OpScope op("copy_file_range");
  auto fail = [&](int rc) {
    op.set_result(rc);
    return Result<size_t>(err(rc));
  };
  if (flags != 0) return fail(-EINVAL);
  if (off_in < 0 || off_out < 0) return fail(-EINVAL);
  if (!in->readable() || !out->writable() || out->append()) return fail(-EBADF);
  Inode* src = in->f_inode;
  Inode* dst = out->f_inode;
  if (src->is_dir() || dst->is_dir()) return fail(-EISDIR);
  if (!src->is_reg() || !dst->is_reg()) return fail(-EINVAL);
  if (dst->flags() & (kFlagImmutable | kFlagAppend)) return fail(-EPERM);
  if (src == dst && uint64_t(off_in) < uint64_t(off_out) + len &&
      uint64_t(off_out) < uint64_t(off_in) + len) {
    return fail(-EINVAL);
  }
  return traced(op, memfs::copy_file_range(in, off_in, out, off_out, len));
}

}  // namespace lockfs::core

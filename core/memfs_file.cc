// memfs file methods: read/write through the page cache, llseek, fallocate, copy_file_range.
#include <linux/falloc.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "core/memfs.h"
#include "core/permission.h"

namespace lockfs::core::memfs {

using contract::LockId;
using contract::Role;
using locking::Mode;

namespace {

const locking::LockMap* rw(const Inode* i) { return &i->i_rwsem.map(); }
const Contract& cx(const Inode* i) { return contract_of(i->i_sb); }

// file_remove_privs + file_update_time for a data change that ended at `end` (0: grows
// nothing), with i_size grown to `end` -- one i_lock section for all of it. The fault path's
// view of i_size (SIGBUS past it) follows. Locking: i_rwsem exclusive.
enum class Privs { kKill, kKeep };
void file_modified(Inode* inode, uint64_t end = 0,
                   Privs privs = Privs::kKill) LOCKFS_REQUIRES(inode->i_rwsem) {
  const struct timespec now = current_time();
  uint64_t size;
  {
    locking::SpinGuard g(inode->i_lock);
    InodeAttr a = inode->attr_locked();
    if (end > a.size) a.size = end;
    size = a.size;
    if (privs == Privs::kKill) {
      a.mode = mode_after_write(a.mode);
      inode->kill_priv_locked();
    }
    a.mtime = a.ctime = now;
    inode->set_attr_locked(a);
  }
  if (end != 0) inode->i_mapping->i_size_write(size);
}

// generic_write_check_limits: a write starting below kMaxFileSize is cut short at it (one
// starting at or past it is the caller's -EFBIG).
std::span<const char> within_limit(uint64_t pos, std::span<const char> data) {
  return data.first(std::min<uint64_t>(data.size(), kMaxFileSize - pos));
}

void grow_size(Inode* inode, uint64_t end) LOCKFS_REQUIRES(inode->i_rwsem) {
  uint64_t size;
  {
    locking::SpinGuard g(inode->i_lock);
    InodeAttr a = inode->attr_locked();
    if (end > a.size) {
      a.size = end;
      inode->set_attr_locked(a);
    }
    size = a.size;
  }
  // The fault path's view of i_size (SIGBUS past it) follows.
  inode->i_mapping->i_size_write(size);
}

}  // namespace

// relatime: atime moves when it is not newer than mtime/ctime, or a day old. As in
// atime_needs_update, whether it must move is asked without a lock -- of the answer the
// attributes' last writer worked out (Inode::relatime_sec) and of the coarse clock, since
// the rule looks at seconds only -- so a read of a file whose atime is current takes no
// i_lock and reads no fine clock.
void touch_atime(Inode* inode) {
  // One rule for both looks: with no lock, then again under i_lock.
  auto keep = [](unsigned flags, int64_t sec, time_t now) {
    return (flags & kFlagNoatime) || (sec != kAtimeStale && now - sec < 86400);
  };
  if (keep(inode->flags(), inode->relatime_sec(), current_seconds())) return;
  const struct timespec now = current_time();
  locking::SpinGuard g(inode->i_lock);
  InodeAttr a = inode->attr_locked();
  if (keep(a.flags, relatime_sec_of(a), now.tv_sec)) return;
  a.atime = now;
  inode->set_attr_locked(a);
}

Result<void> open(Inode* inode, File* f) {
  ContractScope scope(cx(inode), Op::kOpen, {{Role::kInode, LockId::kIRwsem, rw(inode)}});
  return {};
}

Result<void> flush(File* f) {
  ContractScope scope(cx(f->f_inode), Op::kFlush, {{Role::kInode, LockId::kIRwsem, rw(f->f_inode)}});
  return {};
}

Result<void> release(File* f) {
  ContractScope scope(cx(f->f_inode), Op::kRelease,
                      {{Role::kInode, LockId::kIRwsem, rw(f->f_inode)}});
  return {};
}

Result<void> fsync(File* f, bool datasync) {
  Inode* inode = f->f_inode;
  ContractScope scope(cx(inode), Op::kFsync, {{Role::kInode, LockId::kIRwsem, rw(inode)}});
  if (inode->i_mapping) return inode->i_mapping->writepages();
  return {};
}

Result<size_t> read_iter(File* f, uint64_t pos, std::span<char> buf) {
  Inode* inode = f->f_inode;
  ContractScope scope(cx(inode), Op::kReadIter, {{Role::kInode, LockId::kIRwsem, rw(inode)}});
  if (!inode->is_reg()) return err(-EINVAL);
  if (buf.empty()) return size_t{0};
  Result<size_t> n = inode->i_mapping->read(pos, buf, inode->i_mapping->i_size_read());
  if (n.ok()) touch_atime(inode);
  return n;
}

Result<size_t> write_iter(File* f, uint64_t pos, std::span<const char> data) {
  Inode* inode = f->f_inode;
  ContractScope scope(cx(inode), Op::kWriteIter, {{Role::kInode, LockId::kIRwsem, rw(inode)}});
  if (!inode->is_reg()) return err(-EINVAL);
  locking::WriteGuard lock(inode->i_rwsem);  // generic_file_write_iter: inode_lock
  if (f->append()) pos = inode->size();
  if (data.empty()) return size_t{0};
  if (pos >= kMaxFileSize) return err(-EFBIG);
  Result<size_t> n = inode->i_mapping->write(pos, within_limit(pos, data));
  if (!n.ok()) return n;
  if (*n > 0) {
    file_modified(inode, pos + *n);
  }
  return n;
}

Result<size_t> write_cached(File* f, uint64_t pos, std::span<const char> data) {
  Inode* inode = f->f_inode;
  if (!inode->is_reg()) return err(-EINVAL);
  AddressSpace* m = inode->i_mapping.get();
  if (std::optional<Result<size_t>> n = m->write_cached(pos, data)) {
    // file_update_time, as ->page_mkwrite does; suid/sgid stay (the client clears them
    // through a write with FUSE_WRITE_KILL_SUIDGID or a setattr, not through its cache).
    if (n->ok() && **n > 0) inode->touch(Inode::kTimeMC);
    return *n;
  }
  // Past i_size: only the writeback cache extends a file this way, and i_size moves under
  // i_rwsem.
  locking::WriteGuard lock(inode->i_rwsem);
  if (pos >= kMaxFileSize) return err(-EFBIG);
  Result<size_t> n = m->write(pos, within_limit(pos, data));
  if (n.ok() && *n > 0) file_modified(inode, pos + *n, Privs::kKeep);
  return n;
}

Result<int64_t> llseek(File* f, int64_t off, int whence) {
  Inode* inode = f->f_inode;
  ContractScope scope(cx(inode), Op::kLlseek, {{Role::kInode, LockId::kIRwsem, rw(inode)}});
  if (whence == SEEK_SET) {
    if (off < 0) return err(-EINVAL);
    return off;
  }
  if (!inode->is_reg()) {
    if (whence == SEEK_END && off >= 0) return off;
    return err(-EINVAL);
  }
  // shmem_file_llseek holds inode_lock so that i_size and the hole map agree.
  locking::WriteGuard lock(inode->i_rwsem);
  const uint64_t size = inode->size();
  switch (whence) {
    case SEEK_END: {
      const int64_t r = static_cast<int64_t>(size) + off;
      if (r < 0) return err(-EINVAL);
      return r;
    }
    case SEEK_DATA:
    case SEEK_HOLE: {
      if (off < 0 || static_cast<uint64_t>(off) >= size) return err(-ENXIO);
      Result<uint64_t> r = whence == SEEK_DATA ? inode->i_mapping->seek_data(off, size)
                                               : inode->i_mapping->seek_hole(off, size);
      if (!r.ok()) return err(r.error());
      return static_cast<int64_t>(*r);
    }
    default:
      return err(-EINVAL);
  }
}

Result<void> fallocate(File* f, int mode, uint64_t off, uint64_t len) {
  Inode* inode = f->f_inode;
  ContractScope scope(cx(inode), Op::kFallocate, {{Role::kInode, LockId::kIRwsem, rw(inode)}});
  locking::WriteGuard lock(inode->i_rwsem);  // shmem_fallocate: inode_lock
  AddressSpace* m = inode->i_mapping.get();
  const bool keep = mode & FALLOC_FL_KEEP_SIZE;
  if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
    // The text: the fallocate implementation must take invalidate_lock so that faults and
    // reads cannot reload stale page cache contents meanwhile.
    locking::WriteGuard inval(m->invalidate_lock);
    Result<void> r = (mode & FALLOC_FL_PUNCH_HOLE) ? m->punch_hole(off, len)
                                                    : m->zero_range(off, len);
    if (!r.ok()) return r;
    file_modified(inode, !keep && (mode & FALLOC_FL_ZERO_RANGE) ? off + len : 0);
    return {};
  }
  LOCKFS_TRY(m->allocate(off, len));
  if (!keep && off + len > inode->size()) {
    grow_size(inode, off + len);
    inode->touch(Inode::kTimeMC);
  }
  return {};
}

Result<size_t> copy_file_range(File* in, uint64_t off_in, File* out, uint64_t off_out,
                               size_t len) {
  Inode* src = in->f_inode;
  Inode* dst = out->f_inode;
  ContractScope scope(cx(dst), Op::kCopyFileRange,
                      {{Role::kInode, LockId::kIRwsem, rw(dst)}});
  const uint64_t src_size = src->size();
  if (off_in >= src_size || len == 0) return size_t{0};
  // A short copy is allowed: bound the bounce buffer.
  len = std::min<uint64_t>({len, src_size - off_in, uint64_t{4} << 20});
  if (off_out >= kMaxFileSize) return err(-EFBIG);
  len = std::min<uint64_t>(len, kMaxFileSize - off_out);
  // Read the source before taking the destination's locks: reading takes the source's
  // invalidate_lock shared, which may be the destination's own (same file).
  std::vector<char> buf(len);
  Result<size_t> got = src->i_mapping->read(off_in, buf, src_size);
  if (!got.ok()) return got;
  if (*got == 0) return size_t{0};

  locking::WriteGuard lock(dst->i_rwsem);
  // The text: block ->page_mkwrite (and so changes through mappings) during the copy.
  locking::WriteGuard inval(dst->i_mapping->invalidate_lock);
  Result<size_t> n = dst->i_mapping->write(off_out, std::span<const char>(buf.data(), *got));
  if (!n.ok()) return n;
  if (*n > 0) {
    file_modified(dst, off_out + *n);
  }
  return n;
}

}  // namespace lockfs::core::memfs

// Inode: construction, attribute snapshots and the small attribute updates every op shares.
#include "core/inode.h"

#include "core/lock_classes.h"
#include "core/super.h"

namespace lockfs::core {

struct timespec current_time() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}

time_t current_seconds() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return ts.tv_sec;
}

Inode::Inode(SuperBlock& sb, Ino ino, uint64_t generation, const InodeAttr& attr)
    : i_sb(sb),
      i_ino(ino),
      i_generation(generation),
      i_type(attr.mode & S_IFMT),
      i_rwsem(lock_class::i_rwsem_class(attr.mode), ino),
      i_lock(lock_class::kILock, ino),
      i_dir(S_ISDIR(attr.mode) ? std::make_unique<DirEntries>() : nullptr),
      i_attr_(attr) {}

InodeAttr Inode::perm_attr() const {
  InodeAttr a;
  const uint64_t ids = i_attr_.ids();
  const uint64_t mode = i_attr_.mode_flags();
  a.uid = static_cast<uid_t>(ids >> 32);
  a.gid = static_cast<gid_t>(ids);
  a.mode = static_cast<mode_t>(mode);
  a.flags = static_cast<unsigned>(mode >> 32);
  return a;
}

Inode::~Inode() { delete i_flctx_.load(std::memory_order_acquire); }

FileLockContext& Inode::flctx() {
  FileLockContext* ctx = i_flctx_.load(std::memory_order_acquire);
  if (ctx != nullptr) return *ctx;
  auto fresh = std::make_unique<FileLockContext>(i_ino);
  if (i_flctx_.compare_exchange_strong(ctx, fresh.get(), std::memory_order_acq_rel)) {
    return *fresh.release();
  }
  return *ctx;  // another request installed one first
}

struct stat Inode::getattr() const {
  const InodeAttr a = attr();
  struct stat st {};
  st.st_ino = i_ino;
  st.st_mode = a.mode;
  st.st_nlink = a.nlink;
  st.st_uid = a.uid;
  st.st_gid = a.gid;
  st.st_rdev = a.rdev;
  st.st_size = static_cast<off_t>(a.size);
  st.st_blksize = kPageSize;
  // st_blocks counts 512-byte units of the pages really present (sparse files stay small).
  st.st_blocks = i_mapping ? static_cast<blkcnt_t>(i_mapping->nr_pages() * (kPageSize / 512)) : 0;
  st.st_atim = a.atime;
  st.st_mtim = a.mtime;
  st.st_ctim = a.ctime;
  return st;
}

void Inode::mark_times(InodeAttr& a, unsigned which, const struct timespec& now) {
  if (which & kTimeA) a.atime = now;
  if (which & kTimeM) a.mtime = now;
  if (which & kTimeC) a.ctime = now;
}

void Inode::touch(unsigned which) {
  const struct timespec now = current_time();
  locking::SpinGuard g(i_lock);
  InodeAttr a = attr_locked();
  mark_times(a, which, now);
  set_attr_locked(a);
}

void Inode::add_nlink(int delta, unsigned which) {
  const struct timespec now = which ? current_time() : timespec{};
  locking::SpinGuard g(i_lock);
  InodeAttr a = attr_locked();
  LOCKFS_CHECK(delta >= 0 || a.nlink >= static_cast<nlink_t>(-delta), "nlink underflow");
  a.nlink = static_cast<nlink_t>(static_cast<int64_t>(a.nlink) + delta);
  mark_times(a, which, now);
  set_attr_locked(a);
}

void Inode::clear_nlink() {
  locking::SpinGuard g(i_lock);
  InodeAttr a = attr_locked();
  a.nlink = 0;
  set_attr_locked(a);
}

InodeRef& InodeRef::operator=(InodeRef&& o) noexcept {
  if (this != &o) {
    reset();
    sb_ = o.sb_;
    inode_ = o.inode_;
    o.inode_ = nullptr;
  }
  return *this;
}

void InodeRef::reset() {
  if (inode_ != nullptr) sb_->iput(inode_);
  inode_ = nullptr;
}

void Inode::kill_priv_locked() {
  if (!i_xattrs) return;  // the common case: one branch per write
  auto it = i_xattrs->map.find(std::string_view("security.capability"));
  if (it == i_xattrs->map.end()) return;
  i_xattrs->bytes -= it->first.size() + it->second.size();
  i_xattrs->map.erase(it);
}

}  // namespace lockfs::core

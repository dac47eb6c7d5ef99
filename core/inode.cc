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

Inode::Inode(SuperBlock& sb, Ino ino, uint64_t generation, const InodeAttr& attr)
    : i_sb(sb),
      i_ino(ino),
      i_generation(generation),
      i_type(attr.mode & S_IFMT),
      i_rwsem(lock_class::i_rwsem_class(attr.mode), ino),
      i_lock(lock_class::kILock, ino),
      i_attr(attr),
      i_dir(S_ISDIR(attr.mode) ? std::make_unique<DirEntries>() : nullptr) {
  publish(attr);  // not shared yet
}

void Inode::publish(const InodeAttr& a) {
  i_perm_ids_.store(uint64_t{a.uid} << 32 | a.gid, std::memory_order_release);
  i_perm_mode_.store(uint64_t{a.flags} << 32 | a.mode, std::memory_order_release);
  i_relatime_sec_.store(relatime_sec_of(a), std::memory_order_relaxed);
}

void Inode::publish_locked() { publish(i_attr); }

InodeAttr Inode::perm_attr() const {
  InodeAttr a;
  const uint64_t ids = i_perm_ids_.load(std::memory_order_acquire);
  const uint64_t mode = i_perm_mode_.load(std::memory_order_acquire);
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

InodeAttr Inode::attr() const {
  locking::SpinGuard g(i_lock);
  return i_attr;
}

unsigned Inode::flags() const {
  locking::SpinGuard g(i_lock);
  return i_attr.flags;
}

nlink_t Inode::nlink() const {
  locking::SpinGuard g(i_lock);
  return i_attr.nlink;
}

uint64_t Inode::size() const {
  locking::SpinGuard g(i_lock);
  return i_attr.size;
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

void Inode::set_times_locked(unsigned which, const struct timespec& now) {
  if (which & kTimeA) i_attr.atime = now;
  if (which & kTimeM) i_attr.mtime = now;
  if (which & kTimeC) i_attr.ctime = now;
  publish_locked();
}

int64_t Inode::relatime_sec_of(const InodeAttr& a) {
  auto after = [](const timespec& x, const timespec& y) {
    return x.tv_sec > y.tv_sec || (x.tv_sec == y.tv_sec && x.tv_nsec > y.tv_nsec);
  };
  return after(a.atime, a.mtime) && after(a.atime, a.ctime) ? a.atime.tv_sec : kAtimeStale;
}

void Inode::touch(unsigned which) {
  const struct timespec now = current_time();
  locking::SpinGuard g(i_lock);
  set_times_locked(which, now);
}

void Inode::add_nlink(int delta, unsigned which) {
  const struct timespec now = which ? current_time() : timespec{};
  locking::SpinGuard g(i_lock);
  LOCKFS_CHECK(delta >= 0 || i_attr.nlink >= static_cast<nlink_t>(-delta), "nlink underflow");
  i_attr.nlink = static_cast<nlink_t>(static_cast<int64_t>(i_attr.nlink) + delta);
  set_times_locked(which, now);
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

// SuperBlock: the inode table and the lifetime rules (pins, lookups, links -> eviction).
#include "core/super.h"

#include <unistd.h>

#include <algorithm>

#include "core/file.h"
#include "core/lock_classes.h"
#include "core/memfs.h"
#include "core/name_hash.h"
#include "core/mm/mm.h"
#include "locking/rcu.h"
#include "locking/sync_point.h"

namespace lockfs::core {

namespace {

uint64_t size_or_default(uint64_t size_bytes) {
  if (size_bytes != 0) return (size_bytes + kPageSize - 1) / kPageSize * kPageSize;
  // tmpfs: half of physical RAM.
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long psize = sysconf(_SC_PAGESIZE);
  return pages > 0 && psize > 0 ? uint64_t(pages) * uint64_t(psize) / 2 : (uint64_t{1} << 30);
}

uint64_t inodes_or_default(uint64_t nr_inodes, uint64_t size_bytes) {
  if (nr_inodes != 0) return nr_inodes;
  return std::max<uint64_t>(1024, size_bytes / kPageSize);
}

}  // namespace

SuperBlock::SuperBlock(const MountOptions& opts, contract::Profile profile)
    : s_umount(lock_class::kSUmount),
      s_vfs_rename_sem(lock_class::kSVfsRenameSem),
      rename_lock(lock_class::kRenameLock),
      s_inode_lock(lock_class::kInodeHashLock),
      s_opts(opts),
      s_max_inodes(inodes_or_default(opts.nr_inodes, size_or_default(opts.size_bytes))),
      s_mm(std::make_unique<Mm>(size_or_default(opts.size_bytes))),
      s_budget(size_or_default(opts.size_bytes) / kPageSize),
      s_contract(profile) {
  // The name tables' key is drawn here, at mount, not by the first lookup under a directory's
  // i_rwsem: getrandom() may wait for the kernel's entropy pool early in boot.
  (void)name_hash_key();
  InodeAttr a;
  a.mode = S_IFDIR | (opts.root_mode & 07777);
  a.uid = opts.root_uid;
  a.gid = opts.root_gid;
  a.nlink = 2;
  a.atime = a.mtime = a.ctime = a.btime = current_time();
  Result<Inode*> root = new_inode(a);
  LOCKFS_CHECK(root.ok(), "mount: cannot allocate the root inode");
  s_root = *root;
  s_root->i_parent.store(kRootIno, std::memory_order_relaxed);
  // The superblock keeps the root's initial pin until unmount: the root is never evicted.
}

SuperBlock::~SuperBlock() { kill_sb(); }

void SuperBlock::kill_sb() {
  // Allocates nothing: it runs from ~SuperBlock.
  std::unordered_set<File*> files;
  Inode* inodes;
  {
    locking::SpinGuard g(s_inode_lock);
    files.swap(s_files_);
    inodes = s_itable_.take_all();
  }
  // Files nobody released (the client went away): their pins die with the table.
  for (File* f : files) delete f;
  // No request is running (s_umount exclusive), so no reader can reach these.
  while (inodes != nullptr) {
    Inode* next = inodes->i_hash_next.load(std::memory_order_relaxed);
    memfs::evict_inode(inodes);
    delete inodes;
    inodes = next;
  }
  // Inodes evicted earlier wait for RCU readers that may still be about: let them go now,
  // while the superblock they belong to is still here.
  locking::rcu_barrier();
}

// The client's first lookup takes the pin its lookups share (s_inode_lock held).
static void add_lookups(Inode* inode, uint64_t n) {
  if (n == 0) return;
  if (inode->i_nlookup == 0) inode->i_count.fetch_add(1, std::memory_order_relaxed);
  inode->i_nlookup += n;
}

Result<Inode*> SuperBlock::new_inode(const InodeAttr& attr, std::string_view link_target,
                                     uint64_t nlookup) {
  // Charge the inode limit first so that a full filesystem creates nothing.
  uint64_t n = nr_inodes_.load(std::memory_order_relaxed);
  do {
    if (n >= s_max_inodes) return err(-ENOSPC);
  } while (!nr_inodes_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed));

  // An allocation that fails gives the charge back: nothing is left behind.
  std::unique_ptr<Inode> inode;
  try {
    const Ino ino = next_ino_.fetch_add(1, std::memory_order_relaxed);
    inode = std::make_unique<Inode>(*this, ino, kInodeGeneration, attr);
    if (inode->is_reg()) {
      inode->i_mapping = std::make_unique<AddressSpace>(*s_mm, s_budget, inode->i_rwsem, ino);
    }
    if (inode->is_lnk()) inode->i_link = std::string(link_target);
    locking::SpinGuard g(s_inode_lock);
    s_itable_.insert(inode.get());  // may grow the table; throws (if at all) before changing it
    inode->i_count = 1;
    add_lookups(inode.get(), nlookup);
  } catch (const std::bad_alloc&) {
    nr_inodes_.fetch_sub(1, std::memory_order_relaxed);
    throw;
  }
  return inode.release();  // the table owns it until evict()
}

// The inode with that number if it is pinned, pinned once more; else nullptr (it may still
// exist: the caller goes to the lock). Under RCU an inode found stays valid memory; its
// count, once 0, stays 0 (eviction decides that under the lock), so raising a count above
// 0 cannot bring back an inode being evicted.
Inode* SuperBlock::iget_rcu(Ino ino) const LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  locking::RcuReadGuard rcu;
  Inode* inode = s_itable_.find_rcu(ino);
  if (inode == nullptr) return nullptr;
  LOCKFS_SYNC_POINT("iget:found_rcu");  // the inode may be evicted from here on
  uint64_t c = inode->i_count.load(std::memory_order_relaxed);
  while (c > 0) {
    if (inode->i_count.compare_exchange_weak(c, c + 1, std::memory_order_relaxed)) return inode;
  }
  return nullptr;
}

Inode* SuperBlock::iget(Ino ino) {
  if (Inode* inode = iget_rcu(ino)) return inode;
  // Not pinned (or missed while the table grew): the lock decides.
  LOCKFS_SYNC_POINT("iget:locked");
  locking::SpinGuard g(s_inode_lock);
  Inode* inode = s_itable_.find(ino);
  if (inode == nullptr) return nullptr;
  ++inode->i_count;
  return inode;
}

void SuperBlock::ihold(Inode* inode) {
  // While another pin is held -- the common case: the client's lookups hold one -- no
  // eviction can be deciding on the inode (that starts only once the count is 0, under the
  // lock), so the count goes up without the lock. From 0, an iput or forget may be inside
  // evictable() right now, between its count check and its nlink check, and the caller is
  // about to unlink: take the lock, so that decision is over first.
  uint64_t c = inode->i_count.load(std::memory_order_relaxed);
  while (c > 0) {
    if (inode->i_count.compare_exchange_weak(c, c + 1, std::memory_order_relaxed)) return;
  }
  locking::SpinGuard g(s_inode_lock);
  LOCKFS_CHECK(inode->i_count > 0 || inode->i_nlookup > 0 || inode->nlink() > 0,
               "ihold of an inode nothing keeps alive");
  ++inode->i_count;
}

bool SuperBlock::evictable(const Inode* inode) const {
  if (inode == s_root || inode->i_count != 0 || inode->i_nlookup != 0) return false;
  LOCKFS_SYNC_POINT("evictable:unpinned");  // between the count check and drop_inode's nlink
  // iput_final: ->drop_inode decides, called with i_lock held.
  Inode* i = const_cast<Inode*>(inode);
  locking::SpinGuard g(i->i_lock);
  return memfs::drop_inode(i);
}

void SuperBlock::unhash(Inode* inode) { s_itable_.remove(inode); }

void SuperBlock::iput(Inode* inode) {
  // Not the last pin: nothing to decide, no lock (iput's atomic_dec_and_lock fast path).
  uint64_t c = inode->i_count.load(std::memory_order_relaxed);
  while (c > 1) {
    if (inode->i_count.compare_exchange_weak(c, c - 1, std::memory_order_release,
                                             std::memory_order_relaxed)) {
      return;
    }
  }
  bool evict_it = false;
  {
    locking::SpinGuard g(s_inode_lock);
    const uint64_t before = inode->i_count.fetch_sub(1, std::memory_order_acq_rel);
    LOCKFS_CHECK(before > 0, "iput: i_count underflow");
    if (before == 1 && evictable(inode)) {
      unhash(inode);
      evict_it = true;
    }
  }
  if (evict_it) evict(inode);
}

void SuperBlock::nlookup_get(Inode* inode, uint64_t n) {
  locking::SpinGuard g(s_inode_lock);
  add_lookups(inode, n);
}

void SuperBlock::nlookup_get_each(std::span<Inode* const> inodes) {
  locking::SpinGuard g(s_inode_lock);
  for (Inode* inode : inodes) add_lookups(inode, 1);
}

void SuperBlock::forget(Ino ino, uint64_t n) {
  Inode* victim = nullptr;
  {
    locking::SpinGuard g(s_inode_lock);
    Inode* inode = s_itable_.find(ino);
    if (inode == nullptr) return;
    LOCKFS_CHECK(inode->i_nlookup >= n, "forget: lookup count below zero");
    if (n == 0) return;
    inode->i_nlookup -= n;
    if (inode->i_nlookup != 0) return;
    // The client's last lookup went: drop the pin its lookups held.
    const uint64_t before = inode->i_count.fetch_sub(1, std::memory_order_acq_rel);
    LOCKFS_CHECK(before > 0, "forget: i_count underflow");
    if (before == 1 && evictable(inode)) {
      unhash(inode);
      victim = inode;
    }
  }
  if (victim != nullptr) evict(victim);
}

void SuperBlock::evict(Inode* inode) {
  // Unreachable now but by RCU readers of the table, who only look at the number and the
  // count (0 for good): no lock of it can be held or waited for by anyone.
  memfs::evict_inode(inode);
  // The inode no longer counts against nr_inodes; its memory goes when RCU lets it (at the
  // latest at the next eviction or unmount), its pages already went with evict_inode.
  locking::call_rcu(&inode->i_rcu, inode, [](void* p) { delete static_cast<Inode*>(p); });
  nr_inodes_.fetch_sub(1, std::memory_order_relaxed);
}

Ino SuperBlock::parent_of(Ino ino) const {
  locking::SpinGuard g(s_inode_lock);
  const Inode* inode = s_itable_.find(ino);
  return inode == nullptr ? 0 : inode->i_parent.load(std::memory_order_relaxed);
}

void SuperBlock::set_linkable(Inode* inode, bool linkable) {
  locking::SpinGuard g(s_inode_lock);
  inode->i_linkable = linkable;
}

bool SuperBlock::linkable(Inode* inode) const {
  locking::SpinGuard g(s_inode_lock);
  return inode->i_linkable;
}

uint64_t SuperBlock::nr_pages() const { return s_budget.used(); }

std::pair<uint64_t, uint64_t> SuperBlock::counts(Ino ino) const {
  locking::SpinGuard g(s_inode_lock);
  const Inode* found = s_itable_.find(ino);
  if (found == nullptr) return {0, 0};
  const Inode& inode = *found;
  // The pin the client's lookups share is not one of the pins counted here.
  return {inode.i_count.load() - (inode.i_nlookup != 0 ? 1 : 0), inode.i_nlookup};
}

std::vector<Ino> SuperBlock::all_inos() const {
  locking::SpinGuard g(s_inode_lock);
  std::vector<Ino> out;
  out.reserve(s_itable_.size());
  for (const Inode* inode : s_itable_.all()) out.push_back(inode->i_ino);
  std::sort(out.begin(), out.end());
  return out;
}

size_t SuperBlock::inode_hash_bucket(Ino ino) const {
  locking::SpinGuard g(s_inode_lock);
  return s_itable_.bucket_of(ino);
}

size_t SuperBlock::inode_hash_buckets() const {
  locking::SpinGuard g(s_inode_lock);
  return s_itable_.bucket_count();
}

Inode* SuperBlock::find_unlocked_for_check(Ino ino) const {
  locking::SpinGuard g(s_inode_lock);
  return s_itable_.find(ino);
}

void SuperBlock::file_opened(File* f) {
  locking::SpinGuard g(s_inode_lock);
  s_files_.insert(f);
}

void SuperBlock::file_released(File* f) {
  locking::SpinGuard g(s_inode_lock);
  s_files_.erase(f);
}

}  // namespace lockfs::core

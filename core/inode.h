// Inode: attributes, link count, xattrs, and the type's payload (directory entries, symlink
// target or page cache), with the locks the contract puts on them (i_rwsem, i_lock, flc_lock).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/dir_seq_index.h"
#include "core/dentry.h"
#include "core/file_lock.h"
#include "core/inode_attr.h"
#include "core/name_hash.h"
#include "core/pagecache/address_space.h"
#include "core/vfs.h"
#include "locking/mutex.h"
#include "locking/rcu.h"
#include "locking/rwsem.h"

namespace lockfs::core {

class SuperBlock;

// Directory entries. Readdir offsets: 0 ".", 1 "..", then each entry's sequence number
// (>= kFirstEntrySeq, never reused), so a cursor stays valid across concurrent unlinks.
inline constexpr uint64_t kFirstEntrySeq = 3;
//
// by_name is hashed, as the kernel's dcache is (d_lookup hashes the name): a lookup in a
// 10k-entry directory is one hash and a compare, not 14 string compares down a tree. The hash
// is keyed (name_hash.h), so nobody can choose names that share a bucket. Its key is a view of
// the dentry's own d_name, which stays put while the entry is in the map: d_move, d_name's
// only writer, runs on a dentry remove_entry has taken out. So a name is stored once.
struct DirEntries {
  std::unordered_map<std::string_view, std::unique_ptr<Dentry>, NameHash> by_name;
  DirSeqIndex by_seq;
  uint64_t next_seq = kFirstEntrySeq;
  bool dead = false;  // IS_DEADDIR: removed by rmdir, no new entries
};

using XattrMap = std::map<std::string, std::string, std::less<>>;
// An inode's xattrs and the bytes they take (names + values, bounded per inode).
struct Xattrs {
  XattrMap map;
  size_t bytes = 0;
};

struct timespec current_time();
// The wall clock's second, from the coarse clock (a tick behind at most): for rules that
// look at seconds only, such as relatime's.
time_t current_seconds();

// Thread safety: see each field. Lifetime: owned by the superblock's inode table; a pointer
// is valid while the holder has a pin (i_count, see SuperBlock::iget), a lookup count, or holds
// a lock that keeps a link to it (the parent's i_rwsem). Evicted, it is freed by RCU
// (call_rcu): an RCU reader that found it in the table may still read its number and count.
class Inode {
 public:
  Inode(SuperBlock& sb, Ino ino, uint64_t generation, const InodeAttr& attr);
  ~Inode();
  Inode(const Inode&) = delete;
  Inode& operator=(const Inode&) = delete;

  SuperBlock& i_sb;
  const Ino i_ino;
  const uint64_t i_generation;
  const mode_t i_type;  // mode & S_IFMT, constant

  bool is_dir() const { return i_type == S_IFDIR; }
  bool is_reg() const { return i_type == S_IFREG; }
  bool is_lnk() const { return i_type == S_IFLNK; }

  // i_rwsem: the directory's entries; a regular file's data and size against writers.
  locking::RwSemaphore i_rwsem;
  mutable locking::SpinLock i_lock;

  // xattrs: set/remove hold i_rwsem exclusive ("set: exclusive") and i_lock; get and list
  // ("no") copy under i_lock. Null until the first set: most inodes never have one.
  std::unique_ptr<Xattrs> i_xattrs LOCKFS_GUARDED_BY(i_lock);

  // Directories only (null otherwise): the entries, allocated with the inode.
  const std::unique_ptr<DirEntries> i_dir LOCKFS_PT_GUARDED_BY(i_rwsem);
  // Directories: entries in i_dir (getattr's st_size reads it without i_rwsem).
  std::atomic<uint64_t> i_nentries{0};
  // Directories: the parent's inode number (".."). Written with the parents' i_rwsem
  // exclusive inside rename_lock's write side; read under rename_lock's read side (retry).
  std::atomic<Ino> i_parent{0};

  // Symlinks only: the target, constant after creation.
  std::string i_link;
  // Regular files only: the page cache.
  std::unique_ptr<AddressSpace> i_mapping;
  // POSIX and flock locks (flc_lock inside): allocated on the first lock request, as
  // locks_get_lock_context does, since few files are ever locked.
  FileLockContext& flctx();
  // The lock context if one was ever needed (locks_inode_context): an unlock of a file
  // nobody locked has nothing to do and allocates nothing.
  FileLockContext* flctx_if_any() const { return i_flctx_.load(std::memory_order_acquire); }

  // Lifetime counts, guarded by the superblock's inode_hash_lock (SuperBlock::s_inode_lock):
  // i_count = pins (in-flight operations, open files) plus one while i_nlookup is not 0;
  // i_nlookup = lookups the FUSE client holds; i_linkable = a tmpfile that may still be
  // linked (not O_EXCL). i_count is atomic like the kernel's: it goes up from 0 only under
  // the lock, ihold and iget (under RCU) raise a count above 0 without it, and iput drops
  // any pin but the last without it (atomic_dec_and_lock), so a count seen as 0 under the
  // lock stays 0. The client's lookups holding a pin of their own is what lets the pin of a
  // request on an inode the client knows -- almost every request -- come and go without
  // the lock.
  std::atomic<uint64_t> i_count{0};
  uint64_t i_nlookup = 0;
  bool i_linkable = false;
  // The next inode in this one's InodeTable chain (i_hash): changed under inode_hash_lock,
  // walked by RCU readers (SuperBlock::iget).
  std::atomic<Inode*> i_hash_next{nullptr};
  // Queues the inode's memory for RCU's free once it is evicted (SuperBlock::evict).
  locking::RcuHead i_rcu;

 private:
  static void mark_times(InodeAttr& a, unsigned which, const struct timespec& now);
  std::atomic<FileLockContext*> i_flctx_{nullptr};
  // Attributes. Written whole with i_lock held (set_attr_locked) and i_rwsem exclusive --
  // except atime and the link count, which may move under i_lock alone; read with no lock
  // (attr(): "getattr: no").
  AttrStore i_attr_;

 public:
  // A consistent snapshot of the attributes, with no lock (AttrStore::load).
  InodeAttr attr() const { return i_attr_.load(); }
  // The attributes as their writers see them, and their replacement (i_lock held): every
  // change is a read, an edit and a set_attr_locked in one i_lock section.
  InodeAttr attr_locked() const LOCKFS_REQUIRES(i_lock) { return i_attr_.load_locked(i_lock); }
  void set_attr_locked(const InodeAttr& a) LOCKFS_REQUIRES(i_lock) { i_attr_.store(i_lock, a); }
  // What permission checks read -- mode, uid, gid, chattr flags; the other fields zero --
  // as the kernel's inode_permission reads i_mode, i_uid, i_gid and i_flags with no lock. A
  // reader may see one concurrent change and not yet another, as there; a caller that needs
  // them stable holds i_rwsem, which chmod, chown and chattr take.
  InodeAttr perm_attr() const;
  // relatime's question (relatime_sec_of) of the attributes, answered by their last writer:
  // asked with no lock, as atime_needs_update asks it, so a read racing a write may miss
  // that write's update, as in the kernel.
  int64_t relatime_sec() const { return i_attr_.relatime_sec(); }
  // stat(2) view of the inode (no lock; st_blocks from the pages present).
  struct stat getattr() const;
  unsigned flags() const { return static_cast<unsigned>(i_attr_.mode_flags() >> 32); }
  nlink_t nlink() const { return i_attr_.nlink(); }
  uint64_t size() const { return i_attr_.size(); }

  // Marks mtime and ctime (kTimeMC), ctime only (kTimeC) with the current time.
  enum TimeWhich : unsigned { kTimeA = 1, kTimeM = 2, kTimeC = 4, kTimeMC = 6 };
  void touch(unsigned which) LOCKFS_EXCLUDES(i_lock);
  // nlink += delta (i_lock). Locking: i_rwsem exclusive of this inode or its parent (caller).
  // `which` (TimeWhich bits) also marks those times now, in the same i_lock section.
  void add_nlink(int delta, unsigned which = 0) LOCKFS_EXCLUDES(i_lock);
  // clear_nlink: no links left, read and zeroed in one i_lock section. Locking: as add_nlink.
  void clear_nlink() LOCKFS_EXCLUDES(i_lock);
  // security_inode_killpriv: drops the security.capability xattr, as a write, truncate or
  // chown must (the FUSE client leaves it to us under HANDLE_KILLPRIV_V2). Locking: i_rwsem
  // exclusive (the xattr "set" row) and i_lock (caller).
  void kill_priv_locked() LOCKFS_REQUIRES(i_lock);
};

// Pins an inode for the scope (iput on destruction). Move-only.
class InodeRef {
 public:
  InodeRef() = default;
  InodeRef(SuperBlock* sb, Inode* inode) : sb_(sb), inode_(inode) {}
  ~InodeRef() { reset(); }
  InodeRef(InodeRef&& o) noexcept : sb_(o.sb_), inode_(o.inode_) { o.inode_ = nullptr; }
  InodeRef& operator=(InodeRef&& o) noexcept;
  InodeRef(const InodeRef&) = delete;
  InodeRef& operator=(const InodeRef&) = delete;

  Inode* get() const { return inode_; }
  // Hands the pin over to the caller (an open file keeps it until release).
  Inode* release() {
    Inode* i = inode_;
    inode_ = nullptr;
    return i;
  }
  Inode* operator->() const { return inode_; }
  explicit operator bool() const { return inode_ != nullptr; }
  void reset();

 private:
  SuperBlock* sb_ = nullptr;
  Inode* inode_ = nullptr;
};

}  // namespace lockfs::core

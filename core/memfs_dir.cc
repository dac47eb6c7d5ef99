// memfs namespace methods: entries of directories, links, rename, readdir, eviction.
#include <algorithm>
#include <chrono>
#include <thread>

#include "core/memfs.h"
#include "core/namei.h"

namespace lockfs::core::memfs {

using contract::LockId;
using contract::Role;
using locking::Mode;

namespace {

const locking::LockMap* rw(const Inode* i) { return i ? &i->i_rwsem.map() : nullptr; }

const Contract& cx(const Inode* i) { return contract_of(i->i_sb); }

// Adds an entry under the dentry's own name. Locking: dir's i_rwsem exclusive (callers
// asserted it).
// Either both indexes have the entry or, when an allocation throws, neither does (and the
// dentry is freed): by_seq must never point at a dentry by_name does not own.
void add_entry(Inode* dir, std::unique_ptr<Dentry> d) LOCKFS_REQUIRES(dir->i_rwsem) {
  Dentry* raw = d.get();
  auto [it, added] = dir->i_dir->by_name.emplace(raw->name_under_parent(), std::move(d));
  LOCKFS_CHECK(added, "add_entry: the name is taken");
  try {
    dir->i_dir->by_seq.append(raw->d_seq, raw);
  } catch (...) {
    dir->i_dir->by_name.erase(it);
    throw;
  }
  dir->i_nentries.fetch_add(1, std::memory_order_relaxed);
}

void new_entry(Inode* dir, std::string_view name, Inode* inode) LOCKFS_REQUIRES(dir->i_rwsem) {
  add_entry(dir, std::make_unique<Dentry>(name, dir, inode, dir->i_dir->next_seq++));
}

using NameNode = decltype(DirEntries::by_name)::node_type;

// Room for `n` more entries in both indexes, so that attaching them cannot allocate. Rename
// calls it before it changes anything: past that point nothing may fail halfway.
// Grows only, and geometrically, and only when the table is full: reserve(size() + n) would
// rebuild a table that has shrunk below its bucket count (an O(n) rehash for nothing), and
// on a full table it would step to the next prime up, 8% larger, where an insert doubles.
void reserve_entries(Inode* dir, size_t n) LOCKFS_REQUIRES(dir->i_rwsem) {
  auto& m = dir->i_dir->by_name;
  // A table that never held an entry has one static bucket and no room at all.
  const auto room =
      m.bucket_count() > 1
          ? static_cast<size_t>(static_cast<double>(m.bucket_count()) * m.max_load_factor())
          : 0;
  if (m.size() + n > room) m.reserve(std::max(m.size() + n, 2 * room));
  dir->i_dir->by_seq.reserve(n);
}

// The bucket array does not shrink by itself: a directory that once held 100k entries would
// keep 800 KB of them. Rehash down when it is mostly empty (amortised, as growth is). It
// allocates, so callers run it after their change is complete, and a failure keeps the
// larger table.
void maybe_shrink(Inode* dir) LOCKFS_REQUIRES(dir->i_rwsem) {
  if (auto& m = dir->i_dir->by_name; m.bucket_count() > 64 && m.size() * 8 < m.bucket_count()) {
    try {
      m.rehash(0);
    } catch (const std::bad_alloc&) {
    }
  }
}

// Takes `d` out of both indexes; the node keeps the dentry for d_move. Never allocates.
NameNode detach_entry(Inode* dir, Dentry* d) LOCKFS_REQUIRES(dir->i_rwsem) {
  auto it = dir->i_dir->by_name.find(d->name_under_parent());
  LOCKFS_CHECK(it != dir->i_dir->by_name.end() && it->second.get() == d,
               "detach_entry: dentry not in its parent");
  NameNode node = dir->i_dir->by_name.extract(it);
  const bool indexed = dir->i_dir->by_seq.remove(d->d_seq);
  LOCKFS_CHECK(indexed, "detach_entry: dentry not in its parent's readdir index");
  dir->i_nentries.fetch_sub(1, std::memory_order_relaxed);
  return node;
}

// Removes `d` from dir for good (unlink, rmdir) and frees it.
void remove_entry(Inode* dir, Dentry* d) LOCKFS_REQUIRES(dir->i_rwsem) {
  detach_entry(dir, d);
  maybe_shrink(dir);
}

// d_move: renames the dentry into `to` under `name`, with a fresh readdir sequence number
// (a moved entry is a new entry for readdir cursors). Locking: both directories exclusive.
// Allocates nothing once reserve_entries(to, ...) made room: the name is moved in, the node
// is relinked. noexcept: with the validator on, d_lock's first acquisition in a new lock chain
// allocates in the lock graph, and if that fails the daemon stops here rather than unwind a
// rename half done, with its dentry freed and its locks still held.
void d_move(NameNode node, Inode* to, std::string&& name) noexcept LOCKFS_REQUIRES(to->i_rwsem) {
  Dentry* d = node.mapped().get();
  {
    locking::SpinGuard g(d->d_lock);
    d->d_name = std::move(name);
    d->d_parent.store(to, std::memory_order_relaxed);
    d->d_seq = to->i_dir->next_seq++;
  }
  node.key() = d->name_under_parent();
  const size_t buckets = to->i_dir->by_name.bucket_count();
  const bool added = to->i_dir->by_name.insert(std::move(node)).inserted;
  LOCKFS_CHECK(added, "d_move: the name is taken");
  LOCKFS_CHECK(to->i_dir->by_name.bucket_count() == buckets,
               "d_move: the table grew (reserve_entries left no room)");
  to->i_dir->by_seq.append(d->d_seq, d);
  to->i_nentries.fetch_add(1, std::memory_order_relaxed);
}

// A directory leaves the tree (rmdir, or replaced by rename): no entries may be added to it,
// and ".." walks from it find no ancestor.
void make_dead_dir(Inode* victim) LOCKFS_REQUIRES(victim->i_rwsem) {
  victim->i_dir->dead = true;
  victim->clear_nlink();
  SuperBlock& sb = victim->i_sb;
  sb.rename_lock.write_seqlock();
  victim->i_parent.store(0, std::memory_order_relaxed);
  sb.rename_lock.write_sequnlock();
}

}  // namespace

Dentry* lookup(Inode* dir, std::string_view name) {
  ContractScope scope(cx(dir), Op::kLookup,
                      {{Role::kDir, LockId::kIRwsem, rw(dir)},
                       {Role::kInode, LockId::kIRwsem, rw(dir)}});
  dir->i_rwsem.assert_held(Mode::kShared);
  if (const uint32_t us = dir->i_sb.s_opts.lookup_latency_us) {
    std::this_thread::sleep_for(std::chrono::microseconds(us));
  }
  return d_lookup(dir, name);
}

Result<void> create(Op op, Inode* dir, std::string_view name, Inode* inode) {
  ContractScope scope(cx(dir), op,
                      {{Role::kDir, LockId::kIRwsem, rw(dir)},
                       {Role::kInode, LockId::kIRwsem, rw(dir)}});
  dir->i_rwsem.assert_held_exclusive();
  if (dir->i_dir->dead) return err(-ENOENT);
  if (d_lookup(dir, name) != nullptr) return err(-EEXIST);
  new_entry(dir, name, inode);
  if (inode->is_dir()) {
    // Not reachable by any walker before the entry above: a plain store is enough.
    inode->i_parent.store(dir->i_ino, std::memory_order_relaxed);
    dir->add_nlink(1);  // the new directory's ".."
  }
  dir->touch(Inode::kTimeMC);
  return {};
}

Result<void> link(Inode* inode, Inode* dir, std::string_view name) {
  ContractScope scope(cx(dir), Op::kLink,
                      {{Role::kDir, LockId::kIRwsem, rw(dir)},
                       {Role::kSource, LockId::kIRwsem, rw(inode)},
                       {Role::kInode, LockId::kIRwsem, rw(inode)}});
  dir->i_rwsem.assert_held_exclusive();
  inode->i_rwsem.assert_held_exclusive();
  if (dir->i_dir->dead) return err(-ENOENT);
  if (d_lookup(dir, name) != nullptr) return err(-EEXIST);
  new_entry(dir, name, inode);
  inode->add_nlink(1, Inode::kTimeC);
  dir->touch(Inode::kTimeMC);
  return {};
}

Result<void> unlink(Inode* dir, Dentry* victim) {
  Inode* inode = victim->d_inode;
  ContractScope scope(cx(dir), Op::kUnlink,
                      {{Role::kDir, LockId::kIRwsem, rw(dir)},
                       {Role::kVictim, LockId::kIRwsem, rw(inode)},
                       {Role::kNonDirs, LockId::kIRwsem, rw(inode)}});
  dir->i_rwsem.assert_held_exclusive();
  inode->i_rwsem.assert_held_exclusive();
  remove_entry(dir, victim);
  inode->add_nlink(-1, Inode::kTimeC);
  dir->touch(Inode::kTimeMC);
  return {};
}

Result<void> rmdir(Inode* dir, Dentry* victim) {
  Inode* inode = victim->d_inode;
  ContractScope scope(cx(dir), Op::kRmdir,
                      {{Role::kDir, LockId::kIRwsem, rw(dir)},
                       {Role::kVictim, LockId::kIRwsem, rw(inode)}});
  dir->i_rwsem.assert_held_exclusive();
  inode->i_rwsem.assert_held_exclusive();
  if (!inode->i_dir->by_name.empty()) return err(-ENOTEMPTY);
  remove_entry(dir, victim);
  make_dead_dir(inode);
  inode->touch(Inode::kTimeC);
  dir->add_nlink(-1, Inode::kTimeMC);
  return {};
}

Result<void> rename(const RenameReq& r) {
  Inode* src = r.old_dentry->d_inode;
  Inode* tgt = r.new_dentry ? r.new_dentry->d_inode : nullptr;
  const bool exchange = r.flags & RENAME_EXCHANGE;
  const bool cross = r.old_dir != r.new_dir;
  const Inode* victim = exchange ? nullptr : tgt;
  const Inode* moved1 = cross && src->is_dir() ? src : nullptr;
  const Inode* moved2 = cross && exchange && tgt && tgt->is_dir() ? tgt : nullptr;
  ContractScope scope(
      cx(r.old_dir), Op::kRename,
      {{Role::kParents, LockId::kIRwsem, rw(r.old_dir)},
       {Role::kParents, LockId::kIRwsem, rw(r.new_dir)},
       {Role::kDir, LockId::kIRwsem, rw(r.old_dir)},
       {Role::kDir, LockId::kIRwsem, rw(r.new_dir)},
       {Role::kVictim, LockId::kIRwsem, rw(victim)},
       {Role::kNonDirs, LockId::kIRwsem, src->is_dir() ? nullptr : rw(src)},
       {Role::kNonDirs, LockId::kIRwsem, tgt && !tgt->is_dir() ? rw(tgt) : nullptr},
       {Role::kMovedDir, LockId::kIRwsem, rw(moved1)},
       {Role::kMovedDir, LockId::kIRwsem, rw(moved2)},
       {Role::kSuperblock, LockId::kSVfsRenameSem, &src->i_sb.s_vfs_rename_sem.map()}},
      cross ? kCondCrossDir : kCondNone);
  r.old_dir->i_rwsem.assert_held_exclusive();
  r.new_dir->i_rwsem.assert_held_exclusive();
  if (cross) src->i_sb.s_vfs_rename_sem.assert_held(Mode::kExclusive);
  if (victim) victim->i_rwsem.assert_held(Mode::kExclusive);
  if (moved1) moved1->i_rwsem.assert_held(Mode::kExclusive);
  if (moved2) moved2->i_rwsem.assert_held(Mode::kExclusive);

  if (victim && tgt->is_dir() && !tgt->i_dir->by_name.empty()) return err(-ENOTEMPTY);

  // Everything that can fail for want of memory happens here, before the first change: a
  // rename is all or nothing even when an allocation throws (the request answers ENOMEM).
  SuperBlock& sb = src->i_sb;
  std::string old_name, new_name;
  try {
    if (exchange) old_name = r.old_dentry->name();  // only an exchange moves a name back
    new_name = r.new_name;
    // (Within one directory an exchange appends both names before by_seq compacts its holes.)
    reserve_entries(r.new_dir, exchange && !cross ? 2 : 1);
    if (exchange && cross) reserve_entries(r.old_dir, 1);
  } catch (const std::bad_alloc&) {
    return err(-ENOMEM);  // nothing changed; the caller unlocks as for any error
  }
  if (exchange) {
    NameNode a = detach_entry(r.old_dir, r.old_dentry);
    NameNode b = detach_entry(r.new_dir, r.new_dentry);
    d_move(std::move(a), r.new_dir, std::move(new_name));
    d_move(std::move(b), r.old_dir, std::move(old_name));
    if (cross) {
      sb.rename_lock.write_seqlock();
      if (src->is_dir()) src->i_parent.store(r.new_dir->i_ino, std::memory_order_relaxed);
      if (tgt->is_dir()) tgt->i_parent.store(r.old_dir->i_ino, std::memory_order_relaxed);
      sb.rename_lock.write_sequnlock();
      const int delta = int(src->is_dir()) - int(tgt->is_dir());
      r.old_dir->add_nlink(-delta);
      r.new_dir->add_nlink(delta);
    }
  } else {
    if (tgt) {
      detach_entry(r.new_dir, r.new_dentry);  // no shrink: it would undo the reservation
      if (tgt->is_dir()) {
        make_dead_dir(const_cast<Inode*>(victim));
        r.new_dir->add_nlink(-1);
      } else {
        tgt->add_nlink(-1);
      }
      tgt->touch(Inode::kTimeC);
    }
    d_move(detach_entry(r.old_dir, r.old_dentry), r.new_dir, std::move(new_name));
    if (cross && src->is_dir()) {
      sb.rename_lock.write_seqlock();
      src->i_parent.store(r.new_dir->i_ino, std::memory_order_relaxed);
      sb.rename_lock.write_sequnlock();
      r.old_dir->add_nlink(-1);
      r.new_dir->add_nlink(1);
    }
  }
  src->touch(Inode::kTimeC);
  if (exchange) tgt->touch(Inode::kTimeC);
  r.old_dir->touch(Inode::kTimeMC);
  if (cross) r.new_dir->touch(Inode::kTimeMC);
  // Done: now a table that lost entries may give buckets back (a directory emptied only by
  // renames out of it, or a replaced name).
  if (cross && !exchange) maybe_shrink(r.old_dir);
  if (victim) maybe_shrink(r.new_dir);
  return {};
}

Result<std::string> readlink(Inode* inode) {
  ContractScope scope(cx(inode), Op::kReadlink, {{Role::kInode, LockId::kIRwsem, rw(inode)}});
  if (!inode->is_lnk()) return err(-EINVAL);
  return inode->i_link;
}

struct stat getattr(Inode* inode) {
  ContractScope scope(cx(inode), Op::kGetattr, {{Role::kInode, LockId::kIRwsem, rw(inode)}});
  struct stat st = inode->getattr();
  if (inode->is_dir()) {
    // tmpfs reports a directory's size as (entries + 2) * BOGO_DIRENT_SIZE, read racily.
    st.st_size = static_cast<off_t>((inode->i_nentries.load(std::memory_order_relaxed) + 2) * 20);
  }
  return st;
}

Result<void> tmpfile(Inode* dir, Inode* inode) {
  ContractScope scope(cx(dir), Op::kTmpfile, {{Role::kDir, LockId::kIRwsem, rw(dir)}});
  // No entry is added: the directory's times do not move.
  return {};
}

Result<void> iterate_shared(File* f, uint64_t off, const FillDir& fill) {
  Inode* dir = f->f_inode;
  ContractScope scope(cx(dir), Op::kIterate,
                      {{Role::kDir, LockId::kIRwsem, rw(dir)},
                       {Role::kInode, LockId::kIRwsem, rw(dir)},
                       {Role::kFile, LockId::kFPosLock, &f->f_pos_lock.map()}});
  dir->i_rwsem.assert_held(Mode::kShared);
  // iterate_dir: a removed directory is -ENOENT (IS_DEADDIR), checked with the lock held.
  if (dir->i_dir->dead) return err(-ENOENT);
  if (off == 0) {
    if (!fill(".", dir, dir->i_ino, 1)) return {};
    off = 1;
  }
  if (off == 1) {
    const Ino parent = dir->i_parent.load(std::memory_order_relaxed);
    if (!fill("..", nullptr, parent, 2)) return {};
    off = 2;
  }
  dir->i_dir->by_seq.for_each_from(
      std::max<uint64_t>(off, kFirstEntrySeq), [&](uint64_t seq, const Dentry* d) {
        return fill(d->name_under_parent(), d->d_inode, d->d_inode->i_ino, seq + 1);
      });
  return {};
}

bool drop_inode(Inode* inode) {
  ContractScope scope(cx(inode), Op::kDropInode,
                      {{Role::kInode, LockId::kILock, &inode->i_lock.map()}});
  inode->i_lock.assert_held();
  return inode->attr_locked().nlink == 0;
}

void evict_inode(Inode* inode) {
  ContractScope scope(cx(inode), Op::kEvictInode, {{Role::kInode, LockId::kIRwsem, rw(inode)}});
  // truncate_inode_pages_final: nobody can reach the inode any more; dropping the mapping
  // frees its folios and uncharges the page budget.
  inode->i_mapping.reset();
}

struct statvfs statfs(SuperBlock& sb) {
  ContractScope scope(sb.s_contract, Op::kStatfs,
                      {{Role::kSuperblock, LockId::kSUmount, &sb.s_umount.map()}});
  struct statvfs st {};
  st.f_bsize = kPageSize;
  st.f_frsize = kPageSize;
  st.f_blocks = sb.s_budget.max_pages();
  const uint64_t used = sb.s_budget.used();
  st.f_bfree = st.f_bavail = st.f_blocks > used ? st.f_blocks - used : 0;
  st.f_files = sb.s_max_inodes;
  const uint64_t inodes = sb.nr_inodes();
  st.f_ffree = st.f_favail = sb.s_max_inodes > inodes ? sb.s_max_inodes - inodes : 0;
  st.f_namemax = kNameMax;
  return st;
}

}  // namespace lockfs::core::memfs

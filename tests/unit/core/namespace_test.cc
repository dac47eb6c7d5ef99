// vfs lookup/mknod/mkdir/symlink/link/unlink/rmdir: results, errnos, and the exact locks
// taken compared with the contract row and directory-locking.rst's order.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "core/fsck.h"
#include "core/inode.h"
#include "core/super.h"
#include "core/vfs.h"
#include "locking/contract.h"
#include "locking/rcu.h"
#include "locking/sync_point.h"
#include "tests/support/core_fixture.h"

namespace lockfs::testing {
namespace {

using core::kRootIno;
using locking::Mode;
using locking::Subclass;
namespace ct = locking::contract;

// The mode the row requires of (role, i_rwsem) in the current profile.
Mode row_mode(const char* op, ct::Role role) {
  const ct::Row* row = ct::find_row(ct::Profile::kCurrent, "inode_operations", op);
  EXPECT_NE(row, nullptr) << op;
  if (row == nullptr) return Mode::kShared;
  return ct::required(*row, role, ct::LockId::kIRwsem) == ct::Req::kExclusive ? Mode::kExclusive
                                                                                : Mode::kShared;
}

class NamespaceTest : public CoreTest {};

TEST_F(NamespaceTest, MkdirLocksParentExclusiveAndCountsLinks) {
  core::Ino a = 0;
  auto ev = record_locks([&] {
    auto r = vfs->mkdir(kRootIno, "a", 0755);
    ASSERT_TRUE(r.ok());
    a = r->ino;
    EXPECT_TRUE(S_ISDIR(r->attr.st_mode));
    EXPECT_EQ(r->attr.st_nlink, 2u);
  });
  ASSERT_EQ(ev.size(), 1u) << format_events(ev);
  EXPECT_EQ(ev[0].cls, "i_rwsem(dir)");
  EXPECT_EQ(ev[0].object, kRootIno);
  EXPECT_EQ(ev[0].mode, row_mode("mkdir", ct::Role::kDir));
  EXPECT_EQ(ev[0].sub, Subclass::kParent);
  EXPECT_EQ(stat_of(kRootIno).st_nlink, 3u);  // 2 + one subdirectory
  vfs->forget(a, 1);
}

TEST_F(NamespaceTest, LookupTakesDirectoryShared) {
  const core::Ino a = mkdir(kRootIno, "a");
  auto ev = record_locks([&] {
    auto r = vfs->lookup(kRootIno, "a");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->ino, a);
    vfs->forget(a, 1);
  });
  ASSERT_EQ(ev.size(), 1u) << format_events(ev);
  EXPECT_EQ(ev[0].object, kRootIno);
  EXPECT_EQ(ev[0].mode, Mode::kShared);
  EXPECT_EQ(ev[0].mode, row_mode("lookup", ct::Role::kDir));
}

TEST_F(NamespaceTest, LookupErrors) {
  const core::Ino f = mkfile(kRootIno, "f");
  EXPECT_EQ(vfs->lookup(kRootIno, "missing").error(), -ENOENT);
  EXPECT_EQ(vfs->lookup(f, "x").error(), -ENOTDIR);
  EXPECT_EQ(vfs->lookup(kRootIno, std::string(256, 'n')).error(), -ENAMETOOLONG);
  EXPECT_EQ(vfs->lookup(9999, "x").error(), -ENOENT);
  const core::Ino d = mkdir(kRootIno, "locked", 0700);
  AsUser user(1000, 1000);
  EXPECT_EQ(vfs->lookup(d, "x").error(), -EACCES);
}

TEST_F(NamespaceTest, CreateErrorsLeaveNothingBehind) {
  mkfile(kRootIno, "f");
  EXPECT_EQ(vfs->mkdir(kRootIno, "f", 0755).error(), -EEXIST);
  EXPECT_EQ(vfs->mknod(kRootIno, ".", S_IFREG | 0644, 0).error(), -EEXIST);
  EXPECT_EQ(vfs->mkdir(kRootIno, std::string(256, 'x'), 0755).error(), -ENAMETOOLONG);
  EXPECT_TRUE(vfs->mkdir(kRootIno, std::string(255, 'x'), 0755).ok());
  EXPECT_EQ(vfs->mknod(kRootIno, "dir", S_IFDIR | 0755, 0).error(), -EPERM);
  EXPECT_EQ(vfs->symlink(kRootIno, "l", "").error(), -ENOENT);
  const core::Ino d = mkdir(kRootIno, "ro", 0555);
  {
    AsUser user(1000, 1000);
    EXPECT_EQ(vfs->mkdir(d, "x", 0755).error(), -EACCES);
    EXPECT_EQ(vfs->mknod(d, "c", S_IFCHR | 0644, makedev(1, 3)).error(), -EPERM);
  }
  const uint64_t live = vfs->live_inodes();
  EXPECT_EQ(vfs->mkdir(d + 1000, "x", 0755).error(), -ENOENT);
  EXPECT_EQ(vfs->live_inodes(), live);
}

TEST_F(NamespaceTest, InodeLimitIsEnospcAndNothingHalfCreated) {
  core::MountOptions opts;
  opts.size_bytes = 1 << 20;
  opts.nr_inodes = 3;  // root + 2
  remount(opts);
  mkfile(kRootIno, "a");
  mkfile(kRootIno, "b");
  EXPECT_EQ(vfs->mkdir(kRootIno, "c", 0755).error(), -ENOSPC);
  EXPECT_EQ(vfs->lookup(kRootIno, "c").error(), -ENOENT);
  EXPECT_EQ(stat_of(kRootIno).st_nlink, 2u);
  ASSERT_TRUE(vfs->unlink(kRootIno, "a").ok());
  EXPECT_TRUE(vfs->mkdir(kRootIno, "c", 0755).ok());
}

TEST_F(NamespaceTest, SymlinkAndReadlink) {
  auto r = vfs->symlink(kRootIno, "l", "target/path");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(S_ISLNK(r->attr.st_mode));
  EXPECT_EQ(r->attr.st_size, 11);
  EXPECT_EQ(*vfs->readlink(r->ino), "target/path");
  EXPECT_EQ(vfs->readlink(kRootIno).error(), -EINVAL);
}

TEST_F(NamespaceTest, LinkLocksParentThenSource) {
  const core::Ino f = mkfile(kRootIno, "f");
  const core::Ino d = mkdir(kRootIno, "d");
  auto ev = record_locks([&] {
    auto r = vfs->link(f, d, "g");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->attr.st_nlink, 2u);
  });
  ASSERT_EQ(ev.size(), 2u) << format_events(ev);
  EXPECT_EQ(ev[0].cls, "i_rwsem(dir)");
  EXPECT_EQ(ev[0].object, d);
  EXPECT_EQ(ev[0].mode, row_mode("link", ct::Role::kDir));
  EXPECT_EQ(ev[1].cls, "i_rwsem(reg)");
  EXPECT_EQ(ev[1].object, f);
  EXPECT_EQ(ev[1].mode, row_mode("link", ct::Role::kSource));
  EXPECT_EQ(vfs->link(d, kRootIno, "dd").error(), -EPERM);
  EXPECT_EQ(vfs->link(f, d, "g").error(), -EEXIST);
}

TEST_F(NamespaceTest, UnlinkLocksParentThenVictimAndEvicts) {
  const core::Ino f = mkfile(kRootIno, "f");
  const uint64_t live = vfs->live_inodes();
  auto ev = record_locks([&] { ASSERT_TRUE(vfs->unlink(kRootIno, "f").ok()); });
  ASSERT_EQ(ev.size(), 2u) << format_events(ev);
  EXPECT_EQ(ev[0].object, kRootIno);
  EXPECT_EQ(ev[0].sub, Subclass::kParent);
  EXPECT_EQ(ev[0].mode, row_mode("unlink", ct::Role::kDir));
  EXPECT_EQ(ev[1].object, f);
  EXPECT_EQ(ev[1].mode, row_mode("unlink", ct::Role::kVictim));
  EXPECT_EQ(vfs->live_inodes(), live - 1);  // no link, lookup or open file: evicted
  EXPECT_EQ(vfs->getattr(f).error(), -ENOENT);
}

TEST_F(NamespaceTest, UnlinkErrors) {
  mkdir(kRootIno, "d");
  EXPECT_EQ(vfs->unlink(kRootIno, "d").error(), -EISDIR);
  EXPECT_EQ(vfs->unlink(kRootIno, "nope").error(), -ENOENT);
  EXPECT_EQ(vfs->unlink(kRootIno, "..").error(), -EISDIR);
}

// A directory's name table is keyed by views of its dentries' own names: renames move a
// name without leaving a stale key behind, and a table emptied of thousands of names gives its
// buckets back. Names longer than the inline string buffer, so each lives on the heap.
TEST_F(NamespaceTest, ALargeDirectoryKeepsRenamedNamesAndShrinksWhenEmptied) {
  const core::Ino d = mkdir(kRootIno, "d");
  constexpr int kFiles = 3000;
  auto name = [](const char* prefix, int i) {
    return fmt::format("{}-{:06}-a-long-name", prefix, i);
  };
  for (int i = 0; i < kFiles; ++i) mkfile(d, name("file", i));
  for (int i = 0; i < kFiles; i += 2) {
    ASSERT_TRUE(vfs->rename(d, name("file", i), d, name("moved", i), 0).ok()) << i;
  }
  for (int i = 0; i < kFiles; ++i) {
    const bool moved = i % 2 == 0;
    auto old_name = vfs->lookup(d, name("file", i));
    if (moved) {
      EXPECT_EQ(old_name.error(), -ENOENT) << i;
      auto e = vfs->lookup(d, name("moved", i));
      ASSERT_TRUE(e.ok()) << i;
      vfs->forget(e->ino, 1);
    } else {
      ASSERT_TRUE(old_name.ok()) << i;
      vfs->forget(old_name->ino, 1);
    }
  }
  core::FsckReport rep = core::check_namespace(vfs->sb());
  EXPECT_TRUE(rep.ok()) << rep.summary();

  core::Inode* dir = vfs->sb().find_unlocked_for_check(d);
  ASSERT_NE(dir, nullptr);
  auto buckets = [dir] {
    locking::ReadGuard g(dir->i_rwsem);
    return dir->i_dir->by_name.bucket_count();
  };
  EXPECT_GE(buckets(), size_t{kFiles});
  for (int i = 0; i < kFiles; ++i) {
    ASSERT_TRUE(vfs->unlink(d, name(i % 2 == 0 ? "moved" : "file", i)).ok()) << i;
  }
  EXPECT_LE(buckets(), size_t{64 * 8});
  rep = core::check_namespace(vfs->sb());
  EXPECT_TRUE(rep.ok()) << rep.summary();
  EXPECT_TRUE(vfs->rmdir(kRootIno, "d").ok());
}

// Rename relinks the dentry itself from one table to the other (after reserving room in the
// target first, so that it cannot fail halfway): exchanges within a directory and across two,
// and renames that replace a name, leave every name on the right inode and both tables whole.
TEST_F(NamespaceTest, ExchangesAndReplacingRenamesKeepTheTablesWhole) {
  const core::Ino a = mkdir(kRootIno, "a");
  const core::Ino b = mkdir(kRootIno, "b");
  auto name = [](int i) { return fmt::format("entry-{:04}-with-a-heap-allocated-name", i); };
  std::map<std::string, core::Ino> ino;
  for (int i = 0; i < 200; ++i) {
    ino["a/" + name(i)] = mkfile(a, name(i));
    ino["b/" + name(i)] = mkfile(b, name(i));
  }
  auto at = [&](const std::string& path) { return ino_of("/" + path); };

  ASSERT_TRUE(vfs->rename(a, name(0), a, name(1), RENAME_EXCHANGE).ok());
  EXPECT_EQ(at("a/" + name(0)), ino["a/" + name(1)]);
  EXPECT_EQ(at("a/" + name(1)), ino["a/" + name(0)]);
  ASSERT_TRUE(vfs->rename(a, name(2), b, name(2), RENAME_EXCHANGE).ok());
  EXPECT_EQ(at("a/" + name(2)), ino["b/" + name(2)]);
  EXPECT_EQ(at("b/" + name(2)), ino["a/" + name(2)]);
  ASSERT_TRUE(vfs->rename(a, name(3), b, name(3), 0).ok());
  EXPECT_EQ(at("a/" + name(3)), 0u);
  EXPECT_EQ(at("b/" + name(3)), ino["a/" + name(3)]);
  ASSERT_TRUE(vfs->rename(b, name(4), b, name(5), 0).ok());
  EXPECT_EQ(at("b/" + name(4)), 0u);
  EXPECT_EQ(at("b/" + name(5)), ino["b/" + name(4)]);
  ASSERT_TRUE(vfs->rename(b, name(6), a, "short", 0).ok());  // a heap name to an inline one
  EXPECT_EQ(at("a/short"), ino["b/" + name(6)]);

  const core::FsckReport rep = core::check_namespace(vfs->sb());
  EXPECT_TRUE(rep.ok()) << rep.summary();
  EXPECT_EQ(stat_of(a).st_nlink, 2u);
  EXPECT_EQ(stat_of(b).st_nlink, 2u);
}

// A rename reserves room in the target's table without rebuilding a table that has room and
// grows a full one geometrically, and the table a rename empties gives its buckets back once
// the rename is done.
TEST_F(NamespaceTest, RenamesReserveWithoutRebuildingAndShrinkWhatTheyEmpty) {
  const core::Ino from = mkdir(kRootIno, "from");
  const core::Ino to = mkdir(kRootIno, "to");
  auto name = [](int i) { return fmt::format("n{:05}", i); };
  constexpr int kFiles = 3000, kMoved = 800;  // within the test mount's inode limit
  for (int i = 0; i < kFiles; ++i) mkfile(to, name(i));
  auto buckets = [this](core::Ino ino) {
    core::Inode* dir = vfs->sb().find_unlocked_for_check(ino);
    locking::ReadGuard g(dir->i_rwsem);
    return dir->i_dir->by_name.bucket_count();
  };
  // `to` keeps its 3000-name table while it holds fewer names (not yet 1/8 of its buckets).
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(vfs->unlink(to, name(i)).ok()) << i;
  const size_t to_buckets = buckets(to);
  ASSERT_GE(to_buckets, size_t{kFiles});
  for (int i = 0; i < kMoved; ++i) mkfile(from, name(i));
  ASSERT_GE(buckets(from), size_t{kMoved});
  for (int i = 0; i < kMoved; ++i) {
    ASSERT_TRUE(vfs->rename(from, name(i), to, "moved-" + name(i), 0).ok()) << i;
    if (i < 500) {
      ASSERT_EQ(buckets(to), to_buckets) << "rename " << i << " rebuilt the table";
    }
  }
  EXPECT_LE(buckets(from), size_t{64 * 8});
  // Renames into a directory that fills up grow its table geometrically, as inserts do:
  // about log2(800) rebuilds, not one every few renames.
  const core::Ino grow = mkdir(kRootIno, "grow");
  int rebuilds = 0;
  for (int i = 0; i < kMoved; ++i) {
    const size_t before = buckets(grow);
    ASSERT_TRUE(vfs->rename(to, "moved-" + name(i), grow, name(i), 0).ok()) << i;
    rebuilds += buckets(grow) != before;
  }
  EXPECT_LE(rebuilds, 16);
  const core::FsckReport rep = core::check_namespace(vfs->sb());
  EXPECT_TRUE(rep.ok()) << rep.summary();
}

TEST_F(NamespaceTest, LookedUpInodeSurvivesUnlinkUntilForget) {
  mkfile(kRootIno, "f");
  auto e = vfs->lookup(kRootIno, "f");
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(vfs->unlink(kRootIno, "f").ok());
  auto st = vfs->getattr(e->ino);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->st_nlink, 0u);
  vfs->forget(e->ino, 1);
  EXPECT_EQ(vfs->getattr(e->ino).error(), -ENOENT);
}

// The client's lookups hold a pin of their own, so a request's pin on an inode the client
// knows is never the first nor the last: iget finds the inode under RCU and raises its count,
// and the pin drops, both without inode_hash_lock.
TEST_F(NamespaceTest, ARequestOnAKnownInodeTakesNoInodeTableLock) {
  mkfile(kRootIno, "f");
  // A lookup pins the directory (the root: pinned for good) and counts the lookup it replies
  // with, under the lock; that count's pin keeps the child for the rest of the request.
  Result<core::EntryOut> e = err(-1);
  auto lookup_ev = record_locks([&] { e = vfs->lookup(kRootIno, "f"); }, {"inode_hash_lock"});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(lookup_ev.size(), 1u) << format_events(lookup_ev);
  auto ev = record_locks([&] { ASSERT_TRUE(vfs->getattr(e->ino).ok()); }, {"inode_hash_lock"});
  EXPECT_EQ(ev.size(), 0u) << format_events(ev);
  EXPECT_EQ(vfs->sb().counts(e->ino), std::make_pair(uint64_t{0}, uint64_t{1}));
  // The last lookup's forget drops that pin; unlinked, the inode goes with it.
  ASSERT_TRUE(vfs->unlink(kRootIno, "f").ok());
  EXPECT_EQ(vfs->sb().counts(e->ino), std::make_pair(uint64_t{0}, uint64_t{1}));
  const uint64_t before = vfs->sb().nr_inodes();
  vfs->forget(e->ino, 1);
  EXPECT_EQ(vfs->sb().nr_inodes(), before - 1);
  EXPECT_EQ(vfs->sb().counts(e->ino), std::make_pair(uint64_t{0}, uint64_t{0}));
  EXPECT_EQ(vfs->getattr(e->ino).error(), -ENOENT);
}

// An inode nobody pins -- linked, but the client forgot it -- is found under the lock.
TEST_F(NamespaceTest, AnUnpinnedInodeIsFoundUnderTheLock) {
  const core::Ino f = mkfile(kRootIno, "f");
  EXPECT_EQ(vfs->sb().counts(f), std::make_pair(uint64_t{0}, uint64_t{0}));
  auto ev = record_locks([&] { ASSERT_TRUE(vfs->getattr(f).ok()); }, {"inode_hash_lock"});
  // The pin from 0 under the lock; dropping it, the last pin, asks eviction under it again.
  EXPECT_EQ(ev.size(), 2u) << format_events(ev);
}

// A rename within one directory pins it twice, and takes inode_hash_lock for neither (as over
// FUSE, the client has looked up the directory and the file: no pin starts from 0).
TEST_F(NamespaceTest, ARenameWithinOneDirectoryTakesNoInodeTableLock) {
  mkdir(kRootIno, "d");
  Result<core::EntryOut> d = vfs->lookup(kRootIno, "d");
  ASSERT_TRUE(d.ok());
  mkfile(d->ino, "a");
  Result<core::EntryOut> a = vfs->lookup(d->ino, "a");
  ASSERT_TRUE(a.ok());
  auto ev = record_locks([&] { ASSERT_TRUE(vfs->rename(d->ino, "a", d->ino, "b", 0).ok()); },
                         {"inode_hash_lock"});
  EXPECT_EQ(ev.size(), 0u) << format_events(ev);
  EXPECT_EQ(vfs->lookup(d->ino, "a").error(), -ENOENT);
  // Both of the rename's pins on the directory are gone again.
  EXPECT_EQ(vfs->sb().counts(d->ino), std::make_pair(uint64_t{0}, uint64_t{1}));
  vfs->forget(a->ino, 1);
  vfs->forget(d->ino, 1);
}

// Runs `work` on a thread of its own that stops the first time it reaches sync point
// `point`, until release(). release() also runs on destruction, so a failing test never
// leaves the thread waiting or joinable.
class PausedThread {
 public:
  PausedThread(const char* point, std::function<void()> work) {
    locking::sync_point_set(point, [this] {
      std::unique_lock lk(mu_);
      if (std::this_thread::get_id() != id_ || paused_) return;
      paused_ = true;
      cv_.notify_all();
      cv_.wait_for(lk, std::chrono::seconds(10), [&] { return go_; });
    });
    thread_ = std::thread([this, work = std::move(work)] {
      {
        std::lock_guard lk(mu_);
        id_ = std::this_thread::get_id();
      }
      work();
    });
  }
  ~PausedThread() { release(); }
  // True once the thread stands at the point (false after 10 s).
  bool wait_paused() {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, std::chrono::seconds(10), [&] { return paused_; });
  }
  // Lets it go on and waits for it to finish; clears every sync point.
  void release() {
    {
      std::lock_guard lk(mu_);
      go_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    locking::sync_point_clear_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool paused_ = false, go_ = false;
  std::thread::id id_;
  std::thread thread_;
};

// A request that found an inode under RCU and was held up there while the inode was
// unlinked and evicted: the inode's memory waits for the request, which then answers ENOENT.
TEST_F(NamespaceTest, AnInodeEvictedUnderAnRcuReaderWaitsForIt) {
  auto e = vfs->mknod(kRootIno, "v", S_IFREG | 0644, 0);  // the client holds one lookup
  ASSERT_TRUE(e.ok());
  Result<struct stat> got = err(-1);
  PausedThread reader("iget:found_rcu", [&] { got = vfs->getattr(e->ino); });
  ASSERT_TRUE(reader.wait_paused()) << "getattr of a pinned inode never looked it up under RCU";
  const uint64_t before = vfs->sb().nr_inodes();
  EXPECT_TRUE(vfs->unlink(kRootIno, "v").ok());
  vfs->forget(e->ino, 1);
  EXPECT_EQ(vfs->sb().nr_inodes(), before - 1);  // evicted...
  EXPECT_GE(locking::rcu_pending(), 1u);          // ...and its memory held for the reader
  reader.release();
  EXPECT_EQ(got.error(), -ENOENT);
  locking::rcu_barrier();
  EXPECT_EQ(locking::rcu_pending(), 0u);
}

// A request walking a chain of the inode hash under RCU, standing on an inode that the
// table's growth then moves to a chain of the new array: it walks on from there, misses the
// inode it wanted -- never finds a wrong one, never loops -- and iget finds that one under
// inode_hash_lock instead. Deterministic: the reader stops on the head of the wanted inode's
// chain, an inode made after it (inserts go at the head), and the table doubles meanwhile.
TEST_F(NamespaceTest, AnRcuWalkThatGrowthMovesOnFallsBackToTheLock) {
  core::SuperBlock& sb = vfs->sb();
  // Files until two share a chain (at most one per chain of the 64, plus one): the earlier
  // is the target, the later -- inserted at the head -- is where the reader will stand.
  const size_t chains = sb.inode_hash_buckets();
  std::map<size_t, std::string> by_chain;
  std::string target_name;
  core::Ino ahead = 0;
  for (size_t i = 0; ahead == 0; ++i) {
    ASSERT_LT(sb.nr_inodes(), chains) << "the table would grow before the reader stops";
    const std::string name = "f" + std::to_string(i);
    const core::Ino ino = mkfile(kRootIno, name);
    auto [it, fresh] = by_chain.emplace(sb.inode_hash_bucket(ino), name);
    if (!fresh) {
      target_name = it->second;
      ahead = ino;
    }
  }
  Result<core::EntryOut> pinned = vfs->lookup(kRootIno, target_name);  // iget tries RCU first
  ASSERT_TRUE(pinned.ok());
  const core::Ino target = pinned->ino;
  std::atomic<int> locked_finds{0};
  std::atomic<std::thread::id> counted_thread{std::this_thread::get_id()};
  locking::sync_point_set("iget:locked", [&] {
    if (std::this_thread::get_id() == counted_thread.load()) locked_finds++;
  });
  // Undisturbed, the pinned target is found under RCU alone.
  ASSERT_TRUE(vfs->getattr(target).ok());
  ASSERT_EQ(locked_finds.load(), 0);
  Result<struct stat> got = err(-1);
  PausedThread reader("itable:rcu_walk", [&] {
    counted_thread = std::this_thread::get_id();  // before its first iget
    got = vfs->getattr(target);
  });
  ASSERT_TRUE(reader.wait_paused()) << "getattr never walked the target's chain under RCU";
  for (int i = 0; sb.inode_hash_buckets() == chains && i < 1000; ++i) {
    mkfile(kRootIno, "grow-" + std::to_string(i));
  }
  const bool grew = sb.inode_hash_buckets() > chains;
  reader.release();
  ASSERT_TRUE(grew) << "the inode table never grew";
  ASSERT_TRUE(got.ok()) << got.error();
  EXPECT_EQ(got->st_ino, target);
  EXPECT_EQ(locked_finds.load(), 1);  // the RCU walk missed it: `ahead` had moved on
  vfs->forget(target, 1);
}

// iget without the lock against eviction and table growth on another thread: requests by
// number on inodes being created, unlinked and evicted (some already gone, some never
// pinned) answer the inode or ENOENT, and one on an inode the client holds always finds it
// while the table grows under it. The ASan build checks no freed inode is touched.
TEST_F(NamespaceTest, IgetRacesEvictionAndGrowth) {
  const core::Ino kept = mkfile(kRootIno, "kept");
  ASSERT_TRUE(vfs->lookup(kRootIno, "kept").ok());
  std::atomic<bool> stop{false};
  std::atomic<core::Ino> newest{kept};
  std::atomic<uint64_t> kept_missing{0}, bad{0}, calls{0};
  std::thread reader([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      if (!vfs->getattr(kept).ok()) kept_missing++;
      const core::Ino n = newest.load(std::memory_order_relaxed);
      for (core::Ino ino = n > 8 ? n - 8 : 1; ino <= n + 1; ++ino) {
        auto st = vfs->getattr(ino);
        if (!st.ok() && st.error() != -ENOENT) bad++;
        if (st.ok() && st->st_ino != ino) bad++;
      }
      calls++;
    }
  });
  // At least 3000 rounds, and on (for at most 20 s) until the reader has made 100 passes.
  // Every fourth file stays linked, so the table grows (64 buckets at first, doubling at
  // 64, 128, 256 and 512 inodes) as others go; 2000 kept ones (a long run) are removed.
  // A reader that misses an inode while the table grows finds it under the lock, so what
  // fails this test is a crash or (ASan) a use after free, not a miss.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::vector<std::string> kept_names;
  for (int i = 0; i < 3000 || (calls.load() < 100 && std::chrono::steady_clock::now() < deadline);
       ++i) {
    const std::string name = "t" + std::to_string(i);
    auto e = vfs->mknod(kRootIno, name, S_IFREG | 0644, 0);
    ASSERT_TRUE(e.ok()) << e.error();
    newest.store(e->ino, std::memory_order_relaxed);
    if (i % 4 != 0) {
      ASSERT_TRUE(vfs->unlink(kRootIno, name).ok());
    } else {
      kept_names.push_back(name);
    }
    vfs->forget(e->ino, 1);  // evicts the unlinked ones
    if (kept_names.size() == 2000) {
      for (const std::string& k : kept_names) ASSERT_TRUE(vfs->unlink(kRootIno, k).ok());
      kept_names.clear();
    }
  }
  stop = true;
  reader.join();
  EXPECT_EQ(kept_missing.load(), 0u);
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GE(calls.load(), 100u);
  vfs->forget(kept, 1);
}

// An unlink pins its victim (ihold) while the last pin of that inode is being dropped on
// another thread, whose eviction decision has seen the count at 0 and not yet nlink: the
// pin must wait for that decision (which keeps the still-linked inode), or the decision
// would then see the unlink's nlink 0 and free the inode under the unlinker.
TEST_F(NamespaceTest, UnlinkPinningAnInodeWhoseLastPinIsDroppingWaitsForTheDecision) {
  auto c = vfs->create(kRootIno, "t", 0644, O_RDWR | O_CREAT | O_EXCL);
  ASSERT_TRUE(c.ok());
  vfs->forget(c->entry.ino, 1);  // only the open file pins it now
  const uint64_t before = vfs->sb().nr_inodes();
  std::mutex mu;
  std::condition_variable cv;
  bool unlinker_found = false, go = false, unlinker_past_pin = false;
  auto set = [&](bool& flag) {
    std::lock_guard lk(mu);
    flag = true;
    cv.notify_all();
  };
  // The unlinker has its directory pinned and locked and the name found; it waits there.
  locking::sync_point_set("remove:found", [&] {
    set(unlinker_found);
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return go; });
  });
  locking::sync_point_set("remove:victim_locked", [&] { set(unlinker_past_pin); });
  std::thread unlinker([&] { EXPECT_TRUE(vfs->unlink(kRootIno, "t").ok()); });
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return unlinker_found; });
  }
  // The releasing thread, inside its decision, lets the unlinker pin the inode: it must not
  // get past the pin until the decision is over (300 ms is only how long we let it try; a
  // correct pin never gets there first).
  bool first_decision = true;  // the unlink's own eviction comes here too, later
  locking::sync_point_set("evictable:unpinned", [&] {
    if (!std::exchange(first_decision, false)) return;
    set(go);
    std::unique_lock lk(mu);
    cv.wait_for(lk, std::chrono::milliseconds(300), [&] { return unlinker_past_pin; });
    EXPECT_FALSE(unlinker_past_pin) << "unlink pinned the inode during the eviction decision";
  });
  ASSERT_TRUE(vfs->release(c->file).ok());
  // The decision kept the inode (still linked); the unlink then removes it and evicts it.
  unlinker.join();
  locking::sync_point_clear_all();
  EXPECT_EQ(vfs->sb().nr_inodes(), before - 1);
  EXPECT_EQ(ino_of("t"), 0u);
}

TEST_F(NamespaceTest, RmdirLocksParentThenChild) {
  const core::Ino d = mkdir(kRootIno, "d");
  mkfile(d, "f");
  EXPECT_EQ(vfs->rmdir(kRootIno, "d").error(), -ENOTEMPTY);
  ASSERT_TRUE(vfs->unlink(d, "f").ok());
  auto ev = record_locks([&] { ASSERT_TRUE(vfs->rmdir(kRootIno, "d").ok()); });
  ASSERT_EQ(ev.size(), 2u) << format_events(ev);
  EXPECT_EQ(ev[0].object, kRootIno);
  EXPECT_EQ(ev[0].sub, Subclass::kParent);
  EXPECT_EQ(ev[1].object, d);
  EXPECT_EQ(ev[1].sub, Subclass::kChild);
  EXPECT_EQ(ev[1].mode, row_mode("rmdir", ct::Role::kVictim));
  EXPECT_EQ(stat_of(kRootIno).st_nlink, 2u);
}

TEST_F(NamespaceTest, RmdirErrors) {
  mkfile(kRootIno, "f");
  EXPECT_EQ(vfs->rmdir(kRootIno, "f").error(), -ENOTDIR);
  EXPECT_EQ(vfs->rmdir(kRootIno, ".").error(), -EINVAL);
  EXPECT_EQ(vfs->rmdir(kRootIno, "..").error(), -ENOTEMPTY);
  EXPECT_EQ(vfs->rmdir(kRootIno, "none").error(), -ENOENT);
}

TEST_F(NamespaceTest, RemovedDirectoryRefusesNewEntries) {
  auto e = vfs->mkdir(kRootIno, "d", 0755);
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(vfs->rmdir(kRootIno, "d").ok());
  EXPECT_EQ(vfs->mkdir(e->ino, "x", 0755).error(), -ENOENT);
  EXPECT_EQ(stat_of(e->ino).st_nlink, 0u);
  vfs->forget(e->ino, 1);
}

TEST_F(NamespaceTest, StickyDirectoryProtectsOthersEntries) {
  const core::Ino t = mkdir(kRootIno, "tmp", 01777);
  {
    AsUser alice(1000, 1000);
    mkfile(t, "alice");
  }
  AsUser bob(1001, 1001);
  EXPECT_EQ(vfs->unlink(t, "alice").error(), -EPERM);
  mkfile(t, "bob");
  EXPECT_TRUE(vfs->unlink(t, "bob").ok());
}

TEST_F(NamespaceTest, SetgidDirectoryIsInherited) {
  const core::Ino g = mkdir(kRootIno, "g", 02777);
  ASSERT_TRUE(vfs->setattr(g, {.valid = core::kSetGid, .gid = 50}, nullptr).ok());
  AsUser user(1000, 1000);
  auto f = vfs->mknod(g, "f", S_IFREG | 0644, 0);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->attr.st_gid, 50u);
  auto d = vfs->mkdir(g, "sub", 0755);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->attr.st_gid, 50u);
  EXPECT_TRUE(d->attr.st_mode & S_ISGID);
}

TEST_F(NamespaceTest, PathLookupFollowsSymlinksAndStopsLoops) {
  const core::Ino a = mkdir(kRootIno, "a");
  const core::Ino b = mkdir(a, "b");
  ASSERT_TRUE(vfs->symlink(kRootIno, "lb", "a/b").ok());
  ASSERT_TRUE(vfs->symlink(kRootIno, "abs", "/a").ok());
  ASSERT_TRUE(vfs->symlink(kRootIno, "loop1", "loop2").ok());
  ASSERT_TRUE(vfs->symlink(kRootIno, "loop2", "loop1").ok());
  EXPECT_EQ(*vfs->path_lookup("/a/b"), b);
  EXPECT_EQ(*vfs->path_lookup("/lb"), b);
  EXPECT_EQ(*vfs->path_lookup("/abs/b/.."), a);
  EXPECT_EQ(*vfs->path_lookup("/a/b/../../a/./b/"), b);
  EXPECT_EQ(vfs->path_lookup("/loop1").error(), -ELOOP);
  EXPECT_NE(*vfs->path_lookup("/lb", /*follow_last=*/false), b);
  EXPECT_EQ(vfs->path_lookup("/a/nope").error(), -ENOENT);
  mkfile(a, "f");
  EXPECT_EQ(vfs->path_lookup("/a/f/x").error(), -ENOTDIR);
  EXPECT_EQ(vfs->path_lookup("/a/f/").error(), -ENOTDIR);
  EXPECT_EQ(vfs->path_lookup("rel").error(), -EINVAL);
}

// Under the 3.x profile (i_mutex), ->lookup runs with the directory locked exclusive.
TEST_F(NamespaceTest, ProfileDecidesLookupMode) {
  core::MountOptions opts;
  opts.size_bytes = 1 << 20;
  opts.profile = "3.x";
  remount(opts);
  mkdir(kRootIno, "a");
  auto ev = record_locks([&] { ASSERT_TRUE(vfs->lookup(kRootIno, "a").ok()); });
  ASSERT_EQ(ev.size(), 1u) << format_events(ev);
  EXPECT_EQ(ev[0].mode, Mode::kExclusive);
  const ct::Row* row = ct::find_row(ct::Profile::kV3, "inode_operations", "lookup");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(ct::required(*row, ct::Role::kDir, ct::LockId::kIRwsem), ct::Req::kExclusive);

  opts.profile = "5.x";
  remount(opts);
  mkdir(kRootIno, "a");
  ev = record_locks([&] { ASSERT_TRUE(vfs->lookup(kRootIno, "a").ok()); });
  ASSERT_EQ(ev.size(), 1u) << format_events(ev);
  EXPECT_EQ(ev[0].mode, Mode::kShared);
  EXPECT_EQ(core::Vfs::mount({.profile = "2.4"}).error(), -EINVAL);
}

}  // namespace
}  // namespace lockfs::testing

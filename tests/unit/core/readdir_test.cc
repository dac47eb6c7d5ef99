// vfs readdir (iterate_shared): "." and ".." first, offsets stable across unlinks, readdirplus
// lookup counts, and the locks (i_rwsem shared and f_pos_lock exclusive; killable).
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "core/inode.h"
#include "core/super.h"
#include "core/vfs.h"
#include "tests/support/core_fixture.h"

namespace lockfs::testing {
namespace {

using core::kRootIno;
using locking::Mode;

class ReaddirTest : public CoreTest {
 protected:
  std::vector<std::pair<std::string, uint64_t>> list(core::File* d, uint64_t off, size_t max,
                                                     bool plus = false) {
    std::vector<std::pair<std::string, uint64_t>> out;
    auto r = vfs->readdir(d, off, plus, [&](std::string_view name, const struct stat&,
                                            uint64_t next) {
      if (out.size() >= max) return false;
      out.emplace_back(std::string(name), next);
      return true;
    });
    EXPECT_TRUE(r.ok()) << r.error();
    return out;
  }
};

TEST_F(ReaddirTest, DotsFirstThenEntriesWithTypes) {
  const core::Ino d = mkdir(kRootIno, "d");
  mkfile(d, "f");
  mkdir(d, "s");
  auto f = vfs->opendir(d, O_RDONLY);
  ASSERT_TRUE(f.ok());
  std::map<std::string, mode_t> types;
  ASSERT_TRUE(vfs->readdir(*f, 0, false, [&](std::string_view n, const struct stat& st, uint64_t) {
                  types[std::string(n)] = st.st_mode & S_IFMT;
                  return true;
                }).ok());
  EXPECT_EQ(types.size(), 4u);
  EXPECT_EQ(types["f"], S_IFREG);
  EXPECT_EQ(types["s"], S_IFDIR);
  auto names = list(*f, 0, 2);
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0].first, ".");
  EXPECT_EQ(names[1].first, "..");
  ASSERT_TRUE(vfs->releasedir(*f).ok());
}

TEST_F(ReaddirTest, TakesDirectorySharedAndFPosLock) {
  const core::Ino d = mkdir(kRootIno, "d");
  auto f = vfs->opendir(d, O_RDONLY);
  ASSERT_TRUE(f.ok());
  auto ev = record_locks([&] { list(*f, 0, 10); });
  ASSERT_EQ(ev.size(), 2u) << format_events(ev);
  EXPECT_EQ(ev[0].cls, "f_pos_lock");
  EXPECT_EQ(ev[0].mode, Mode::kExclusive);
  EXPECT_EQ(ev[1].cls, "i_rwsem(dir)");
  EXPECT_EQ(ev[1].object, d);
  EXPECT_EQ(ev[1].mode, Mode::kShared);
  ASSERT_TRUE(vfs->releasedir(*f).ok());
}

// iterate_dir's file_accessed follows relatime and chattr +A like a read: the first listing
// of a changed directory moves its atime, the next one leaves it and takes no i_lock.
TEST_F(ReaddirTest, ListingMovesAtimeByRelatime) {
  const core::Ino d = mkdir(kRootIno, "d");
  mkfile(d, "f");  // the directory's mtime and ctime move
  auto f = vfs->opendir(d, O_RDONLY);
  ASSERT_TRUE(f.ok());
  auto i_lock = [&] { return record_locks([&] { list(*f, 0, 10); }, {"i_lock"}).size(); };
  EXPECT_EQ(i_lock(), 1u);
  const struct stat st = stat_of(d);
  EXPECT_TRUE(later(st.st_atim, st.st_mtim));
  EXPECT_EQ(i_lock(), 0u);
  EXPECT_EQ(stat_of(d).st_atim.tv_nsec, st.st_atim.tv_nsec);
  ASSERT_TRUE(vfs->fileattr_set(d, core::kFlagNoatime).ok());
  core::SetAttrIn in;
  in.valid = core::kSetAtime;
  in.atime = {1, 0};
  ASSERT_TRUE(vfs->setattr(d, in, nullptr).ok());
  list(*f, 0, 10);
  EXPECT_EQ(stat_of(d).st_atim.tv_sec, 1);  // chattr +A: never moves
  ASSERT_TRUE(vfs->releasedir(*f).ok());
}

TEST_F(ReaddirTest, OffsetsSurviveConcurrentUnlinks) {
  const core::Ino d = mkdir(kRootIno, "d");
  for (int i = 0; i < 10; ++i) mkfile(d, "e" + std::to_string(i));
  auto f = vfs->opendir(d, O_RDONLY);
  ASSERT_TRUE(f.ok());
  auto first = list(*f, 0, 6);  // ".", "..", e0..e3
  ASSERT_EQ(first.size(), 6u);
  ASSERT_TRUE(vfs->unlink(d, "e2").ok());
  ASSERT_TRUE(vfs->unlink(d, "e5").ok());
  auto rest = list(*f, first.back().second, 100);
  std::set<std::string> seen;
  for (auto& [n, off] : first) seen.insert(n);
  for (auto& [n, off] : rest) EXPECT_TRUE(seen.insert(n).second) << "duplicate " << n;
  EXPECT_EQ(seen.count("e5"), 0u);
  EXPECT_EQ(seen.size(), 2u + 10u - 1u);  // e2 was already returned, e5 is gone
  ASSERT_TRUE(vfs->releasedir(*f).ok());
}

TEST_F(ReaddirTest, PlusCountsLookupsOfAcceptedEntries) {
  const core::Ino d = mkdir(kRootIno, "d");
  const core::Ino f1 = mkfile(d, "a");
  mkfile(d, "b");
  auto f = vfs->opendir(d, O_RDONLY);
  ASSERT_TRUE(f.ok());
  auto got = list(*f, 0, 3, /*plus=*/true);  // ".", "..", "a"; "b" refused
  ASSERT_EQ(got.size(), 3u);
  ASSERT_TRUE(vfs->unlink(d, "a").ok());
  EXPECT_TRUE(vfs->getattr(f1).ok());  // the readdirplus lookup keeps it
  vfs->forget(f1, 1);
  EXPECT_EQ(vfs->getattr(f1).error(), -ENOENT);
  ASSERT_TRUE(vfs->releasedir(*f).ok());
}

// Each readdirplus entry's attributes are read with no lock (as getattr's are), and the
// lookups the entries hand out are counted in one inode_hash_lock section.
TEST_F(ReaddirTest, PlusEntriesTakeNoILock) {
  const core::Ino d = mkdir(kRootIno, "d");
  std::vector<core::Ino> files;
  for (int i = 0; i < 20; ++i) files.push_back(mkfile(d, "f" + std::to_string(i)));
  auto f = vfs->opendir(d, O_RDONLY);
  ASSERT_TRUE(f.ok());
  // An atime after mtime and ctime and not a day old: relatime leaves it, so the listing
  // takes no i_lock for it (whatever the clock's resolution).
  core::SetAttrIn in;
  in.valid = core::kSetAtime;
  in.atime = {stat_of(d).st_ctim.tv_sec + 60, 0};
  ASSERT_TRUE(vfs->setattr(d, in, nullptr).ok());
  std::vector<std::pair<std::string, uint64_t>> got;
  auto ev = record_locks([&] { got = list(*f, 0, 100, /*plus=*/true); },
                         {"i_lock", "inode_hash_lock"});
  EXPECT_EQ(got.size(), 22u);
  ASSERT_EQ(ev.size(), 1u) << format_events(ev);
  EXPECT_EQ(ev[0].cls, "inode_hash_lock");
  for (core::Ino ino : files) vfs->forget(ino, 1);
  ASSERT_TRUE(vfs->releasedir(*f).ok());
}

TEST_F(ReaddirTest, KilledWaitReturnsEintrWithNothingHeld) {
  const core::Ino d = mkdir(kRootIno, "d");
  auto f = vfs->opendir(d, O_RDONLY);
  ASSERT_TRUE(f.ok());
  auto e = vfs->opendir(kRootIno, O_RDONLY);
  ASSERT_TRUE(e.ok());
  core::Inode* dir = vfs->sb().iget(d);
  // A writer holds the directory; a killed reader's wait must end in -EINTR.
  [&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS { dir->i_rwsem.down_write(); }();
  locking::Task task(9, 0, 0, "reader");
  task.send_fatal_signal();
  std::thread t([&] {
    locking::TaskScope scope(task);
    EXPECT_EQ(vfs->readdir(*f, 0, false, [](auto, auto&, auto) { return true; }).error(), -EINTR);
    EXPECT_TRUE(locking::held_locks().empty());
  });
  t.join();
  [&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS { dir->i_rwsem.up_write(); }();
  vfs->sb().iput(dir);
  EXPECT_EQ(list(*f, 0, 10).size(), 2u);
  ASSERT_TRUE(vfs->releasedir(*f).ok());
  ASSERT_TRUE(vfs->releasedir(*e).ok());
}

}  // namespace
}  // namespace lockfs::testing

namespace lockfs::testing {
namespace {

// 5.x: "->iterate_shared() is called with i_rwsem at least shared" and nothing about
// f_pos_lock; 3.x: the ->readdir row names no lock at all, and memfs still needs the
// directory stable, so the caller takes it shared (the least the method relies on).
TEST_F(ReaddirTest, OlderProfilesTakeNoFPosLock) {
  for (const char* profile : {"5.x", "3.x"}) {
    core::MountOptions opts;
    opts.size_bytes = 1 << 20;
    opts.profile = profile;
    remount(opts);
    auto f = vfs->opendir(kRootIno, O_RDONLY);
    ASSERT_TRUE(f.ok());
    auto ev = record_locks([&] { list(*f, 0, 10); });
    ASSERT_EQ(ev.size(), 1u) << profile << ": " << format_events(ev);
    EXPECT_EQ(ev[0].cls, "i_rwsem(dir)");
    EXPECT_EQ(ev[0].mode, Mode::kShared);
    ASSERT_TRUE(vfs->releasedir(*f).ok());
  }
}

}  // namespace
}  // namespace lockfs::testing

namespace lockfs::testing {
namespace {

TEST_F(ReaddirTest, RemovedDirectoryIsEnoent) {
  const core::Ino d = mkdir(kRootIno, "d");
  auto f = vfs->opendir(d, O_RDONLY);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(vfs->rmdir(kRootIno, "d").ok());
  EXPECT_EQ(vfs->readdir(*f, 0, false, [](auto, auto&, auto) { return true; }).error(), -ENOENT);
  ASSERT_TRUE(vfs->releasedir(*f).ok());
  EXPECT_EQ(vfs->getattr(d).error(), -ENOENT);  // the open directory kept it until now
}

}  // namespace
}  // namespace lockfs::testing

// vfs setattr (chmod/chown/utimes), getattr, access, statfs, fsync: permission rules and the
// row's locking (setattr: i_rwsem exclusive).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "core/vfs.h"
#include "tests/support/core_fixture.h"

namespace lockfs::testing {
namespace {

using core::kRootIno;
using locking::Mode;

class AttrTest : public CoreTest {};

TEST_F(AttrTest, ChmodTakesInodeExclusiveAndMovesCtime) {
  const core::Ino f = mkfile(kRootIno, "f");
  const struct stat before = stat_of(f);
  auto ev = record_locks([&] {
    auto r = vfs->setattr(f, {.valid = core::kSetMode, .mode = 0600}, nullptr);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->st_mode, S_IFREG | 0600u);
  });
  ASSERT_EQ(ev.size(), 1u) << format_events(ev);
  EXPECT_EQ(ev[0].cls, "i_rwsem(reg)");
  EXPECT_EQ(ev[0].mode, Mode::kExclusive);
  EXPECT_FALSE(later(before.st_ctim, stat_of(f).st_ctim));
  EXPECT_EQ(vfs->getattr(12345).error(), -ENOENT);
}

TEST_F(AttrTest, OwnershipRules) {
  const core::Ino f = mkfile(kRootIno, "f", 06755);
  ASSERT_TRUE(vfs->setattr(f, {.valid = core::kSetMode, .mode = 06755}, nullptr).ok());
  ASSERT_TRUE(vfs->setattr(f, {.valid = core::kSetUid | core::kSetGid, .uid = 1000, .gid = 1000},
                           nullptr)
                  .ok());
  // chown of a non-directory drops setuid and (group-executable) setgid, even by root.
  EXPECT_EQ(stat_of(f).st_mode & 07777, 0755u);
  AsUser owner(1000, 1000, {1000, 2000});
  EXPECT_EQ(vfs->setattr(f, {.valid = core::kSetUid, .uid = 0}, nullptr).error(), -EPERM);
  EXPECT_TRUE(vfs->setattr(f, {.valid = core::kSetGid, .gid = 2000}, nullptr).ok());
  EXPECT_EQ(vfs->setattr(f, {.valid = core::kSetGid, .gid = 3000}, nullptr).error(), -EPERM);
  // chmod g+s by a member of the file's group keeps S_ISGID.
  ASSERT_TRUE(vfs->setattr(f, {.valid = core::kSetGid, .gid = 1000}, nullptr).ok());
  {
    AsUser member(1000, 1000, {});
    ASSERT_TRUE(vfs->setattr(f, {.valid = core::kSetMode, .mode = 02755}, nullptr).ok());
    EXPECT_EQ(stat_of(f).st_mode & 07777, 02755u);
  }
  {
    AsUser stranger(1001, 1001);
    EXPECT_EQ(vfs->setattr(f, {.valid = core::kSetMode, .mode = 0777}, nullptr).error(), -EPERM);
    EXPECT_EQ(vfs->setattr(f, {.valid = core::kSetMtimeNow}, nullptr).error(), -EACCES);
    EXPECT_EQ(vfs->access(f, W_OK).error(), -EACCES);
    EXPECT_TRUE(vfs->access(f, R_OK | X_OK).ok());
  }
}

TEST_F(AttrTest, ExplicitTimes) {
  const core::Ino f = mkfile(kRootIno, "f");
  core::SetAttrIn in;
  in.valid = core::kSetAtime | core::kSetMtime;
  in.atime = {100, 1};
  in.mtime = {200, 2};
  auto r = vfs->setattr(f, in, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->st_atim.tv_sec, 100);
  EXPECT_EQ(r->st_mtim.tv_sec, 200);
  EXPECT_EQ(r->st_mtim.tv_nsec, 2);
}

TEST_F(AttrTest, TimesMoveOnNamespaceChanges) {
  const core::Ino d = mkdir(kRootIno, "d");
  core::SetAttrIn old;
  old.valid = core::kSetMtime;
  old.mtime = {1, 0};
  ASSERT_TRUE(vfs->setattr(d, old, nullptr).ok());
  mkfile(d, "f");
  EXPECT_GT(stat_of(d).st_mtim.tv_sec, 1);
}

TEST_F(AttrTest, StatfsCountsInodesAndBlocks) {
  auto before = vfs->statfs(kRootIno);
  ASSERT_TRUE(before.ok());
  mkfile(kRootIno, "f");
  auto after = vfs->statfs(kRootIno);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->f_ffree, before->f_ffree - 1);
  EXPECT_EQ(after->f_files, 4096u);
  EXPECT_EQ(after->f_bsize, 4096u);
  EXPECT_EQ(after->f_blocks, (64u << 20) / 4096);
}

// getattr and an entry reply read the attributes with no lock, as generic_fillattr does
// ("getattr: no"): no i_lock section, whatever the mode.
TEST_F(AttrTest, AttributeRepliesTakeNoILock) {
  const core::Ino f = mkfile(kRootIno, "f", 0640);
  // The client holds a lookup, as it does for every inode it sends a request about: the
  // request's own pin is then never the last (whose iput would take i_lock for drop_inode).
  ASSERT_TRUE(vfs->lookup(kRootIno, "f").ok());
  auto i_lock = [&](const std::function<void()>& fn) {
    return record_locks(fn, {"i_lock"}).size();
  };
  EXPECT_EQ(i_lock([&] {
              auto st = vfs->getattr(f);
              ASSERT_TRUE(st.ok());
              EXPECT_EQ(st->st_mode, S_IFREG | 0640u);
            }),
            0u);
  EXPECT_EQ(i_lock([&] {
              auto e = vfs->lookup(kRootIno, "f");
              ASSERT_TRUE(e.ok());
              EXPECT_EQ(e->attr.st_ino, f);
              EXPECT_EQ(e->attr.st_nlink, 1u);
              vfs->forget(f, 1);
            }),
            0u);
  // A change still takes it: the writers' side is unchanged.
  EXPECT_EQ(i_lock([&] { ASSERT_TRUE(vfs->setattr(f, {.valid = core::kSetMode, .mode = 0600},
                                                  nullptr).ok()); }),
            1u);
  vfs->forget(f, 1);
}

// A getattr racing setattrs sees one setattr's attributes, never halves of two: each setattr
// sets atime, mtime, uid and gid to the same number.
TEST_F(AttrTest, ConcurrentGetattrSeesOneSetattr) {
  const core::Ino f = mkfile(kRootIno, "f");
  auto set_all = [&](int i) {
    core::SetAttrIn in;
    in.valid = core::kSetAtime | core::kSetMtime | core::kSetUid | core::kSetGid;
    in.atime = in.mtime = {i, i};
    in.uid = static_cast<uid_t>(i);
    in.gid = static_cast<gid_t>(i);
    ASSERT_TRUE(vfs->setattr(f, in, nullptr).ok());
  };
  set_all(0);
  std::atomic<bool> stop{false}, reading{false};
  std::atomic<uint64_t> torn{0}, changes{0};
  std::thread reader([&] {
    int64_t last = -1;
    while (!stop.load(std::memory_order_relaxed)) {
      auto st = vfs->getattr(f);
      reading = true;
      if (!st.ok()) {
        ADD_FAILURE() << "getattr: " << st.error();
        return;
      }
      const int64_t v = st->st_mtim.tv_sec;
      if (st->st_atim.tv_sec != v || st->st_atim.tv_nsec != v || st->st_mtim.tv_nsec != v ||
          st->st_uid != static_cast<uid_t>(v) || st->st_gid != static_cast<gid_t>(v)) {
        ++torn;
      }
      changes += v != last;
      last = v;
    }
  });
  while (!reading.load()) std::this_thread::yield();
  // At least 20000 setattrs, and on (for at most 10 s) until the reader has seen 100.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (int i = 1;
       i <= 20000 || (changes.load() < 100 && std::chrono::steady_clock::now() < deadline); ++i) {
    set_all(i);
  }
  stop = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_GE(changes.load(), 100u);  // the reader ran alongside the writer
}

// Writers of different fields of one inode lose nothing: chmod (under i_rwsem) on one
// thread, reads that move atime (under i_lock alone) on another, writes on a third. Each
// change reads, edits and stores the attributes in one i_lock section, never from a copy
// read before it.
TEST_F(AttrTest, ConcurrentWritersOfDifferentFieldsLoseNothing) {
  auto c = vfs->create(kRootIno, "f", 0644, O_CREAT | O_RDWR);
  ASSERT_TRUE(c.ok());
  const core::Ino f = c->entry.ino;
  ASSERT_TRUE(vfs->write(c->file, 0, std::span<const char>("0123456789", 10)).ok());
  std::atomic<bool> stop{false};
  std::thread chmodder([&] {
    for (int i = 0; i < 3000; ++i) {
      const mode_t m = i % 2 ? 0600 : 0640;  // each chmod moves ctime: the next read, atime
      EXPECT_TRUE(vfs->setattr(f, {.valid = core::kSetMode, .mode = m}, nullptr).ok());
    }
  });
  std::thread reader([&] {
    char buf[10];
    while (!stop.load(std::memory_order_relaxed)) {
      EXPECT_TRUE(vfs->read(c->file, 0, std::span<char>(buf, sizeof buf)).ok());
    }
  });
  for (int i = 1; i < 2000; ++i) {
    ASSERT_TRUE(vfs->write(c->file, 10 * i, std::span<const char>("0123456789", 10)).ok());
  }
  chmodder.join();
  stop = true;
  reader.join();
  const struct stat st = stat_of(f);
  EXPECT_EQ(st.st_size, 20000);
  EXPECT_EQ(st.st_mode & 07777, 0600u);  // the last chmod's
  ASSERT_TRUE(vfs->release(c->file).ok());
  vfs->forget(f, 1);
}

// Times before 1970 and the largest nanosecond count come back as they were set.
TEST_F(AttrTest, TimesBeforeTheEpochRoundTrip) {
  const core::Ino f = mkfile(kRootIno, "f");
  core::SetAttrIn in;
  in.valid = core::kSetAtime | core::kSetMtime;
  in.atime = {-1, 999999999};
  in.mtime = {-31536000, 5};
  ASSERT_TRUE(vfs->setattr(f, in, nullptr).ok());
  const struct stat st = stat_of(f);
  EXPECT_EQ(st.st_atim.tv_sec, -1);
  EXPECT_EQ(st.st_atim.tv_nsec, 999999999);
  EXPECT_EQ(st.st_mtim.tv_sec, -31536000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 5);
}

TEST_F(AttrTest, FsyncAndFlushOnFiles) {
  auto c = vfs->create(kRootIno, "f", 0644, O_CREAT | O_RDWR);
  ASSERT_TRUE(c.ok());
  vfs->forget(c->entry.ino, 1);
  ASSERT_TRUE(vfs->write(c->file, 0, std::span<const char>("abc", 3)).ok());
  EXPECT_TRUE(vfs->fsync(c->file, false).ok());
  EXPECT_TRUE(vfs->flush(c->file, 1).ok());
  EXPECT_EQ(*vfs->lseek(c->file, 0, SEEK_END), 3);
  EXPECT_EQ(vfs->lseek(c->file, -1, SEEK_SET).error(), -EINVAL);
  ASSERT_TRUE(vfs->release(c->file).ok());
  auto d = vfs->opendir(kRootIno, O_RDONLY);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(vfs->fsyncdir(*d, true).ok());
  EXPECT_EQ(vfs->read(*d, 0, std::span<char>()).error(), -EISDIR);
  ASSERT_TRUE(vfs->releasedir(*d).ok());
  EXPECT_EQ(vfs->opendir(ino_of("/f"), O_RDONLY).error(), -ENOTDIR);
}

}  // namespace
}  // namespace lockfs::testing

// vfs open/create/tmpfile/read/write/setattr(size)/fallocate/lseek/copy_file_range: POSIX
// behaviour and the locks each takes.
#include <gtest/gtest.h>
#include <linux/falloc.h>

#include <atomic>
#include <string>
#include <thread>

#include "core/vfs.h"
#include "tests/support/core_fixture.h"

namespace lockfs::testing {
namespace {

using core::File;
using core::kRootIno;
using locking::Mode;

class FileTest : public CoreTest {
 protected:
  File* create(const std::string& name, int flags = O_RDWR, mode_t mode = 0644) {
    auto r = vfs->create(kRootIno, name, mode, flags | O_CREAT);
    EXPECT_TRUE(r.ok()) << r.error();
    if (!r.ok()) return nullptr;
    vfs->forget(r->entry.ino, 1);
    return r->file;
  }
  size_t put(File* f, uint64_t off, const std::string& s) {
    auto r = vfs->write(f, off, std::span<const char>(s.data(), s.size()));
    EXPECT_TRUE(r.ok()) << r.error();
    return r.ok() ? *r : 0;
  }
  std::string get(File* f, uint64_t off, size_t n) {
    std::string s(n, '\0');
    auto r = vfs->read(f, off, std::span<char>(s.data(), s.size()));
    EXPECT_TRUE(r.ok()) << r.error();
    s.resize(r.ok() ? *r : 0);
    return s;
  }
};

TEST_F(FileTest, WriteTakesInodeExclusiveReadTakesNone) {
  File* f = create("f");
  auto ev = record_locks([&] { EXPECT_EQ(put(f, 0, "hello"), 5u); });
  ASSERT_GE(ev.size(), 1u) << format_events(ev);
  EXPECT_EQ(ev[0].cls, "i_rwsem(reg)");
  EXPECT_EQ(ev[0].mode, Mode::kExclusive);
  ev = record_locks([&] { EXPECT_EQ(get(f, 0, 100), "hello"); });
  for (const auto& e : ev) EXPECT_NE(e.cls, "i_rwsem(reg)") << format_events(ev);
  EXPECT_EQ(stat_of(core::file_ino(f)).st_size, 5);
  ASSERT_TRUE(vfs->release(f).ok());
}

// relatime, and the lock it costs: a read moves atime when atime is not after mtime and
// ctime, or is a day old; a read of a file whose atime is current takes no i_lock (as
// atime_needs_update asks without one).
TEST_F(FileTest, ReadMovesAtimeByRelatimeAndTakesILockOnlyToMoveIt) {
  File* f = create("f");
  const core::Ino ino = core::file_ino(f);
  put(f, 0, "hello");
  auto i_lock = [&] {
    return record_locks([&] { EXPECT_EQ(get(f, 0, 5).size(), 5u); }, {"i_lock"}).size();
  };
  EXPECT_EQ(i_lock(), 1u);  // atime not after the write's mtime: moves
  struct stat st = stat_of(ino);
  EXPECT_TRUE(later(st.st_atim, st.st_mtim));
  const struct timespec first = st.st_atim;
  EXPECT_EQ(i_lock(), 0u);  // current: no lock, no change
  EXPECT_EQ(stat_of(ino).st_atim.tv_sec, first.tv_sec);
  EXPECT_EQ(stat_of(ino).st_atim.tv_nsec, first.tv_nsec);
  put(f, 0, "j");  // mtime and ctime move past atime
  EXPECT_EQ(i_lock(), 1u);
  EXPECT_TRUE(later(stat_of(ino).st_atim, first));
  core::SetAttrIn in;  // touch -a -d "2 days ago" (ctime moves too): the next read moves it
  in.valid = core::kSetAtime;
  in.atime = {stat_of(ino).st_atim.tv_sec - 2 * 86400, 0};
  ASSERT_TRUE(vfs->setattr(ino, in, nullptr).ok());
  EXPECT_EQ(i_lock(), 1u);
  EXPECT_TRUE(later(stat_of(ino).st_atim, in.atime));
  // atime after mtime and ctime but two days old: relatime's age rule moves it.
  const time_t now = stat_of(ino).st_atim.tv_sec;
  in.valid = core::kSetAtime | core::kSetMtime | core::kSetCtime;
  in.atime = {now - 2 * 86400, 0};
  in.mtime = in.ctime = {now - 3 * 86400, 0};
  ASSERT_TRUE(vfs->setattr(ino, in, nullptr).ok());
  ASSERT_EQ(stat_of(ino).st_ctim.tv_sec, now - 3 * 86400);
  EXPECT_EQ(i_lock(), 1u);
  EXPECT_GE(stat_of(ino).st_atim.tv_sec, now);
  // ... and the same times with atime under a day old leave it alone, without the lock.
  in.atime = {now - 3600, 0};
  ASSERT_TRUE(vfs->setattr(ino, in, nullptr).ok());
  EXPECT_EQ(i_lock(), 0u);
  EXPECT_EQ(stat_of(ino).st_atim.tv_sec, now - 3600);
  in.valid = core::kSetAtime;
  ASSERT_TRUE(vfs->fileattr_set(ino, core::kFlagNoatime).ok());  // chattr +A: never moves
  in.atime = {1, 0};
  ASSERT_TRUE(vfs->setattr(ino, in, nullptr).ok());
  EXPECT_EQ(i_lock(), 0u);
  EXPECT_EQ(stat_of(ino).st_atim.tv_sec, 1);
  ASSERT_TRUE(vfs->release(f).ok());
}

TEST_F(FileTest, AppendWritesAtEnd) {
  File* f = create("f");
  put(f, 0, "abc");
  ASSERT_TRUE(vfs->release(f).ok());
  auto a = vfs->open(ino_of("/f"), O_WRONLY | O_APPEND);
  ASSERT_TRUE(a.ok());
  put(*a, 0, "def");
  ASSERT_TRUE(vfs->release(*a).ok());
  auto r = vfs->open(ino_of("/f"), O_RDONLY);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(get(*r, 0, 10), "abcdef");
  EXPECT_EQ(vfs->write(*r, 0, std::span<const char>("x", 1)).error(), -EBADF);
  ASSERT_TRUE(vfs->release(*r).ok());
}

TEST_F(FileTest, OpenErrors) {
  const core::Ino d = mkdir(kRootIno, "d");
  EXPECT_EQ(vfs->open(d, O_WRONLY).error(), -EISDIR);
  const core::Ino f = mkfile(kRootIno, "f", 0600);
  EXPECT_EQ(vfs->open(f, O_RDONLY | O_DIRECTORY).error(), -ENOTDIR);
  auto e = vfs->create(kRootIno, "f", 0644, O_CREAT | O_EXCL | O_RDWR);
  EXPECT_EQ(e.error(), -EEXIST);
  {
    AsUser user(1000, 1000);
    EXPECT_EQ(vfs->open(f, O_RDONLY).error(), -EACCES);
  }
  auto l = vfs->symlink(kRootIno, "l", "f");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(vfs->open(l->ino, O_RDONLY).error(), -ELOOP);
}

TEST_F(FileTest, OTruncTakesSetattrLocks) {
  File* f = create("f");
  put(f, 0, std::string(10000, 'x'));
  ASSERT_TRUE(vfs->release(f).ok());
  File* t = nullptr;
  const core::Ino ino = ino_of("/f");
  auto ev = record_locks([&] {
    auto r = vfs->open(ino, O_RDWR | O_TRUNC);
    ASSERT_TRUE(r.ok());
    t = *r;
  });
  ASSERT_GE(ev.size(), 2u) << format_events(ev);
  EXPECT_EQ(ev[0].cls, "i_rwsem(reg)");
  EXPECT_EQ(ev[0].mode, Mode::kExclusive);
  EXPECT_EQ(ev[1].cls, "invalidate_lock");
  EXPECT_EQ(ev[1].mode, Mode::kExclusive);
  EXPECT_EQ(stat_of(core::file_ino(t)).st_size, 0);
  EXPECT_EQ(get(t, 0, 10), "");
  ASSERT_TRUE(vfs->release(t).ok());
}

TEST_F(FileTest, TruncateShrinksAndGrowsWithHoles) {
  File* f = create("f");
  put(f, 0, "0123456789");
  const core::Ino ino = core::file_ino(f);
  ASSERT_TRUE(vfs->setattr(ino, {.valid = core::kSetSize, .size = 4}, f).ok());
  ASSERT_TRUE(vfs->setattr(ino, {.valid = core::kSetSize, .size = 8}, f).ok());
  EXPECT_EQ(get(f, 0, 20), std::string("0123\0\0\0\0", 8));
  const core::Ino d = mkdir(kRootIno, "d");
  EXPECT_EQ(vfs->setattr(d, {.valid = core::kSetSize, .size = 0}, nullptr).error(), -EISDIR);
  EXPECT_EQ(vfs->setattr(ino, {.valid = core::kSetSize, .size = uint64_t{1} << 50}, f).error(),
            -EFBIG);
  ASSERT_TRUE(vfs->release(f).ok());
}

TEST_F(FileTest, UnlinkedOpenFileKeepsDataUntilRelease) {
  File* f = create("f");
  put(f, 0, "data");
  const core::Ino ino = core::file_ino(f);
  ASSERT_TRUE(vfs->unlink(kRootIno, "f").ok());
  EXPECT_EQ(get(f, 0, 10), "data");
  EXPECT_EQ(stat_of(ino).st_nlink, 0u);
  const uint64_t live = vfs->live_inodes();
  ASSERT_TRUE(vfs->release(f).ok());
  EXPECT_EQ(vfs->live_inodes(), live - 1);
  EXPECT_EQ(vfs->getattr(ino).error(), -ENOENT);
}

TEST_F(FileTest, WriteByOtherUserClearsSetuid) {
  File* f = create("f", O_RDWR, 06777);
  const core::Ino ino = core::file_ino(f);
  ASSERT_TRUE(vfs->setattr(ino, {.valid = core::kSetMode, .mode = 06777}, nullptr).ok());
  ASSERT_TRUE(vfs->release(f).ok());
  AsUser user(1000, 1000);
  auto w = vfs->open(ino, O_WRONLY);
  ASSERT_TRUE(w.ok());
  put(*w, 0, "x");
  EXPECT_EQ(stat_of(ino).st_mode & 07777, 0777u);
  ASSERT_TRUE(vfs->release(*w).ok());
}

TEST_F(FileTest, ImmutableAndAppendOnly) {
  File* f = create("f");
  put(f, 0, "abc");
  const core::Ino ino = core::file_ino(f);
  ASSERT_TRUE(vfs->fileattr_set(ino, core::kFlagImmutable).ok());
  EXPECT_EQ(*vfs->fileattr_get(ino), core::kFlagImmutable);
  EXPECT_EQ(vfs->write(f, 0, std::span<const char>("x", 1)).error(), -EPERM);
  EXPECT_EQ(vfs->open(ino, O_WRONLY).error(), -EPERM);
  EXPECT_EQ(vfs->unlink(kRootIno, "f").error(), -EPERM);
  EXPECT_EQ(vfs->rename(kRootIno, "f", kRootIno, "g", 0).error(), -EPERM);
  EXPECT_EQ(vfs->link(ino, kRootIno, "g").error(), -EPERM);
  EXPECT_EQ(vfs->setattr(ino, {.valid = core::kSetMode, .mode = 0600}, nullptr).error(), -EPERM);
  EXPECT_EQ(vfs->setxattr(ino, "user.a", std::span<const char>("v", 1), 0).error(), -EPERM);
  ASSERT_TRUE(vfs->fileattr_set(ino, core::kFlagAppend).ok());
  EXPECT_EQ(vfs->open(ino, O_WRONLY).error(), -EPERM);
  EXPECT_EQ(vfs->open(ino, O_WRONLY | O_APPEND | O_TRUNC).error(), -EPERM);
  auto a = vfs->open(ino, O_WRONLY | O_APPEND);
  ASSERT_TRUE(a.ok());
  put(*a, 0, "def");
  EXPECT_EQ(get(f, 0, 10), "abcdef");
  EXPECT_EQ(vfs->setattr(ino, {.valid = core::kSetSize, .size = 0}, nullptr).error(), -EPERM);
  EXPECT_EQ(vfs->unlink(kRootIno, "f").error(), -EPERM);
  {
    AsUser user(1000, 1000);
    EXPECT_EQ(vfs->fileattr_set(ino, 0).error(), -EPERM);
  }
  EXPECT_EQ(vfs->fileattr_set(ino, 0x1000).error(), -EOPNOTSUPP);
  ASSERT_TRUE(vfs->fileattr_set(ino, 0).ok());
  ASSERT_TRUE(vfs->release(*a).ok());
  ASSERT_TRUE(vfs->release(f).ok());
}

TEST_F(FileTest, SizeLimitIsEnospcAndEfbig) {
  core::MountOptions opts;
  opts.size_bytes = 16 * 4096;
  opts.nr_inodes = 100;
  remount(opts);
  File* f = create("f");
  std::string big(64 * 4096, 'z');
  auto r = vfs->write(f, 0, std::span<const char>(big.data(), big.size()));
  ASSERT_TRUE(r.ok());
  EXPECT_LE(*r, 16u * 4096);  // short write at the limit
  EXPECT_EQ(vfs->write(f, *r, std::span<const char>(big.data(), 4096)).error(), -ENOSPC);
  auto st = vfs->statfs(kRootIno);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->f_bfree, 0u);
  EXPECT_EQ(st->f_namemax, 255u);
  EXPECT_EQ(vfs->write(f, uint64_t{1} << 41, std::span<const char>("x", 1)).error(), -EFBIG);
  ASSERT_TRUE(vfs->release(f).ok());
}

TEST_F(FileTest, FallocatePunchTakesInvalidateLockAndSeekFindsHoles) {
  File* f = create("f");
  put(f, 0, std::string(4 * 4096, 'a'));
  auto ev = record_locks([&] {
    ASSERT_TRUE(
        vfs->fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 2 * 4096).ok());
  });
  ASSERT_GE(ev.size(), 2u) << format_events(ev);
  EXPECT_EQ(ev[0].cls, "i_rwsem(reg)");
  EXPECT_EQ(ev[1].cls, "invalidate_lock");
  EXPECT_EQ(ev[1].mode, Mode::kExclusive);
  EXPECT_EQ(get(f, 4096, 4), std::string(4, '\0'));
  EXPECT_EQ(*vfs->lseek(f, 0, SEEK_HOLE), 4096);
  EXPECT_EQ(*vfs->lseek(f, 4096, SEEK_DATA), 3 * 4096);
  EXPECT_EQ(vfs->lseek(f, 4 * 4096, SEEK_DATA).error(), -ENXIO);
  EXPECT_EQ(stat_of(core::file_ino(f)).st_size, 4 * 4096);
  ASSERT_TRUE(vfs->fallocate(f, 0, 0, 8 * 4096).ok());
  EXPECT_EQ(stat_of(core::file_ino(f)).st_size, 8 * 4096);
  EXPECT_EQ(vfs->fallocate(f, FALLOC_FL_PUNCH_HOLE, 0, 1).error(), -EOPNOTSUPP);
  EXPECT_EQ(vfs->fallocate(f, 0, -1, 1).error(), -EINVAL);
  EXPECT_EQ(vfs->fallocate(f, 0x100, 0, 1).error(), -EOPNOTSUPP);
  ASSERT_TRUE(vfs->release(f).ok());
}

TEST_F(FileTest, CopyFileRangeLocksDestination) {
  File* a = create("a");
  File* b = create("b");
  put(a, 0, "0123456789");
  auto ev = record_locks([&] {
    auto r = vfs->copy_file_range(a, 2, b, 0, 5, 0);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, 5u);
  });
  bool inval = false;
  for (const auto& e : ev) {
    if (e.cls == "invalidate_lock" && e.object == core::file_ino(b) && e.mode == Mode::kExclusive) {
      inval = true;
    }
  }
  EXPECT_TRUE(inval) << format_events(ev);
  EXPECT_EQ(get(b, 0, 10), "23456");
  EXPECT_EQ(vfs->copy_file_range(a, 0, a, 2, 5, 0).error(), -EINVAL);
  EXPECT_EQ(vfs->copy_file_range(a, 0, b, 0, 5, 1).error(), -EINVAL);
  ASSERT_TRUE(vfs->release(a).ok());
  ASSERT_TRUE(vfs->release(b).ok());
}

// The client's writeback (FUSE_WRITE_CACHE) inside i_size is a ->page_mkwrite store:
// invalidate_lock shared, no i_rwsem; times move, suid/sgid stay (file_update_time only).
TEST_F(FileTest, WritebackStoreTakesInvalidateLockSharedNotIRwsem) {
  File* f = create("f", O_RDWR, 06777);
  const core::Ino ino = core::file_ino(f);
  put(f, 0, std::string(2 * 4096, 'a'));
  ASSERT_TRUE(vfs->setattr(ino, {.valid = core::kSetMode, .mode = 06777}, nullptr).ok());
  ASSERT_TRUE(vfs->setattr(ino, {.valid = core::kSetMtime, .mtime = {1, 0}}, nullptr).ok());
  auto ev = record_locks([&] {
    AsUser user(1000, 1000);  // not CAP_FSETID: a write(2) by this user would drop the bits
    auto r = vfs->write_cached(f, 4000, std::span<const char>("xyz", 3));
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(*r, 3u);
  });
  ASSERT_EQ(ev.size(), 1u) << format_events(ev);
  EXPECT_EQ(ev[0].cls, "invalidate_lock");
  EXPECT_EQ(ev[0].mode, Mode::kShared);
  EXPECT_EQ(get(f, 3999, 5), "axyza");
  const struct stat st = stat_of(ino);
  EXPECT_EQ(st.st_size, 2 * 4096);
  EXPECT_EQ(st.st_mode & 07777, 06777u);
  EXPECT_GT(st.st_mtime, 1);
  ASSERT_TRUE(vfs->release(f).ok());
}

// A hole inside i_size gets a page, as a fault on it would.
TEST_F(FileTest, WritebackStoreFillsAHoleInsideSize) {
  File* f = create("f");
  const core::Ino ino = core::file_ino(f);
  ASSERT_TRUE(vfs->setattr(ino, {.valid = core::kSetSize, .size = 4 * 4096}, nullptr).ok());
  EXPECT_EQ(stat_of(ino).st_blocks, 0);
  const std::string page(4096, 'p');
  auto r = vfs->write_cached(f, 2 * 4096, std::span<const char>(page.data(), page.size()));
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(*r, 4096u);
  EXPECT_EQ(stat_of(ino).st_blocks, 8);
  EXPECT_EQ(get(f, 2 * 4096 - 1, 2), std::string("\0p", 2));
  EXPECT_EQ(*vfs->lseek(f, 0, SEEK_DATA), 2 * 4096);
  ASSERT_TRUE(vfs->release(f).ok());
}

// Past i_size (only the writeback cache sends that) the file grows, under i_rwsem.
TEST_F(FileTest, WritebackStorePastSizeGrowsUnderIRwsem) {
  File* f = create("f", O_RDWR, 06777);
  const core::Ino ino = core::file_ino(f);
  ASSERT_TRUE(vfs->setattr(ino, {.valid = core::kSetMode, .mode = 06777}, nullptr).ok());
  put(f, 0, "abc");
  ASSERT_TRUE(vfs->setattr(ino, {.valid = core::kSetMode, .mode = 06777}, nullptr).ok());
  auto ev = record_locks([&] {
    AsUser user(1000, 1000);
    auto r = vfs->write_cached(f, 2, std::span<const char>("XYZ", 3));
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(*r, 3u);
  });
  ASSERT_EQ(ev.size(), 2u) << format_events(ev);
  EXPECT_EQ(ev[0].cls, "invalidate_lock");  // tried the store first: past i_size
  EXPECT_EQ(ev[1].cls, "i_rwsem(reg)");
  EXPECT_EQ(ev[1].mode, Mode::kExclusive);
  EXPECT_EQ(get(f, 0, 10), "abXYZ");
  EXPECT_EQ(stat_of(ino).st_size, 5);
  EXPECT_EQ(stat_of(ino).st_mode & 07777, 06777u);
  EXPECT_EQ(vfs->write_cached(f, uint64_t{1} << 41, std::span<const char>("x", 1)).error(),
            -EFBIG);
  ASSERT_TRUE(vfs->release(f).ok());
}

// Writeback stores racing truncates: none may leave a page past i_size (its check of i_size
// and its allocation happen under invalidate_lock, which truncate takes exclusive), and each
// page holds one store's bytes or zeros. Each round ends with a shrink while the stores run,
// then parks them and checks.
TEST_F(FileTest, WritebackStoresRacingTruncateLeaveNoPagePastEof) {
  File* f = create("f");
  const core::Ino ino = core::file_ino(f);
  constexpr uint64_t kPages = 16;
  std::atomic<bool> stop{false}, park{false};
  std::atomic<int> parked{0};
  auto writer = [&](unsigned seed) {
    const std::string page(4096, 'x');
    for (unsigned i = 0; !stop.load(); ++i) {
      if (park.load()) {
        parked.fetch_add(1);
        while (park.load() && !stop.load()) std::this_thread::yield();
        parked.fetch_sub(1);
        continue;
      }
      const uint64_t index = (i * 7 + seed) % kPages;
      (void)vfs->write_cached(f, index * 4096, std::span<const char>(page.data(), page.size()));
    }
  };
  std::thread a(writer, 1), b(writer, 2);
  for (int round = 0; round < 600 && !HasFailure(); ++round) {
    for (int i = 0; i < 10; ++i) {
      const uint64_t size = (i % 2) ? (i % 5) * 4096 : kPages * 4096;
      ASSERT_TRUE(vfs->setattr(ino, {.valid = core::kSetSize, .size = size}, nullptr).ok());
    }
    park = true;
    while (parked.load() < 2) std::this_thread::yield();
    const struct stat st = stat_of(ino);
    const uint64_t pages_in_size = (uint64_t(st.st_size) + 4095) / 4096;
    EXPECT_LE(uint64_t(st.st_blocks) / 8, pages_in_size) << "round " << round;
    const std::string all = get(f, 0, st.st_size);
    ASSERT_EQ(all.size(), uint64_t(st.st_size));
    for (uint64_t p = 0; p < pages_in_size; ++p) {
      const std::string pg = all.substr(p * 4096, 4096);
      EXPECT_TRUE(pg.find_first_not_of('x') == std::string::npos ||
                  pg.find_first_not_of('\0') == std::string::npos)
          << "page " << p << " mixes stores and zeros";
    }
    park = false;
  }
  stop = true;
  a.join();
  b.join();
  ASSERT_TRUE(vfs->release(f).ok());
}

// vfs_write's checks apply to the writeback too.
TEST_F(FileTest, WritebackStoreChecksTheFile) {
  File* f = create("f");
  put(f, 0, "abc");
  const core::Ino ino = core::file_ino(f);
  auto ro = vfs->open(ino, O_RDONLY);
  ASSERT_TRUE(ro.ok());
  EXPECT_EQ(vfs->write_cached(*ro, 0, std::span<const char>("x", 1)).error(), -EBADF);
  ASSERT_TRUE(vfs->fileattr_set(ino, core::kFlagImmutable).ok());
  EXPECT_EQ(vfs->write_cached(f, 0, std::span<const char>("x", 1)).error(), -EPERM);
  ASSERT_TRUE(vfs->fileattr_set(ino, 0).ok());
  EXPECT_EQ(get(f, 0, 3), "abc");
  ASSERT_TRUE(vfs->release(*ro).ok());
  ASSERT_TRUE(vfs->release(f).ok());
}

TEST_F(FileTest, TmpfileCanBeLinkedUnlessExcl) {
  auto t = vfs->tmpfile(kRootIno, 0600, O_RDWR);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->entry.attr.st_nlink, 0u);
  put(t->file, 0, "tmp");
  auto l = vfs->link(t->entry.ino, kRootIno, "named");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->attr.st_nlink, 1u);
  ASSERT_TRUE(vfs->release(t->file).ok());
  auto x = vfs->tmpfile(kRootIno, 0600, O_RDWR | O_EXCL);
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(vfs->link(x->entry.ino, kRootIno, "never").error(), -ENOENT);
  EXPECT_EQ(vfs->tmpfile(kRootIno, 0600, O_RDONLY).error(), -EINVAL);
  ASSERT_TRUE(vfs->release(x->file).ok());
}

}  // namespace
}  // namespace lockfs::testing

// POSIX record locks and flock: conflicts, splitting/merging per owner, F_GETLK, blocking
// waits that are granted or killed (-EINTR).
#include <gtest/gtest.h>
#include <sys/file.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <limits>
#include <thread>

#include "core/file_lock.h"
#include "core/vfs.h"
#include "locking/sync_point.h"
#include "tests/support/core_fixture.h"
#include "tests/support/lock_recorder.h"

namespace lockfs::testing {
namespace {

using core::File;
using core::kRootIno;

struct flock lk(short type, off_t start, off_t len) {
  struct flock l {};
  l.l_type = type;
  l.l_whence = SEEK_SET;
  l.l_start = start;
  l.l_len = len;
  return l;
}

class LocksTest : public CoreTest {
 protected:
  void SetUp() override {
    CoreTest::SetUp();
    auto c = vfs->create(kRootIno, "f", 0644, O_CREAT | O_RDWR);
    ASSERT_TRUE(c.ok());
    vfs->forget(c->entry.ino, 1);
    f1 = c->file;
    auto o = vfs->open(c->entry.ino, O_RDWR);
    ASSERT_TRUE(o.ok());
    f2 = *o;
  }
  void TearDown() override {
    if (f1) {
      EXPECT_TRUE(vfs->release(f1).ok());
    }
    if (f2) {
      EXPECT_TRUE(vfs->release(f2).ok());
    }
    CoreTest::TearDown();
  }
  File* f1 = nullptr;
  File* f2 = nullptr;
};

TEST(PosixLockRanges, SplitAndMerge) {
  std::vector<core::PosixLock> locks;
  const uint64_t kEof = std::numeric_limits<uint64_t>::max();
  core::posix_apply(locks, {1, F_WRLCK, 0, kEof, 0});
  core::posix_apply(locks, {1, F_UNLCK, 10, 19, 0});  // split in two
  ASSERT_EQ(locks.size(), 2u);
  EXPECT_EQ(locks[0].end, 9u);
  EXPECT_EQ(locks[1].start, 20u);
  core::posix_apply(locks, {1, F_RDLCK, 10, 19, 0});  // different type: three pieces
  EXPECT_EQ(locks.size(), 3u);
  core::posix_apply(locks, {1, F_WRLCK, 10, 19, 0});  // same type again: merged into one
  ASSERT_EQ(locks.size(), 1u);
  EXPECT_EQ(locks[0].start, 0u);
  EXPECT_EQ(locks[0].end, kEof);
  core::PosixLock other{2, F_RDLCK, 5, 5, 0};
  EXPECT_NE(core::posix_conflict(locks, other), nullptr);
}

TEST_F(LocksTest, PosixConflictsAndGetlk) {
  ASSERT_TRUE(vfs->setlk(f1, 1, lk(F_WRLCK, 0, 100), false).ok());
  EXPECT_EQ(vfs->setlk(f2, 2, lk(F_RDLCK, 50, 10), false).error(), -EAGAIN);
  auto g = vfs->getlk(f2, 2, lk(F_RDLCK, 50, 10));
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->l_type, F_WRLCK);
  EXPECT_EQ(g->l_start, 0);
  EXPECT_EQ(g->l_len, 100);
  ASSERT_TRUE(vfs->setlk(f2, 2, lk(F_RDLCK, 100, 0), false).ok());  // adjacent range is free
  ASSERT_TRUE(vfs->flush(f1, 1).ok());  // close drops owner 1's locks
  EXPECT_TRUE(vfs->setlk(f2, 2, lk(F_WRLCK, 0, 10), false).ok());
  EXPECT_EQ(vfs->getlk(f1, 1, lk(F_WRLCK, 200, 1))->l_type, F_RDLCK);
  EXPECT_EQ(vfs->setlk(f1, 1, lk(F_WRLCK, -5, 1), false).error(), -EINVAL);
}

TEST_F(LocksTest, SetlkwWaitsUntilGranted) {
  ASSERT_TRUE(vfs->setlk(f1, 1, lk(F_WRLCK, 0, 0), false).ok());
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    EXPECT_TRUE(vfs->setlk(f2, 2, lk(F_WRLCK, 0, 0), true).ok());
    got = true;
  });
  // Releasing is what lets the waiter in; the waiter may or may not be asleep yet.
  ASSERT_TRUE(vfs->setlk(f1, 1, lk(F_UNLCK, 0, 0), false).ok());
  waiter.join();
  EXPECT_TRUE(got.load());
  EXPECT_EQ(vfs->setlk(f1, 1, lk(F_RDLCK, 0, 1), false).error(), -EAGAIN);
}

TEST_F(LocksTest, SetlkwIsKillable) {
  ASSERT_TRUE(vfs->setlk(f1, 1, lk(F_WRLCK, 0, 0), false).ok());
  locking::Task task(77, 0, 0, "waiter");
  task.send_fatal_signal();  // pending before the wait: the wait returns -EINTR at once
  std::thread waiter([&] {
    locking::TaskScope scope(task);
    EXPECT_EQ(vfs->setlk(f2, 2, lk(F_WRLCK, 0, 0), true).error(), -EINTR);
  });
  waiter.join();
  ASSERT_TRUE(vfs->setlk(f1, 1, lk(F_UNLCK, 0, 0), false).ok());
}

// Every close sends a flush, and the last one a release. On an inode that never had a lock
// there is nothing to drop (locks_remove_posix and locks_remove_file return at once), so
// neither runs a nested lock operation. Once a lock context exists, both do.
TEST_F(LocksTest, CloseRunsALockOperationOnlyWhereLocksWereUsed) {
  auto ops = record_ops([&] {
    ASSERT_TRUE(vfs->flush(f2, 2).ok());
    ASSERT_TRUE(vfs->release(f2).ok());
  });
  f2 = nullptr;
  EXPECT_EQ(ops, (std::vector<std::string>{"flush", "release"}));
  ASSERT_TRUE(vfs->setlk(f1, 1, lk(F_RDLCK, 0, 1), false).ok());
  ops = record_ops([&] {
    ASSERT_TRUE(vfs->flush(f1, 1).ok());
    ASSERT_TRUE(vfs->release(f1).ok());
  });
  f1 = nullptr;
  EXPECT_EQ(ops, (std::vector<std::string>{"flush", "setlk", "release", "flock"}));
}

TEST_F(LocksTest, FlockSharedExclusiveAndNonBlocking) {
  ASSERT_TRUE(vfs->flock(f1, 1, LOCK_SH).ok());
  ASSERT_TRUE(vfs->flock(f2, 2, LOCK_SH | LOCK_NB).ok());
  EXPECT_EQ(vfs->flock(f2, 2, LOCK_EX | LOCK_NB).error(), -EWOULDBLOCK);
  ASSERT_TRUE(vfs->flock(f1, 1, LOCK_UN).ok());
  // f2 lost its shared lock trying to convert (flock drops the old lock first): take it now.
  ASSERT_TRUE(vfs->flock(f2, 2, LOCK_EX | LOCK_NB).ok());
  EXPECT_EQ(vfs->flock(f1, 1, LOCK_SH | LOCK_NB).error(), -EWOULDBLOCK);
  std::thread waiter([&] { EXPECT_TRUE(vfs->flock(f1, 1, LOCK_SH).ok()); });
  ASSERT_TRUE(vfs->release(f2).ok());  // release drops f2's flock lock
  f2 = nullptr;
  waiter.join();
  EXPECT_EQ(vfs->flock(f1, 1, 0).error(), -EINVAL);
}

}  // namespace
}  // namespace lockfs::testing

namespace lockfs::testing {
namespace {

TEST_F(LocksTest, SetlkwThatWouldDeadlockIsEdeadlk) {
  ASSERT_TRUE(vfs->setlk(f1, 1, lk(F_WRLCK, 0, 1), false).ok());  // A holds byte 0
  ASSERT_TRUE(vfs->setlk(f2, 2, lk(F_WRLCK, 1, 1), false).ok());  // B holds byte 1
  std::mutex mu;
  std::condition_variable cv;
  bool waiting = false;
  locking::sync_point_set("setlk:wait", [&] {
    std::lock_guard g(mu);
    waiting = true;
    cv.notify_all();
  });
  std::thread b([&] { EXPECT_TRUE(vfs->setlk(f2, 2, lk(F_WRLCK, 0, 1), true).ok()); });
  {
    std::unique_lock g(mu);
    cv.wait(g, [&] { return waiting; });  // B now waits for A
  }
  EXPECT_EQ(vfs->setlk(f1, 1, lk(F_WRLCK, 1, 1), true).error(), -EDEADLK);
  ASSERT_TRUE(vfs->setlk(f1, 1, lk(F_UNLCK, 0, 1), false).ok());
  b.join();
  locking::sync_point_clear_all();
}

}  // namespace
}  // namespace lockfs::testing

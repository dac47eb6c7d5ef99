// FolioFlags: the PG_locked bit lock (hashed wait queues), killable lock, writeback wait.
#include "locking/folio_flags.h"

#include <thread>
#include <vector>

#include "locking/task.h"
#include "tests/unit/locking/locking_fixture.h"

namespace lockfs::locking {
namespace {

using testing::class_folio;
using testing::wait_until;

class FolioFlagsTest : public testing::LockingTest {};

TEST_F(FolioFlagsTest, LockTrylockUnlock) {
  FolioFlags f(class_folio(), 10, 3);
  EXPECT_FALSE(f.locked());
  f.lock();
  EXPECT_TRUE(f.locked());
  EXPECT_FALSE(f.trylock());
  f.assert_locked();
  EXPECT_EQ(held_locks().at(0).map.object, 10u);
  EXPECT_EQ(held_locks().at(0).map.aux, 3u);
  f.unlock();
  EXPECT_FALSE(f.locked());
  f.assert_not_locked();
  EXPECT_EQ(violation_count(), 0u);
}

TEST_F(FolioFlagsTest, OtherBitsAreIndependent) {
  FolioFlags f(class_folio(), 1, 0);
  f.set_uptodate();
  EXPECT_TRUE(f.set_dirty());
  EXPECT_FALSE(f.set_dirty());
  f.lock();
  f.unlock();
  EXPECT_TRUE(f.uptodate());
  EXPECT_TRUE(f.dirty());
  EXPECT_TRUE(f.test_clear_dirty());
  EXPECT_FALSE(f.dirty());
}

TEST_F(FolioFlagsTest, ContendedLockExcludes) {
  // Several folios share hashed queues; waiters of one must not be lost to another's wake-up.
  std::vector<std::unique_ptr<FolioFlags>> folios;
  for (int i = 0; i < 4; ++i) folios.push_back(std::make_unique<FolioFlags>(class_folio(), 1, i));
  int counters[4] = {};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1500; ++i) {
        FolioFlags& f = *folios[(t + i) % 4];
        f.lock();
        ++counters[(t + i) % 4];
        f.unlock();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counters[0] + counters[1] + counters[2] + counters[3], 6000);
}

TEST_F(FolioFlagsTest, LockKillableReturnsEintrOnKill) {
  FolioFlags f(class_folio(), 2, 0);
  f.lock();
  Task task(11, 0, 0);
  std::atomic<int> rc{1};
  std::thread waiter([&] {
    TaskScope scope(task);
    rc = f.lock_killable();
  });
  wait_until([&] { return f.has_waiters(); });
  task.send_fatal_signal();
  waiter.join();
  EXPECT_EQ(rc.load(), -EINTR);
  EXPECT_TRUE(f.locked());  // still ours
  f.unlock();
  EXPECT_FALSE(f.locked());
}

TEST_F(FolioFlagsTest, LockKillableWithSignalPending) {
  FolioFlags f(class_folio(), 2, 1);
  Task task(11, 0, 0);
  TaskScope scope(task);
  task.send_fatal_signal();
  EXPECT_EQ(f.lock_killable(), -EINTR);
  EXPECT_FALSE(f.locked());
}

TEST_F(FolioFlagsTest, WaitWritebackSleepsUntilEnd) {
  FolioFlags f(class_folio(), 3, 0);
  f.lock();
  f.start_writeback();
  f.unlock();
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    f.wait_writeback();
    done = true;
  });
  wait_until([&] { return f.has_waiters(); });
  EXPECT_FALSE(done.load());
  EXPECT_TRUE(f.writeback());
  f.end_writeback();
  waiter.join();
  EXPECT_TRUE(done.load());
  EXPECT_FALSE(f.writeback());
  f.wait_writeback();  // not under writeback: returns at once
}

}  // namespace
}  // namespace lockfs::locking

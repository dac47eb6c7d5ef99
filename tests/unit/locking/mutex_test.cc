// Mutex and SpinLock: exclusion, trylock, killable waits, held-stack bookkeeping.
#include "locking/mutex.h"

#include <thread>
#include <vector>

#include "locking/task.h"
#include "tests/unit/locking/locking_fixture.h"

namespace lockfs::locking {
namespace {

using testing::class_a;
using testing::class_spin;
using testing::wait_until;

class MutexTest : public testing::LockingTest {};

TEST_F(MutexTest, LockTrylockUnlock) {
  Mutex m(class_a(), 3);
  m.lock();
  EXPECT_TRUE(m.is_locked());
  EXPECT_FALSE(testing::can_lock(m));
  m.assert_held();
  m.unlock();
  EXPECT_TRUE(testing::can_lock(m));
  m.assert_not_held();
  EXPECT_EQ(violation_count(), 0u);
}

TEST_F(MutexTest, ExcludesAcrossThreads) {
  Mutex m(class_a());
  int counter = 0;  // plain int: TSan checks the mutex really orders these
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        MutexGuard g(m);
        ++counter;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, 8000);
}

TEST_F(MutexTest, KillableWaitReturnsEintrOnKill) {
  Mutex m(class_a());
  m.lock();
  Task task(5, 0, 0);
  std::atomic<int> rc{1};
  std::thread waiter([&] {
    TaskScope scope(task);
    rc = m.lock_killable();
  });
  wait_until([&] { return m.nr_waiters() == 1; });
  task.send_fatal_signal();
  waiter.join();
  EXPECT_EQ(rc.load(), -EINTR);
  EXPECT_EQ(m.nr_waiters(), 0);
  m.unlock();
  EXPECT_FALSE(m.is_locked());
}

TEST_F(MutexTest, KillableWithSignalPendingFailsAtOnce) {
  Mutex m(class_a());
  Task task(5, 0, 0);
  TaskScope scope(task);
  task.send_fatal_signal();
  task.send_fatal_signal();  // idempotent
  EXPECT_EQ(m.lock_killable(), -EINTR);
  EXPECT_FALSE(m.is_locked());
  EXPECT_TRUE(held_locks().empty());
}

TEST_F(MutexTest, KillableSucceedsWithoutSignal) {
  Mutex m(class_a());
  ASSERT_EQ(m.lock_killable(), 0);
  m.assert_held();
  m.unlock();
}

TEST_F(MutexTest, SpinLockExcludesAcrossThreads) {
  SpinLock l(class_spin());
  int counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        SpinGuard g(l);
        ++counter;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, 6000);
  EXPECT_FALSE(l.is_locked());
}

TEST_F(MutexTest, SpinLockTrylock) {
  SpinLock l(class_spin());
  EXPECT_TRUE(testing::can_lock(l));
  l.lock();
  EXPECT_FALSE(testing::can_lock(l));
  l.assert_held();
  l.unlock();
  l.assert_not_held();
  EXPECT_EQ(violation_count(), 0u);
}

}  // namespace
}  // namespace lockfs::locking

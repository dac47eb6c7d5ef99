// Mutex and SpinLock: exclusion, trylock, killable waits, held-stack bookkeeping.
#include "locking/mutex.h"

#include <time.h>

#include <atomic>
#include <chrono>
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

// `nthreads` threads each take the lock `iters` times around a plain increment (TSan checks
// the lock really orders them); with nap_every, every nap_every-th hold also sleeps 200 us,
// so waiters pile up and go to sleep. Returns the count.
int hammer(SpinLock& l, int nthreads, int iters, int nap_every = 0) {
  int counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < nthreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < iters; ++i) {
        SpinGuard g(l);
        ++counter;
        if (nap_every && i % nap_every == 0) {
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return counter;
}

TEST_F(MutexTest, SpinLockExcludesAcrossThreads) {
  SpinLock l(class_spin());
  EXPECT_EQ(hammer(l, 3, 2000), 6000);
  EXPECT_FALSE(l.is_locked());
}

// Our holder can be preempted, so a waiter must not burn its CPU until the holder runs
// again: it spins briefly, then sleeps on the lock word until the unlock wakes it. The
// waiter's CPU time over a 200 ms hold is what tells (a spinning or yielding waiter uses
// most of it).
TEST_F(MutexTest, SpinLockWaiterSleepsWhileTheHolderIsAway) {
  SpinLock l(class_spin());
  l.lock();
  std::atomic<bool> got{false};
  std::atomic<int64_t> cpu_ns{-1};
  std::thread waiter([&] {
    auto thread_cpu_ns = [] {
      struct timespec ts;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
    };
    const int64_t t0 = thread_cpu_ns();
    l.lock();
    cpu_ns = thread_cpu_ns() - t0;
    got = true;
    l.unlock();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(got.load());
  l.unlock();
  waiter.join();
  EXPECT_TRUE(got.load());
  EXPECT_GE(cpu_ns.load(), 0);
  EXPECT_LT(cpu_ns.load(), 20 * 1000 * 1000) << "the waiter spun instead of sleeping";
  EXPECT_FALSE(l.is_locked());
  EXPECT_EQ(violation_count(), 0u);
}

// Many waiters, some asleep: every unlock that leaves sleepers wakes one; none is lost.
TEST_F(MutexTest, SpinLockWakesEverySleeper) {
  SpinLock l(class_spin());
  EXPECT_EQ(hammer(l, 6, 300, 50), 1800);
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

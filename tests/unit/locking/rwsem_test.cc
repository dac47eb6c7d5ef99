// RwSemaphore: modes, trylocks, downgrade, writer fairness, killable waits, and a stress run.
#include "locking/rwsem.h"

#include <deque>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "locking/internal/wait_table.h"
#include "locking/mutex.h"
#include "locking/task.h"
#include "tests/unit/locking/locking_fixture.h"

namespace lockfs::locking {
namespace {

using testing::class_sem;
using testing::class_sem2;
using testing::wait_until;

class RwSemaphoreTest : public testing::LockingTest {};

TEST_F(RwSemaphoreTest, ReadersShareWritersExclude) {
  RwSemaphore sem(class_sem(), 1);
  sem.down_read();
  EXPECT_TRUE(testing::can_down_read(sem));  // a second reader: shared
  EXPECT_FALSE(testing::can_down_write(sem));
  sem.up_read();
  EXPECT_FALSE(sem.is_locked());
  sem.down_write();
  EXPECT_FALSE(testing::can_down_read(sem));
  EXPECT_FALSE(testing::can_down_write(sem));
  sem.assert_held(Mode::kExclusive);
  sem.up_write();
  EXPECT_EQ(violation_count(), 0u);
}

TEST_F(RwSemaphoreTest, HeldStackFollowsModes) {
  RwSemaphore sem(class_sem(), 7);
  sem.down_write();
  EXPECT_EQ(held_locks().size(), 1u);
  EXPECT_EQ(held_locks().at(0).mode, Mode::kExclusive);
  EXPECT_TRUE(lock_is_held(sem.map(), Mode::kExclusive));
  sem.downgrade_write();
  EXPECT_EQ(held_locks().at(0).mode, Mode::kShared);
  EXPECT_TRUE(lock_is_held(sem.map(), Mode::kShared));
  EXPECT_FALSE(lock_is_held(sem.map(), Mode::kExclusive));
  sem.up_read();
  EXPECT_TRUE(held_locks().empty());
  sem.assert_not_held();
  EXPECT_EQ(violation_count(), 0u);
}

TEST_F(RwSemaphoreTest, DowngradeWakesReaders) {
  RwSemaphore sem(class_sem());
  sem.down_write();
  std::atomic<bool> got{false};
  std::thread reader([&] {
    sem.down_read();
    got = true;
    sem.up_read();
  });
  wait_until([&] { return sem.nr_waiters() == 1; });
  EXPECT_FALSE(got.load());
  sem.downgrade_write();  // the reader may now share the lock with us
  wait_until([&] { return got.load(); });
  sem.up_read();
  reader.join();
  EXPECT_EQ(violation_count(), 0u);
}

// A waiting writer blocks new readers, so it gets the lock once the current readers leave.
TEST_F(RwSemaphoreTest, WaitingWriterBlocksNewReaders) {
  RwSemaphore sem(class_sem());
  sem.down_read();
  std::atomic<bool> writer_in{false}, late_reader_in{false};
  std::thread writer([&] {
    sem.down_write();
    writer_in = true;
    EXPECT_FALSE(late_reader_in.load());
    sem.up_write();
  });
  wait_until([&] { return sem.nr_waiters() == 1; });
  EXPECT_FALSE(testing::can_down_read(sem));  // would succeed without writer fairness
  std::thread late_reader([&] {
    sem.down_read();
    late_reader_in = true;
    EXPECT_TRUE(writer_in.load());
    sem.up_read();
  });
  wait_until([&] { return sem.nr_waiters() == 2; });
  EXPECT_FALSE(writer_in.load());
  sem.up_read();
  writer.join();
  late_reader.join();
  EXPECT_TRUE(late_reader_in.load());
}

TEST_F(RwSemaphoreTest, WriterIsNotStarvedByReaders) {
  RwSemaphore sem(class_sem());
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  // Two readers whose holds overlap: without fairness the count need never drop to zero.
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        sem.down_read();
        reads.fetch_add(1);
        std::this_thread::yield();
        sem.up_read();
      }
    });
  }
  wait_until([&] { return reads.load() > 100; });
  sem.down_write();  // must return while the readers keep coming; the watchdog bounds it
  stop = true;
  sem.up_write();
  for (auto& t : readers) t.join();
}

TEST_F(RwSemaphoreTest, KillableWithSignalPendingFailsAtOnceHoldingNothing) {
  RwSemaphore sem(class_sem());
  Task task(42, 0, 0);
  TaskScope scope(task);
  task.send_fatal_signal();
  EXPECT_EQ(sem.down_write_killable(), -EINTR);
  EXPECT_EQ(sem.down_read_killable(), -EINTR);
  EXPECT_FALSE(sem.is_locked());
  EXPECT_TRUE(held_locks().empty());
  EXPECT_EQ(violation_count(), 0u);
}

TEST_F(RwSemaphoreTest, KillWakesOnlyTheKillableWaiter) {
  RwSemaphore sem(class_sem());
  sem.down_write();
  Task killable_task(100, 0, 0), plain_task(200, 0, 0);
  std::atomic<int> killable_rc{1};
  std::atomic<bool> plain_in{false};
  std::thread killable([&] {
    TaskScope scope(killable_task);
    killable_rc = sem.down_write_killable();
  });
  std::thread plain([&] {
    TaskScope scope(plain_task);
    sem.down_read();
    plain_in = true;
    sem.up_read();
  });
  wait_until([&] { return sem.nr_waiters() == 2; });
  killable_task.send_fatal_signal();
  killable.join();
  EXPECT_EQ(killable_rc.load(), -EINTR);
  // The non-killable waiter was not disturbed: still waiting behind our write lock.
  EXPECT_FALSE(plain_in.load());
  EXPECT_EQ(sem.nr_waiters(), 1);
  sem.up_write();
  plain.join();
  EXPECT_TRUE(plain_in.load());
  EXPECT_FALSE(sem.is_locked());
}

// A killed writer must not leave readers queued behind its waiting_writers_ mark.
TEST_F(RwSemaphoreTest, KilledWriterReleasesQueuedReaders) {
  RwSemaphore sem(class_sem());
  sem.down_read();
  Task writer_task(7, 0, 0);
  std::atomic<int> rc{1};
  std::thread writer([&] {
    TaskScope scope(writer_task);
    rc = sem.down_write_killable();
  });
  wait_until([&] { return sem.nr_waiters() == 1; });
  std::atomic<bool> reader_in{false};
  std::thread reader([&] {
    sem.down_read();
    reader_in = true;
    sem.up_read();
  });
  wait_until([&] { return sem.nr_waiters() == 2; });
  writer_task.send_fatal_signal();
  writer.join();
  EXPECT_EQ(rc.load(), -EINTR);
  reader.join();  // admitted alongside our read lock once the writer left
  EXPECT_TRUE(reader_in.load());
  sem.up_read();
}

TEST_F(RwSemaphoreTest, KilledReaderHoldsNothing) {
  RwSemaphore sem(class_sem());
  sem.down_write();
  Task task(9, 0, 0);
  std::atomic<int> rc{1};
  std::atomic<size_t> held_after{99};
  std::thread reader([&] {
    TaskScope scope(task);
    rc = sem.down_read_killable();
    held_after = held_locks().size();
  });
  wait_until([&] { return sem.nr_waiters() == 1; });
  task.send_fatal_signal();
  reader.join();
  EXPECT_EQ(rc.load(), -EINTR);
  EXPECT_EQ(held_after.load(), 0u);
  sem.up_write();
  EXPECT_FALSE(sem.is_locked());
}

// Random shared/exclusive acquisitions of several semaphores, always in index order (so the
// validator stays quiet), checking the rwsem invariants on every acquisition.
TEST_F(RwSemaphoreTest, StressInvariants) {
  constexpr int kSems = 3, kThreads = 4, kIters = 3000;
  struct Guarded {
    RwSemaphore sem{class_sem()};
    std::atomic<int> readers{0}, writers{0};
  };
  Guarded g[kSems];
  std::atomic<int> broken{0};
  auto enter = [&](Guarded& x, bool write) {
    if (write) {
      if (x.writers.fetch_add(1) != 0 || x.readers.load() != 0) broken++;
    } else {
      x.readers.fetch_add(1);
      if (x.writers.load() != 0) broken++;
    }
  };
  auto leave = [&](Guarded& x, bool write) { (write ? x.writers : x.readers).fetch_sub(1); };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    // Conditional acquisitions: beyond the static analysis, checked at runtime instead.
    threads.emplace_back([&, t]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
      std::mt19937 rng(t);
      for (int i = 0; i < kIters; ++i) {
        bool taken[kSems] = {}, write[kSems] = {};
        for (int k = 0; k < kSems; ++k) {
          if (rng() % 2 == 0) continue;
          write[k] = rng() % 3 == 0;
          switch (rng() % 3) {
            case 0:
              if (write[k])
                g[k].sem.down_write();
              else
                g[k].sem.down_read();
              taken[k] = true;
              break;
            case 1:
              taken[k] = write[k] ? g[k].sem.down_write_trylock() : g[k].sem.down_read_trylock();
              break;
            default:
              taken[k] =
                  (write[k] ? g[k].sem.down_write_killable() : g[k].sem.down_read_killable()) == 0;
          }
          if (taken[k]) enter(g[k], write[k]);
        }
        for (int k = kSems - 1; k >= 0; --k) {
          if (!taken[k]) continue;
          if (write[k] && rng() % 4 == 0) {  // downgrade, then read-side release
            leave(g[k], true);
            g[k].sem.downgrade_write();
            enter(g[k], false);
            write[k] = false;
          }
          leave(g[k], write[k]);
          if (write[k])
            g[k].sem.up_write();
          else
            g[k].sem.up_read();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(broken.load(), 0);
  for (auto& x : g) EXPECT_FALSE(x.sem.is_locked());
  EXPECT_EQ(violation_count(), 0u);
}

TEST_F(RwSemaphoreTest, GuardsReleaseOnScopeExit) {
  RwSemaphore a(class_sem()), b(class_sem2());
  {
    WriteGuard wa(a);
    ReadGuard rb(b);
    EXPECT_EQ(held_locks().size(), 2u);
  }
  EXPECT_FALSE(a.is_locked());
  EXPECT_FALSE(b.is_locked());
  EXPECT_TRUE(held_locks().empty());
}

// Issue #7: under 1 KiB of daemon memory per empty file. The locks hold no wait queue; their
// sleepers use the hashed table.
TEST(Issue7, LocksAreAFewWords) {
  EXPECT_LE(sizeof(RwSemaphore), 48u);
  EXPECT_LE(sizeof(Mutex), 40u);
}

// Two locks whose waiters share one hashed wait queue (there are more locks than queues, so
// some pair must). Returns their indexes in `sems`.
std::pair<size_t, size_t> colliding_pair(const std::deque<RwSemaphore>& sems) {
  for (size_t i = 0; i < sems.size(); ++i) {
    for (size_t j = i + 1; j < sems.size(); ++j) {
      if (&internal::lock_waitqueue(&sems[i]) == &internal::lock_waitqueue(&sems[j])) {
        return {i, j};
      }
    }
  }
  ADD_FAILURE() << "no two locks share a wait queue";
  return {0, 1};
}

// Waiters of two locks on one queue: killing one task fails only its wait; a release of one
// lock admits only that lock's waiter, the other goes back to sleep and is woken later.
TEST_F(RwSemaphoreTest, LocksSharingAWaitQueueStayIndependent) {
  std::deque<RwSemaphore> sems;
  for (size_t i = 0; i < (1u << internal::kLockWaitTableBits) + 1; ++i) {
    sems.emplace_back(class_sem(), i);
  }
  const auto [ia, ib] = colliding_pair(sems);
  RwSemaphore& a = sems[ia];
  RwSemaphore& b = sems[ib];
  a.down_write();
  b.down_write();
  Task killed_task(300, 0, 0), b_task(301, 0, 0);
  std::atomic<int> killed_rc{1}, b_rc{1};
  std::thread killed([&] {
    TaskScope scope(killed_task);
    killed_rc = a.down_write_killable();
  });
  std::thread on_b([&] {
    TaskScope scope(b_task);
    const int rc = b.down_read_killable();
    if (rc == 0) b.up_read();
    b_rc = rc;
  });
  wait_until([&] { return a.nr_waiters() == 1 && b.nr_waiters() == 1; });
  killed_task.send_fatal_signal();
  killed.join();
  EXPECT_EQ(killed_rc.load(), -EINTR);
  EXPECT_EQ(b_rc.load(), 1);  // woken (same queue), not killed: still waiting
  EXPECT_EQ(b.nr_waiters(), 1);

  std::atomic<bool> a_in{false};
  std::thread on_a([&] {
    a.down_read();
    a_in = true;
    a.up_read();
  });
  wait_until([&] { return a.nr_waiters() == 1; });
  a.up_write();  // wakes the shared queue: only a's waiter gets in
  on_a.join();
  EXPECT_TRUE(a_in.load());
  EXPECT_EQ(b_rc.load(), 1);
  b.up_write();
  on_b.join();
  EXPECT_EQ(b_rc.load(), 0);
  EXPECT_FALSE(a.is_locked());
  EXPECT_FALSE(b.is_locked());
}

}  // namespace
}  // namespace lockfs::locking

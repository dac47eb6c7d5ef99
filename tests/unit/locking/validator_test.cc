// The validator: order cycles (AB/BA across threads), recursion, release not held, sleeping
// under a spinlock, exit holding locks, assert failures, strict mode.
#include "locking/validator.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "locking/check.h"
#include "locking/mutex.h"
#include "locking/rwsem.h"
#include "locking/task.h"
#include "tests/unit/locking/locking_fixture.h"

namespace lockfs::locking {
namespace {

using testing::class_a;
using testing::class_b;
using testing::class_c;
using testing::class_sem;
using testing::class_spin;
using testing::count_kind;

class ValidatorTest : public testing::LockingTest {};

TEST_F(ValidatorTest, AbBaAcrossTwoThreadsIsACycle) {
  Mutex a(class_a(), 1), b(class_b(), 2);
  std::thread t1([&] {
    OpScope op("first");
    MutexGuard ga(a);
    MutexGuard gb(b);
  });
  t1.join();
  EXPECT_EQ(violation_count(), 0u);
  std::thread t2([&] {  // later, and alone: no deadlock can happen in this run
    OpScope op("second");
    MutexGuard gb(b);
    MutexGuard ga(a);
  });
  t2.join();
  ASSERT_EQ(count_kind(ViolationKind::kOrderCycle), 1u);
  const std::string msg = violations().at(0).message;
  // Both chains: this thread's (op=second) and the stored one that made the reverse edge.
  EXPECT_NE(msg.find("test_a"), std::string::npos) << msg;
  EXPECT_NE(msg.find("test_b"), std::string::npos) << msg;
  EXPECT_NE(msg.find("op=first"), std::string::npos) << msg;
  EXPECT_NE(msg.find("op=second"), std::string::npos) << msg;
}

TEST_F(ValidatorTest, LongerCycleIsFound) {
  Mutex a(class_a()), b(class_b()), c(class_c());
  {
    MutexGuard ga(a);
    MutexGuard gb(b);
  }
  {
    MutexGuard gb(b);
    MutexGuard gc(c);
  }
  EXPECT_EQ(violation_count(), 0u);
  {
    MutexGuard gc(c);
    MutexGuard ga(a);
  }  // c -> a closes a -> b -> c
  EXPECT_EQ(count_kind(ViolationKind::kOrderCycle), 1u);
  {
    MutexGuard gc(c);
    MutexGuard ga(a);
  }  // reported once per pair
  EXPECT_EQ(violation_count(), 1u);
}

// Takes `first`, then `second`, and releases both.
void nest(Mutex& first, Mutex& second) {
  MutexGuard g1(first);
  MutexGuard g2(second);
}

TEST_F(ValidatorTest, ResetForgetsTheGraph) {
  Mutex a(class_a()), b(class_b());
  nest(a, b);
  reset_validator();
  nest(b, a);
  EXPECT_EQ(violation_count(), 0u);
}

// The per-thread chain cache must forget chains when the graph is reset: here the cached chain
// a -> b would otherwise hide the cycle against the new edge b -> a.
TEST_F(ValidatorTest, ResetEmptiesTheChainCache) {
  Mutex a(class_a()), b(class_b());
  for (int i = 0; i < 2; ++i) nest(a, b);  // the second pass hits the cache
  reset_validator();
  nest(b, a);
  EXPECT_EQ(violation_count(), 0u);
  nest(a, b);
  EXPECT_EQ(count_kind(ViolationKind::kOrderCycle), 1u);
}

// A cached chain of one class (two instances) must not hide a recursive acquire of one.
TEST_F(ValidatorTest, CachedChainStillCatchesRecursion) {
  RwSemaphore d1(class_sem(), 1), d2(class_sem(), 2);
  for (int i = 0; i < 2; ++i) {
    d1.down_read();
    d2.down_read();
    d2.up_read();
    d1.up_read();
  }
  EXPECT_EQ(violation_count(), 0u);
  [&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
    d1.down_read();
    d1.down_read();
    EXPECT_EQ(count_kind(ViolationKind::kRecursive), 1u);
    d1.up_read();
    d1.up_read();
  }();
}

// Releasing out of order shortens the held chain: the next acquire is checked against what
// is really held (a, c), so c -> b after b -> c is still a cycle.
TEST_F(ValidatorTest, OutOfOrderReleaseKeepsChecking) {
  Mutex a(class_a()), b(class_b()), c(class_c());
  {
    MutexGuard gb(b);
    MutexGuard gc(c);
  }
  [&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
    a.lock();
    b.lock();
    b.unlock();
    c.lock();
    b.lock();  // c -> b closes b -> c
    EXPECT_EQ(count_kind(ViolationKind::kOrderCycle), 1u);
    b.unlock();
    c.unlock();
    a.unlock();
  }();
}

// Sleep-under-spinlock after the spinlock was released out of order, then again held.
TEST_F(ValidatorTest, SleepUnderSpinlockAfterOutOfOrderRelease) {
  SpinLock spin(class_spin());
  Mutex a(class_a()), m(class_b());
  [&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
    a.lock();
    spin.lock();
    a.unlock();
    m.lock();  // still under the spinlock
    EXPECT_EQ(count_kind(ViolationKind::kSleepUnderSpinlock), 1u);
    m.unlock();
    spin.unlock();
    m.lock();  // no spinlock held any more
    m.unlock();
    EXPECT_EQ(count_kind(ViolationKind::kSleepUnderSpinlock), 1u);
  }();
}

TEST_F(ValidatorTest, CycleThroughManyClassesIsFound) {
  // A chain c0 -> c1 -> ... -> c39, then c39 -> c0: the search must walk the stored graph,
  // and the hot path must keep answering from the edge cache for known pairs.
  static std::vector<std::unique_ptr<LockClass>> classes;  // classes live for the program
  static std::vector<std::string> names;
  if (classes.empty()) {
    names.reserve(40);
    for (int i = 0; i < 40; ++i) {
      names.push_back("test_chain" + std::to_string(i));
      classes.push_back(std::make_unique<LockClass>(names.back().c_str(), LockKind::kMutex));
    }
  }
  std::vector<std::unique_ptr<Mutex>> m;
  for (auto& c : classes) m.push_back(std::make_unique<Mutex>(*c));
  // The analysis cannot tell *m[i] from *m[j]; the runtime validator is what is under test.
  [&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
    for (int round = 0; round < 2; ++round) {
      for (int i = 0; i + 1 < 40; ++i) {
        MutexGuard g1(*m[i]);
        MutexGuard g2(*m[i + 1]);
      }
    }
    EXPECT_EQ(violation_count(), 0u);
    {
      MutexGuard g1(*m[39]);
      MutexGuard g2(*m[0]);
    }
  }();
  ASSERT_EQ(count_kind(ViolationKind::kOrderCycle), 1u);
  const std::string msg = violations().at(0).message;
  EXPECT_NE(msg.find("test_chain20 -> test_chain21"), std::string::npos) << msg;
}

TEST_F(ValidatorTest, ConsistentOrderIsQuiet) {
  Mutex a(class_a()), b(class_b());
  for (int i = 0; i < 3; ++i) {
    MutexGuard ga(a);
    MutexGuard gb(b);
  }
  EXPECT_EQ(violation_count(), 0u);
}

TEST_F(ValidatorTest, SubclassesAreSeparateNodes) {
  RwSemaphore p1(class_sem(), 1), p2(class_sem(), 2);
  p1.down_write(Subclass::kParent);
  p2.down_write(Subclass::kParent2);
  p2.up_write();
  p1.up_write();
  EXPECT_EQ(violation_count(), 0u);
  p2.down_write(Subclass::kParent);
  p1.down_write(Subclass::kParent2);  // same order of subclasses, other instances: fine
  p1.up_write();
  p2.up_write();
  EXPECT_EQ(violation_count(), 0u);
}

TEST_F(ValidatorTest, SameClassOtherInstanceSharedIsAllowed) {
  RwSemaphore d1(class_sem(), 1), d2(class_sem(), 2);
  d1.down_read();
  d2.down_read();
  d2.up_read();
  d1.up_read();
  EXPECT_EQ(violation_count(), 0u);
}

TEST_F(ValidatorTest, RecursiveAcquireOfSameInstance) {
  RwSemaphore sem(class_sem());
  [&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {  // the analysis rightly rejects this statically
    sem.down_read();
    sem.down_read();  // succeeds (no writer waits), but could deadlock behind one: reported
    EXPECT_EQ(count_kind(ViolationKind::kRecursive), 1u);
    sem.up_read();
    sem.up_read();
  }();
}

TEST_F(ValidatorTest, ReleaseNotHeld) {
  Mutex m(class_a());
  set_validate_mode(ValidateMode::kOff);
  m.lock();  // taken while the validator did not look
  set_validate_mode(ValidateMode::kWarn);
  m.unlock();  // the analysis sees the pair; only the runtime validator missed the lock
  EXPECT_EQ(count_kind(ViolationKind::kReleaseNotHeld), 1u);
  EXPECT_FALSE(m.is_locked());
}

TEST_F(ValidatorTest, SleepUnderSpinlock) {
  SpinLock spin(class_spin());
  Mutex m(class_a());
  SpinLock inner(testing::class_spin2());
  spin.lock();
  inner.lock();  // spinning under a spinlock is fine
  inner.unlock();
  EXPECT_EQ(violation_count(), 0u);
  EXPECT_TRUE(testing::can_lock(m));  // a trylock never sleeps
  EXPECT_EQ(violation_count(), 0u);
  m.lock();  // a sleeping acquire
  EXPECT_EQ(count_kind(ViolationKind::kSleepUnderSpinlock), 1u);
  m.unlock();
  spin.unlock();
}

TEST_F(ValidatorTest, ThreadExitHoldingLocks) {
  Mutex m(class_a());
  const uint64_t before = violation_count();
  std::thread t([&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS { m.lock(); });  // returns holding it
  t.join();
  EXPECT_EQ(violation_count(), before + 1);
  EXPECT_EQ(count_kind(ViolationKind::kExitHoldingLocks), 1u);
  set_validate_mode(ValidateMode::kOff);  // we release a lock we never took: quietly
  [&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS { m.unlock(); }();
}

TEST_F(ValidatorTest, TaskScopeClosingHoldingLocks) {
  Mutex outer(class_a()), inner(class_b());
  Task task(12, 0, 0);
  outer.lock();  // held before the scope opens: not the scope's business
  [&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
    {
      TaskScope scope(task);
      OpScope op("mkdir");
      inner.lock();
    }
    EXPECT_EQ(count_kind(ViolationKind::kExitHoldingLocks), 1u);
    EXPECT_NE(violations().at(0).message.find("test_b"), std::string::npos);
    EXPECT_EQ(violations().at(0).message.find("test_a"), std::string::npos);
    inner.unlock();
  }();
  {
    TaskScope scope(task);  // balanced inside: quiet
    MutexGuard g(inner);
  }
  outer.unlock();
  EXPECT_EQ(violation_count(), 1u);
}

TEST_F(ValidatorTest, AssertHeldFailures) {
  Mutex m(class_a());
  RwSemaphore sem(class_sem());
  m.assert_held();
  EXPECT_EQ(count_kind(ViolationKind::kAssertFailed), 1u);
  sem.down_read();
  sem.assert_held(Mode::kShared);
  EXPECT_EQ(count_kind(ViolationKind::kAssertFailed), 1u);
  sem.assert_held(Mode::kExclusive);  // held, but only shared
  EXPECT_EQ(count_kind(ViolationKind::kAssertFailed), 2u);
  sem.assert_not_held();
  EXPECT_EQ(count_kind(ViolationKind::kAssertFailed), 3u);
  sem.up_read();
}

TEST_F(ValidatorTest, AssertHeldWithValidatorOffUsesLockState) {
  set_validate_mode(ValidateMode::kOff);
  Mutex m(class_a());
  m.lock();
  m.assert_held();
  EXPECT_TRUE(lock_is_held(m.map(), Mode::kExclusive));  // cannot tell: says yes
  m.unlock();
  m.assert_held();  // the lock's own state says no
  EXPECT_EQ(count_kind(ViolationKind::kAssertFailed), 1u);
}

TEST_F(ValidatorTest, OffRecordsNothing) {
  set_validate_mode(ValidateMode::kOff);
  Mutex a(class_a()), b(class_b());
  {
    MutexGuard ga(a);
    MutexGuard gb(b);
    EXPECT_TRUE(held_locks().empty());
  }
  {
    MutexGuard gb(b);
    MutexGuard ga(a);
  }
  EXPECT_EQ(violation_count(), 0u);
}

TEST_F(ValidatorTest, StrictModeCallsTheHandler) {
  std::vector<ViolationKind> seen;
  set_strict_handler([&](const Violation& v) { seen.push_back(v.kind); });
  set_validate_mode(ValidateMode::kStrict);
  Mutex m(class_a());
  m.assert_held();
  report_violation(ViolationKind::kContract, "rename entered without s_vfs_rename_sem");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], ViolationKind::kAssertFailed);
  EXPECT_EQ(seen[1], ViolationKind::kContract);
  EXPECT_EQ(violation_count(), 2u);
  EXPECT_EQ(violations().at(1).message, "rename entered without s_vfs_rename_sem");
}

TEST_F(ValidatorTest, WarnModeDoesNotCallTheHandler) {
  int calls = 0;
  set_strict_handler([&](const Violation&) { ++calls; });
  report_violation(ViolationKind::kContract, "x");
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(violation_count(), 1u);
  reset_violations();
  EXPECT_EQ(violation_count(), 0u);
  EXPECT_TRUE(violations().empty());
}

TEST_F(ValidatorTest, ViolationRecordsTaskAndOp) {
  Task task(321, 0, 0);
  TaskScope scope(task);
  OpScope op("unlink");
  report_violation(ViolationKind::kContract, "x");
  ASSERT_EQ(violations().size(), 1u);
  EXPECT_EQ(violations()[0].pid, 321);
  EXPECT_STREQ(violations()[0].op, "unlink");
}

TEST_F(ValidatorTest, FormatHeldLocksNamesClassSubclassAndOp) {
  RwSemaphore sem(class_sem(), 5);
  OpScope op("rename");
  sem.down_write(Subclass::kParent);
  const std::string s = format_held_locks(held_locks());
  EXPECT_NE(s.find("test_rwsem/parent obj=5 excl (op=rename)"), std::string::npos) << s;
  sem.up_write();
  EXPECT_EQ(format_held_locks({}), "(none)");
}

using ValidatorDeathTest = ValidatorTest;

TEST_F(ValidatorDeathTest, StrictModeAbortsByDefault) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        set_validate_mode(ValidateMode::kStrict);
        report_violation(ViolationKind::kContract, "boom");
      },
      "strict lock validation");
}

TEST_F(ValidatorDeathTest, CheckFailedAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH({ LOCKFS_CHECK(1 + 1 == 3, "arithmetic is broken"); }, "arithmetic is broken");
}

}  // namespace
}  // namespace lockfs::locking

// Task context: current(), TaskScope, OpScope, fatal signals.
#include "locking/task.h"

#include <unistd.h>

#include <thread>

#include "locking/tracer.h"
#include "locking/wait_queue.h"
#include "tests/unit/locking/locking_fixture.h"

namespace lockfs::locking {
namespace {

using testing::wait_until;

class TaskTest : public testing::LockingTest {};

TEST_F(TaskTest, DefaultTaskPerThread) {
  Task& mine = current();
  EXPECT_EQ(mine.pid, 0);
  EXPECT_EQ(mine.uid, getuid());
  EXPECT_STREQ(mine.op, "");
  Task* other = nullptr;
  std::thread t([&] { other = &current(); });
  t.join();
  EXPECT_NE(other, &mine);
}

TEST_F(TaskTest, TaskScopeNestsAndRestores) {
  Task& def = current();
  Task a(1, 2, 3), b(4, 5, 6);
  {
    TaskScope sa(a);
    EXPECT_EQ(&current(), &a);
    {
      TaskScope sb(b);
      EXPECT_EQ(current().pid, 4);
    }
    EXPECT_EQ(&current(), &a);
  }
  EXPECT_EQ(&current(), &def);
}

TEST_F(TaskTest, OpScopeNamesTheOpAndTracesIt) {
  tracer_enable(64);
  {
    OpScope outer("rename");
    EXPECT_STREQ(current().op, "rename");
    {
      OpScope inner("lookup");
      EXPECT_STREQ(current().op, "lookup");
      inner.set_result(-ENOENT);
    }
    EXPECT_STREQ(current().op, "rename");
  }
  EXPECT_STREQ(current().op, "");
  const auto ev = trace_snapshot();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].type, EventType::kOpBegin);
  EXPECT_STREQ(ev[0].op, "rename");
  EXPECT_EQ(ev[2].type, EventType::kOpEnd);
  EXPECT_STREQ(ev[2].op, "lookup");
  EXPECT_EQ(ev[2].result, -ENOENT);
  EXPECT_EQ(ev[3].type, EventType::kOpEnd);
  EXPECT_EQ(ev[3].result, 0);
}

TEST_F(TaskTest, FatalSignalWakesKillableWaitOnly) {
  WaitQueue wq;
  std::atomic<bool> cond{false};
  Task killed(1, 0, 0), other(2, 0, 0);
  std::atomic<int> rc{1};
  std::atomic<bool> in_wait{false}, other_done{false};
  std::thread k([&] {
    TaskScope s(killed);
    in_wait = true;
    rc = wq.wait_event_killable([&] { return cond.load(); });
  });
  std::thread o([&] {
    TaskScope s(other);
    wq.wait_event([&] { return cond.load(); });
    other_done = true;
  });
  wait_until([&] { return in_wait.load(); });
  killed.send_fatal_signal();
  k.join();
  EXPECT_EQ(rc.load(), -EINTR);
  EXPECT_FALSE(other_done.load());
  EXPECT_FALSE(other.fatal_signal_pending());
  wq.with_lock_wake_all([&] { cond = true; });
  o.join();
  EXPECT_TRUE(other_done.load());
}

TEST_F(TaskTest, KillableWaitSucceedsWhenConditionHolds) {
  WaitQueue wq;
  std::atomic<bool> cond{false};
  std::atomic<int> rc{1};
  std::thread t([&] { rc = wq.wait_event_killable([&] { return cond.load(); }); });
  wq.with_lock_wake_all([&] { cond = true; });
  t.join();
  EXPECT_EQ(rc.load(), 0);
}

}  // namespace
}  // namespace lockfs::locking

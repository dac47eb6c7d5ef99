// Tests of the fault-injection engine (locking/inject.h): the rule language, the filters,
// counts and seeded probabilities, and that delays and holds end on a fatal signal.
#include "locking/inject.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstdio>
#include <mutex>
#include <thread>

#include "locking/task.h"

namespace lockfs::locking::inject {
namespace {

const LockClass kDirClass("injtest(dir)", LockKind::kRwSem);
const LockClass kRegClass("injtest(reg)", LockKind::kRwSem);
const LockClass kOtherClass("injtest_other", LockKind::kMutex);

// Aborts the test binary if a test hangs (a delay or hold that a signal failed to end).
class Watchdog {
 public:
  explicit Watchdog(int seconds) : t_([this, seconds] {
    std::unique_lock lk(mu_);
    if (!cv_.wait_for(lk, std::chrono::seconds(seconds), [this] { return done_; })) {
      std::fprintf(stderr, "inject_test: watchdog fired\n");
      std::abort();
    }
  }) {}
  ~Watchdog() {
    { std::lock_guard lk(mu_); done_ = true; }
    cv_.notify_all();
    t_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread t_;
};

class Inject : public ::testing::Test {
 protected:
  void SetUp() override { clear(); }
  void TearDown() override { clear(); }
  static uint64_t must_add(const char* spec) {
    auto r = parse(spec);
    EXPECT_TRUE(r.ok()) << spec;
    auto id = add(*r);
    EXPECT_TRUE(id.ok()) << spec;
    return *id;
  }
};

TEST_F(Inject, ParsesTheDocumentedExamples) {
  auto a = parse("op=rename delay=200ms count=1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->action, Action::kDelay);
  EXPECT_EQ(a->op, "rename");
  EXPECT_EQ(a->duration_us, 200000u);
  EXPECT_EQ(a->count, 1u);

  auto b = parse("op=write fail=EIO prob=0.5 seed=7");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->action, Action::kFail);
  EXPECT_EQ(b->error, EIO);
  EXPECT_DOUBLE_EQ(b->prob, 0.5);
  EXPECT_EQ(b->seed.value_or(0), 7u);

  auto c = parse("lock=i_rwsem(dir) ino=1 hold=500ms count=1");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->action, Action::kHold);
  EXPECT_EQ(c->lock, "i_rwsem(dir)");
  EXPECT_EQ(c->ino.value_or(0), 1u);

  auto d = parse("lock=folio_lock hold=2s mode=exclusive");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->duration_us, 2000000u);
  EXPECT_EQ(d->mode, Mode::kExclusive);

  auto e = parse("op=* fail=28");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->op, "");
  EXPECT_EQ(e->error, ENOSPC);
}

TEST_F(Inject, FormatRoundTrips) {
  for (const char* spec : {"op=rename delay=200ms count=1", "op=write fail=EIO prob=0.5 seed=7",
                           "lock=i_rwsem(dir) ino=1 hold=500ms count=1",
                           "op=read lock=folio_lock mode=shared hold=1500us",
                           "fail=ENOSPC prob=0.125"}) {
    auto r = parse(spec);
    ASSERT_TRUE(r.ok()) << spec;
    EXPECT_EQ(format(*r), spec);
  }
}

TEST_F(Inject, RejectsBadSpecs) {
  for (const char* spec :
       {"", "op=write", "op=write delay=1ms fail=EIO", "op=write frobnicate=1",
        "hold=100ms", "op=write lock=i_rwsem delay=1ms", "op=write fail=EIO mode=shared",
        "op=write fail=ENOTANERRNO", "op=write fail=0", "op=write delay=fast",
        "op=write delay=10ms prob=1.5", "op=write delay=10ms prob=-0.1",
        "op=write delay=10ms count=0", "op=write delay=10ms seed=x", "op=", "=write",
        "lock=x hold=1ms mode=sideways", "op=write delay=10ms ino=-3"}) {
    auto r = parse(spec);
    EXPECT_FALSE(r.ok()) << "accepted: '" << spec << "'";
    if (!r.ok()) {
      EXPECT_EQ(r.error(), -EINVAL) << spec;
    }
  }
}

TEST_F(Inject, AddRemoveListClear) {
  EXPECT_FALSE(enabled());
  uint64_t a = must_add("op=write fail=EIO count=2");
  uint64_t b = must_add("lock=injtest hold=1ms");
  EXPECT_LT(a, b);
  EXPECT_TRUE(enabled());
  auto l = list();
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0], std::to_string(a) + ": op=write fail=EIO count=2 fired=0 remaining=2");
  EXPECT_EQ(l[1], std::to_string(b) + ": lock=injtest hold=1ms fired=0");
  EXPECT_TRUE(remove(a).ok());
  EXPECT_EQ(remove(a).error(), -ENOENT);
  EXPECT_EQ(list().size(), 1u);
  clear();
  EXPECT_FALSE(enabled());
  EXPECT_TRUE(list().empty());
  // Ids are never reused.
  EXPECT_GT(must_add("op=x delay=1us"), b);
}

TEST_F(Inject, AddValidatesRulesBuiltInCode) {
  Rule r;
  r.action = Action::kHold;  // no lock
  EXPECT_EQ(add(r).error(), -EINVAL);
  r.lock = "x";
  r.prob = 2;
  EXPECT_EQ(add(r).error(), -EINVAL);
  Rule f;
  f.action = Action::kFail;  // errno 0
  EXPECT_EQ(add(f).error(), -EINVAL);
  EXPECT_FALSE(enabled());
}

TEST_F(Inject, FailMatchesItsOpAndSpendsItsCount) {
  must_add("op=write fail=EIO count=2");
  EXPECT_EQ(on_op_begin("read"), 0);
  EXPECT_EQ(on_op_begin("write"), -EIO);
  EXPECT_EQ(on_op_begin("write"), -EIO);
  EXPECT_EQ(on_op_begin("write"), 0);
  EXPECT_EQ(list()[0].substr(list()[0].find(' ') + 1),
            "op=write fail=EIO count=2 fired=2 remaining=0");
}

TEST_F(Inject, InodeFilterNeedsTheInode) {
  must_add("op=mkdir ino=5 fail=ENOSPC");
  EXPECT_EQ(on_op_begin("mkdir", 6), 0);
  EXPECT_EQ(on_op_begin("mkdir", 0), 0);  // unknown inode: an ino rule does not match
  EXPECT_EQ(on_op_begin("mkdir", 5), -ENOSPC);
}

TEST_F(Inject, FirstFailWinsAndLaterFailsKeepTheirCount) {
  must_add("op=unlink fail=EBUSY count=1");
  must_add("op=unlink fail=EPERM count=1");
  EXPECT_EQ(on_op_begin("unlink"), -EBUSY);
  EXPECT_EQ(on_op_begin("unlink"), -EPERM);
  EXPECT_EQ(on_op_begin("unlink"), 0);
}

// The decisions of a seeded rule depend only on the seed and the sequence of matches.
TEST_F(Inject, SeededProbabilityIsReproducible) {
  auto run = [] {
    clear();
    must_add("op=write fail=EIO prob=0.5 seed=7");
    std::string pattern;
    for (int i = 0; i < 64; ++i) pattern += on_op_begin("write") ? '1' : '0';
    return pattern;
  };
  std::string first = run();
  EXPECT_EQ(run(), first);
  EXPECT_NE(first.find('1'), std::string::npos);  // 2^-64 chance each, for a fixed seed: never
  EXPECT_NE(first.find('0'), std::string::npos);
  clear();
  must_add("op=write fail=EIO prob=0.5 seed=8");
  std::string other;
  for (int i = 0; i < 64; ++i) other += on_op_begin("write") ? '1' : '0';
  EXPECT_NE(other, first);
}

TEST_F(Inject, ProbabilityZeroNeverFiresOneAlwaysFires) {
  must_add("op=a fail=EIO prob=0");
  must_add("op=b fail=EIO prob=1");
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(on_op_begin("a"), 0);
    ASSERT_EQ(on_op_begin("b"), -EIO);
  }
}

TEST_F(Inject, DelayThenFail) {
  must_add("op=rename delay=1ms");
  must_add("op=rename fail=EXDEV");
  EXPECT_EQ(on_op_begin("rename"), -EXDEV);
  EXPECT_EQ(list()[0].substr(list()[0].find(' ') + 1), "op=rename delay=1ms fired=1");
}

TEST_F(Inject, DelayOfAKilledTaskReturnsEintr) {
  Watchdog wd(30);
  must_add("op=lookup delay=600s");
  Task t(42, 0, 0, "lookup");
  TaskScope scope(t);
  t.send_fatal_signal();
  EXPECT_EQ(on_op_begin("lookup"), -EINTR);
}

TEST_F(Inject, DelayEndsWhenTheTaskIsKilledWhileSleeping) {
  Watchdog wd(30);
  must_add("op=lookup delay=600s");
  Task t(43, 0, 0, "lookup");
  std::atomic<int> rc{1};
  std::thread th([&] {
    TaskScope scope(t);
    rc = on_op_begin("lookup");
  });
  // Wait until the rule fired (the thread is then in its delay), then kill the task.
  while (list()[0].find("fired=1") == std::string::npos) std::this_thread::yield();
  t.send_fatal_signal();
  th.join();
  EXPECT_EQ(rc.load(), -EINTR);
}

TEST_F(Inject, HoldMatchesClassBaseNameInodeModeAndOp) {
  must_add("lock=injtest ino=7 mode=exclusive hold=1us");
  must_add("op=write lock=injtest_other hold=1us");
  auto fired = [](size_t i) {
    auto l = list();
    return l[i].substr(l[i].find("fired="));
  };
  on_acquired(LockMap{&kDirClass, 7, 0}, Mode::kShared);     // wrong mode
  on_acquired(LockMap{&kDirClass, 8, 0}, Mode::kExclusive);  // wrong inode
  EXPECT_EQ(fired(0), "fired=0");
  on_acquired(LockMap{&kDirClass, 7, 0}, Mode::kExclusive);
  on_acquired(LockMap{&kRegClass, 7, 3}, Mode::kExclusive);  // "injtest" covers (reg) too
  EXPECT_EQ(fired(0), "fired=2");

  on_acquired(LockMap{&kOtherClass, 1, 0}, Mode::kExclusive);  // current op is "" here
  EXPECT_EQ(fired(1), "fired=0");
  Task t(44, 0, 0, "write");
  TaskScope scope(t);
  on_acquired(LockMap{&kOtherClass, 1, 0}, Mode::kExclusive);
  EXPECT_EQ(fired(1), "fired=1");
}

TEST_F(Inject, ExactClassNameDoesNotMatchSiblings) {
  must_add("lock=injtest(dir) hold=1us");
  on_acquired(LockMap{&kRegClass, 1, 0}, Mode::kExclusive);
  on_acquired(LockMap{&kOtherClass, 1, 0}, Mode::kExclusive);
  EXPECT_NE(list()[0].find("fired=0"), std::string::npos);
  on_acquired(LockMap{&kDirClass, 1, 0}, Mode::kShared);
  EXPECT_NE(list()[0].find("fired=1"), std::string::npos);
}

TEST_F(Inject, HoldEndsWhenTheHolderIsKilled) {
  Watchdog wd(30);
  must_add("lock=injtest(dir) hold=600s count=1");
  Task t(45, 0, 0, "mkdir");
  std::atomic<bool> back{false};
  std::thread th([&] {
    TaskScope scope(t);
    on_acquired(LockMap{&kDirClass, 1, 0}, Mode::kExclusive);
    back = true;
  });
  while (list()[0].find("fired=1") == std::string::npos) std::this_thread::yield();
  EXPECT_FALSE(back.load());
  t.send_fatal_signal();
  th.join();
  EXPECT_TRUE(back.load());
}

TEST_F(Inject, HoldOnlyStopsItsOwnTask) {
  Watchdog wd(30);
  must_add("lock=injtest(dir) hold=50ms count=1");
  Task holder(46, 0, 0, "mkdir");
  Task other(47, 0, 0, "lookup");
  other.send_fatal_signal();  // another task's signal must not end this hold
  std::thread th([&] {
    TaskScope scope(holder);
    on_acquired(LockMap{&kDirClass, 1, 0}, Mode::kExclusive);
  });
  th.join();
  EXPECT_FALSE(holder.fatal_signal_pending());
  EXPECT_NE(list()[0].find("fired=1 remaining=0"), std::string::npos);
}

}  // namespace
}  // namespace lockfs::locking::inject

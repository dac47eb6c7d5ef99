// The tracer: events recorded per thread, ring bounds, dumps that parse as JSON (checked by
// python3's json module), Chrome B/E balance, and lock_stat counts.
#include "locking/tracer.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "locking/internal/runtime.h"
#include "locking/mutex.h"
#include "locking/rwsem.h"
#include "locking/task.h"
#include "tests/unit/locking/locking_fixture.h"

namespace lockfs::locking {
namespace {

using testing::class_a;
using testing::class_b;
using testing::class_sem;
using testing::wait_until;

class TracerTest : public testing::LockingTest {};

// The phases (ph values) the last successful check_json saw, space-separated.
std::string phases_seen;

// Checks a JSON-lines dump and a Chrome trace with python3's json module: every line is an
// object with the required keys; every trace event has ph/ts/pid/tid/name; B/E balance and
// nest per track. Returns python's diagnostics ("" when all is well).
std::string check_json(const std::string& jsonl, const std::string& chrome) {
  char dir_tmpl[] = "/tmp/lockfs-tracer-XXXXXX";
  const char* dir = mkdtemp(dir_tmpl);
  if (dir == nullptr) return "mkdtemp failed";
  const std::string d = dir;
  std::ofstream(d + "/t.jsonl") << jsonl;
  std::ofstream(d + "/t.json") << chrome;
  std::ofstream(d + "/check.py") << R"PY(
import json, sys
d = sys.argv[1]
n = 0
for line in open(d + "/t.jsonl"):
    o = json.loads(line)
    for k in ("ts_ns", "tid", "pid", "op", "event", "class", "mode", "contended", "wait_ns"):
        assert k in o, ("jsonl missing", k, o)
    n += 1
assert n > 0, "empty jsonl"
t = json.load(open(d + "/t.json"))
assert t["displayTimeUnit"] == "ns"
stacks = {}
phs = set()
for e in t["traceEvents"]:
    for k in ("ph", "ts", "pid", "tid", "name"):
        assert k in e, ("chrome event missing", k, e)
    phs.add(e["ph"])
    s = stacks.setdefault(e["tid"], [])
    if e["ph"] == "B":
        s.append(e["name"])
    elif e["ph"] == "E":
        assert s and s[-1] == e["name"], ("unbalanced E", e, s)
        s.pop()
    elif e["ph"] == "X":
        assert e["dur"] >= 0
for tid, s in stacks.items():
    assert not s, ("unclosed B", tid, s)
assert "M" in phs, "no thread_name metadata"
print(" ".join(sorted(phs)))
)PY";
  const std::string cmd = "python3 " + d + "/check.py " + d + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return "popen failed";
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = pclose(p);
  std::remove((d + "/t.jsonl").c_str());
  std::remove((d + "/t.json").c_str());
  std::remove((d + "/check.py").c_str());
  rmdir(d.c_str());
  if (status != 0) return "python3 check failed: " + out;
  phases_seen = out;
  return "";
}

TEST_F(TracerTest, OffRecordsNothing) {
  Mutex m(class_a());
  m.lock();
  m.unlock();
  EXPECT_TRUE(trace_snapshot().empty());
  EXPECT_FALSE(tracer_enabled());
}

TEST_F(TracerTest, RecordsAcquireReleaseWithTaskAndOp) {
  tracer_enable(128);
  Task task(77, 0, 0);
  TaskScope scope(task);
  RwSemaphore sem(class_sem(), 12, 34);
  {
    OpScope op("setattr");
    sem.down_write(Subclass::kChild);
    sem.up_write();
  }
  const auto ev = trace_snapshot();
  ASSERT_EQ(ev.size(), 4u);
  const TraceEvent& acq = ev[1];
  EXPECT_EQ(acq.type, EventType::kAcquire);
  EXPECT_EQ(acq.pid, 77);
  EXPECT_STREQ(acq.op, "setattr");
  EXPECT_EQ(acq.class_id, class_sem().id());
  EXPECT_EQ(acq.object, 12u);
  EXPECT_EQ(acq.aux, 34u);
  EXPECT_EQ(acq.mode, Mode::kExclusive);
  EXPECT_EQ(acq.subclass, Subclass::kChild);
  EXPECT_FALSE(acq.contended);
  EXPECT_EQ(acq.tid, trace_thread_id());
  EXPECT_EQ(ev[2].type, EventType::kRelease);
  EXPECT_EQ(ev[2].subclass, Subclass::kChild);  // named like its acquire
  EXPECT_LE(ev[1].ts_ns, ev[2].ts_ns);
}

TEST_F(TracerTest, ContendedAcquireAndKilledWait) {
  tracer_enable(256);
  RwSemaphore sem(class_sem());
  sem.down_write();
  std::thread reader([&] {
    sem.down_read();
    sem.up_read();
  });
  wait_until([&] { return sem.nr_waiters() == 1; });
  sem.up_write();
  reader.join();
  Task task(5, 0, 0);
  {
    TaskScope scope(task);
    task.send_fatal_signal();
    EXPECT_EQ(sem.down_write_killable(), -EINTR);
  }
  int contended = 0, killed = 0;
  for (const TraceEvent& e : trace_snapshot()) {
    if (e.type == EventType::kAcquire && e.contended) {
      ++contended;
      EXPECT_GT(e.wait_ns, 0u);
      EXPECT_EQ(e.mode, Mode::kShared);
    }
    if (e.type == EventType::kKilled) {
      ++killed;
      EXPECT_EQ(e.result, -EINTR);
      EXPECT_EQ(e.pid, 5);
    }
  }
  EXPECT_EQ(contended, 1);
  EXPECT_EQ(killed, 1);
}

TEST_F(TracerTest, ThreadsGetTheirOwnTids) {
  tracer_enable(64);
  Mutex m(class_a());
  uint32_t other_tid = 0;
  std::thread t([&] {
    m.lock();
    m.unlock();
    other_tid = trace_thread_id();
  });
  t.join();
  m.lock();
  m.unlock();
  EXPECT_NE(other_tid, trace_thread_id());
  int mine = 0, theirs = 0;
  for (const TraceEvent& e : trace_snapshot()) {
    mine += e.tid == trace_thread_id();
    theirs += e.tid == other_tid;
  }
  EXPECT_EQ(mine, 2);
  EXPECT_EQ(theirs, 2);
}

TEST_F(TracerTest, RingKeepsTheNewestEvents) {
  tracer_enable(16);
  Mutex m(class_a());
  std::thread t([&] {  // a fresh thread gets a ring of the new capacity
    for (int i = 0; i < 100; ++i) {
      m.set_object(static_cast<uint64_t>(i));
      m.lock();
      m.unlock();
    }
  });
  t.join();
  const auto ev = trace_snapshot();
  ASSERT_EQ(ev.size(), 16u);
  EXPECT_EQ(ev.back().object, 99u);
  EXPECT_EQ(ev.front().object, 92u);
}

TEST_F(TracerTest, ExitedThreadsEventsSurviveRingReuse) {
  tracer_enable(64);
  Mutex m(class_a());
  uint32_t tids[2] = {};
  for (uint32_t& tid : tids) {  // the second thread takes over the first one's ring
    std::thread t([&] {
      m.lock();
      m.unlock();
      tid = trace_thread_id();
    });
    t.join();
  }
  int per_tid[2] = {};
  for (const TraceEvent& e : trace_snapshot()) {
    for (int i = 0; i < 2; ++i) per_tid[i] += e.tid == tids[i];
  }
  EXPECT_NE(tids[0], tids[1]);
  EXPECT_EQ(per_tid[0], 2);
  EXPECT_EQ(per_tid[1], 2);
}

TEST_F(TracerTest, ResetDropsEventsAndStats) {
  tracer_enable(64);
  Mutex m(class_a());
  m.lock();
  m.unlock();
  EXPECT_FALSE(trace_snapshot().empty());
  EXPECT_FALSE(lock_stats().empty());
  trace_reset();
  EXPECT_TRUE(trace_snapshot().empty());
  EXPECT_TRUE(lock_stats().empty());
}

// lock_stat counters are per thread: an exited thread's counts stay, live threads' add up.
TEST_F(TracerTest, LockStatKeepsExitedThreadsAndSumsThreads) {
  tracer_enable(256);
  Mutex m1(class_b(), 1), m2(class_b(), 2);
  std::thread t([&] {
    for (int i = 0; i < 3; ++i) {
      m1.lock();
      m1.unlock();
    }
  });
  t.join();
  for (int i = 0; i < 2; ++i) {
    m2.lock();
    m2.unlock();
  }
  auto stats = lock_stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].acquisitions, 5u);
  EXPECT_EQ(stats[0].contentions, 0u);
}

// trace_reset() drops the counts of exited threads too, and a thread that later reuses an
// exited thread's counters starts from zero.
TEST_F(TracerTest, ResetDropsExitedThreadsStats) {
  tracer_enable(256);
  Mutex m(class_b());
  std::thread t([&] {
    m.lock();
    m.unlock();
  });
  t.join();
  ASSERT_EQ(lock_stats().size(), 1u);
  trace_reset();
  EXPECT_TRUE(lock_stats().empty());
  std::thread t2([&] {
    m.lock();
    m.unlock();
  });
  t2.join();
  const auto stats = lock_stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].acquisitions, 1u);
}

TEST_F(TracerTest, DumpsParseAsJson) {
  tracer_enable(4096);
  Mutex a(class_a(), 1), b(class_b(), 2);
  RwSemaphore sem(class_sem(), 3);
  std::thread t([&] {
    OpScope op("rename \"quoted\"\n");  // exercises escaping
    a.lock();
    b.lock();
    a.unlock();  // out of order: slices must still nest
    b.unlock();
  });
  t.join();
  {
    OpScope op("lookup");
    sem.down_write();
    std::thread r([&] {
      sem.down_read();
      sem.up_read();
    });
    wait_until([&] { return sem.nr_waiters() == 1; });
    sem.up_write();
    r.join();
    report_violation(ViolationKind::kContract, "test");
    sem.down_read();  // left open: the dump closes it at its last timestamp
  }
  const auto ev = trace_snapshot();
  std::ostringstream jsonl, chrome, text;
  dump_jsonl(jsonl, ev);
  dump_chrome(chrome, ev);
  dump_text(text, ev);
  EXPECT_EQ(check_json(jsonl.str(), chrome.str()), "");
  EXPECT_NE(phases_seen.find("X"), std::string::npos) << phases_seen;  // the wait
  EXPECT_NE(phases_seen.find("i"), std::string::npos) << phases_seen;  // the violation
  EXPECT_NE(text.str().find("acquire test_rwsem obj=3:0 mode=exclusive"), std::string::npos)
      << text.str();
  sem.up_read();
}

TEST_F(TracerTest, ChromeDumpBalancesWhenTheRingDroppedBegins) {
  tracer_enable(16);
  set_validate_mode(ValidateMode::kOff);  // the thread exits holding b on purpose
  Mutex a(class_a()), b(class_b());
  std::thread t([&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {  // exits holding b, on purpose
    a.lock();  // its acquire falls out of the ring; its release must not unbalance the track
    for (int i = 0; i < 20; ++i) {
      b.lock();
      b.unlock();
    }
    a.unlock();
    b.lock();  // never released inside the dump
  });
  t.join();
  std::ostringstream jsonl, chrome;
  const auto ev = trace_snapshot();
  dump_jsonl(jsonl, ev);
  dump_chrome(chrome, ev);
  EXPECT_EQ(check_json(jsonl.str(), chrome.str()), "");
  [&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS { b.unlock(); }();  // taken by the exited thread
}

// A thread's first traced event takes a ring (a megabyte at the default size, allocated the
// first time) and lock_stat counters. That happens before its first lock is taken, not while
// the lock is held: here the new thread has its ring while it still waits for the spinlock
// the test holds. (Taken inside the lock, it made every mount's first inode_hash_lock hold
// 1-3 ms in lockstat.)
TEST_F(TracerTest, AThreadTakesItsRingBeforeItsFirstLockNotWhileHoldingIt)
    LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  tracer_enable(1 << 10);
  SpinLock lock(testing::class_spin());
  lock.lock();
  const size_t before = internal::tracer_rings_in_use();
  std::thread t([&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
    lock.lock();
    lock.unlock();
  });
  wait_until([&] { return internal::tracer_rings_in_use() == before + 1; });  // watchdog bounds it
  lock.unlock();
  t.join();
  EXPECT_EQ(internal::tracer_rings_in_use(), before);  // handed back at its exit
}

// A thread whose only events are an op's begin and end (no lock) has a ring too, and hands
// it back when it exits: the exit work is armed by the ring, not only by a held lock.
TEST_F(TracerTest, AThreadThatOnlyTracesAnOpHandsItsRingBack) {
  tracer_enable(1 << 10);
  const size_t before = internal::tracer_rings_in_use();
  std::thread t([] { OpScope op("lonely"); });
  t.join();
  EXPECT_EQ(internal::tracer_rings_in_use(), before);
  bool seen = false;
  for (const TraceEvent& e : trace_snapshot()) seen |= e.op != nullptr && std::string(e.op) == "lonely";
  EXPECT_TRUE(seen);
}

// An acquire its fast path takes at once is checked after it is taken (LOCKING.md); the
// clock is read after the check, so its violation still comes before it in the trace.
TEST_F(TracerTest, AViolationOnAnUncontendedAcquireIsTracedBeforeIt) {
  tracer_enable(256);
  Mutex a(class_a(), 1), b(class_b(), 2);
  a.lock();
  b.lock();  // a -> b
  b.unlock();
  a.unlock();
  b.lock();
  a.lock();  // b -> a, uncontended: a cycle
  a.unlock();
  b.unlock();
  ASSERT_EQ(violation_count(), 1u);
  const auto ev = trace_snapshot();
  size_t v = ev.size();
  for (size_t i = 0; i < ev.size(); ++i) {
    if (ev[i].type == EventType::kViolation) v = i;
  }
  ASSERT_LT(v + 1, ev.size()) << "no violation event, or nothing after it";
  EXPECT_EQ(ev[v].class_id, class_a().id());
  EXPECT_EQ(ev[v + 1].type, EventType::kAcquire);
  EXPECT_EQ(ev[v + 1].class_id, class_a().id());
  EXPECT_LE(ev[v].ts_ns, ev[v + 1].ts_ns);
}

TEST_F(TracerTest, LockStatCounts) {
  tracer_enable(256);
  Mutex m(class_b());
  for (int i = 0; i < 3; ++i) {
    m.lock();
    m.unlock();
  }
  m.lock();
  std::thread t([&] {
    m.lock();  // contended
    m.unlock();
  });
  wait_until([&] { return m.nr_waiters() == 1; });
  m.unlock();
  t.join();
  Task task(1, 0, 0);
  {
    TaskScope scope(task);
    task.send_fatal_signal();
    EXPECT_EQ(m.lock_killable(), -EINTR);
  }
  const auto stats = lock_stats();
  ASSERT_EQ(stats.size(), 1u);
  const LockStat& s = stats[0];
  EXPECT_STREQ(s.name, "test_b");
  EXPECT_EQ(s.acquisitions, 5u);
  EXPECT_EQ(s.contentions, 1u);
  EXPECT_EQ(s.killed, 1u);
  EXPECT_GT(s.wait_total_ns, 0u);
  EXPECT_GE(s.wait_total_ns, s.wait_max_ns);
  EXPECT_GE(s.hold_total_ns, s.hold_max_ns);
  EXPECT_GT(s.hold_max_ns, 0u);
  std::ostringstream os;
  dump_lockstat(os);
  EXPECT_NE(os.str().find("test_b"), std::string::npos);
}

}  // namespace
}  // namespace lockfs::locking

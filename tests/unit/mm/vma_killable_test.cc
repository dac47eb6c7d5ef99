// A pending fatal signal at every lock point of every VMA operation: the operation returns
// -EINTR (never -ENOMEM, the 000 seed's review), the tree is exactly as before (same dump),
// no VMA object leaked, memory untouched, and ->open/->close not called.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "core/mm/mm.h"
#include "locking/sync_point.h"
#include "locking/task.h"
#include "tests/unit/mm/mm_test_util.h"
#include "tests/unit/mm/vma_test_util.h"

namespace lockfs::core {
namespace {

using test::VmaWorld;
constexpr uint32_t kRW = kVmRead | kVmWrite | kVmShared | kVmPopulate;
constexpr uint32_t kRO = kVmRead | kVmShared | kVmPopulate;

struct Case {
  const char* name;
  std::function<void(VmaWorld&)> setup;
  // Runs with mmap_lock write held; returns 0 or the negative errno.
  std::function<int(VmaWorld&)> op;
  int min_lock_points;
};

// Runs `c` once per lock point k (1, 2, ...), sending the fatal signal when the k-th
// vma_start_write_killable begins, until a run reaches no k-th point (then it must succeed).
// k = 0 sends it before the operation starts.
void run_case(const Case& c) {
  SCOPED_TRACE(c.name);
  int points = 0;
  for (int k = 0;; ++k) {
    auto w = std::make_unique<VmaWorld>();
    c.setup(*w);
    const auto before = w->snapshot();
    const std::string before_layout = w->layout(16);
    const uint64_t alive = vma_objects_alive();
    const int opens = w->closing_ops_.opens, closes = w->closing_ops_.closes;

    locking::Task task(100 + k, 0, 0, c.name);
    int reached = 0;
    locking::sync_point_set("vma_start_write_killable", [&] {
      if (++reached == k) task.send_fatal_signal();
    });
    if (k == 0) task.send_fatal_signal();
    int rc;
    {
      locking::TaskScope scope(task);
      w->mm_.mmap_write_lock();  // not killable: the op's own lock points are under test
      rc = c.op(*w);
      w->mm_.mmap_write_unlock();
    }
    locking::sync_point_clear_all();
    if (k > 0 && reached < k) {
      EXPECT_EQ(rc, 0) << "no lock point " << k << ": the op must succeed";
      points = k - 1;
      break;
    }
    EXPECT_EQ(rc, -EINTR) << "signal at lock point " << k;
    EXPECT_EQ(w->snapshot(), before) << "tree changed, signal at lock point " << k;
    EXPECT_EQ(w->layout(16), before_layout);
    EXPECT_EQ(vma_objects_alive(), alive) << "VMA objects leaked at lock point " << k;
    EXPECT_EQ(w->closing_ops_.opens, opens);
    EXPECT_EQ(w->closing_ops_.closes, closes);
    w->check_pattern();
    if (::testing::Test::HasFailure() || k > 64) break;
  }
  EXPECT_GE(points, c.min_lock_points);
}

TEST(VmaKillable, EveryOperationAtEveryLockPoint) {
  test::StrictValidator strict;
  test::Watchdog dog(60);
  const Case cases[] = {
      {"mmap_region new (....  -> AA..)", [](VmaWorld&) {},
       [](VmaWorld& w) {
         w.mm_.mmap_assert_write_locked();
         return w.mm_.mmap_region(w.addr(0), 2 * kVmPageSize, 0, kRW, &w.obj_).error();
       },
       1},
      {"mmap_region merge both (AA..BB -> AAAAAA)",
       [](VmaWorld& w) {
         w.map(0, 2, 0, kRW);
         w.map(4, 2, 4, kRW);
       },
       [](VmaWorld& w) {
         w.mm_.mmap_assert_write_locked();
         return w.mm_.mmap_region(w.addr(2), 2 * kVmPageSize, 2, kRW, &w.obj_).error();
       },
       2},
      {"mmap_region merge prev, keep next with close (AA..BB -> AAAABB)",
       [](VmaWorld& w) {
         w.map(0, 2, 0, kRW, &w.closing_);
         w.map(4, 2, 4, kRW, &w.closing_);
       },
       [](VmaWorld& w) {
         w.mm_.mmap_assert_write_locked();
         return w.mm_.mmap_region(w.addr(2), 2 * kVmPageSize, 2, kRW, &w.closing_).error();
       },
       1},
      {"munmap middle (AAAAAA -> AA..BB)", [](VmaWorld& w) { w.map(0, 6, 0, kRW, &w.closing_); },
       [](VmaWorld& w) {
         w.mm_.mmap_assert_write_locked();
         return w.mm_.do_munmap(w.addr(2), 2 * kVmPageSize).error();
       },
       3},
      {"munmap gather across VMAs (AA.BB.CCC -> A......CC)",
       [](VmaWorld& w) {
         w.map(0, 2, 0, kRW);
         w.map(3, 2, 9, kRW);
         w.map(6, 3, 20, kRW);
       },
       [](VmaWorld& w) {
         w.mm_.mmap_assert_write_locked();
         return w.mm_.do_munmap(w.addr(1), 6 * kVmPageSize).error();
       },
       5},
      {"mprotect split middle (AAAAAA -> AABBCC)", [](VmaWorld& w) { w.map(0, 6, 0, kRW); },
       [](VmaWorld& w) {
         w.mm_.mmap_assert_write_locked();
         return w.mm_.mprotect_range(w.addr(2), 2 * kVmPageSize, kRO).error();
       },
       3},
      {"mprotect merge existing range (AABBCC -> AAAAAA)",
       [](VmaWorld& w) {
         w.map(0, 6, 0, kRW);
         (void)w.protect(2, 2, kRO);
       },
       [](VmaWorld& w) {
         w.mm_.mmap_assert_write_locked();
         return w.mm_.mprotect_range(w.addr(2), 2 * kVmPageSize, kRW).error();
       },
       3},
      {"mprotect merge into next (AAAABB -> AABBBB)",
       [](VmaWorld& w) {
         w.map(0, 4, 0, kRW);
         w.map(4, 2, 4, kRO);
       },
       [](VmaWorld& w) {
         w.mm_.mmap_assert_write_locked();
         return w.mm_.mprotect_range(w.addr(2), 2 * kVmPageSize, kRO).error();
       },
       2},
      {"vma_expand into free space (AA.. -> AAAA)", [](VmaWorld& w) { w.map(0, 2, 0, kRW); },
       [](VmaWorld& w) {
         w.mm_.mmap_assert_write_locked();
         return w.mm_.vma_expand(w.mm_.vma_lookup(w.addr(0)), w.addr(0), w.addr(4)).error();
       },
       1},
      {"vma_expand removing next (AAABB -> AAAAA)",
       [](VmaWorld& w) {
         w.map(0, 2, 0, kRW);
         w.map(3, 2, 3, kRW);
         (void)w.expand(0, 0, 3);
       },
       [](VmaWorld& w) {
         w.mm_.mmap_assert_write_locked();
         return w.mm_.vma_expand(w.mm_.vma_lookup(w.addr(0)), w.addr(0), w.addr(5)).error();
       },
       2},
      {"vma_expand over a gap into next (AA..BB -> AAAAAA)",
       [](VmaWorld& w) {
         w.map(0, 2, 0, kRW);
         w.map(4, 2, 4, kRW);
       },
       [](VmaWorld& w) {
         w.mm_.mmap_assert_write_locked();
         return w.mm_.vma_expand(w.mm_.vma_lookup(w.addr(0)), w.addr(0), w.addr(6)).error();
       },
       2},
      {"vma_shrink (AAAA -> .AAA)", [](VmaWorld& w) { w.map(0, 4, 0, kRW); },
       [](VmaWorld& w) {
         w.mm_.mmap_assert_write_locked();
         return w.mm_.vma_shrink(w.mm_.vma_lookup(w.addr(0)), w.addr(1), w.addr(4)).error();
       },
       1},
      {"mm_take_all_locks (AA.BB.CC)",
       [](VmaWorld& w) {
         w.map(0, 2, 0, kRW);
         w.map(3, 2, 9, kRO);
         w.map(6, 2, 30, kRW);
       },
       [](VmaWorld& w) {
         w.mm_.mmap_assert_write_locked();
         return w.mm_.mm_take_all_locks().error();
       },
       3},
  };
  for (const Case& c : cases) run_case(c);
  EXPECT_EQ(locking::violation_count(), 0u);
}

// The killable lock waits for a reader and is woken by the signal: -EINTR while waiting.
TEST(VmaKillable, SignalWhileWaitingForReaders) {
  test::Watchdog dog(30);
  VmaWorld w;
  w.map(0, 2, 0, kRW);
  VmArea* reader = w.mm_.lock_vma_under_rcu(w.addr(0));
  ASSERT_NE(reader, nullptr);
  locking::Task task(7, 0, 0, "munmap");
  std::atomic<int> rc{1};
  std::thread t([&] {
    locking::TaskScope scope(task);
    w.mm_.mmap_write_lock();
    rc = w.mm_.do_munmap(w.addr(0), kVmPageSize).error();
    w.mm_.mmap_write_unlock();
  });
  // Wait until the writer sleeps on the reader, then kill it.
  while (reader->vm_lock.nr_waiters() == 0) std::this_thread::yield();
  task.send_fatal_signal();
  t.join();
  EXPECT_EQ(rc.load(), -EINTR);
  w.mm_.vma_end_read(reader);
  EXPECT_EQ(w.layout(2), "AA");
  w.check_pattern();
}

}  // namespace
}  // namespace lockfs::core

// Page cache storage windows in init_mm: a file written in order lives in one window that
// grows (vma_expand); punching splits it, truncating shrinks it, eviction unmaps it; and a
// write killed at any of init_mm's VMA lock points returns -EINTR with nothing allocated.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/mm/mm.h"
#include "core/pagecache/address_space.h"
#include "locking/rwsem.h"
#include "locking/sync_point.h"
#include "locking/task.h"
#include "locking/tracer.h"
#include "tests/unit/mm/mm_test_util.h"

namespace lockfs::core {
namespace {

using locking::WriteGuard;

struct File {
  File(Mm& mm, PageBudget& b, uint64_t ino)
      : i_rwsem(test::host_class(), ino), as(mm, b, i_rwsem, ino) {}
  Result<size_t> write(uint64_t pos, size_t len, char c = 'w') {
    const std::string s(len, c);
    WriteGuard g(i_rwsem);
    return as.write(pos, std::span<const char>(s.data(), s.size()));
  }
  void truncate(uint64_t n) {
    WriteGuard g(i_rwsem);
    WriteGuard g2(as.invalidate_lock);
    ASSERT_TRUE(as.truncate(n).ok());
  }
  void punch(uint64_t off, uint64_t len) {
    WriteGuard g(i_rwsem);
    WriteGuard g2(as.invalidate_lock);
    ASSERT_TRUE(as.punch_hole(off, len).ok());
  }
  locking::RwSemaphore i_rwsem;
  AddressSpace as;
};

TEST(Storage, AppendingGrowsOneWindow) {
  test::StrictValidator strict;
  Mm mm(256 * kPageSize);
  PageBudget budget(256);
  File f(mm, budget, 1);
  ASSERT_TRUE(f.write(0, kPageSize).ok());  // the first cluster's window, whole
  EXPECT_EQ(mm.storage_windows(), 1u);
  EXPECT_EQ(mm.storage_pages_mapped(), kStorageCluster);
  for (uint64_t i = 1; i < 24; ++i) ASSERT_TRUE(f.write(i * kPageSize, kPageSize).ok());
  EXPECT_EQ(mm.storage_windows(), 1u);  // grown by the second cluster
  EXPECT_EQ(mm.storage_pages_mapped(), 2 * kStorageCluster);
  f.punch(2 * kPageSize, 2 * kPageSize);  // WW..WWWW...: the window splits
  EXPECT_EQ(mm.storage_windows(), 2u);
  EXPECT_EQ(mm.storage_pages_mapped(), 2 * kStorageCluster - 2);
  f.truncate(5 * kPageSize + 1);  // WW..WW: the second window shrinks to i_size
  EXPECT_EQ(mm.storage_windows(), 2u);
  EXPECT_EQ(mm.storage_pages_mapped(), 4u);
  ASSERT_TRUE(f.write(2 * kPageSize, 2 * kPageSize).ok());  // the hole again: merged back
  EXPECT_EQ(mm.storage_windows(), 1u);
  EXPECT_EQ(mm.storage_pages_mapped(), kStorageCluster);
  EXPECT_EQ(f.as.nr_pages(), 6u);
}

TEST(Storage, InterleavedFilesGetTheirOwnWindowsAndEvictionUnmapsThem) {
  Mm mm(256 * kPageSize);
  PageBudget budget(256);
  {
    File a(mm, budget, 1), b(mm, budget, 2);
    constexpr uint64_t kEach = kStorageCluster + 4;  // into each file's second cluster
    for (uint64_t i = 0; i < kEach; ++i) {
      ASSERT_TRUE(a.write(i * kPageSize, kPageSize, 'a').ok());
      ASSERT_TRUE(b.write(i * kPageSize, kPageSize, 'b').ok());
    }
    EXPECT_EQ(mm.storage_pages_mapped(), 4 * kStorageCluster);
    // Each file's first cluster sits right before the other's, so its second cluster is a
    // window of its own: four, none merged across files (the reads below check the pages).
    EXPECT_EQ(mm.storage_windows(), 4u);
    std::string out(kEach * kPageSize, '?');
    ASSERT_EQ(*a.as.read(0, std::span<char>(out.data(), out.size()), out.size()), out.size());
    EXPECT_EQ(out, std::string(out.size(), 'a'));
    ASSERT_EQ(*b.as.read(0, std::span<char>(out.data(), out.size()), out.size()), out.size());
    EXPECT_EQ(out, std::string(out.size(), 'b'));
  }
  EXPECT_EQ(mm.storage_pages_mapped(), 0u);
  EXPECT_EQ(budget.used(), 0u);
}

// The system's shared memory in KiB (/proc/meminfo's Shmem: every memfd page counts).
long shmem_kib() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  long value = -1;
  std::string unit;
  while (in >> key >> value >> unit) {
    if (key == "Shmem:") return value;
  }
  return -1;
}

// Eviction does not punch the pages: it unmaps the windows and closes the memfd, and the
// close must be what frees them. Shmem is the whole machine's, so the test first checks that
// the counter sees its own 64 MiB come, then that it comes back within a margin of the
// baseline -- for whatever else runs meanwhile, tried three times before failing.
TEST(Storage, EvictionGivesTheMemoryBack) {
  constexpr uint64_t kPages = 16384;  // 64 MiB
  constexpr long kMiB = 1024;         // Shmem is in KiB
  long before = -1, with_file = -1, after = -1;
  for (int attempt = 0; attempt < 3; ++attempt) {
    Mm mm((kPages + 64) * kPageSize);
    PageBudget budget(kPages + 64);
    before = shmem_kib();
    {
      File f(mm, budget, 1);
      for (uint64_t i = 0; i < kPages; i += 256) {
        Result<size_t> w = f.write(i * kPageSize, 256 * kPageSize);
        ASSERT_TRUE(w.ok()) << w.error();
        ASSERT_EQ(*w, 256 * kPageSize);
      }
      with_file = shmem_kib();
    }
    after = shmem_kib();
    EXPECT_EQ(mm.storage_pages_mapped(), 0u);
    EXPECT_EQ(budget.used(), 0u);
    if (before < 0 || with_file - before < 60 * kMiB) {
      GTEST_SKIP() << "/proc/meminfo's Shmem did not see 64 MiB of memfd pages (" << before
                   << " -> " << with_file << " KiB): cannot tell whether eviction frees them";
    }
    if (after - before <= 16 * kMiB) return;
  }
  ADD_FAILURE() << "Shmem " << before << " -> " << with_file << " -> " << after
                << " KiB: the evicted file's pages were not freed";
}

// The write needs a window: storage_map takes init_mm's mmap_lock (killable), then the
// vma_expand / mmap_region lock points. A signal at each: -EINTR, nothing allocated.
TEST(Storage, KilledAtEveryLockPointOfTheWindowOperation) {
  test::StrictValidator strict;
  for (int k = 0;; ++k) {
    Mm mm(64 * kPageSize);
    PageBudget budget(64);
    File f(mm, budget, 1);
    ASSERT_TRUE(f.write(0, 2 * kPageSize).ok());  // one window (the first cluster) to expand
    locking::Task task(50 + k, 0, 0, "write");
    int reached = 0;
    locking::sync_point_set("vma_start_write_killable", [&] {
      if (++reached == k) task.send_fatal_signal();
    });
    if (k == 0) task.send_fatal_signal();
    Result<size_t> r = err(-EIO);
    {
      locking::TaskScope scope(task);
      r = f.write(kStorageCluster * kPageSize, 3 * kPageSize);
    }
    locking::sync_point_clear_all();
    if (k > 0 && reached < k) {
      EXPECT_TRUE(r.ok());
      EXPECT_GE(k, 2);  // at least one lock point was injected
      break;
    }
    EXPECT_EQ(r.error(), -EINTR) << "lock point " << k;
    EXPECT_EQ(f.as.nr_pages(), 2u);
    EXPECT_EQ(budget.used(), 2u);
    EXPECT_EQ(mm.storage_pages_mapped(), kStorageCluster);
    ASSERT_LT(k, 16);
  }
}

// The tracer sees the VMA write lock taken under mmap_lock, and the killed wait.
TEST(Storage, TracerRecordsVmaLocksAndKills) {
  Mm mm(64 * kPageSize);
  PageBudget budget(64);
  File f(mm, budget, 1);
  ASSERT_TRUE(f.write(0, kPageSize).ok());
  locking::tracer_enable();
  locking::trace_reset();
  ASSERT_TRUE(f.write(kStorageCluster * kPageSize, kPageSize).ok());  // vma_expand
  {
    locking::Task task(9, 0, 0, "write");
    locking::TaskScope scope(task);
    locking::sync_point_set("vma_start_write_killable", [&] { task.send_fatal_signal(); });
    EXPECT_EQ(f.write(2 * kStorageCluster * kPageSize, kPageSize).error(), -EINTR);
    locking::sync_point_clear_all();
  }
  const auto events = locking::trace_snapshot();
  locking::tracer_disable();
  bool mmap_then_vma = false, killed_vma = false, saw_mmap = false;
  for (const auto& e : events) {
    const locking::LockClass* c = locking::lock_class_by_id(e.class_id);
    if (!c) continue;
    const std::string name = c->name();
    if (e.type == locking::EventType::kAcquire && name == "init_mm.mmap_lock" &&
        e.mode == locking::Mode::kExclusive) {
      saw_mmap = true;
    }
    if (e.type == locking::EventType::kAcquire && name == "init_mm.vma_lock" && saw_mmap &&
        e.mode == locking::Mode::kExclusive) {
      mmap_then_vma = true;
    }
    if (e.type == locking::EventType::kKilled && name == "init_mm.vma_lock") killed_vma = true;
  }
  EXPECT_TRUE(mmap_then_vma);
  EXPECT_TRUE(killed_vma);
}

}  // namespace
}  // namespace lockfs::core

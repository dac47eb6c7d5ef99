// The asserts at the top of each function fire when its lock is missing (strict validator:
// a violation aborts). Suites with death tests end in DeathTest.
#include <gtest/gtest.h>

#include <string>

#include "core/mm/mm.h"
#include "core/pagecache/address_space.h"
#include "locking/rwsem.h"
#include "locking/validator.h"
#include "tests/unit/mm/mm_test_util.h"

namespace lockfs::core {
namespace {

constexpr uint32_t kRW = kVmRead | kVmWrite | kVmShared | kVmPopulate;

// These break the lock rules on purpose, so that the runtime asserts (not the static analysis,
// which would refuse to compile them) are what catches them.
void write_lock_without_mmap_lock(Mm& mm, VmArea* v) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  mm.vma_start_write(v);
}
void munmap_under_read_lock(Mm& mm) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  mm.mmap_read_lock();
  (void)mm.do_munmap(mm.base(), kVmPageSize);  // read is not enough
}

TEST(MmAssertDeathTest, VmaStartWriteNeedsMmapLockWrite) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Mm mm(1 << 20);
  mm.mmap_write_lock();
  EXPECT_TRUE(mm.mmap_region(mm.base(), kVmPageSize, 0, kRW, nullptr).ok());
  VmArea* v = mm.vma_lookup(mm.base());
  mm.mmap_write_unlock();
  EXPECT_DEATH(
      {
        locking::set_validate_mode(locking::ValidateMode::kStrict);
        write_lock_without_mmap_lock(mm, v);
      },
      "assert_held failed: mmap_lock.* not held");
  EXPECT_DEATH(
      {
        locking::set_validate_mode(locking::ValidateMode::kStrict);
        munmap_under_read_lock(mm);
      },
      "assert_held failed: mmap_lock");
  mm.mmap_write_lock();
  EXPECT_TRUE(mm.do_munmap(mm.base(), kVmPageSize).ok());
  mm.mmap_write_unlock();
}

TEST(MmAssertDeathTest, WriteAndTruncateNeedTheirLocks) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Mm mm(1 << 20);
  PageBudget budget(16);
  locking::RwSemaphore i_rwsem(test::host_class(), 1);
  AddressSpace as(mm, budget, i_rwsem, 1);
  const std::string s = "x";
  EXPECT_DEATH(
      {
        locking::set_validate_mode(locking::ValidateMode::kStrict);
        (void)as.write(0, std::span<const char>(s.data(), 1));  // no i_rwsem
      },
      "assert_held failed: i_rwsem\\(test\\)");
  EXPECT_DEATH(
      {
        locking::set_validate_mode(locking::ValidateMode::kStrict);
        locking::WriteGuard g(i_rwsem);
        (void)as.truncate(0);  // no invalidate_lock
      },
      "assert_held failed: invalidate_lock");
}

}  // namespace
}  // namespace lockfs::core

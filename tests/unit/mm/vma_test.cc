// VMA operations on many layouts, in the spirit of the kernel's tools/testing/vma tests.
// Layouts are drawn one character per page from the mm's base: '.' unmapped, and each VMA a
// letter (A, B, ... in address order), so "AA.BB" is two 2-page VMAs with a hole between.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "core/mm/mm.h"
#include "locking/task.h"
#include "tests/unit/mm/mm_test_util.h"
#include "tests/unit/mm/vma_test_util.h"

namespace lockfs::core {
namespace {

using test::VmaFixture;
constexpr uint32_t kRW = kVmRead | kVmWrite | kVmShared | kVmPopulate;
constexpr uint32_t kRO = kVmRead | kVmShared | kVmPopulate;

TEST_F(VmaFixture, NewMappingMergesWithBothNeighbours) {
  map(0, 2, 0, kRW);
  map(4, 2, 4, kRW);
  EXPECT_EQ(layout(6), "AA..BB");
  map(2, 2, 2, kRW);
  EXPECT_EQ(layout(6), "AAAAAA");
  EXPECT_EQ(count(), 1u);
  check_pattern();
}

TEST_F(VmaFixture, NoMergeWhenPgoffOrFlagsDiffer) {
  map(0, 2, 0, kRW);
  map(2, 2, 7, kRW);   // pgoff not contiguous
  map(4, 2, 11, kRO);  // contiguous with B but other flags
  EXPECT_EQ(layout(6), "AABBCC");
}

TEST_F(VmaFixture, NoMergeAcrossObjects) {
  map(0, 2, 0, kRW, &obj_);
  map(2, 2, 2, kRW, &obj2_);
  EXPECT_EQ(layout(4), "AABB");
  check_pattern();
}

TEST_F(VmaFixture, MergeThatWouldRemoveAVmaWithCloseMergesOneSideOnly) {
  map(0, 2, 0, kRW, &closing_);
  map(4, 2, 4, kRW, &closing_);
  map(2, 2, 2, kRW, &closing_);
  EXPECT_EQ(layout(6), "AAAABB");  // expanded prev, kept next (it has ->close)
}

TEST_F(VmaFixture, MunmapSplitsAtBothEdges) {
  map(0, 6, 0, kRW, &closing_);
  EXPECT_EQ(unmap(2, 2), 0);
  EXPECT_EQ(layout(6), "AA..BB");
  EXPECT_EQ(vma_at(4)->vm_pgoff, 4u);
  EXPECT_EQ(closing_ops_.opens, 2);   // __split_vma ->open for each new piece
  EXPECT_EQ(closing_ops_.closes, 1);  // the gathered middle
  check_pattern();
  EXPECT_EQ(unmap(0, 6), 0);
  EXPECT_EQ(layout(6), "......");
  EXPECT_EQ(closing_ops_.closes, 3);
}

TEST_F(VmaFixture, MunmapAcrossSeveralVmasAndHoles) {
  map(0, 2, 0, kRW);
  map(3, 2, 9, kRW);
  map(6, 3, 20, kRW);
  EXPECT_EQ(layout(9), "AA.BB.CCC");
  EXPECT_EQ(unmap(1, 6), 0);
  EXPECT_EQ(layout(9), "A......BB");
  EXPECT_EQ(vma_at(7)->vm_pgoff, 21u);
  check_pattern();
}

TEST_F(VmaFixture, MunmapOfNothingIsNotAnError) {
  map(0, 1, 0, kRW);
  EXPECT_EQ(unmap(3, 2), 0);
  EXPECT_EQ(layout(5), "A....");
}

TEST_F(VmaFixture, MprotectMiddleSplitsThenMergesBack) {
  map(0, 6, 0, kRW);
  EXPECT_EQ(protect(2, 2, kRO), 0);
  EXPECT_EQ(layout(6), "AABBCC");
  check_pattern();
  EXPECT_EQ(protect(2, 2, kRW), 0);
  EXPECT_EQ(layout(6), "AAAAAA");
  check_pattern();
}

TEST_F(VmaFixture, MprotectMergesIntoNeighbour) {
  map(0, 4, 0, kRW);
  map(4, 2, 4, kRO);
  EXPECT_EQ(layout(6), "AAAABB");
  EXPECT_EQ(protect(2, 2, kRO), 0);
  EXPECT_EQ(layout(6), "AABBBB");
  EXPECT_EQ(vma_at(2)->vm_pgoff, 2u);
  EXPECT_EQ(protect(0, 2, kRO), 0);
  EXPECT_EQ(layout(6), "AAAAAA");
  check_pattern();
}

TEST_F(VmaFixture, MprotectOfUnmappedRangeIsEnomem) {
  map(0, 2, 0, kRW);
  map(3, 2, 3, kRW);
  const auto before = snapshot();
  EXPECT_EQ(protect(0, 5, kRO), -ENOMEM);
  EXPECT_EQ(snapshot(), before);
}

TEST_F(VmaFixture, MprotectWithSameFlagsChangesNothing) {
  map(0, 4, 0, kRW);
  const uint64_t locks = mm_.vma_write_lock_count();
  EXPECT_EQ(protect(1, 2, kRW), 0);
  EXPECT_EQ(layout(4), "AAAA");
  EXPECT_EQ(mm_.vma_write_lock_count(), locks);  // nothing modified, nothing locked
}

TEST_F(VmaFixture, ExpandIntoFreeSpaceAndOverNext) {
  map(0, 2, 0, kRW);
  map(3, 2, 3, kRW);
  EXPECT_EQ(expand(0, 0, 3), 0);  // [2,3) was free
  EXPECT_EQ(layout(5), "AAABB");  // B is compatible but expand does not merge on its own
  EXPECT_EQ(expand(0, 0, 5), 0);  // now it removes next
  EXPECT_EQ(layout(5), "AAAAA");
  check_pattern();
}

TEST_F(VmaFixture, ExpandFillsAGapAndSwallowsNext) {
  map(0, 2, 0, kRW);
  map(4, 2, 4, kRW);
  EXPECT_EQ(layout(6), "AA..BB");
  EXPECT_EQ(expand(0, 0, 6), 0);  // vma_merge_new_range's shape: gap + next
  EXPECT_EQ(layout(6), "AAAAAA");
  check_pattern();
  map(8, 2, 30, kRW);
  EXPECT_EQ(expand(0, 0, 10), -EINVAL);  // next's pgoff does not continue ours
  EXPECT_EQ(layout(10), "AAAAAA..BB");
}

TEST_F(VmaFixture, ExpandDownwardsKeepsPgoffRelation) {
  map(2, 2, 2, kRW);
  EXPECT_EQ(expand(2, 0, 4), 0);
  EXPECT_EQ(layout(4), "AAAA");
  EXPECT_EQ(vma_at(0)->vm_pgoff, 0u);
  check_pattern();
}

TEST_F(VmaFixture, ExpandRejectsOverlapAndNegativePgoff) {
  map(0, 2, 0, kRW);
  map(2, 3, 9, kRW);
  EXPECT_EQ(expand(0, 0, 4), -EINVAL);  // would cover part of B
  map(6, 1, 0, kRW);
  EXPECT_EQ(expand(6, 5, 7), -EINVAL);  // pgoff would go below 0
  EXPECT_EQ(layout(7), "AABBB.C");
}

TEST_F(VmaFixture, ShrinkFromEitherEnd) {
  map(0, 6, 0, kRW);
  EXPECT_EQ(shrink(0, 1, 6), 0);
  EXPECT_EQ(layout(6), ".AAAAA");
  EXPECT_EQ(vma_at(1)->vm_pgoff, 1u);
  EXPECT_EQ(shrink(1, 1, 4), 0);
  EXPECT_EQ(layout(6), ".AAA..");
  EXPECT_EQ(shrink(1, 2, 3), -EINVAL);  // must keep an edge
  check_pattern();
}

TEST_F(VmaFixture, WriteLocksLastUntilMmapWriteUnlock) {
  map(0, 2, 0, kRW);
  map(3, 2, 3, kRO);
  mm_.mmap_write_lock();
  EXPECT_TRUE(mm_.mm_take_all_locks().ok());
  EXPECT_TRUE(mm_.vma_is_write_locked(mm_.vma_lookup(addr(0))));
  EXPECT_TRUE(mm_.vma_is_write_locked(mm_.vma_lookup(addr(3))));
  mm_.mmap_write_unlock();
  // Readers get in again: the write section ended.
  VmArea* v = mm_.lock_vma_under_rcu(addr(0));
  ASSERT_NE(v, nullptr);
  mm_.vma_end_read(v);
}

TEST_F(VmaFixture, ReaderFailsWhileVmaIsWriteLocked) {
  map(0, 2, 0, kRW);
  mm_.mmap_write_lock();
  mm_.vma_start_write(mm_.vma_lookup(addr(0)));
  EXPECT_EQ(mm_.lock_vma_under_rcu(addr(0)), nullptr);
  mm_.mmap_write_unlock();
  VmArea* v = mm_.lock_vma_under_rcu(addr(1));
  ASSERT_NE(v, nullptr);
  mm_.vma_end_read(v);
  EXPECT_EQ(mm_.lock_vma_under_rcu(addr(5)), nullptr);  // nothing there
}

}  // namespace
}  // namespace lockfs::core

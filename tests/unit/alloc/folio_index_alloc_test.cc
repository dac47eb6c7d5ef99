// Allocation failure in the page cache's index: an insertion that needs new nodes (levels
// on top, nodes on the path) and fails to get one leaves the tree exactly as it was -- no
// node without anything under it stays linked, so the tree empties again when its folios
// are erased (a null slot means an empty subtree; the root shrinks).
#include <gtest/gtest.h>

#include <cstdint>
#include <new>
#include <vector>

#include "core/pagecache/folio_index.h"

namespace lockfs::testing {
extern thread_local long t_allocs_left;  // alloc_failure_test.cc
namespace {

// The index never dereferences what it stores.
core::Folio* fake(uint64_t i) { return reinterpret_cast<core::Folio*>((i + 1) * 64); }

TEST(FolioIndexAllocFailure, InsertAllOrNothing) {
  struct Case {
    std::vector<uint64_t> present;
    uint64_t index;
  };
  const Case cases[] = {
      {{}, 5000},             // an empty tree: root and path in one go
      {{0}, 5000},            // two levels on top, then a new path off the top
      {{0}, 70},              // one level on top, a new leaf
      {{0, 5000}, 300000},    // a level on top of a three-level tree, a path of three
      {{0, 300000}, 300064},  // a new leaf under existing inner nodes
      // The largest page index (kMaxFilePages - 1) into a one-level tree: six levels on
      // top and a path of six under the new top, more nodes than the tree has levels.
      {{0}, (uint64_t{1} << 40) - 1},
      {{}, (uint64_t{1} << 40) - 1},
  };
  for (const Case& c : cases) {
    int failures = 0;
    for (long k = 0; k < 100; ++k) {
      core::FolioIndex idx;
      for (uint64_t i : c.present) ASSERT_EQ(idx.insert_if_absent(i, fake(i)), nullptr);
      bool threw = false;
      t_allocs_left = k;
      try {
        EXPECT_EQ(idx.insert_if_absent(c.index, fake(c.index)), nullptr);
      } catch (const std::bad_alloc&) {
        threw = true;
      }
      const bool injected = t_allocs_left == -1;
      t_allocs_left = -1;
      EXPECT_EQ(idx.load(c.index), threw ? nullptr : fake(c.index)) << c.index << ", k " << k;
      for (uint64_t i : c.present) EXPECT_EQ(idx.load(i), fake(i)) << c.index << ", k " << k;
      if (!threw) {
        EXPECT_EQ(idx.erase(c.index), fake(c.index));
      }
      for (uint64_t i : c.present) EXPECT_EQ(idx.erase(i), fake(i));
      EXPECT_TRUE(idx.empty()) << "insert of " << c.index << " with allocation " << k
                               << " failing left a node linked";
      if (!injected) break;
      EXPECT_TRUE(threw);
      ++failures;
    }
    EXPECT_GT(failures, 0) << c.index;
  }
}

}  // namespace
}  // namespace lockfs::testing

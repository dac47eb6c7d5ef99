// Sync points: callbacks run on the thread that reaches the point; clearing removes them.
#include "locking/sync_point.h"

#include <thread>

#include "tests/unit/locking/locking_fixture.h"

namespace lockfs::locking {
namespace {

class SyncPointTest : public testing::LockingTest {};

TEST_F(SyncPointTest, RunsInstalledCallbackOnReachingThread) {
  int hits = 0;
  std::thread::id where;
  sync_point_set("test:point", [&] {
    ++hits;
    where = std::this_thread::get_id();
  });
  LOCKFS_SYNC_POINT("test:other");
  EXPECT_EQ(hits, 0);
  std::thread t([] { LOCKFS_SYNC_POINT("test:point"); });
  const auto tid = t.get_id();
  t.join();
  EXPECT_EQ(hits, 1);
  EXPECT_EQ(where, tid);
  sync_point_set("test:point", nullptr);
  LOCKFS_SYNC_POINT("test:point");
  EXPECT_EQ(hits, 1);
}

TEST_F(SyncPointTest, ClearAllRemovesEverything) {
  int hits = 0;
  sync_point_set("a", [&] { ++hits; });
  sync_point_set("b", [&] { ++hits; });
  sync_point_clear_all();
  sync_point_process("a");
  sync_point_process("b");
  EXPECT_EQ(hits, 0);
}

}  // namespace
}  // namespace lockfs::locking

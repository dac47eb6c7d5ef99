// LOCKFS_SYNC_POINT("name"): a named point tests can stop a thread at, to make races
// deterministic. Compiles to nothing unless LOCKFS_TESTING is set.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <string_view>

namespace lockfs::locking {
// Number of installed callbacks. Sync points sit on hot paths of the code under test (the
// daemon is built with them): with none installed, one inline load is all they cost.
extern std::atomic<size_t> g_sync_installed;
// Runs the callback installed for `name`, if any. Callbacks run on the thread reaching it.
void sync_point_process(std::string_view name);
void sync_point_set(std::string_view name, std::function<void()> cb);
void sync_point_clear_all();
}  // namespace lockfs::locking

#if defined(LOCKFS_TESTING)
#define LOCKFS_SYNC_POINT(name)                                                         \
  do {                                                                                  \
    if (__builtin_expect(                                                               \
            ::lockfs::locking::g_sync_installed.load(std::memory_order_acquire) != 0, 0)) \
      ::lockfs::locking::sync_point_process(name);                                      \
  } while (0)
#else
#define LOCKFS_SYNC_POINT(name) ((void)0)
#endif

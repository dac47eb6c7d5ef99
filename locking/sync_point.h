// LOCKFS_SYNC_POINT("name"): a named point tests can stop a thread at, to make races
// deterministic. Compiles to nothing unless LOCKFS_TESTING is set.
#pragma once

#include <functional>
#include <string_view>

namespace lockfs::locking {
// Runs the callback installed for `name`, if any. Callbacks run on the thread reaching it.
void sync_point_process(std::string_view name);
void sync_point_set(std::string_view name, std::function<void()> cb);
void sync_point_clear_all();
}  // namespace lockfs::locking

#if defined(LOCKFS_TESTING)
#define LOCKFS_SYNC_POINT(name) ::lockfs::locking::sync_point_process(name)
#else
#define LOCKFS_SYNC_POINT(name) ((void)0)
#endif

// check_failed and the "lock" logger lookup.
#include "locking/check.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

#include "locking/internal/runtime.h"

namespace lockfs::locking {

namespace internal {

std::shared_ptr<spdlog::logger> lock_logger() {
  // fs/main registers "lock" at start-up; before that (and in tests) fall back to an
  // unregistered stderr logger, so registering later never collides with ours.
  if (auto lg = spdlog::get("lock")) return lg;
  static const std::shared_ptr<spdlog::logger> fallback = std::make_shared<spdlog::logger>(
      "lock", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  return fallback;
}

}  // namespace internal

void check_failed(const char* file, int line, const char* cond, const char* msg) {
  internal::lock_logger()->critical("check failed: {} ({}) at {}:{}", msg, cond, file, line);
  internal::lock_logger()->flush();
  // Also straight to stderr: the logger may be asynchronous or filtered.
  std::fprintf(stderr, "lockfs: check failed: %s (%s) at %s:%d\n", msg, cond, file, line);
  std::abort();
}

}  // namespace lockfs::locking

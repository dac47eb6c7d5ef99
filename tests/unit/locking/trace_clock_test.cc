// The trace clock: it reads CLOCK_MONOTONIC (within the lead an anchor may carry) and a
// thread's stamps never go back, across many anchors and with another thread taking them.
#include <gtest/gtest.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "locking/internal/runtime.h"

namespace lockfs::locking {
namespace {

using internal::now_ns;
using internal::trace_clock_source;

uint64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Reads the trace clock until it has chosen its source: the TSC after 20 ms of calibration
// where the kernel's clocksource is tsc, else clock_gettime (also under
// LOCKFS_TRACE_CLOCK=clock_gettime, which ctest runs these tests with too).
void settle() {
  const uint64_t deadline = mono_ns() + 2'000'000'000ull;
  while (mono_ns() < deadline && (std::strcmp(trace_clock_source(), "tsc") != 0 &&
                                  std::strcmp(trace_clock_source(), "clock_gettime") != 0)) {
    (void)now_ns();
  }
  const char* forced = std::getenv("LOCKFS_TRACE_CLOCK");
  if (forced != nullptr) {
    EXPECT_STREQ(trace_clock_source(), forced);
  }
  std::printf("trace clock source: %s\n", trace_clock_source());
}

// What an anchor may lead CLOCK_MONOTONIC by (trace_clock.cc's kMaxLeadNs), plus slack for
// the rate measured over the first 20 ms.
constexpr uint64_t kTolerance = 200'000;

TEST(TraceClockTest, ReadsClockMonotonic) {
  settle();
  // 100 ms: ten anchors. Each reading must fall inside the clock_gettime readings around it.
  const uint64_t end = mono_ns() + 100'000'000;
  uint64_t n = 0;
  for (uint64_t before = mono_ns(); before < end; before = mono_ns(), ++n) {
    const uint64_t t = now_ns();
    const uint64_t after = mono_ns();
    ASSERT_GE(t + kTolerance, before) << "reading " << n << " is behind CLOCK_MONOTONIC";
    ASSERT_LE(t, after + kTolerance) << "reading " << n << " is ahead of CLOCK_MONOTONIC";
  }
  EXPECT_GT(n, 1000u);
}

TEST(TraceClockTest, AThreadsStampsNeverGoBack) {
  settle();
  // Two threads cross anchors taken by either one for 60 ms (six anchors at least).
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> backwards{0}, readings{0};
  auto reader = [&] {
    uint64_t last = now_ns(), n = 0, back = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const uint64_t t = now_ns();
      if (t < last) ++back;
      last = t;
      ++n;
    }
    backwards += back;
    readings += n;
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) threads.emplace_back(reader);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(backwards.load(), 0u) << "of " << readings.load() << " readings";
  EXPECT_GT(readings.load(), 1000u);
}

TEST(TraceClockTest, ElapsedNeverWraps) {
  EXPECT_EQ(internal::elapsed_ns(100, 250), 150u);
  EXPECT_EQ(internal::elapsed_ns(250, 100), 0u);
}

}  // namespace
}  // namespace lockfs::locking

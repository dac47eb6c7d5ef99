// The trace clock: it reads CLOCK_MONOTONIC (within the lead an anchor may carry) and a
// thread's stamps never go back, across many anchors and with another thread taking them,
// with no reading held up by more than where two anchors' lines meet.
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
  if (forced != nullptr && std::strcmp(forced, "clock_gettime") == 0) {
    EXPECT_STREQ(trace_clock_source(), "clock_gettime");
  }
  std::printf("trace clock source: %s\n", trace_clock_source());
}

// How far the line may be from CLOCK_MONOTONIC: a rate measured over the first 20 ms is off
// by a few ppm, and an anchor corrects what that adds up to within the next 10 ms.
constexpr uint64_t kTolerance = 200'000;
// How far a thread may have had to hold a reading up to its previous one (ns): a reading of
// the old line taken while another thread takes the new anchor can be ahead of the new line
// by the lines' difference in rate times how long that took, which is 1 ms only if a
// refresher stalled for half a second with its rate halved.
constexpr uint64_t kMaxHoldUp = 1'000'000;

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
  // No reading goes back because each thread holds its readings up to its latest; that must
  // only ever have covered the lines' meeting points, never a new line started far behind.
  EXPECT_LE(internal::trace_clock_max_hold_up_for_test(), kMaxHoldUp);
}

// A rate that is off (0.2%, 20 us per anchor) must not let the line drift from
// CLOCK_MONOTONIC: an anchor ahead of it slows down to meet it (without ever going back), one
// behind it jumps forward. Over 300 ms an uncorrected line would be 600 us off.
TEST(TraceClockTest, ARateThatIsOffIsSteeredBack) {
  settle();
  for (const int ppm : {2000, -2000}) {
    internal::set_trace_clock_rate_error_for_test(ppm);
    const uint64_t end = mono_ns() + 300'000'000;
    uint64_t last = now_ns(), n = 0, prev = mono_ns();
    // While this thread is off the CPU nobody reads the clock, so no anchor corrects the
    // line: it comes back off by the time away times the error, and slews that back over
    // the next anchors. On a loaded machine that time is the test's, not the clock's.
    uint64_t slack = kTolerance;
    for (uint64_t before = mono_ns(); before < end; before = mono_ns(), ++n) {
      const uint64_t t = now_ns();
      const uint64_t after = mono_ns();
      // The time away may fall before the reading or inside it (between before and after).
      if (after - prev > 1'000'000) slack += 2 * (after - prev) * std::abs(ppm) / 1'000'000;
      ASSERT_GE(t, last) << "reading " << n << " went back (" << ppm << " ppm)";
      ASSERT_GE(t + slack, before) << "reading " << n << " behind (" << ppm << " ppm)";
      ASSERT_LE(t, after + slack) << "reading " << n << " ahead (" << ppm << " ppm)";
      last = t;
      prev = after;
    }
    EXPECT_GT(n, 1000u);
  }
  internal::set_trace_clock_rate_error_for_test(0);
  EXPECT_LE(internal::trace_clock_max_hold_up_for_test(), kMaxHoldUp);
}

TEST(TraceClockTest, ElapsedNeverWraps) {
  EXPECT_EQ(internal::elapsed_ns(100, 250), 150u);
  EXPECT_EQ(internal::elapsed_ns(250, 100), 0u);
}

}  // namespace
}  // namespace lockfs::locking

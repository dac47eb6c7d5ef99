// The trace clock: CLOCK_MONOTONIC nanoseconds, read from the TSC when the kernel itself
// keeps time with it.
//
// The tracer stamps every acquire and every release, so the clock is the largest single cost
// of a traced lock section. clock_gettime's vDSO orders its TSC read (lfence or rdtscp) and
// rereads its seqcount; a plain rdtsc does neither: 44-59 ns against 27 ns on the machine this
// was measured on, 40 ns of a 240 ns traced and validated section (lockfs-locking-bench).
//
// When the kernel's clocksource is "tsc" it has checked that the TSC is invariant and in step
// across CPUs, which is all the conversion below needs: ns = anchor.ns + (tsc - anchor.tsc) *
// mult >> 32. The rate comes from clock_gettime itself: from the first (tsc, ns) pair to the
// newest, so it grows more exact as the process lives. A new anchor is taken every 10 ms by
// whichever thread finds the old one stale first; the others keep using the old one meanwhile
// (never waiting), and a new anchor starts where the old one's line is, so a thread's stamps
// do not go back when it crosses from one to the other. Readers of durations still subtract
// with elapsed_ns(), which saturates: the rounding of two lines may differ by a nanosecond.
//
// Until the first 20 ms of the process have given a rate, and on other clocksources or
// architectures, it is clock_gettime. LOCKFS_TRACE_CLOCK=clock_gettime forces that.
#include <time.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "locking/internal/runtime.h"

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace lockfs::locking::internal {

namespace {

uint64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

#if defined(__x86_64__)
inline uint64_t read_tsc() { return __rdtsc(); }
#else
inline uint64_t read_tsc() { return 0; }
#endif

constexpr uint64_t kCalibrateNs = 20'000'000;  // first rate from at least this span
constexpr uint64_t kAnchorNs = 10'000'000;     // an anchor is stale after this long
// A new anchor continues the old line only while that line is this close to clock_gettime;
// past it (a long idle, or a rate that was off) the new anchor jumps to the real time.
constexpr uint64_t kMaxLeadNs = 100'000;

enum Source : int { kUndecided, kCalibrating, kTsc, kMono };

// Two anchor slots: the refresher fills the one readers are not directed to, then flips
// `current`. A slot is rewritten only two refreshes later; its sequence number tells a reader
// that was that slow to retry.
struct Anchor {
  std::atomic<uint64_t> seq{0};  // odd while being written
  std::atomic<uint64_t> tsc{0};
  std::atomic<uint64_t> ns{0};
  std::atomic<uint64_t> mult{0};         // ns per tick, 32.32 fixed point
  std::atomic<uint64_t> stale_after{0};  // tsc
};

struct alignas(64) Clock {
  std::atomic<int> source{kUndecided};
  std::atomic<unsigned> current{0};
  Anchor slot[2];
  std::atomic<bool> refreshing{false};
  std::atomic<uint64_t> calibrate_at{0};  // kCalibrating: clock_gettime time to try the rate
  // Owned by the refresher (`refreshing` held).
  uint64_t cal_tsc = 0, cal_ns = 0;  // the first pair: the rate is measured from it
  bool have_cal = false;
};
Clock g_clock;

uint64_t on_line(uint64_t tsc, uint64_t at, uint64_t ns, uint64_t mult) {
  return ns + static_cast<uint64_t>((static_cast<unsigned __int128>(tsc - at) * mult) >> 32);
}

int decide_source() {
#if defined(__x86_64__)
  if (const char* env = std::getenv("LOCKFS_TRACE_CLOCK");
      env != nullptr && std::strcmp(env, "clock_gettime") == 0) {
    return kMono;
  }
  std::ifstream f("/sys/devices/system/clocksource/clocksource0/current_clocksource");
  std::string cs;
  if (f >> cs && cs == "tsc") return kCalibrating;
#endif
  return kMono;
}

// A (tsc, ns) pair read close together: the tightest of three tries, tsc at the midpoint.
void read_pair(uint64_t* tsc, uint64_t* ns) {
  uint64_t best = UINT64_MAX;
  for (int i = 0; i < 3; ++i) {
    const uint64_t t1 = read_tsc();
    const uint64_t n = mono_ns();
    const uint64_t t2 = read_tsc();
    if (t2 >= t1 && t2 - t1 < best) {
      best = t2 - t1;
      *tsc = t1 + (t2 - t1) / 2;
      *ns = n;
    }
  }
  if (best == UINT64_MAX) {  // the TSC went backwards: take the last reading as it is
    *tsc = read_tsc();
    *ns = mono_ns();
  }
}

// Takes a new anchor (the caller owns `refreshing`) and returns the time it stands for.
uint64_t refresh() {
  Clock& c = g_clock;
  uint64_t t, r;
  read_pair(&t, &r);
  if (!c.have_cal) {
    c.cal_tsc = t;
    c.cal_ns = r;
    c.have_cal = true;
    c.calibrate_at.store(r + kCalibrateNs, std::memory_order_relaxed);
    return r;
  }
  if (t <= c.cal_tsc) {  // a TSC that does not advance cannot be converted
    c.source.store(kMono, std::memory_order_release);
    return r;
  }
  if (r - c.cal_ns < kCalibrateNs) return r;
  const unsigned __int128 span_ns = r - c.cal_ns;
  const uint64_t span_tsc = t - c.cal_tsc;
  const auto mult = static_cast<uint64_t>((span_ns << 32) / span_tsc);
  const auto stale = static_cast<uint64_t>((static_cast<unsigned __int128>(kAnchorNs) * span_tsc) /
                                           static_cast<uint64_t>(span_ns));
  uint64_t ns = r;
  const unsigned cur = c.current.load(std::memory_order_relaxed);
  if (c.source.load(std::memory_order_relaxed) == kTsc) {
    const Anchor& old = c.slot[cur];
    const uint64_t at = old.tsc.load(std::memory_order_relaxed);
    if (t >= at) {
      const uint64_t line = on_line(t, at, old.ns.load(std::memory_order_relaxed),
                                    old.mult.load(std::memory_order_relaxed));
      if (line > r && line - r <= kMaxLeadNs) ns = line;
    }
  }
  Anchor& next = c.slot[cur ^ 1];
  const uint64_t seq = next.seq.load(std::memory_order_relaxed);
  next.seq.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  next.tsc.store(t, std::memory_order_relaxed);
  next.ns.store(ns, std::memory_order_relaxed);
  next.mult.store(mult, std::memory_order_relaxed);
  next.stale_after.store(t + stale, std::memory_order_relaxed);
  next.seq.store(seq + 2, std::memory_order_release);
  c.current.store(cur ^ 1, std::memory_order_release);
  c.source.store(kTsc, std::memory_order_release);
  return ns;
}

// The tsc reading on the published line, or false when there is no usable anchor for it.
// Inlined: it is most of now_ns() and runs twice per traced lock section.
[[gnu::always_inline]] inline bool from_anchor(uint64_t tsc, uint64_t* out, bool* stale) {
  const Anchor& a = g_clock.slot[g_clock.current.load(std::memory_order_acquire)];
  const uint64_t seq = a.seq.load(std::memory_order_acquire);
  if (seq & 1) return false;
  const uint64_t at = a.tsc.load(std::memory_order_relaxed);
  const uint64_t ns = a.ns.load(std::memory_order_relaxed);
  const uint64_t mult = a.mult.load(std::memory_order_relaxed);
  const uint64_t stale_after = a.stale_after.load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  if (a.seq.load(std::memory_order_relaxed) != seq || tsc < at) return false;
  *stale = tsc >= stale_after;
  *out = on_line(tsc, at, ns, mult);
  return true;
}

uint64_t now_slow(uint64_t tsc) {
  Clock& c = g_clock;
  int src = c.source.load(std::memory_order_acquire);
  if (src == kUndecided) {
    static const int decided = decide_source();  // once per process
    int expected = kUndecided;
    c.source.compare_exchange_strong(expected, decided, std::memory_order_acq_rel);
    src = c.source.load(std::memory_order_acquire);
  }
  if (src == kMono) return mono_ns();
  if (src == kCalibrating) {
    const uint64_t r = mono_ns();
    if (r < c.calibrate_at.load(std::memory_order_relaxed) ||
        c.refreshing.exchange(true, std::memory_order_acquire)) {
      return r;
    }
    // The rate's first pair is read after `r`: what this returns is not earlier than it.
    const uint64_t v = refresh();
    c.refreshing.store(false, std::memory_order_release);
    return v;
  }
  uint64_t v = 0;
  bool stale = true;
  bool have = from_anchor(tsc, &v, &stale);
  // An anchor newer than our TSC reading, or one being rewritten under us: read again.
  for (int retry = 0; !have && retry < 3; ++retry) have = from_anchor(read_tsc(), &v, &stale);
  if (stale && !c.refreshing.exchange(true, std::memory_order_acquire)) {
    const uint64_t r = refresh();
    c.refreshing.store(false, std::memory_order_release);
    return r;
  }
  // Someone else is taking the new anchor: the old line is still good for a while.
  return have ? v : mono_ns();
}

}  // namespace

uint64_t now_ns() {
  const uint64_t tsc = read_tsc();
  if (__builtin_expect(g_clock.source.load(std::memory_order_relaxed) == kTsc, 1)) {
    uint64_t v;
    bool stale;
    if (__builtin_expect(from_anchor(tsc, &v, &stale) && !stale, 1)) return v;
  }
  return now_slow(tsc);
}

const char* trace_clock_source() {
  switch (g_clock.source.load(std::memory_order_acquire)) {
    case kTsc:
      return "tsc";
    case kCalibrating:
      return "calibrating";
    case kMono:
      return "clock_gettime";
    default:
      return "undecided";
  }
}

}  // namespace lockfs::locking::internal

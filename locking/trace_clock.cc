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
// whichever thread finds the old one stale first, and never before it is stale; the others
// keep using the old one meanwhile (never waiting). Each thread reads a copy of the anchor it
// last found fresh (t_anchor). A new anchor never starts before the old line: when that line
// is ahead of clock_gettime (a rate a little fast, or NTP slowing the kernel's clock) the new
// one runs slower until it meets it, as NTP slews rather than steps; when behind, it jumps
// forward. A reading of the old line taken past its staleness, while another thread takes
// the new anchor, can still be a little ahead of the new line just after: each thread keeps
// its latest reading and never returns less, so a thread's stamps never go back (how far that
// ever had to hold a reading up is kept for the tests). Readers of durations still subtract
// with elapsed_ns(), which saturates, for two threads' readings.
//
// Until the first 20 ms of the process have given a rate, and on other clocksources or
// architectures, it is clock_gettime. LOCKFS_TRACE_CLOCK=clock_gettime forces that.
#include <time.h>

#include <algorithm>
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
// A (tsc, ns) pair whose clock_gettime readings are further apart than this was preempted:
// it is not used to measure the rate.
constexpr uint64_t kPairSpreadNs = 5'000;

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

struct Clock {
  // Read by every now_ns(), written only when it changes: a line of its own, away from the
  // anchors that every refresh rewrites. Once kMono, it stays kMono.
  alignas(64) std::atomic<int> source{kUndecided};
  alignas(64) std::atomic<unsigned> current{0};
  Anchor slot[2];
  std::atomic<bool> refreshing{false};
  std::atomic<uint64_t> calibrate_at{0};  // kCalibrating: clock_gettime time to try the rate
  // Owned by the refresher (`refreshing` held).
  uint64_t cal_tsc = 0, cal_ns = 0;  // the first pair: the rate is measured from it
  bool have_cal = false;
};
Clock g_clock;
std::atomic<int> g_rate_error_ppm{0};  // tests: a rate measured this far off

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

// A (tsc, ns) pair: the TSC read between two clock_gettime calls, ns the second of them,
// spread how far apart they were (preemption between them makes a pair loose). The later
// reading, not the midpoint: a line through it is never behind a clock_gettime stamp taken
// before it, which is what the switch from calibrating to the TSC needs. Tightest of three.
struct Pair {
  uint64_t tsc, ns, spread;
};
Pair read_pair() {
  Pair best{0, 0, UINT64_MAX};
  for (int i = 0; i < 3; ++i) {
    const uint64_t n1 = mono_ns();
    const uint64_t t = read_tsc();
    const uint64_t n2 = mono_ns();
    if (n2 - n1 < best.spread) best = {t, n2, n2 - n1};
  }
  return best;
}

// Publishes a new anchor in the slot readers are not directed to, then directs them to it.
void publish(uint64_t tsc, uint64_t ns, uint64_t mult, uint64_t stale_ticks) {
  Clock& c = g_clock;
  const unsigned cur = c.current.load(std::memory_order_relaxed);
  Anchor& next = c.slot[cur ^ 1];
  const uint64_t seq = next.seq.load(std::memory_order_relaxed);
  next.seq.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  next.tsc.store(tsc, std::memory_order_relaxed);
  next.ns.store(ns, std::memory_order_relaxed);
  next.mult.store(mult, std::memory_order_relaxed);
  next.stale_after.store(tsc + stale_ticks, std::memory_order_relaxed);
  next.seq.store(seq + 2, std::memory_order_release);
  c.current.store(cur ^ 1, std::memory_order_release);
  if (c.source.load(std::memory_order_relaxed) == kCalibrating) {
    c.source.store(kTsc, std::memory_order_release);  // refresh() checked it is not kMono
  }
}

// Takes a new anchor (the caller owns `refreshing`) and returns the time it stands for. A
// reader that found the anchor stale may come here after another one has already replaced
// it: a fresh anchor is left alone, so that the copies threads keep of it stay the line.
uint64_t refresh() {
  Clock& c = g_clock;
  const Pair p = read_pair();
  if (c.source.load(std::memory_order_relaxed) == kMono) return p.ns;
  if (!c.have_cal) {
    if (p.spread > kPairSpreadNs) return p.ns;  // a loose first pair: try again later
    c.cal_tsc = p.tsc;
    c.cal_ns = p.ns;
    c.have_cal = true;
    c.calibrate_at.store(p.ns + kCalibrateNs, std::memory_order_relaxed);
    return p.ns;
  }
  if (p.tsc <= c.cal_tsc) {  // a TSC that does not advance cannot be converted
    c.source.store(kMono, std::memory_order_release);
    return p.ns;
  }
  const bool on_tsc = c.source.load(std::memory_order_relaxed) == kTsc;
  if (!on_tsc && (p.ns - c.cal_ns < kCalibrateNs || p.spread > kPairSpreadNs)) return p.ns;
  // Where the published line is now: a new anchor starts no earlier, so no stamp goes back.
  const Anchor& old = c.slot[c.current.load(std::memory_order_relaxed)];
  const uint64_t old_mult = old.mult.load(std::memory_order_relaxed);
  const uint64_t at = old.tsc.load(std::memory_order_relaxed);
  const uint64_t line = on_tsc && p.tsc >= at
                            ? on_line(p.tsc, at, old.ns.load(std::memory_order_relaxed), old_mult)
                            : 0;
  if (on_tsc && p.tsc < old.stale_after.load(std::memory_order_relaxed)) {
    return p.tsc >= at ? line : p.ns;  // replaced since our reader found it stale: still fresh
  }
  // The rate since the first pair; a loose pair keeps the old one for another interval.
  const unsigned __int128 span_ns = p.ns - c.cal_ns;
  const uint64_t span_tsc = p.tsc - c.cal_tsc;
  uint64_t rate = on_tsc && p.spread > kPairSpreadNs
                      ? old_mult
                      : static_cast<uint64_t>((span_ns << 32) / span_tsc);
  if (const int ppm = g_rate_error_ppm.load(std::memory_order_relaxed); ppm != 0) {
    rate = static_cast<uint64_t>(static_cast<__int128>(rate) * (1'000'000 + ppm) / 1'000'000);
  }
  uint64_t ns = p.ns;
  uint64_t mult = rate;
  if (line > p.ns) {
    // Ahead of CLOCK_MONOTONIC (a rate a little fast, or the kernel clock slewed slower):
    // go on from the line, slower, to meet it at the next anchor, as NTP slews the kernel's
    // clock rather than stepping it. At most half speed, so a large lead takes a few anchors.
    ns = line;
    const uint64_t lead = std::min<uint64_t>(line - p.ns, kAnchorNs / 2);
    mult = static_cast<uint64_t>(static_cast<unsigned __int128>(rate) * (kAnchorNs - lead) /
                                 kAnchorNs);
  }
  // Behind it, the new anchor jumps forward to it: later is never a step back.
  const auto stale = static_cast<uint64_t>((static_cast<unsigned __int128>(kAnchorNs) << 32) /
                                           rate);
  publish(p.tsc, ns, mult, stale);
  return ns;
}

// A thread's copy of the published anchor it last read, so that now_ns()'s fast path reads
// thread-local words and the source only (no seqcount, no anchor line). Using it is the same
// as reading the published slot each time: a slot is replaced only by a refresh, refresh()
// replaces only a stale slot (tsc >= stale_after), and by then every copy of it is stale too
// (the TSC runs in step on every CPU: it is the kernel's clocksource), so its owner goes back
// to the slot. `span` is stale_after - at: 0 (no copy) sends every read there.
struct LocalAnchor {
  uint64_t at, ns, mult, span;
  uint64_t last;  // this thread's latest reading: none of its readings goes back past it
};
thread_local constinit LocalAnchor t_anchor{0, 0, 0, 0, 0};

// The most a reading was held up to its thread's latest one (ns): the tests' check that the
// lines still meet, now that no reading can go back.
std::atomic<uint64_t> g_max_hold_up{0};
[[gnu::noinline]] void note_held_up(uint64_t by) {
  uint64_t seen = g_max_hold_up.load(std::memory_order_relaxed);
  while (by > seen && !g_max_hold_up.compare_exchange_weak(seen, by, std::memory_order_relaxed)) {
  }
}

// The tsc reading on the published line, or false when there is no usable anchor for it.
// A fresh anchor is copied into `local`.
bool from_anchor(uint64_t tsc, uint64_t* out, bool* stale, LocalAnchor& local) {
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
  if (!*stale) local = LocalAnchor{at, ns, mult, stale_after - at, local.last};
  return true;
}

// Takes the new anchor unless another thread is taking it: true, and its time in *out.
bool try_refresh(uint64_t* out) {
  Clock& c = g_clock;
  // Test before the exchange: while one thread refreshes, the others' stamps only read the
  // flag, instead of each writing its line.
  if (c.refreshing.load(std::memory_order_relaxed) ||
      c.refreshing.exchange(true, std::memory_order_acquire)) {
    return false;
  }
  *out = refresh();
  c.refreshing.store(false, std::memory_order_release);
  return true;
}

// Out of line, so that now_ns()'s fast path needs no callee-saved registers. (Not cold: it
// is every call where the trace clock is clock_gettime; on the TSC, a thread's first call
// after its copy goes stale, and every call while another thread takes the new anchor.)
[[gnu::noinline]] uint64_t now_slow(uint64_t tsc, LocalAnchor& local) {
  Clock& c = g_clock;
  int src = c.source.load(std::memory_order_acquire);
  if (src == kUndecided) {
    static const int decided = decide_source();  // once per process
    int expected = kUndecided;
    c.source.compare_exchange_strong(expected, decided, std::memory_order_acq_rel);
    src = c.source.load(std::memory_order_acquire);
  }
  if (src == kMono) return mono_ns();
  uint64_t v = 0;
  if (src == kCalibrating) {
    const uint64_t r = mono_ns();
    // The rate's first pair is read after `r`: what a refresh returns is not earlier.
    if (r >= c.calibrate_at.load(std::memory_order_relaxed) && try_refresh(&v)) return v;
    return r;
  }
  bool stale = true;
  bool have = from_anchor(tsc, &v, &stale, local);
  // An anchor newer than our TSC reading, or one being rewritten under us: read again.
  for (int retry = 0; !have && retry < 3; ++retry) {
    have = from_anchor(read_tsc(), &v, &stale, local);
  }
  if (have && stale && try_refresh(&v)) return v;
  // Someone else is taking the new anchor: the old line is still good for a while.
  return have ? v : mono_ns();
}

}  // namespace

uint64_t now_ns() {
  const uint64_t tsc = read_tsc();
  LocalAnchor& a = t_anchor;
  // at <= tsc < stale_after (one unsigned compare), and still on the TSC: a TSC found not
  // to advance turns the clock to clock_gettime, and then no copy may be used either.
  const bool fast = tsc - a.at < a.span &&
                    g_clock.source.load(std::memory_order_relaxed) == kTsc;
  uint64_t v = __builtin_expect(fast, 1) ? on_line(tsc, a.at, a.ns, a.mult) : now_slow(tsc, a);
  // Two lines meet where a new anchor starts, but a reading of the old one taken while another
  // thread was taking the new one can be a little ahead of the new line just after.
  if (__builtin_expect(v < a.last, 0)) {
    note_held_up(a.last - v);
    v = a.last;
  }
  a.last = v;
  return v;
}

uint64_t trace_clock_max_hold_up_for_test() {
  return g_max_hold_up.load(std::memory_order_relaxed);
}

void set_trace_clock_rate_error_for_test(int ppm) {
  g_rate_error_ppm.store(ppm, std::memory_order_relaxed);
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

namespace lockfs::locking {
const char* trace_clock_name() { return internal::trace_clock_source(); }
}  // namespace lockfs::locking

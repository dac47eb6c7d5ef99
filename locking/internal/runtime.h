// Internals shared by the primitives, the validator and the tracer: the global "instrumented"
// flag the hot paths test once, the per-thread state, and the combined lock hooks.
// Not for use outside locking/ (tests may include it to reach the clock).
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <memory>

#include "locking/lock_class.h"
#include "locking/task.h"
#include "locking/tracer.h"
#include "locking/validator.h"

namespace spdlog {
class logger;
}

namespace lockfs::locking::internal {

// Bit 0: validator on (mode != off); bit 1: tracer on; bit 2: fault-injection rules exist.
// One relaxed load on every lock op.
inline constexpr uint32_t kInstrValidator = 1u << 0;
// Set when the validator ran out of memory and turned itself off (validator.cc).
inline std::atomic<bool> g_validator_oom{false};
inline constexpr uint32_t kInstrTracer = 1u << 1;
inline constexpr uint32_t kInstrInject = 1u << 2;
extern std::atomic<uint32_t> g_instrumented;

inline bool instrumented() {
  return __builtin_expect(g_instrumented.load(std::memory_order_relaxed) != 0, 0);
}
inline bool validator_on() {
  return g_instrumented.load(std::memory_order_relaxed) & kInstrValidator;
}
inline bool tracer_on() { return g_instrumented.load(std::memory_order_relaxed) & kInstrTracer; }

// The trace clock (trace_clock.cc): CLOCK_MONOTONIC nanoseconds, from the TSC when the
// kernel's clocksource is the TSC, else from clock_gettime. Every trace event's stamp, every
// wait and hold time, and violation times come from it. A thread's readings never go back.
uint64_t now_ns();
// "tsc", "calibrating" (the first 20 ms), "clock_gettime" or "undecided" (never read yet).
const char* trace_clock_source();
// Tests: every rate the clock measures from now on is off by `ppm` parts per million, as a
// rate measured over a short span or a kernel clock slewed by NTP would be.
void set_trace_clock_rate_error_for_test(int ppm);
// Tests: the most (ns) a thread's reading was ever raised to its previous one: how far a
// reading of the old line, taken while another thread took the new anchor, was ahead of the
// new line (their difference in rate times how long that took: nanoseconds, normally).
uint64_t trace_clock_max_hold_up_for_test();
// t1 - t0 for two trace-clock readings, 0 if t1 is earlier (two threads' readings, or the
// integer rounding of two anchors' lines): a duration must never wrap.
inline uint64_t elapsed_ns(uint64_t t0, uint64_t t1) { return t1 > t0 ? t1 - t0 : 0; }

// The "lock" logger: the one fs/main registers, else a default stderr logger.
std::shared_ptr<spdlog::logger> lock_logger();

// Deepest held-lock stack we track (lockdep's MAX_LOCK_DEPTH).
inline constexpr int kMaxHeld = kMaxHeldLocks;

struct HeldEntry {
  const LockMap* key;  // instance identity: the primitive's own LockMap
  uint64_t chain_key;  // hash of the (class, subclass) chain up to and including this entry
  HeldLock h;
};
struct HoldStart {
  const LockMap* key;
  uint64_t ts_ns;
  Subclass subclass;  // so the release event names the same (class, subclass) as the acquire
};
struct Ring;
struct StatBlock;

// Per-thread cache of held chains (lockdep's chain hash) whose order edges are all in the
// class graph already: an acquire whose chain is cached skips the graph. Direct-mapped;
// `chain_gen` follows the graph's generation so that reset_validator() empties every cache.
inline constexpr size_t kChainCacheSize = 256;

// Everything a thread keeps for the validator and the tracer. Hooks look it up once per
// event and pass it down. Trivially destructible and constant-initialized, so that reaching
// the thread's one is a TLS offset and no init call: its exit work (the exit check, then
// handing the trace ring back, in that order) runs from a guard that arm_thread_exit
// registers once the thread has something to clean up.
struct ThreadState {
  HeldEntry held[kMaxHeld];
  int depth = 0;
  int nspin = 0;              // entries of `held` whose class spins (sleep-under-spinlock check)
  HoldStart holds[kMaxHeld];  // tracer: acquire times, for lock_stat hold times
  int nholds = 0;
  Ring* ring = nullptr;
  StatBlock* stats = nullptr;  // tracer: this thread's lock_stat counters
  uint32_t tid = 0;
  uint32_t chain_gen = 0;
  bool exit_armed = false;  // arm_thread_exit has run on this thread
  bool exited = false;      // its exit work ran: no new ring or block (none would go back)
  uint64_t chain_cache[kChainCacheSize] = {};
};
// The calling thread's (validator.cc). constinit: reaching it is a TLS offset, no init call.
extern thread_local constinit ThreadState t_state;
inline ThreadState& thread_state() { return t_state; }
// Before the thread first holds a lock or takes a trace ring or a lock_stat block: makes sure
// its exit reports locks still held and hands the ring and the block back.
void arm_thread_exit_slow(ThreadState& ts) noexcept;
inline void arm_thread_exit(ThreadState& ts) noexcept {
  if (__builtin_expect(!ts.exit_armed, 0)) arm_thread_exit_slow(ts);
}

// Tracer side of thread exit (tracer.cc): returns the ring and the lock_stat block to their
// pools, keeping their events and counts.
void tracer_thread_exit(ThreadState& ts);
// A thread's first traced event takes a ring (allocated the first time: a megabyte at the
// default size) and a lock_stat block from the pools. before_fast_path (and lock_wait_begin)
// do it before a lock is taken, so that no lock is held across the allocation.
void tracer_attach(ThreadState& ts);
inline bool tracer_attached(const ThreadState& ts) {
  return ts.ring != nullptr && ts.stats != nullptr;
}
// Tests: rings now owned by a live thread.
size_t tracer_rings_in_use();
// Validator side: records a violation (tracing it against `lock` when given).
void record_violation(ViolationKind kind, std::string message, const LockMap* lock);

// The validator's and the tracer's halves of the hooks, with the thread state and timestamp
// supplied, so an event reads the clock at most once and looks the thread state up once.
// The validator never reads the clock: `now` is 0 when the tracer is off.
void validator_before_acquire(ThreadState& ts, const LockMap& m, Mode mode, Subclass s,
                              bool may_sleep, const void* site) noexcept;
void validator_after_acquire(ThreadState& ts, const LockMap& m, Mode mode, Subclass s, uint64_t now,
                             const void* site);
void trace_lock_at(ThreadState& ts, uint64_t now, EventType type, const LockMap& m, Mode mode,
                   Subclass s, bool contended, uint64_t wait_ns);
// trace_lock_at for the two events of every lock section, without its switch over types.
void trace_acquire(ThreadState& ts, uint64_t now, const LockMap& m, Mode mode, Subclass s,
                   bool contended, uint64_t wait_ns);
void trace_release(ThreadState& ts, uint64_t now, const LockMap& m, Mode mode);

// A TaskScope closes: reports locks taken since the held stack was `depth` deep and not
// released (they stay on the stack: the thread does hold them).
void check_scope_exit(int depth) noexcept;

// Where a lock is taken: the return address of the primitive's public method, i.e. the
// caller's code (the primitives live in their own translation units and are not inlined).
#define LOCKFS_CALLER __builtin_return_address(0)

// Combined hooks the primitives call, only when instrumented() is true. `site` is
// LOCKFS_CALLER, kept with the held lock for reports. `now` is the time the wait ended when
// the caller timed it (contended acquire, killed wait), else 0: the hook reads the clock
// itself if the tracer needs it.
// Before a blocking acquire waits, its fast path having failed, or refuses at once for a
// fatal signal (may_sleep: the wait sleeps rather than spins): the validator's checks, so a
// deadlock is reported before it hangs.
void lock_wait_begin(const LockMap& m, Mode mode, Subclass s, bool may_sleep, const void* site);
void lock_acquired(const LockMap& m, Mode mode, Subclass s, bool contended, uint64_t wait_ns,
                   const void* site, uint64_t now = 0);
// lock_wait_begin and lock_acquired in one, for a lock its fast path took at once.
void lock_acquired_uncontended(const LockMap& m, Mode mode, Subclass s, bool may_sleep,
                               const void* site);
// Before a lock's fast path: the thread's first traced event takes its ring and lock_stat
// block here, with no lock held across their allocation.
inline void before_fast_path() {
  if (tracer_on() && __builtin_expect(!tracer_attached(t_state), 0)) tracer_attach(t_state);
}
void lock_killed(const LockMap& m, Mode mode, Subclass s, uint64_t wait_ns, uint64_t now = 0);
void lock_try_failed(const LockMap& m, Mode mode, Subclass s);
void lock_released(const LockMap& m, Mode mode);
// A sleeping wait that is not a lock (folio_wait_writeback): sleep-under-spinlock check.
void might_sleep(const char* what) noexcept;

// The one shape of every sleeping acquire: refuse at once when `killable` and the task has a
// fatal signal pending (deterministic at every killable point); try the fast path, and report
// it acquired; else report the wait (the order checks run before it sleeps), sleep in the
// slow path (0 or -EINTR), then report acquired (contended, with the wait) or killed. `site`
// is the public method's LOCKFS_CALLER. The wait is timed only when it happens (fast path
// failed) and the tracer, the only reader of wait times, is on.
template <typename Fast, typename Slow>
inline int instrumented_acquire(const LockMap& m, Mode mode, Subclass s, bool killable,
                                const void* site, Fast fast, Slow slow) {
  const bool instr = instrumented();
  if (instr) before_fast_path();
  if (killable && current().fatal_signal_pending()) {
    if (instr) {
      lock_wait_begin(m, mode, s, true, site);
      lock_killed(m, mode, s, 0);
    }
    return -EINTR;
  }
  if (__builtin_expect(fast(), 1)) {
    if (instr) lock_acquired_uncontended(m, mode, s, true, site);
    return 0;
  }
  if (instr) lock_wait_begin(m, mode, s, true, site);
  const bool timed = instr && tracer_on();
  const uint64_t t0 = timed ? now_ns() : 0;
  const int rc = slow();
  const uint64_t t1 = timed ? now_ns() : 0;
  if (rc != 0) {
    if (instr) lock_killed(m, mode, s, elapsed_ns(t0, t1), t1);
    return rc;
  }
  if (instr) lock_acquired(m, mode, s, true, elapsed_ns(t0, t1), site, t1);
  return 0;
}

// The one shape of every trylock: one attempt, reported as acquired or as a failed try.
template <typename Fast>
inline bool instrumented_trylock(const LockMap& m, Mode mode, const void* site, Fast fast) {
  const bool ok = fast();
  if (instrumented()) {
    if (ok) {
      lock_acquired(m, mode, Subclass::kNormal, false, 0, site);
    } else {
      lock_try_failed(m, mode, Subclass::kNormal);
    }
  }
  return ok;
}

// The assert helpers: `state_ok` is what the lock's own state says (used with the validator
// off); with it on, the held stack decides. Failures are reported as kAssertFailed.
void assert_held(const LockMap& m, Mode mode, bool state_ok) noexcept;
void assert_not_held(const LockMap& m) noexcept;

}  // namespace lockfs::locking::internal

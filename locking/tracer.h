// The tracer: per-thread ring buffers of lock events, dumped as text, JSON lines or Chrome
// trace event JSON (opens in Perfetto), plus a lock_stat-style table per class.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ostream>
#include <vector>

#include "locking/lock_class.h"

namespace lockfs::locking {

enum class EventType : uint8_t {
  kAcquire,    // lock taken (contended, wait_ns say how)
  kRelease,
  kKilled,     // a killable wait returned -EINTR (wait_ns: how long it waited)
  kTryFail,    // a trylock that did not get the lock
  kViolation,  // the validator found one (class/object of the lock involved, if any)
  kOpBegin,    // OpScope opened (op)
  kOpEnd,      // OpScope closed (result)
};
const char* event_type_name(EventType t);

struct TraceEvent {
  uint64_t ts_ns;    // CLOCK_MONOTONIC, from the TSC where it can (locking/trace_clock.cc)
  uint64_t wait_ns;  // acquire/killed: time spent waiting
  uint64_t object;   // LockMap::object
  uint64_t aux;      // LockMap::aux
  const char* op;    // static string
  uint32_t tid;      // tracer's thread number (dense, 1..)
  pid_t pid;         // current()->pid
  int32_t result;    // kOpEnd: 0 or -errno; kKilled: -EINTR
  uint16_t class_id; // 0 for op events
  EventType type;
  Mode mode;
  Subclass subclass;
  bool contended;
};

// Tracing is off until enabled. ring_events: per-thread ring capacity (oldest overwritten).
void tracer_enable(size_t ring_events = 1 << 16);
void tracer_disable();
bool tracer_enabled();
// Where event timestamps come from (locking/trace_clock.cc): "tsc" (the TSC, converted to
// CLOCK_MONOTONIC), "clock_gettime", "calibrating" (its first 20 ms) or "undecided".
const char* trace_clock_name();
// Drops all recorded events and lock_stat counters.
void trace_reset();

// All threads' events merged in timestamp order (a consistent-enough snapshot: taking it does
// not stop writers, events being written at that moment may be missed).
std::vector<TraceEvent> trace_snapshot();
// The tracer's number for the calling thread (matches TraceEvent::tid).
uint32_t trace_thread_id();

void dump_text(std::ostream& os, const std::vector<TraceEvent>& events);
void dump_jsonl(std::ostream& os, const std::vector<TraceEvent>& events);
// Chrome trace event format: {"traceEvents":[...]}, one track per thread, lock holds as
// duration (B/E) events, waits as their own slices, ops as enclosing slices, violations and
// kills as instant events.
void dump_chrome(std::ostream& os, const std::vector<TraceEvent>& events);

// lock_stat per class (since the last reset, counted while tracing is on).
struct LockStat {
  uint16_t class_id;
  const char* name;
  uint64_t acquisitions, contentions, killed;
  uint64_t wait_total_ns, wait_max_ns, hold_total_ns, hold_max_ns;
};
std::vector<LockStat> lock_stats();
void dump_lockstat(std::ostream& os);

// Hooks the primitives and the validator call. Not for use above locking/.
namespace hooks {
void trace_lock(EventType type, const LockMap& m, Mode mode, Subclass s, bool contended,
                uint64_t wait_ns);
void trace_op(EventType type, const char* op, int result);
}  // namespace hooks

}  // namespace lockfs::locking

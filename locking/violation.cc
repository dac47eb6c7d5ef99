// Violation bookkeeping: count, bounded list, log, trace, strict handler; mode switch.
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <deque>
#include <mutex>

#include "locking/internal/runtime.h"
#include "locking/task.h"
#include "locking/tracer.h"
#include "locking/validator.h"

namespace lockfs::locking {

namespace internal {
std::atomic<uint32_t> g_instrumented{0};
}  // namespace internal

namespace {

constexpr size_t kKeptViolations = 256;

std::atomic<ValidateMode> g_mode{ValidateMode::kOff};
std::atomic<uint64_t> g_violation_count{0};

std::mutex g_violation_mu;
// Heap-allocated and never freed: a thread exiting late (after static destructors) may still
// report "exit holding locks".
std::deque<Violation>* g_kept = nullptr;  // g_violation_mu
StrictHandler* g_handler = nullptr;       // g_violation_mu; nullptr = default

void default_strict_handler(const Violation& v) {
  internal::lock_logger()->critical("strict lock validation: {} — aborting\n{}",
                                    violation_kind_name(v.kind), v.message);
  internal::lock_logger()->flush();
  std::abort();
}

}  // namespace

void set_validate_mode(ValidateMode m) {
  if (internal::g_validator_oom.load(std::memory_order_relaxed)) m = ValidateMode::kOff;
  g_mode.store(m, std::memory_order_relaxed);
  if (m == ValidateMode::kOff) {
    internal::g_instrumented.fetch_and(~internal::kInstrValidator, std::memory_order_relaxed);
  } else {
    internal::g_instrumented.fetch_or(internal::kInstrValidator, std::memory_order_relaxed);
  }
}

ValidateMode validate_mode() { return g_mode.load(std::memory_order_relaxed); }

bool validator_ran_out_of_memory() {
  return internal::g_validator_oom.load(std::memory_order_relaxed);
}

const char* validate_mode_name(ValidateMode m) {
  switch (m) {
    case ValidateMode::kOff:
      return "off";
    case ValidateMode::kWarn:
      return "warn";
    case ValidateMode::kStrict:
      return "strict";
  }
  return "?";
}

const char* violation_kind_name(ViolationKind k) {
  switch (k) {
    case ViolationKind::kOrderCycle:
      return "order-cycle";
    case ViolationKind::kRecursive:
      return "recursive";
    case ViolationKind::kReleaseNotHeld:
      return "release-not-held";
    case ViolationKind::kSleepUnderSpinlock:
      return "sleep-under-spinlock";
    case ViolationKind::kExitHoldingLocks:
      return "exit-holding-locks";
    case ViolationKind::kAssertFailed:
      return "assert-failed";
    case ViolationKind::kContract:
      return "contract";
  }
  return "?";
}

uint64_t violation_count() { return g_violation_count.load(std::memory_order_relaxed); }

std::vector<Violation> violations() {
  std::lock_guard lk(g_violation_mu);
  if (g_kept == nullptr) return {};
  return {g_kept->begin(), g_kept->end()};
}

void reset_violations() {
  std::lock_guard lk(g_violation_mu);
  if (g_kept != nullptr) g_kept->clear();
  g_violation_count.store(0, std::memory_order_relaxed);
}

void set_strict_handler(StrictHandler h) {
  std::lock_guard lk(g_violation_mu);
  delete g_handler;
  g_handler = h ? new StrictHandler(std::move(h)) : nullptr;
}

void report_violation(ViolationKind kind, std::string message) {
  internal::record_violation(kind, std::move(message), nullptr);
}

namespace internal {

void record_violation(ViolationKind kind, std::string message, const LockMap* lock) {
  Task& t = current();
  Violation v{kind, std::move(message), now_ns(), t.pid, t.op};
  g_violation_count.fetch_add(1, std::memory_order_relaxed);
  lock_logger()->warn("lock violation kind={} pid={} op={}: {}", violation_kind_name(kind), v.pid,
                      v.op != nullptr ? v.op : "", v.message);
  if (tracer_on()) {
    static const LockMap kNoLock{nullptr, 0, 0};
    hooks::trace_lock(EventType::kViolation, lock != nullptr ? *lock : kNoLock, Mode::kExclusive,
                      Subclass::kNormal, false, 0);
  }
  StrictHandler handler;
  {
    std::lock_guard lk(g_violation_mu);
    if (g_kept == nullptr) g_kept = new std::deque<Violation>();
    if (g_kept->size() == kKeptViolations) g_kept->pop_front();
    g_kept->push_back(v);
    if (g_handler != nullptr) handler = *g_handler;
  }
  if (validate_mode() != ValidateMode::kStrict) return;
  // Outside the mutex: a recording handler may look at violations().
  if (handler) {
    handler(v);
  } else {
    default_strict_handler(v);
  }
}

}  // namespace internal

}  // namespace lockfs::locking

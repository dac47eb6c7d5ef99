// The lockdep-style validator: a per-thread stack of held locks and a global graph of the
// order in which lock classes (class, subclass) were taken. Violations are counted, logged
// with both chains, traced, and in strict mode handed to the strict handler (default: abort).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "locking/lock_class.h"

namespace lockfs::locking {

enum class ValidateMode : uint8_t { kOff, kWarn, kStrict };
// Turning validation on has no effect once the validator has run out of memory (it then
// stops for good, as lockdep does, and threads' records of held locks are stale); only
// reset_validator() -- for tests, with every other thread idle -- clears that.
void set_validate_mode(ValidateMode m);
ValidateMode validate_mode();
// True once the validator ran out of memory and turned itself off.
bool validator_ran_out_of_memory();
const char* validate_mode_name(ValidateMode m);

enum class ViolationKind : uint8_t {
  kOrderCycle,          // this acquisition closes a cycle in the class-order graph
  kRecursive,           // re-acquiring a (non-shared-recursive) lock this thread holds
  kReleaseNotHeld,      // releasing a lock this thread does not hold
  kSleepUnderSpinlock,  // a sleeping wait while holding a spinlock
  kExitHoldingLocks,    // a thread ended (or a task scope closed) holding locks
  kAssertFailed,        // assert_held / assert_not_held failed
  kContract,            // a method entered without the locks its contract row requires
};
const char* violation_kind_name(ViolationKind k);

// Deepest held-lock stack the validator tracks (lockdep's MAX_LOCK_DEPTH); one more is a
// LOCKFS_CHECK failure. Callers that hold a batch of locks at once size the batch by it.
inline constexpr int kMaxHeldLocks = 48;

struct HeldLock {
  LockMap map;
  Mode mode;
  Subclass subclass;
  const char* op;       // the op current() ran when it was taken
  uint64_t acquired_ns;
  const void* site = nullptr;  // code address that took it (printed as symbol/module+offset)
};

struct Violation {
  ViolationKind kind;
  std::string message;  // includes the held chain and, for cycles, the other chain
  uint64_t ts_ns;
  pid_t pid;
  const char* op;
};

// Counters and the kept list (bounded; the count is exact).
uint64_t violation_count();
std::vector<Violation> violations();
void reset_violations();
// Forgets the class-order graph too (tests that want a clean slate).
void reset_validator();

// Reports a violation found above locking/ (e.g. core's contract checks).
void report_violation(ViolationKind kind, std::string message);

// In strict mode every violation is handed to this handler after being recorded. The default
// logs critical and aborts. Tests may install one that records instead; nullptr restores it.
using StrictHandler = std::function<void(const Violation&)>;
void set_strict_handler(StrictHandler h);

// The calling thread's held locks, oldest first (empty when the validator is off).
std::vector<HeldLock> held_locks();
// True when the calling thread holds `lock` in `mode` (kShared accepts either mode).
// With the validator off it answers from the lock's own state where it can (always true
// otherwise), so asserts stay cheap and never false-positive.
bool lock_is_held(const LockMap& lock, Mode mode);
// Human-readable chain: "i_rwsem(dir)/parent ino=1 excl (op=rename) <- ..."
std::string format_held_locks(const std::vector<HeldLock>& held);

// Hooks the primitives call. Not for use above locking/.
namespace hooks {
// Before a wait that may sleep/spin: order check, sleep-under-spinlock check.
void before_acquire(const LockMap& m, Mode mode, Subclass s, bool may_sleep);
void after_acquire(const LockMap& m, Mode mode, Subclass s);
void on_release(const LockMap& m, Mode mode);
// A downgrade changes the held entry's mode in place.
void on_downgrade(const LockMap& m);
}  // namespace hooks

}  // namespace lockfs::locking

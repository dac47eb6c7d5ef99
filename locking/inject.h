// Fault injection: rules that delay or fail an operation at its start, or keep a lock held for
// a while after it is acquired, so contention, timeouts and races can be made on purpose and
// reproduced (per-rule seeded PRNG). Driven by `lockfs-ctl MNT inject add SPEC`.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "locking/lock_class.h"
#include "locking/result.h"

namespace lockfs::locking::inject {

enum class Action : uint8_t {
  kDelay,  // sleep `ms` at op begin, then let the op run
  kFail,   // op begin returns -errno: the op fails before taking any lock
  kHold,   // after acquiring `lock`, keep holding it for `ms` before returning to the caller
};

// One rule. The text form (parse/format) is space-separated key=value tokens:
//   op=NAME          op name as OpScope/Task::op say it ("rename", "write"); "*" or absent:
//                    any op (for kHold: the op the acquiring task runs)
//   lock=CLASS       kHold: a lock-class name ("i_rwsem(dir)", "folio_lock"); a name without
//                    "(...)" matches every class of that base name ("i_rwsem")
//   ino=N            only for this inode (op rules: the request's inode; hold rules: the
//                    lock's object, LockMap::object)
//   mode=shared|exclusive  kHold: only acquisitions in this mode
//   delay=DUR | fail=ERRNO | hold=DUR   the action (exactly one). DUR: 250ms, 2s, 500us, or a
//                    bare number of ms. ERRNO: a name (EIO) or a number.
//   prob=P           probability each match fires (0..1, default 1)
//   count=N          fire N times, then stay listed but inert (default: no limit)
//   seed=N           seeds the rule's PRNG (default: a random seed); with prob, makes which
//                    matches fire deterministic for a given sequence of matches
// Examples: "op=rename delay=200ms count=1", "op=write fail=EIO prob=0.5 seed=7",
//           "lock=i_rwsem(dir) ino=1 hold=500ms count=1", "lock=folio_lock hold=300ms".
struct Rule {
  Action action = Action::kDelay;
  std::string op;    // "" = any op
  std::string lock;  // kHold only
  std::optional<uint64_t> ino;
  std::optional<Mode> mode;  // kHold only
  uint64_t duration_us = 0;  // kDelay, kHold
  int error = 0;             // kFail: positive errno
  double prob = 1.0;
  uint64_t count = 0;        // 0: unlimited
  std::optional<uint64_t> seed;
};

// Parses the text form. -EINVAL on an unknown key, a bad value, no action or two actions,
// kHold without lock=, lock= on a delay/fail rule, or prob outside [0, 1].
Result<Rule> parse(std::string_view spec);
// The canonical text form (parse(format(r)) gives back r).
std::string format(const Rule& r);

// Adds a rule (validated as parse does); returns its id (1, 2, ... never reused).
Result<uint64_t> add(Rule rule);
// -ENOENT when no rule has that id.
Result<void> remove(uint64_t id);
void clear();
// One line per rule: "ID: SPEC fired=N" (plus " remaining=N" for counted rules).
std::vector<std::string> list();

namespace internal {
extern std::atomic<uint32_t> g_nr_rules;
int on_op_begin_slow(const char* op, uint64_t ino);
void on_acquired_slow(const LockMap& m, Mode mode);
}  // namespace internal

// True when at least one rule is installed. Hot path: one relaxed atomic load.
inline bool enabled() { return internal::g_nr_rules.load(std::memory_order_relaxed) != 0; }

// Called once when an operation starts, before it takes any lock, on the thread that runs it
// with current() already set: applies matching delays (killable: a fatal signal ends the
// delay and the call returns -EINTR), then the first matching fail rule. Returns 0 or a
// negative errno the caller must return as the op's result. ino: the inode the request is
// about (0: unknown; ino-filtered rules then do not match).
inline int on_op_begin(const char* op, uint64_t ino = 0) {
  return enabled() ? internal::on_op_begin_slow(op, ino) : 0;
}

// Called right after a lock is acquired (after the validator/tracer hooks, with no internal
// mutex of the primitive held), on the acquiring thread. Sleeps for matching hold rules while
// the caller holds the lock; a fatal signal for the current task ends the hold early. The
// lock is released by its owner afterwards, as always.
inline void on_acquired(const LockMap& m, Mode mode) {
  if (enabled()) internal::on_acquired_slow(m, mode);
}

}  // namespace lockfs::locking::inject

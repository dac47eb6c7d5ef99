// The validator's per-thread side: the held-lock stack, the checks made on each acquire and
// release, and the combined hooks the primitives call (validator first, then tracer).
//
// Same class+subclass nesting: lockdep reports any nesting of one class without a subclass
// annotation. We follow it only for the same instance (kRecursive). Different instances of
// one (class, subclass) may nest in either mode, because callers that need two of them either
// use distinct subclasses (lock_rename's kParent/kParent2) or a helper that owns the order;
// flagging every such pair would force annotations on harmless shared nesting (two directories'
// i_rwsem shared during lookup).
#include "locking/validator.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <unistd.h>
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "locking/check.h"
#include "locking/inject.h"
#include "locking/internal/lock_graph.h"
#include "locking/internal/runtime.h"
#include "locking/task.h"

namespace lockfs::locking {

namespace internal {

thread_local constinit ThreadState t_state{};

namespace {

// Registered (as any thread_local with a destructor is, on its first use) by
// arm_thread_exit_slow, so the thread's exit work runs; t_state itself has none.
struct ThreadExit {
  bool armed = false;
  ~ThreadExit();
};
thread_local ThreadExit t_exit;

bool spins(const LockClass* cls) {
  return cls->kind() == LockKind::kSpinLock || cls->kind() == LockKind::kSeqLock;
}

// "vfs_rename(...)+0x4c" when the symbol is exported, else "lockfs+0x1234" (feed the offset
// to addr2line -e <module>). Only called while building a report.
std::string site_name(const void* site) {
  Dl_info info;
  if (site == nullptr || dladdr(site, &info) == 0) return fmt::format("{}", site);
  const auto addr = reinterpret_cast<uintptr_t>(site);
  if (info.dli_sname != nullptr && info.dli_saddr != nullptr) {
    int status = 0;
    char* dem = abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status);
    std::string s = fmt::format("{}+{:#x}", status == 0 && dem ? dem : info.dli_sname,
                                addr - reinterpret_cast<uintptr_t>(info.dli_saddr));
    std::free(dem);
    return s;
  }
  const char* module = info.dli_fname != nullptr ? info.dli_fname : "?";
  if (const char* slash = std::strrchr(module, '/')) module = slash + 1;
  return fmt::format("{}+{:#x}", module, addr - reinterpret_cast<uintptr_t>(info.dli_fbase));
}

std::string describe(const HeldLock& h) {
  std::string s = h.map.cls != nullptr ? h.map.cls->name() : "?";
  if (h.subclass != Subclass::kNormal) {
    s += '/';
    s += subclass_name(h.subclass);
  }
  s += fmt::format(" obj={}", h.map.object);
  if (h.map.aux != 0) s += fmt::format(":{}", h.map.aux);
  s += h.mode == Mode::kShared ? " shared" : " excl";
  s += fmt::format(" (op={})", h.op != nullptr ? h.op : "");
  if (h.site != nullptr) s += " at " + site_name(h.site);
  return s;
}

std::vector<HeldLock> held_of(const ThreadState& ts) {
  std::vector<HeldLock> v;
  v.reserve(static_cast<size_t>(ts.depth));
  for (int i = 0; i < ts.depth; ++i) v.push_back(ts.held[i].h);
  return v;
}

// The lock about to be taken, for reports (the validator reads no clock: acquired_ns is 0).
HeldLock pending(const LockMap& m, Mode mode, Subclass s, const void* site) {
  return HeldLock{m, mode, s, current().op, 0, site};
}

// Graph generation: bumped by graph resets so that every thread's chain cache starts over.
std::atomic<uint32_t> g_chain_gen{1};

// The chain key of `prev` (0: empty stack) extended by `node` (splitmix64's finalizer).
uint64_t chain_key(uint64_t prev, uint16_t node) {
  uint64_t z = prev * 0x9E3779B97F4A7C15ull + node + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return z != 0 ? z : 1;  // 0 marks an empty cache slot
}

uint64_t& chain_slot(ThreadState& ts, uint64_t key) {
  const uint32_t gen = g_chain_gen.load(std::memory_order_relaxed);
  if (__builtin_expect(ts.chain_gen != gen, 0)) {
    for (uint64_t& k : ts.chain_cache) k = 0;
    ts.chain_gen = gen;
  }
  return ts.chain_cache[key % kChainCacheSize];
}

// Out of memory inside the validator (a new lock-graph edge, a report's text): as lockdep
// does when it runs out of room, validation is turned off for good -- the lock operation
// that called it goes on. A hook that threw would leave its caller's locks in doubt. Said
// on stderr with nothing allocated.
void validator_out_of_memory() noexcept {
  g_validator_oom.store(true, std::memory_order_relaxed);  // sticky: see set_validate_mode
  set_validate_mode(ValidateMode::kOff);  // what `lockfs-ctl stats` and `violations` report
  static constexpr char kMsg[] =
      "lockfs: out of memory in the lock validator: lock validation is off from here on\n";
  (void)!::write(2, kMsg, sizeof kMsg - 1);
}

// Records a violation whose text `text()` builds. Reports run inside lock operations and
// destructors: out of memory, validation is given up rather than an exception thrown.
template <typename Text>
void report(ViolationKind kind, const LockMap* lock, const Text& text) noexcept {
  try {
    record_violation(kind, text(), lock);
  } catch (const std::bad_alloc&) {
    validator_out_of_memory();
  }
}

// "oldest -> ... -> newest -> new": how this thread reached the new lock.
std::string chain_to(const ThreadState& ts, const HeldLock& next) {
  std::string s;
  for (int i = 0; i < ts.depth; ++i) s += describe(ts.held[i].h) + " -> ";
  return s + describe(next);
}

// held -> new lock for every held lock of another (class, subclass). The edges depend only on
// the chain of (class, subclass) nodes, so a chain seen before (its key in the thread's chain
// cache) adds nothing: only the instance check (recursion) runs again. Returns the chain key
// the new lock will have on the held stack.
uint64_t check_order(ThreadState& ts, const LockMap& m, Mode mode, Subclass s, const void* site) {
  const uint16_t to = graph_node(m.cls, s);
  if (ts.depth == 0) return chain_key(0, to);
  for (int i = 0; i < ts.depth; ++i) {
    if (__builtin_expect(ts.held[i].key == &m, 0)) {
      record_violation(
          ViolationKind::kRecursive,
          fmt::format("recursive acquire of {}\n  held: {}", describe(pending(m, mode, s, site)),
                      format_held_locks(held_of(ts))),
          &m);
    }
  }
  const uint64_t key = chain_key(ts.held[ts.depth - 1].chain_key, to);
  uint64_t& slot = chain_slot(ts, key);
  if (__builtin_expect(slot == key, 1)) return key;
  for (int i = 0; i < ts.depth; ++i) {
    const HeldEntry& e = ts.held[i];
    if (e.key == &m) continue;  // reported above
    const uint16_t from = graph_node(e.h.map.cls, e.h.subclass);
    if (from == to) continue;  // another instance of the same class/subclass: allowed (above)
    if (__builtin_expect(graph_edge_known(from, to), 1)) continue;
    const std::string chain = chain_to(ts, pending(m, mode, s, site));
    std::string reverse;
    if (graph_add_edge(from, to, chain, &reverse)) {
      record_violation(ViolationKind::kOrderCycle,
                       fmt::format("lock order cycle: acquiring {} while holding {}\n"
                                   "  this thread: {}\n  earlier, the other order:\n{}",
                                   graph_node_name(to), graph_node_name(from), chain, reverse),
                       &m);
    }
  }
  // Every edge of this chain is now in the graph (or was reported as a cycle, once).
  slot = key;
  return key;
}

// Puts the lock just taken on the held stack, `key` its chain key.
void push_held(ThreadState& ts, const LockMap& m, Mode mode, Subclass s, uint64_t key,
               uint64_t now, const void* site) {
  LOCKFS_CHECK(ts.depth < kMaxHeld, "held-lock stack overflow (lock leak?)");
  arm_thread_exit(ts);
  ts.held[ts.depth++] = HeldEntry{&m, key, HeldLock{m, mode, s, current().op, now, site}};
  if (spins(m.cls)) ++ts.nspin;
}

// validator_before_acquire's checks; returns the chain key, or 0 when they ran out of memory
// (validation is off from then on: the caller pushes nothing, as lock_acquired would not).
uint64_t check_acquire(ThreadState& ts, const LockMap& m, Mode mode, Subclass s, bool may_sleep,
                       const void* site) noexcept {
  try {
    if (may_sleep && ts.nspin != 0 && m.cls->sleeps()) might_sleep(m.cls->name());
    return check_order(ts, m, mode, s, site);
  } catch (const std::bad_alloc&) {
    validator_out_of_memory();
    return 0;
  }
}

int find_held(const ThreadState& ts, const LockMap& m) {
  for (int i = ts.depth - 1; i >= 0; --i) {
    if (ts.held[i].key == &m) return i;
  }
  return -1;
}

// Removes `m` from the held stack. Entries above it move down and get their chain keys
// recomputed: the chain is now one node shorter.
void validator_on_release(ThreadState& ts, const LockMap& m, Mode mode) {
  const int i = find_held(ts, m);
  if (i < 0) {
    report(ViolationKind::kReleaseNotHeld, &m, [&] {
      HeldLock h{m, mode, Subclass::kNormal, current().op, 0};
      return fmt::format("release of {} not held by this thread\n  held: {}", describe(h),
                         format_held_locks(held_of(ts)));
    });
    return;
  }
  if (ts.held[i].h.mode != mode) {
    report(ViolationKind::kReleaseNotHeld, &m, [&] {
      return fmt::format("release of {} in mode {} but it is held {}", describe(ts.held[i].h),
                         mode_name(mode), mode_name(ts.held[i].h.mode));
    });
  }
  if (spins(ts.held[i].h.map.cls)) --ts.nspin;
  for (int j = i; j + 1 < ts.depth; ++j) {
    ts.held[j] = ts.held[j + 1];
    const uint64_t prev = j > 0 ? ts.held[j - 1].chain_key : 0;
    ts.held[j].chain_key = chain_key(prev, graph_node(ts.held[j].h.map.cls, ts.held[j].h.subclass));
  }
  --ts.depth;
}

}  // namespace

void arm_thread_exit_slow(ThreadState& ts) noexcept {
  ts.exit_armed = true;
  t_exit.armed = true;  // the first use: registers ~ThreadExit for this thread's exit
}

namespace {
ThreadExit::~ThreadExit() {
  ThreadState& ts = t_state;
  ts.exited = true;  // a lock taken by a later thread_local's destructor is still checked
  if (ts.depth > 0 && validator_on()) {
    report(ViolationKind::kExitHoldingLocks, &ts.held[ts.depth - 1].h.map,
           [&] { return "thread exits holding locks: " + format_held_locks(held_of(ts)); });
  }
  tracer_thread_exit(ts);
}
}  // namespace

void check_scope_exit(int depth) noexcept {
  ThreadState& ts = t_state;
  if (ts.depth <= depth) return;
  report(ViolationKind::kExitHoldingLocks, &ts.held[ts.depth - 1].h.map, [&] {
    std::vector<HeldLock> extra;
    for (int i = depth; i < ts.depth; ++i) extra.push_back(ts.held[i].h);
    return fmt::format("task scope (pid={} op={}) closes holding locks: {}", current().pid,
                       current().op != nullptr ? current().op : "", format_held_locks(extra));
  });
}

void might_sleep(const char* what) noexcept {
  if (!validator_on()) return;
  ThreadState& ts = t_state;
  if (__builtin_expect(ts.nspin == 0, 1)) return;
  for (int i = 0; i < ts.depth; ++i) {
    if (spins(ts.held[i].h.map.cls)) {
      report(ViolationKind::kSleepUnderSpinlock, &ts.held[i].h.map, [&] {
        return fmt::format("sleeping wait ({}) while holding a spinlock\n  held: {}", what,
                           format_held_locks(held_of(ts)));
      });
      return;
    }
  }
}

// The combined hooks read the instrumentation flags once, look the thread state up once and
// read the clock at most once (only for the tracer), whatever is on.
void lock_wait_begin(const LockMap& m, Mode mode, Subclass s, bool may_sleep, const void* site) {
  const uint32_t on = g_instrumented.load(std::memory_order_relaxed);
  ThreadState& ts = t_state;
  if ((on & kInstrTracer) && __builtin_expect(!tracer_attached(ts), 0)) tracer_attach(ts);
  if (on & kInstrValidator) validator_before_acquire(ts, m, mode, s, may_sleep, site);
}

void lock_acquired(const LockMap& m, Mode mode, Subclass s, bool contended, uint64_t wait_ns,
                   const void* site, uint64_t now) {
  const uint32_t on = g_instrumented.load(std::memory_order_relaxed);
  if (on & (kInstrValidator | kInstrTracer)) {
    ThreadState& ts = t_state;
    if (on & kInstrTracer) {
      if (now == 0) now = now_ns();
    } else {
      now = 0;
    }
    if (on & kInstrValidator) validator_after_acquire(ts, m, mode, s, now, site);
    if (on & kInstrTracer) trace_acquire(ts, now, m, mode, s, contended, wait_ns);
  }
  // After the event is recorded and outside the primitive's internal locks: a "hold" rule
  // keeps the lock taken for a while, which is what the interrupt tests wait behind.
  inject::on_acquired(m, mode);
}

void lock_killed(const LockMap& m, Mode mode, Subclass s, uint64_t wait_ns, uint64_t now) {
  if (!tracer_on()) return;
  trace_lock_at(t_state, now != 0 ? now : now_ns(), EventType::kKilled, m, mode, s, wait_ns != 0,
                wait_ns);
}

void lock_try_failed(const LockMap& m, Mode mode, Subclass s) {
  if (tracer_on()) trace_lock_at(t_state, now_ns(), EventType::kTryFail, m, mode, s, false, 0);
}

void lock_released(const LockMap& m, Mode mode) {
  const uint32_t on = g_instrumented.load(std::memory_order_relaxed);
  if (!(on & (kInstrValidator | kInstrTracer))) return;
  ThreadState& ts = t_state;
  if (on & kInstrValidator) validator_on_release(ts, m, mode);
  if (on & kInstrTracer) trace_release(ts, now_ns(), m, mode);
}

void validator_before_acquire(ThreadState& ts, const LockMap& m, Mode mode, Subclass s,
                              bool may_sleep, const void* site) noexcept {
  (void)check_acquire(ts, m, mode, s, may_sleep, site);
}

void validator_after_acquire(ThreadState& ts, const LockMap& m, Mode mode, Subclass s, uint64_t now,
                             const void* site) {
  const uint64_t prev = ts.depth > 0 ? ts.held[ts.depth - 1].chain_key : 0;
  push_held(ts, m, mode, s, chain_key(prev, graph_node(m.cls, s)), now, site);
}

// The fast path's one hook (instrumented_acquire, SpinLock::lock): the lock was free and is
// now held, so nothing waited, and checking the order now reports what checking it before
// would have. One call, one look at the flags and one chain key instead of lock_wait_begin's
// and lock_acquired's each. (A slow path still checks before it sleeps: a deadlock is
// reported before it hangs.) The clock is read after the checks, so that a first-seen chain's
// graph work or a report does not count in the lock's hold time, and a violation's event
// comes before the acquire's, as it did when the checks ran first.
void lock_acquired_uncontended(const LockMap& m, Mode mode, Subclass s, bool may_sleep,
                               const void* site) {
  const uint32_t on = g_instrumented.load(std::memory_order_relaxed);
  if (on & (kInstrValidator | kInstrTracer)) {
    ThreadState& ts = t_state;
    const uint64_t key = (on & kInstrValidator) ? check_acquire(ts, m, mode, s, may_sleep, site)
                                                : 0;
    const uint64_t now = (on & kInstrTracer) ? now_ns() : 0;
    if (key != 0) push_held(ts, m, mode, s, key, now, site);
    if (on & kInstrTracer) trace_acquire(ts, now, m, mode, s, false, 0);
  }
  inject::on_acquired(m, mode);
}

void assert_held(const LockMap& m, Mode mode, bool state_ok) noexcept {
  const bool ok = validator_on() ? lock_is_held(m, mode) : state_ok;
  if (__builtin_expect(ok, 1)) return;
  report(ViolationKind::kAssertFailed, &m, [&] {
    HeldLock want{m, mode, Subclass::kNormal, current().op, 0};
    return fmt::format("assert_held failed: {} not held\n  held: {}", describe(want),
                       format_held_locks(held_locks()));
  });
}

void assert_not_held(const LockMap& m) noexcept {
  if (!validator_on() || find_held(t_state, m) < 0) return;
  report(ViolationKind::kAssertFailed, &m, [&] {
    HeldLock h = t_state.held[find_held(t_state, m)].h;
    return fmt::format("assert_not_held failed: {} is held\n  held: {}", describe(h),
                       format_held_locks(held_locks()));
  });
}

}  // namespace internal

using internal::HeldEntry;
using internal::t_state;

namespace hooks {

void before_acquire(const LockMap& m, Mode mode, Subclass s, bool may_sleep) {
  internal::validator_before_acquire(t_state, m, mode, s, may_sleep, LOCKFS_CALLER);
}

void after_acquire(const LockMap& m, Mode mode, Subclass s) {
  internal::validator_after_acquire(t_state, m, mode, s,
                                    internal::tracer_on() ? internal::now_ns() : 0, LOCKFS_CALLER);
}

void on_release(const LockMap& m, Mode mode) { internal::validator_on_release(t_state, m, mode); }

void on_downgrade(const LockMap& m) {
  internal::ThreadState& ts = t_state;
  const int i = internal::find_held(ts, m);
  if (i >= 0) ts.held[i].h.mode = Mode::kShared;
}

}  // namespace hooks

void reset_validator() {
  internal::g_validator_oom.store(false, std::memory_order_relaxed);
  reset_violations();
  internal::graph_reset();
  internal::g_chain_gen.fetch_add(1, std::memory_order_relaxed);
  t_state.depth = 0;
  t_state.nspin = 0;  // the caller's own stack: tests start from a clean thread too
}

std::vector<HeldLock> held_locks() {
  if (!internal::validator_on()) return {};
  return internal::held_of(t_state);
}

bool lock_is_held(const LockMap& lock, Mode mode) {
  if (!internal::validator_on()) return true;
  const int i = internal::find_held(t_state, lock);
  if (i < 0) return false;
  return mode == Mode::kShared || t_state.held[i].h.mode == Mode::kExclusive;
}

std::string format_held_locks(const std::vector<HeldLock>& held) {
  if (held.empty()) return "(none)";
  std::string s;
  for (size_t i = held.size(); i-- > 0;) {
    s += internal::describe(held[i]);
    if (i != 0) s += " <- ";
  }
  return s;
}

}  // namespace lockfs::locking

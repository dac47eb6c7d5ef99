// The tracer's recording side: per-thread rings (no global lock on the hot path), snapshots,
// and the lock_stat counters.
//
// A ring belongs to one live thread at a time. It is taken from a global pool at the thread's
// first event (the only time the pool mutex is on a writer's path) and handed back, events
// kept, when the thread exits; the next new thread appends to it. Every event carries its own
// tid, so a ring may hold several (sequential) threads' events. Slots are arrays of relaxed
// atomics and readers detect overwritten slots from `head`, so snapshots never race writers.
//
// lock_stat counters are per thread too (a global counter per class bounced its cache line
// between every thread taking that class): each thread owns a StatBlock, written only by that
// thread with plain relaxed load+store, summed by lock_stats(). Blocks are pooled like rings:
// a thread's block outlives it, counts kept, and the next new thread adds to it. trace_reset()
// bumps an epoch instead of writing to blocks other threads own: a block whose epoch is old
// reads as zero, and its owner zeroes it before its next update.
#include "locking/tracer.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstring>
#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>

#include "locking/internal/runtime.h"
#include "locking/task.h"

namespace lockfs::locking {

namespace internal {

constexpr size_t kSlotWords = 8;
static_assert(sizeof(TraceEvent) <= kSlotWords * sizeof(uint64_t), "TraceEvent outgrew a slot");

// Plain words, reached through std::atomic_ref: a std::atomic is zeroed when constructed
// (C++20), which would make a new ring's every page resident at once. Left uninitialized, a
// ring's pages become memory only as events reach them (readers never look past `head`), so
// a thread that writes a few events -- a lock waiter's -- costs a page or two, not a MiB.
struct Slot {
  uint64_t w[kSlotWords];
};
static_assert(std::is_trivially_default_constructible_v<Slot>);
static_assert(std::atomic_ref<uint64_t>::required_alignment <= alignof(uint64_t));

struct Ring {
  explicit Ring(size_t c) : cap(c), slots(new Slot[c]) {}  // not value-initialized: see Slot
  const size_t cap;
  std::unique_ptr<Slot[]> slots;
  std::atomic<uint64_t> head{0};     // events ever written; stored only by the owner
  std::atomic<uint64_t> writing{0};  // head + 1 while the owner fills a slot, else head
  std::atomic<uint64_t> base{0};     // events before it were dropped by trace_reset()
  size_t wpos = 0;                   // head % cap, kept by the owner (no division per event)
  bool in_use = false;               // g_pool_mu
};

// A TraceEvent as the eight words of a slot, built from its fields in registers: copying the
// struct itself after writing it field by field stalls on store forwarding. Lock events are
// built straight from their fields (emit_lock), without a TraceEvent.
static_assert(offsetof(TraceEvent, tid) == 40 && offsetof(TraceEvent, pid) == 44 &&
                  offsetof(TraceEvent, result) == 48 && offsetof(TraceEvent, class_id) == 52 &&
                  offsetof(TraceEvent, type) == 54 && offsetof(TraceEvent, mode) == 55 &&
                  offsetof(TraceEvent, subclass) == 56 && offsetof(TraceEvent, contended) == 57,
              "slot_words follows TraceEvent's layout");
static_assert(std::endian::native == std::endian::little, "slot_words assumes little endian");

[[gnu::always_inline]] inline void slot_words(uint64_t (&w)[kSlotWords], uint64_t ts_ns,
                                              uint64_t wait_ns, uint64_t object, uint64_t aux,
                                              const char* op, uint32_t tid, pid_t pid,
                                              int32_t result, uint16_t class_id, EventType type,
                                              Mode mode, Subclass subclass, bool contended) {
  w[0] = ts_ns;
  w[1] = wait_ns;
  w[2] = object;
  w[3] = aux;
  w[4] = reinterpret_cast<uintptr_t>(op);
  w[5] = uint64_t{tid} | uint64_t{static_cast<uint32_t>(pid)} << 32;
  w[6] = uint64_t{static_cast<uint32_t>(result)} | uint64_t{class_id} << 32 |
         uint64_t{static_cast<uint8_t>(type)} << 48 | uint64_t{static_cast<uint8_t>(mode)} << 56;
  w[7] = uint64_t{static_cast<uint8_t>(subclass)} | uint64_t{contended} << 8;
}

inline void pack_event(const TraceEvent& e, uint64_t (&w)[kSlotWords]) {
  slot_words(w, e.ts_ns, e.wait_ns, e.object, e.aux, e.op, e.tid, e.pid, e.result, e.class_id,
             e.type, e.mode, e.subclass, e.contended);
}

namespace {

std::mutex g_pool_mu;
std::vector<std::unique_ptr<Ring>>* g_rings = nullptr;  // g_pool_mu; never freed (late exits)
std::atomic<size_t> g_ring_cap{1 << 16};
std::atomic<uint32_t> g_next_tid{0};

}  // namespace

struct ClassStat {
  std::atomic<uint64_t> acquisitions{0}, contentions{0}, killed{0};
  std::atomic<uint64_t> wait_total{0}, wait_max{0}, hold_total{0}, hold_max{0};
};

struct StatBlock {
  std::atomic<uint64_t> epoch{0};  // counts belong to this trace_reset() epoch
  bool in_use = false;             // g_pool_mu
  ClassStat cls[kMaxLockClasses + 1];
};

namespace {

// Starts at 1 so that a new block (epoch 0) is zeroed and stamped before its first update.
std::atomic<uint64_t> g_stat_epoch{1};
std::vector<std::unique_ptr<StatBlock>>* g_stat_blocks = nullptr;  // g_pool_mu; never freed

std::vector<std::unique_ptr<StatBlock>>& stat_blocks() {
  if (g_stat_blocks == nullptr) g_stat_blocks = new std::vector<std::unique_ptr<StatBlock>>();
  return *g_stat_blocks;
}

// Single-writer updates: only the owning thread writes a block.
void stat_add(std::atomic<uint64_t>& a, uint64_t v) {
  a.store(a.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
}
void stat_max(std::atomic<uint64_t>& a, uint64_t v) {
  if (v > a.load(std::memory_order_relaxed)) a.store(v, std::memory_order_relaxed);
}

// The tracer's hooks run inside lock operations, some after the lock is taken: they never
// throw. Out of memory for a thread's ring or counters, the event or the count is lost.
StatBlock* attach_stats(ThreadState& ts) noexcept {
  if (ts.exited) return nullptr;  // its exit work ran: the block would never go back
  try {
    std::lock_guard lk(g_pool_mu);
    StatBlock* pick = nullptr;
    for (auto& b : stat_blocks()) {
      if (!b->in_use) {
        pick = b.get();
        break;
      }
    }
    if (pick == nullptr) {
      auto fresh = std::make_unique<StatBlock>();
      stat_blocks().push_back(std::move(fresh));
      pick = stat_blocks().back().get();
    }
    pick->in_use = true;
    arm_thread_exit(ts);  // hands the block back at the thread's exit
    ts.stats = pick;
    return pick;
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

// Counts nobody reads: where a thread's counts go when it has no block (out of memory).
thread_local ClassStat t_lost_stat;

// my_stats when the thread has no block yet or its block is of an older epoch.
[[gnu::noinline]] ClassStat& my_stats_slow(ThreadState& ts, uint16_t class_id, uint64_t epoch) {
  StatBlock* b = ts.stats;
  if (b == nullptr) b = attach_stats(ts);
  if (b == nullptr) return t_lost_stat;
  if (b->epoch.load(std::memory_order_relaxed) != epoch) {
    for (ClassStat& c : b->cls) {
      for (auto* a : {&c.acquisitions, &c.contentions, &c.killed, &c.wait_total, &c.wait_max,
                      &c.hold_total, &c.hold_max}) {
        a->store(0, std::memory_order_relaxed);
      }
    }
    // Readers that see the new epoch see the zeroes (release/acquire on `epoch`).
    b->epoch.store(epoch, std::memory_order_release);
  }
  return b->cls[class_id];
}

// The calling thread's counters for `class_id`, in the current epoch.
inline ClassStat& my_stats(ThreadState& ts, uint16_t class_id) {
  StatBlock* b = ts.stats;
  const uint64_t epoch = g_stat_epoch.load(std::memory_order_acquire);
  if (__builtin_expect(b == nullptr || b->epoch.load(std::memory_order_relaxed) != epoch, 0)) {
    return my_stats_slow(ts, class_id, epoch);
  }
  return b->cls[class_id];
}

std::vector<std::unique_ptr<Ring>>& rings() {
  if (g_rings == nullptr) g_rings = new std::vector<std::unique_ptr<Ring>>();
  return *g_rings;
}

uint32_t ensure_tid(ThreadState& ts) {
  if (ts.tid == 0) ts.tid = g_next_tid.fetch_add(1, std::memory_order_relaxed) + 1;
  return ts.tid;
}

// Takes a free ring of the current capacity (or makes one), then releases the thread's old
// ring. nullptr when out of memory: the thread keeps its old ring (or none).
Ring* attach_ring(ThreadState& ts) noexcept {
  if (ts.exited) return nullptr;  // its exit work ran: the ring would never go back
  const size_t cap = g_ring_cap.load(std::memory_order_relaxed);
  try {
    std::lock_guard lk(g_pool_mu);
    Ring* pick = nullptr;
    for (auto& r : rings()) {
      if (!r->in_use && r->cap == cap) {
        pick = r.get();
        break;
      }
    }
    if (pick == nullptr) {
      auto fresh = std::make_unique<Ring>(cap);
      rings().push_back(std::move(fresh));
      pick = rings().back().get();
    }
    if (ts.ring != nullptr) ts.ring->in_use = false;
    pick->in_use = true;
    arm_thread_exit(ts);  // hands the ring back at the thread's exit
    ts.ring = pick;
    return pick;
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

// Inlined into the two lock events' hooks: a call's register saves were a fifth of its cost.
[[gnu::always_inline]] inline void emit_words(ThreadState& ts,
                                              const uint64_t (&words)[kSlotWords]) {
  Ring* r = ts.ring;
  if (__builtin_expect(r == nullptr || r->cap != g_ring_cap.load(std::memory_order_relaxed), 0)) {
    // Out of memory for a ring of the new size: the thread's old ring still takes the
    // event (its slot index wraps on its own capacity); with none, the event is lost.
    if (Ring* fresh = attach_ring(ts)) {
      r = fresh;
    } else if (r == nullptr) {
      return;
    }
  }
  const uint64_t h = r->head.load(std::memory_order_relaxed);
  Slot& slot = r->slots[r->wpos];
  r->wpos = r->wpos + 1 == r->cap ? 0 : r->wpos + 1;
  // Readers that see any of the slot stores below also see writing >= h + 1 (fence-fence
  // pairing with the acquire fence in read_ring), so they know the slot's old event is gone.
  r->writing.store(h + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  // Unrolled by hand: a loop of atomic stores stays a loop (four instructions a word).
  [&]<size_t... I>(std::index_sequence<I...>) {
    (std::atomic_ref<uint64_t>(slot.w[I]).store(words[I], std::memory_order_relaxed), ...);
  }(std::make_index_sequence<kSlotWords>{});
  r->head.store(h + 1, std::memory_order_release);
}

inline void emit(ThreadState& ts, const TraceEvent& e) {
  uint64_t words[kSlotWords];
  pack_event(e, words);
  emit_words(ts, words);
}

void read_ring(const Ring& r, std::vector<TraceEvent>* out) {
  const uint64_t h1 = r.head.load(std::memory_order_acquire);
  uint64_t lo = std::max(r.base.load(std::memory_order_relaxed), h1 > r.cap ? h1 - r.cap : 0);
  std::vector<TraceEvent> got;
  got.reserve(h1 - std::min(lo, h1));
  for (uint64_t i = lo; i < h1; ++i) {
    uint64_t words[kSlotWords];
    Slot& slot = r.slots[i % r.cap];  // atomic_ref needs a non-const object; only read here
    for (size_t k = 0; k < kSlotWords; ++k) {
      words[k] = std::atomic_ref<uint64_t>(slot.w[k]).load(std::memory_order_relaxed);
    }
    TraceEvent e;
    std::memcpy(&e, words, sizeof(e));
    got.push_back(e);
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  // Event w - 1 is being (or was last) written, over event w - 1 - cap and all before it.
  const uint64_t w = r.writing.load(std::memory_order_relaxed);
  const uint64_t valid_from = w >= r.cap ? w - r.cap : 0;
  for (uint64_t i = lo; i < h1; ++i) {
    if (i >= valid_from) out->push_back(got[i - lo]);
  }
}

}  // namespace

void tracer_attach(ThreadState& ts) {
  if (ts.ring == nullptr) attach_ring(ts);
  if (ts.stats == nullptr) attach_stats(ts);
}

size_t tracer_rings_in_use() {
  std::lock_guard lk(g_pool_mu);
  size_t n = 0;
  for (const auto& r : rings()) n += r->in_use ? 1 : 0;
  return n;
}

void tracer_thread_exit(ThreadState& ts) {
  std::lock_guard lk(g_pool_mu);
  if (ts.ring != nullptr) ts.ring->in_use = false;
  ts.ring = nullptr;
  if (ts.stats != nullptr) ts.stats->in_use = false;
  ts.stats = nullptr;
}

}  // namespace internal

const char* event_type_name(EventType t) {
  switch (t) {
    case EventType::kAcquire:
      return "acquire";
    case EventType::kRelease:
      return "release";
    case EventType::kKilled:
      return "killed";
    case EventType::kTryFail:
      return "trylock-fail";
    case EventType::kViolation:
      return "violation";
    case EventType::kOpBegin:
      return "op-begin";
    case EventType::kOpEnd:
      return "op-end";
  }
  return "?";
}

void tracer_enable(size_t ring_events) {
  internal::g_ring_cap.store(std::max<size_t>(ring_events, 16), std::memory_order_relaxed);
  internal::g_instrumented.fetch_or(internal::kInstrTracer, std::memory_order_relaxed);
}

void tracer_disable() {
  internal::g_instrumented.fetch_and(~internal::kInstrTracer, std::memory_order_relaxed);
}

bool tracer_enabled() { return internal::tracer_on(); }

void trace_reset() {
  {
    std::lock_guard lk(internal::g_pool_mu);
    auto& rs = internal::rings();
    const size_t cap = internal::g_ring_cap.load(std::memory_order_relaxed);
    // Free rings of an old capacity are never written again: drop them.
    std::erase_if(rs, [cap](const auto& r) { return !r->in_use && r->cap != cap; });
    for (auto& r : rs)
      r->base.store(r->head.load(std::memory_order_acquire), std::memory_order_relaxed);
  }
  internal::g_stat_epoch.fetch_add(1, std::memory_order_acq_rel);
}

std::vector<TraceEvent> trace_snapshot() {
  std::vector<TraceEvent> out;
  {
    std::lock_guard lk(internal::g_pool_mu);
    for (const auto& r : internal::rings()) internal::read_ring(*r, &out);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const TraceEvent& a, const TraceEvent& b) { return a.ts_ns < b.ts_ns; });
  return out;
}

uint32_t trace_thread_id() { return internal::ensure_tid(internal::thread_state()); }

namespace hooks {

void trace_lock(EventType type, const LockMap& m, Mode mode, Subclass s, bool contended,
                uint64_t wait_ns) {
  internal::trace_lock_at(internal::thread_state(), internal::now_ns(), type, m, mode, s, contended,
                          wait_ns);
}

void trace_op(EventType type, const char* op, int result) {
  internal::ThreadState& ts = internal::thread_state();
  TraceEvent e{};
  e.ts_ns = internal::now_ns();
  e.op = op;
  e.tid = internal::ensure_tid(ts);
  e.pid = current().pid;
  e.result = result;
  e.type = type;
  e.mode = Mode::kShared;
  internal::emit(ts, e);
}

}  // namespace hooks

namespace internal {
namespace {

[[gnu::always_inline]] inline void emit_lock(ThreadState& ts, uint64_t now, uint64_t wait_ns,
                                             const LockMap& m, uint16_t class_id, EventType type,
                                             Mode mode, Subclass s, bool contended,
                                             int32_t result) {
  const Task& task = current();
  uint64_t words[kSlotWords];
  slot_words(words, now, wait_ns, m.object, m.aux, task.op, ensure_tid(ts), task.pid, result,
             class_id, type, mode, s, contended);
  emit_words(ts, words);
}

}  // namespace

void trace_acquire(ThreadState& ts, uint64_t now, const LockMap& m, Mode mode, Subclass s,
                   bool contended, uint64_t wait_ns) {
  const uint16_t class_id = m.cls != nullptr ? m.cls->id() : 0;
  emit_lock(ts, now, wait_ns, m, class_id, EventType::kAcquire, mode, s, contended, 0);
  if (class_id == 0) return;
  ClassStat& st = my_stats(ts, class_id);
  stat_add(st.acquisitions, 1);
  if (contended) {
    stat_add(st.contentions, 1);
    stat_add(st.wait_total, wait_ns);
    stat_max(st.wait_max, wait_ns);
  }
  if (ts.nholds < kMaxHeld) ts.holds[ts.nholds++] = {&m, now, s};
}

void trace_release(ThreadState& ts, uint64_t now, const LockMap& m, Mode mode) {
  const uint16_t class_id = m.cls != nullptr ? m.cls->id() : 0;
  // A release carries no subclass: take the acquire's, and its time for the hold. Locks
  // are mostly released last-taken first: search from the top.
  int hold = ts.nholds - 1;
  while (hold >= 0 && ts.holds[hold].key != &m) --hold;
  const Subclass s = hold >= 0 ? ts.holds[hold].subclass : Subclass::kNormal;
  emit_lock(ts, now, 0, m, class_id, EventType::kRelease, mode, s, false, 0);
  if (class_id == 0 || hold < 0) return;
  ClassStat& st = my_stats(ts, class_id);
  const uint64_t held = elapsed_ns(ts.holds[hold].ts_ns, now);
  stat_add(st.hold_total, held);
  stat_max(st.hold_max, held);
  for (int j = hold; j + 1 < ts.nholds; ++j) ts.holds[j] = ts.holds[j + 1];
  --ts.nholds;
}

void trace_lock_at(ThreadState& ts, uint64_t now, EventType type, const LockMap& m, Mode mode,
                   Subclass s, bool contended, uint64_t wait_ns) {
  switch (type) {
    case EventType::kAcquire:
      return trace_acquire(ts, now, m, mode, s, contended, wait_ns);
    case EventType::kRelease:
      return trace_release(ts, now, m, mode);
    default:
      break;
  }
  const uint16_t class_id = m.cls != nullptr ? m.cls->id() : 0;
  const bool killed = type == EventType::kKilled;
  emit_lock(ts, now, wait_ns, m, class_id, type, mode, s, contended, killed ? -EINTR : 0);
  if (class_id == 0 || !killed) return;
  ClassStat& st = my_stats(ts, class_id);
  stat_add(st.killed, 1);
  stat_add(st.wait_total, wait_ns);
  stat_max(st.wait_max, wait_ns);
}

}  // namespace internal

// Sums the blocks of the current epoch, live threads' and exited threads' alike.
std::vector<LockStat> lock_stats() {
  const size_t n = lock_class_count();
  std::vector<LockStat> sum(n + 1);
  {
    std::lock_guard lk(internal::g_pool_mu);
    const uint64_t epoch = internal::g_stat_epoch.load(std::memory_order_acquire);
    for (const auto& b : internal::stat_blocks()) {
      if (b->epoch.load(std::memory_order_acquire) != epoch) continue;  // zero since the reset
      for (size_t id = 1; id <= n; ++id) {
        const internal::ClassStat& c = b->cls[id];
        LockStat& ls = sum[id];
        ls.acquisitions += c.acquisitions.load(std::memory_order_relaxed);
        ls.contentions += c.contentions.load(std::memory_order_relaxed);
        ls.killed += c.killed.load(std::memory_order_relaxed);
        ls.wait_total_ns += c.wait_total.load(std::memory_order_relaxed);
        ls.wait_max_ns = std::max(ls.wait_max_ns, c.wait_max.load(std::memory_order_relaxed));
        ls.hold_total_ns += c.hold_total.load(std::memory_order_relaxed);
        ls.hold_max_ns = std::max(ls.hold_max_ns, c.hold_max.load(std::memory_order_relaxed));
      }
    }
  }
  std::vector<LockStat> out;
  for (uint16_t id = 1; id <= n; ++id) {
    LockStat& ls = sum[id];
    if (ls.acquisitions == 0 && ls.killed == 0) continue;
    const LockClass* cls = lock_class_by_id(id);
    ls.class_id = id;
    ls.name = cls != nullptr ? cls->name() : "?";
    out.push_back(ls);
  }
  return out;
}

}  // namespace lockfs::locking

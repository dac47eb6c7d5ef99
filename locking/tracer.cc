// The tracer's recording side: per-thread rings (no global lock on the hot path), snapshots,
// and the lock_stat counters.
//
// A ring belongs to one live thread at a time. It is taken from a global pool at the thread's
// first event (the only time the pool mutex is on a writer's path) and handed back, events
// kept, when the thread exits; the next new thread appends to it. Every event carries its own
// tid, so a ring may hold several (sequential) threads' events. Slots are arrays of relaxed
// atomics and readers detect overwritten slots from `head`, so snapshots never race writers.
#include "locking/tracer.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>

#include "locking/internal/runtime.h"
#include "locking/task.h"

namespace lockfs::locking {

namespace internal {

constexpr size_t kSlotWords = 8;
static_assert(sizeof(TraceEvent) <= kSlotWords * sizeof(uint64_t), "TraceEvent outgrew a slot");

struct Slot {
  std::atomic<uint64_t> w[kSlotWords];
};

struct Ring {
  explicit Ring(size_t c) : cap(c), slots(new Slot[c]) {}
  const size_t cap;
  std::unique_ptr<Slot[]> slots;
  std::atomic<uint64_t> head{0};     // events ever written; stored only by the owner
  std::atomic<uint64_t> writing{0};  // head + 1 while the owner fills a slot, else head
  std::atomic<uint64_t> base{0};     // events before it were dropped by trace_reset()
  bool in_use = false;               // g_pool_mu
};

namespace {

std::mutex g_pool_mu;
std::vector<std::unique_ptr<Ring>>* g_rings = nullptr;  // g_pool_mu; never freed (late exits)
std::atomic<size_t> g_ring_cap{1 << 16};
std::atomic<uint32_t> g_next_tid{0};

struct ClassStat {
  std::atomic<uint64_t> acquisitions{0}, contentions{0}, killed{0};
  std::atomic<uint64_t> wait_total{0}, wait_max{0}, hold_total{0}, hold_max{0};
};
ClassStat g_stats[kMaxLockClasses + 1];

void atomic_max(std::atomic<uint64_t>& a, uint64_t v) {
  uint64_t cur = a.load(std::memory_order_relaxed);
  while (v > cur && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}

std::vector<std::unique_ptr<Ring>>& rings() {
  if (g_rings == nullptr) g_rings = new std::vector<std::unique_ptr<Ring>>();
  return *g_rings;
}

uint32_t ensure_tid(ThreadState& ts) {
  if (ts.tid == 0) ts.tid = g_next_tid.fetch_add(1, std::memory_order_relaxed) + 1;
  return ts.tid;
}

// Takes a free ring of the current capacity (or makes one); releases the thread's old ring.
Ring* attach_ring(ThreadState& ts) {
  const size_t cap = g_ring_cap.load(std::memory_order_relaxed);
  std::lock_guard lk(g_pool_mu);
  if (ts.ring != nullptr) ts.ring->in_use = false;
  Ring* pick = nullptr;
  for (auto& r : rings()) {
    if (!r->in_use && r->cap == cap) {
      pick = r.get();
      break;
    }
  }
  if (pick == nullptr) {
    rings().push_back(std::make_unique<Ring>(cap));
    pick = rings().back().get();
  }
  pick->in_use = true;
  ts.ring = pick;
  return pick;
}

void emit(ThreadState& ts, const TraceEvent& e) {
  Ring* r = ts.ring;
  if (__builtin_expect(r == nullptr || r->cap != g_ring_cap.load(std::memory_order_relaxed), 0)) {
    r = attach_ring(ts);
  }
  uint64_t words[kSlotWords] = {};
  std::memcpy(words, &e, sizeof(e));
  const uint64_t h = r->head.load(std::memory_order_relaxed);
  Slot& slot = r->slots[h % r->cap];
  // Readers that see any of the slot stores below also see writing >= h + 1 (fence-fence
  // pairing with the acquire fence in read_ring), so they know the slot's old event is gone.
  r->writing.store(h + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  for (size_t i = 0; i < kSlotWords; ++i) slot.w[i].store(words[i], std::memory_order_relaxed);
  r->head.store(h + 1, std::memory_order_release);
}

void read_ring(const Ring& r, std::vector<TraceEvent>* out) {
  const uint64_t h1 = r.head.load(std::memory_order_acquire);
  uint64_t lo = std::max(r.base.load(std::memory_order_relaxed), h1 > r.cap ? h1 - r.cap : 0);
  std::vector<TraceEvent> got;
  got.reserve(h1 - std::min(lo, h1));
  for (uint64_t i = lo; i < h1; ++i) {
    uint64_t words[kSlotWords];
    const Slot& slot = r.slots[i % r.cap];
    for (size_t k = 0; k < kSlotWords; ++k) words[k] = slot.w[k].load(std::memory_order_relaxed);
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

void tracer_thread_exit(ThreadState& ts) {
  std::lock_guard lk(g_pool_mu);
  if (ts.ring != nullptr) ts.ring->in_use = false;
  ts.ring = nullptr;
}

}  // namespace internal

using internal::g_stats;

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
  for (auto& s : g_stats) {
    for (auto* a : {&s.acquisitions, &s.contentions, &s.killed, &s.wait_total, &s.wait_max,
                    &s.hold_total, &s.hold_max}) {
      a->store(0, std::memory_order_relaxed);
    }
  }
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
  internal::trace_lock_at(internal::now_ns(), type, m, mode, s, contended, wait_ns);
}

void trace_op(EventType type, const char* op, int result) {
  internal::ThreadState& ts = internal::thread_state();
  TraceEvent e;
  std::memset(&e, 0, sizeof(e));
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

void internal::trace_lock_at(uint64_t now, EventType type, const LockMap& m, Mode mode, Subclass s,
                             bool contended, uint64_t wait_ns) {
  internal::ThreadState& ts = internal::thread_state();
  const Task& task = current();
  TraceEvent e;
  std::memset(&e, 0, sizeof(e));
  e.ts_ns = now;
  e.wait_ns = wait_ns;
  e.object = m.object;
  e.aux = m.aux;
  e.op = task.op;
  e.tid = internal::ensure_tid(ts);
  e.pid = task.pid;
  e.result = type == EventType::kKilled ? -EINTR : 0;
  e.class_id = m.cls != nullptr ? m.cls->id() : 0;
  e.type = type;
  e.mode = mode;
  e.subclass = s;
  e.contended = contended;
  // A release carries no subclass: take the acquire's, and its time for the hold.
  int hold = -1;
  if (type == EventType::kRelease) {
    for (int i = ts.nholds - 1; i >= 0; --i) {
      if (ts.holds[i].key == &m) {
        hold = i;
        e.subclass = ts.holds[i].subclass;
        break;
      }
    }
  }
  internal::emit(ts, e);

  if (e.class_id == 0) return;
  internal::ClassStat& st = g_stats[e.class_id];
  switch (type) {
    case EventType::kAcquire:
      st.acquisitions.fetch_add(1, std::memory_order_relaxed);
      if (contended) {
        st.contentions.fetch_add(1, std::memory_order_relaxed);
        st.wait_total.fetch_add(wait_ns, std::memory_order_relaxed);
        internal::atomic_max(st.wait_max, wait_ns);
      }
      if (ts.nholds < internal::kMaxHeld) ts.holds[ts.nholds++] = {&m, e.ts_ns, s};
      break;
    case EventType::kKilled:
      st.killed.fetch_add(1, std::memory_order_relaxed);
      st.wait_total.fetch_add(wait_ns, std::memory_order_relaxed);
      internal::atomic_max(st.wait_max, wait_ns);
      break;
    case EventType::kRelease:
      if (hold >= 0) {
        const uint64_t held = e.ts_ns - ts.holds[hold].ts_ns;
        st.hold_total.fetch_add(held, std::memory_order_relaxed);
        internal::atomic_max(st.hold_max, held);
        for (int j = hold; j + 1 < ts.nholds; ++j) ts.holds[j] = ts.holds[j + 1];
        --ts.nholds;
      }
      break;
    default:
      break;
  }
}

std::vector<LockStat> lock_stats() {
  std::vector<LockStat> out;
  const size_t n = lock_class_count();
  for (uint16_t id = 1; id <= n; ++id) {
    const LockClass* cls = lock_class_by_id(id);
    const internal::ClassStat& s = g_stats[id];
    LockStat ls{id,
                cls != nullptr ? cls->name() : "?",
                s.acquisitions.load(std::memory_order_relaxed),
                s.contentions.load(std::memory_order_relaxed),
                s.killed.load(std::memory_order_relaxed),
                s.wait_total.load(std::memory_order_relaxed),
                s.wait_max.load(std::memory_order_relaxed),
                s.hold_total.load(std::memory_order_relaxed),
                s.hold_max.load(std::memory_order_relaxed)};
    if (ls.acquisitions != 0 || ls.killed != 0) out.push_back(ls);
  }
  return out;
}

}  // namespace lockfs::locking

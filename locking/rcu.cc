// RCU by epochs: reader slots, the queue of frees, and the grace-period check.
//
// Why it is safe. A writer unlinks X, then call_rcu tags X with E = the epoch it advances
// from (g_epoch E -> E + 1, acq_rel) and later a reclaim issues a seq_cst fence and reads
// every reader slot. A reader's outermost rcu_read_lock loads the epoch (acquire), stores it
// in its slot and issues a seq_cst fence before it reads anything. Then for each reader:
//  - its slot holds e > E: it loaded an epoch the advance made, so the unlink happened
//    before everything it reads: it cannot reach X;
//  - the reclaim saw its slot empty: either the reader left (its release store of 0 orders
//    its reads before the free), or its fence comes after the reclaim's fence, so its reads
//    see the unlink (two seq_cst fences: one side sees the other's store);
//  - else (e <= E) X waits for it.
// X is freed when no slot holds an epoch <= E.
#include "locking/rcu.h"

#include <sched.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "locking/check.h"
#include "locking/internal/runtime.h"

namespace lockfs::locking {

namespace {

struct alignas(64) ReaderSlot {
  std::atomic<uint64_t> epoch{0};  // 0: not in a read-side section
  bool in_use = false;             // g_mu
};

// A queue of RcuHeads linked through their `next`: nothing here allocates.
struct HeadList {
  RcuHead* first = nullptr;
  RcuHead* last = nullptr;
  size_t size = 0;
  void push(RcuHead* h) {
    h->next = nullptr;
    (last != nullptr ? last->next : first) = h;
    last = h;
    ++size;
  }
  RcuHead* pop() {
    RcuHead* h = first;
    first = h->next;
    if (first == nullptr) last = nullptr;
    --size;
    return h;
  }
};

std::atomic<uint64_t> g_epoch{1};
std::mutex g_mu;  // the slots list, the queue
// Never freed: threads may leave (and give their slot back) during static destruction.
std::vector<std::unique_ptr<ReaderSlot>>* g_slots = nullptr;
HeadList g_queue;  // g_mu; tags grow along it
std::atomic<size_t> g_pending{0};  // queued or running
size_t g_running = 0;                // g_mu: taken off the queue, not yet run

std::vector<std::unique_ptr<ReaderSlot>>& slots() {
  if (g_slots == nullptr) g_slots = new std::vector<std::unique_ptr<ReaderSlot>>();
  return *g_slots;
}

// The calling thread's slot, taken on its first read-side section and given back when it
// exits. A slot is reused by a later thread, so the list is as long as the most threads
// that ever read at once. Plain thread_locals on the fast path (no TLS init call); the
// releaser, whose destructor gives the slot back, is touched only when a slot is taken.
thread_local ReaderSlot* t_slot = nullptr;
thread_local unsigned t_nesting = 0;

struct SlotReleaser {
  bool armed = false;
  ~SlotReleaser() {
    if (!armed || t_slot == nullptr) return;
    LOCKFS_CHECK(t_nesting == 0, "thread exits inside an RCU read-side section");
    std::lock_guard lk(g_mu);
    t_slot->epoch.store(0, std::memory_order_relaxed);
    t_slot->in_use = false;
    t_slot = nullptr;
  }
};
thread_local SlotReleaser t_releaser;

ReaderSlot* attach_slot() {
  t_releaser.armed = true;
  std::lock_guard lk(g_mu);
  for (auto& s : slots()) {
    if (!s->in_use) {
      s->in_use = true;
      return s.get();
    }
  }
  slots().push_back(std::make_unique<ReaderSlot>());
  slots().back()->in_use = true;
  return slots().back().get();
}

// The oldest epoch a reader is in (UINT64_MAX: none). g_mu held.
uint64_t oldest_reader() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  uint64_t oldest = UINT64_MAX;
  if (g_slots == nullptr) return oldest;  // no thread ever read (and nothing to allocate)
  for (const auto& s : *g_slots) {
    const uint64_t e = s->epoch.load(std::memory_order_acquire);
    if (e != 0 && e < oldest) oldest = e;
  }
  return oldest;
}

// Takes the frees every reader is past off the queue (g_mu held); the caller runs them
// after dropping g_mu.
HeadList take_ready() {
  HeadList ready;
  if (g_queue.first == nullptr) return ready;
  const uint64_t oldest = oldest_reader();
  // Tags grow along the queue (taken under g_mu), so the ready ones are a prefix.
  while (g_queue.first != nullptr && g_queue.first->tag < oldest) ready.push(g_queue.pop());
  g_running += ready.size;
  return ready;
}

void run(HeadList ready) {
  const size_t n = ready.size;
  while (ready.first != nullptr) {
    RcuHead* h = ready.pop();
    h->free_fn(h->obj);  // may free h itself
  }
  if (n == 0) return;
  std::lock_guard lk(g_mu);
  g_running -= n;
  g_pending.fetch_sub(n, std::memory_order_relaxed);
}

}  // namespace

void rcu_read_lock() {
  if (t_nesting != 0) {
    ++t_nesting;
    return;
  }
  if (t_slot == nullptr) t_slot = attach_slot();  // may throw: nothing counted yet
  t_nesting = 1;
  // Release, like the exit's store: a reclaimer that reads this (later) section's epoch
  // also sees everything an earlier section of this thread read, and frees only after it.
  t_slot->epoch.store(g_epoch.load(std::memory_order_acquire), std::memory_order_release);
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

void rcu_read_unlock() {
  LOCKFS_CHECK(t_nesting > 0, "rcu_read_unlock without rcu_read_lock");
  if (--t_nesting != 0) return;
  t_slot->epoch.store(0, std::memory_order_release);
}

void call_rcu(RcuHead* head, void* obj, RcuFree free_fn) {
  internal::might_sleep("call_rcu");
  head->obj = obj;
  head->free_fn = free_fn;
  HeadList ready;
  {
    std::lock_guard lk(g_mu);
    head->tag = g_epoch.fetch_add(1, std::memory_order_acq_rel);
    g_queue.push(head);
    g_pending.fetch_add(1, std::memory_order_relaxed);
    // A reader inside a section on this thread keeps the object (and all after it) queued.
    ready = take_ready();
  }
  run(ready);
}

void rcu_barrier() {
  LOCKFS_CHECK(t_nesting == 0, "rcu_barrier inside an RCU read-side section");
  internal::might_sleep("rcu_barrier");
  // Frees queued before this call have tags below `target`; later ones are not waited for,
  // so callers that keep queueing cannot hold the barrier up.
  const uint64_t target = g_epoch.load(std::memory_order_acquire);
  for (;;) {
    HeadList ready;
    bool done;
    {
      std::lock_guard lk(g_mu);
      ready = take_ready();
      // Done when nothing older is queued and no other thread is still running a free it
      // took (this thread's own `ready` runs below, before returning).
      done = (g_queue.first == nullptr || g_queue.first->tag >= target) &&
             g_running == ready.size;
    }
    run(ready);
    if (done) return;
    sched_yield();  // readers' sections are short: wait for the oldest to leave
  }
}

size_t rcu_pending() { return g_pending.load(std::memory_order_relaxed); }

size_t rcu_reader_slots() {
  std::lock_guard lk(g_mu);
  return slots().size();
}

}  // namespace lockfs::locking

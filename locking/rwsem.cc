// RwSemaphore: lock-free fast paths on count_, sleeping slow paths on the hashed wait queue of
// the lock's address, writer-fair.
//
// count_ > 0: that many readers; -1: one writer; 0: free. A writer that has to wait bumps
// waiting_writers_, and readers (fast and slow path) do not enter while it is non-zero, so a
// stream of readers drains and the writer gets in. Killable variants check the current task's
// fatal signal first, so an injected signal fails deterministically at every killable point
// (the kernel would let an uncontended fast path through; we prefer reproducible tests).
//
// The wait queue is shared with whatever other locks hash to it: a wake-up wakes them all,
// each sleeper re-checks its own lock (the trylock predicate, under the queue's mutex) and
// sleeps again if it still cannot have it. A fatal signal wakes the queue its task sleeps
// on; only that task's killable wait sees the signal and returns -EINTR.
#include "locking/rwsem.h"

#include "locking/check.h"
#include "locking/internal/runtime.h"
#include "locking/internal/wait_table.h"
#include "locking/validator.h"

namespace lockfs::locking {

using internal::instrumented;

// Issue #7: an inode holds several of these; keep them a few words (no queue inside).
static_assert(sizeof(RwSemaphore) <= 48, "rw_semaphore grew: every inode pays for it");

RwSemaphore::RwSemaphore(const LockClass& cls, uint64_t object, uint64_t aux)
    : map_{&cls, object, aux} {}

RwSemaphore::~RwSemaphore() {
  LOCKFS_CHECK(sleepers_.load(std::memory_order_relaxed) == 0,
               "rw_semaphore destroyed with waiters");
}

bool RwSemaphore::read_trylock_fast() {
  // seq_cst (a plain load on x86): as a wait predicate this load pairs with the releaser's
  // seq_cst RMW on count_ and its load of sleepers_ (Dekker), so a wake-up is never lost.
  int32_t c = count_.load(std::memory_order_seq_cst);
  while (c >= 0 && waiting_writers_.load(std::memory_order_seq_cst) == 0) {
    if (count_.compare_exchange_weak(c, c + 1, std::memory_order_seq_cst,
                                     std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

bool RwSemaphore::write_trylock_fast() {
  int32_t zero = 0;
  return count_.compare_exchange_strong(zero, -1, std::memory_order_seq_cst,
                                        std::memory_order_relaxed);
}

void RwSemaphore::wake_sleepers() {
  if (sleepers_.load(std::memory_order_seq_cst) > 0) internal::lock_waitqueue(this).wake_all();
}

int RwSemaphore::read_slow(bool killable) {
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  auto pred = [this] { return read_trylock_fast(); };
  WaitQueue& wq = internal::lock_waitqueue(this);
  int rc = 0;
  if (killable) {
    rc = wq.wait_event_killable(pred);
  } else {
    wq.wait_event(pred);
  }
  sleepers_.fetch_sub(1, std::memory_order_seq_cst);
  return rc;
}

int RwSemaphore::write_slow(bool killable) {
  // Announce the writer before sleeping: from here on new readers queue behind it.
  waiting_writers_.fetch_add(1, std::memory_order_seq_cst);
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  auto pred = [this] { return write_trylock_fast(); };
  WaitQueue& wq = internal::lock_waitqueue(this);
  int rc = 0;
  if (killable) {
    rc = wq.wait_event_killable(pred);
  } else {
    wq.wait_event(pred);
  }
  sleepers_.fetch_sub(1, std::memory_order_seq_cst);
  waiting_writers_.fetch_sub(1, std::memory_order_seq_cst);
  // A departing (killed) writer may be the last thing holding readers back: wake them.
  if (rc != 0) wake_sleepers();
  return rc;
}

void RwSemaphore::down_read(Subclass s) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  (void)internal::instrumented_acquire(
      map_, Mode::kShared, s, false, LOCKFS_CALLER, [this] { return read_trylock_fast(); },
      [this] { return read_slow(false); });
}

int RwSemaphore::down_read_killable(Subclass s) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  return internal::instrumented_acquire(
      map_, Mode::kShared, s, true, LOCKFS_CALLER, [this] { return read_trylock_fast(); },
      [this] { return read_slow(true); });
}

bool RwSemaphore::down_read_trylock() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  return internal::instrumented_trylock(map_, Mode::kShared, LOCKFS_CALLER,
                                        [this] { return read_trylock_fast(); });
}

void RwSemaphore::up_read() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  if (instrumented()) internal::lock_released(map_, Mode::kShared);
  const int32_t prev = count_.fetch_sub(1, std::memory_order_seq_cst);
  LOCKFS_CHECK(prev > 0, "up_read on a rw_semaphore not read-locked");
  if (prev == 1) wake_sleepers();  // the last reader lets a waiting writer in
}

void RwSemaphore::down_write(Subclass s) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  (void)internal::instrumented_acquire(
      map_, Mode::kExclusive, s, false, LOCKFS_CALLER, [this] { return write_trylock_fast(); },
      [this] { return write_slow(false); });
}

int RwSemaphore::down_write_killable(Subclass s) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  return internal::instrumented_acquire(
      map_, Mode::kExclusive, s, true, LOCKFS_CALLER, [this] { return write_trylock_fast(); },
      [this] { return write_slow(true); });
}

bool RwSemaphore::down_write_trylock() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  return internal::instrumented_trylock(map_, Mode::kExclusive, LOCKFS_CALLER,
                                        [this] { return write_trylock_fast(); });
}

void RwSemaphore::up_write() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  if (instrumented()) internal::lock_released(map_, Mode::kExclusive);
  int32_t expected = -1;
  const bool ok = count_.compare_exchange_strong(expected, 0, std::memory_order_seq_cst);
  LOCKFS_CHECK(ok, "up_write on a rw_semaphore not write-locked");
  wake_sleepers();
}

void RwSemaphore::downgrade_write() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  if (instrumented()) hooks::on_downgrade(map_);
  int32_t expected = -1;
  const bool ok = count_.compare_exchange_strong(expected, 1, std::memory_order_seq_cst);
  LOCKFS_CHECK(ok, "downgrade_write on a rw_semaphore not write-locked");
  wake_sleepers();  // readers queued behind us may share the lock now (unless a writer waits)
}

void RwSemaphore::assert_held(Mode m) const LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  const int32_t c = count_.load(std::memory_order_relaxed);
  internal::assert_held(map_, m, m == Mode::kExclusive ? c == -1 : c != 0);
}

void RwSemaphore::assert_held_exclusive() const LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  assert_held(Mode::kExclusive);
}

void RwSemaphore::assert_not_held() const { internal::assert_not_held(map_); }

bool RwSemaphore::is_locked() const { return count_.load(std::memory_order_relaxed) != 0; }

}  // namespace lockfs::locking

// FolioFlags: the PG_locked bit lock and PG_writeback wait, with waiters parked on hashed
// global wait queues as in mm/filemap.c (folio_waitqueue): a folio carries no queue of its own.
//
// kWaiters says "someone may sleep on this folio's hashed queue". A waiter sets it and retries
// the bit under the queue's mutex; unlock/end_writeback clear it together with their bit in one
// RMW and wake the queue when it was set. All of these RMWs hit the same word, so either the
// waker sees kWaiters or the waiter's retry sees the cleared bit: no lost wake-up. Clearing
// kWaiters wakes everyone on the hashed queue, and whoever still waits sets it again.
#include "locking/folio_flags.h"

#include <functional>

#include "locking/check.h"
#include "locking/internal/runtime.h"
#include "locking/internal/wait_table.h"
#include "locking/wait_queue.h"

namespace lockfs::locking {

using internal::instrumented;

namespace {
// folio_waitqueue: the same hashed table the sleeping locks park on.
WaitQueue& folio_waitqueue(const void* folio) { return internal::lock_waitqueue(folio); }
}  // namespace

FolioFlags::FolioFlags(const LockClass& cls, uint64_t ino, uint64_t index)
    : map_{&cls, ino, index} {}

void FolioFlags::set_locked_unpublished() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  const uint32_t prev = flags_.fetch_or(kLocked, std::memory_order_acquire);
  LOCKFS_CHECK(!(prev & kLocked), "__folio_set_locked on a locked folio");
}

void FolioFlags::lock_published() {
  if (instrumented()) {
    internal::lock_acquired(map_, Mode::kExclusive, Subclass::kNormal, false, 0, LOCKFS_CALLER);
  }
}

void FolioFlags::clear_locked_unpublished() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  flags_.fetch_and(~kLocked, std::memory_order_release);
}

bool FolioFlags::trylock() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  return internal::instrumented_trylock(map_, Mode::kExclusive, LOCKFS_CALLER,
                                        [this] { return test_and_set_locked(); });
}

void FolioFlags::lock() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  (void)internal::instrumented_acquire(map_, Mode::kExclusive, Subclass::kNormal, false,
                                       LOCKFS_CALLER, [this] { return test_and_set_locked(); },
                                       [this] {
                                         folio_waitqueue(this).wait_event(
                                             [this] { return lock_or_mark_waiter(); });
                                         return 0;
                                       });
}

int FolioFlags::lock_killable() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  return internal::instrumented_acquire(
      map_, Mode::kExclusive, Subclass::kNormal, true, LOCKFS_CALLER,
      [this] { return test_and_set_locked(); },
      [this] {
        return folio_waitqueue(this).wait_event_killable([this] { return lock_or_mark_waiter(); });
      });
}

void FolioFlags::unlock() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  if (instrumented()) internal::lock_released(map_, Mode::kExclusive);
  const uint32_t old = flags_.fetch_and(~(kLocked | kWaiters), std::memory_order_seq_cst);
  LOCKFS_CHECK(old & kLocked, "folio_unlock of a folio not locked");
  if (old & kWaiters) folio_waitqueue(this).wake_all();
}

void FolioFlags::assert_locked() const LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  internal::assert_held(map_, Mode::kExclusive, locked());
}

void FolioFlags::assert_not_locked() const { internal::assert_not_held(map_); }

void FolioFlags::start_writeback() {
  LOCKFS_CHECK(locked(), "folio_start_writeback on an unlocked folio");
  const uint32_t old = flags_.fetch_or(kWriteback, std::memory_order_acq_rel);
  LOCKFS_CHECK(!(old & kWriteback), "folio_start_writeback while under writeback");
}

void FolioFlags::end_writeback() {
  const uint32_t old = flags_.fetch_and(~(kWriteback | kWaiters), std::memory_order_seq_cst);
  LOCKFS_CHECK(old & kWriteback, "folio_end_writeback without writeback");
  if (old & kWaiters) folio_waitqueue(this).wake_all();
}

void FolioFlags::wait_writeback() {
  if (!writeback()) return;
  if (instrumented()) internal::might_sleep("folio_wait_writeback");
  folio_waitqueue(this).wait_event([this] {
    if (!(flags_.load(std::memory_order_acquire) & kWriteback)) return true;
    flags_.fetch_or(kWaiters, std::memory_order_seq_cst);
    return !(flags_.load(std::memory_order_seq_cst) & kWriteback);
  });
}

}  // namespace lockfs::locking

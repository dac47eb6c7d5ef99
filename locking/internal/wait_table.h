// Hashed wait queues for the sleeping locks (RwSemaphore, Mutex, the folio lock and writeback
// waits of FolioFlags): a lock carries no queue of its own; its sleepers park on the queue its
// address hashes to, as with the kernel's bit-wait and folio-wait tables. Internal to locking/ (tests may use it to find locks that share a queue).
#pragma once

#include "locking/wait_queue.h"

namespace lockfs::locking::internal {

inline constexpr unsigned kLockWaitTableBits = 10;  // 1024 queues, one cache line apart

// The queue of the lock at `lock`; never destroyed. Several locks may share one: waiters
// re-check their own lock's state under the queue's mutex after every wake-up, so sharing
// costs spurious wake-ups, never a lost one. Waiters and wakers of a lock pass the same
// address (the lock object's own).
WaitQueue& lock_waitqueue(const void* lock);

}  // namespace lockfs::locking::internal

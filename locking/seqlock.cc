// SeqLock: an even/odd sequence count in front of writers serialised by a SpinLock.
//
// Memory ordering is the usual C++ seqlock: the writer makes the count odd, issues a release
// fence and then stores the data; the reader loads the data, issues an acquire fence and then
// re-reads the count. The data itself is std::atomic (relaxed), so there is no data race.
#include "locking/seqlock.h"

#include <sched.h>

namespace lockfs::locking {

SeqLock::SeqLock(const LockClass& cls, uint64_t object) : writer_(cls, object) {}

unsigned SeqLock::read_seqbegin() const {
  for (unsigned spins = 1;; ++spins) {
    const unsigned seq = seq_.load(std::memory_order_acquire);
    if ((seq & 1) == 0) return seq;
    if (spins % 64 == 0) sched_yield();  // the writer may be descheduled (2 cores)
  }
}

bool SeqLock::read_seqretry(unsigned seq) const {
  std::atomic_thread_fence(std::memory_order_acquire);
  return seq_.load(std::memory_order_relaxed) != seq;
}

void SeqLock::write_seqlock() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  writer_.lock();
  seq_.store(seq_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
}

void SeqLock::write_sequnlock() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  seq_.store(seq_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  writer_.unlock();
}

void SeqLock::assert_held() const LOCKFS_NO_THREAD_SAFETY_ANALYSIS { writer_.assert_held(); }

void SeqLock::assert_not_held() const { writer_.assert_not_held(); }

}  // namespace lockfs::locking

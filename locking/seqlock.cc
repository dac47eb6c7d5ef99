// SeqCount's wait for a writer, and SeqLock: a SeqCount in front of writers serialised by a
// SpinLock of its own (seqlock_t).
#include "locking/seqlock.h"

#include <sched.h>

namespace lockfs::locking {

SeqLock::SeqLock(const LockClass& cls, uint64_t object) : writer_(cls, object) {}

unsigned SeqCount::wait_for_writer() const {
  for (unsigned spins = 1;; ++spins) {
    if (spins % 64 == 0) sched_yield();  // the writer may be descheduled (2 cores)
    const unsigned seq = seq_.load(std::memory_order_acquire);
    if ((seq & 1) == 0) return seq;
  }
}

unsigned SeqLock::read_seqbegin() const { return seq_.read_begin(); }

bool SeqLock::read_seqretry(unsigned seq) const { return seq_.read_retry(seq); }

void SeqLock::write_seqlock() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  writer_.lock();
  seq_.write_begin(writer_);
}

void SeqLock::write_sequnlock() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  seq_.write_end(writer_);
  writer_.unlock();
}

void SeqLock::assert_held() const LOCKFS_NO_THREAD_SAFETY_ANALYSIS { writer_.assert_held(); }

void SeqLock::assert_not_held() const { writer_.assert_not_held(); }

}  // namespace lockfs::locking

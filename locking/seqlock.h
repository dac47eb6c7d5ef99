// SeqCount (an inode's attributes) and SeqLock (rename_lock): lockless readers that retry,
// writers that exclude each other.
#pragma once

#include <atomic>
#include <cstdint>

#include "locking/annotations.h"
#include "locking/lock_class.h"
#include "locking/mutex.h"

namespace lockfs::locking {

// A sequence count whose writers are serialised by a lock they already hold, as the kernel's
// seqcount_spinlock_t is: the write side checks that lock instead of taking one, so a writer
// that already holds it (i_lock, to change the attributes) adds no lock section, and readers
// take nothing. Data read between read_begin and read_retry must be std::atomic (relaxed is
// enough): the count orders it, and C++ forbids racy plain reads.
//
// Ordering is the usual C++ seqlock: the writer makes the count odd, issues a release fence,
// then stores the data; the reader loads the data, issues an acquire fence, then re-reads
// the count.
class SeqCount {
 public:
  SeqCount() = default;
  SeqCount(const SeqCount&) = delete;
  SeqCount& operator=(const SeqCount&) = delete;

  // Waits (spinning) while a writer is active; returns an even sequence number.
  unsigned read_begin() const {
    const unsigned seq = seq_.load(std::memory_order_acquire);
    return (seq & 1) == 0 ? seq : wait_for_writer();
  }
  // True when a writer ran since `seq`: the reader must retry.
  bool read_retry(unsigned seq) const {
    std::atomic_thread_fence(std::memory_order_acquire);
    return seq_.load(std::memory_order_relaxed) != seq;
  }
  // Locking: `writers` held -- the lock that serialises every writer of this count.
  void write_begin(const SpinLock& writers) LOCKFS_REQUIRES(writers) {
    writers.assert_held();
    seq_.store(seq_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
  }
  void write_end(const SpinLock& writers) LOCKFS_REQUIRES(writers) {
    seq_.store(seq_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }

 private:
  unsigned wait_for_writer() const;
  std::atomic<unsigned> seq_{0};
};

// Thread safety: readers never block and never write; writers serialise on an internal
// SpinLock. Data read under read_seqbegin/read_seqretry must be std::atomic (relaxed is
// enough): the sequence count orders it, and C++ forbids racy plain reads.
//
//   unsigned seq;
//   do { seq = rename_lock.read_seqbegin(); ...read... } while (rename_lock.read_seqretry(seq));
class LOCKFS_CAPABILITY("seqlock") SeqLock {
 public:
  explicit SeqLock(const LockClass& cls, uint64_t object = 0);
  SeqLock(const SeqLock&) = delete;
  SeqLock& operator=(const SeqLock&) = delete;

  // Waits (spinning) while a writer is active; returns an even sequence number.
  unsigned read_seqbegin() const;
  // True when a writer ran since `seq`: the reader must retry.
  bool read_seqretry(unsigned seq) const;

  void write_seqlock() LOCKFS_ACQUIRE();
  void write_sequnlock() LOCKFS_RELEASE();
  // The write side (readers hold nothing).
  void assert_held() const LOCKFS_ASSERT_CAPABILITY(this);
  void assert_not_held() const;
  const LockMap& map() const { return writer_.map(); }

 private:
  SeqCount seq_;
  SpinLock writer_;
};

}  // namespace lockfs::locking

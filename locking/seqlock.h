// SeqLock (rename_lock): lockless readers that retry, exclusive writers.
#pragma once

#include <atomic>
#include <cstdint>

#include "locking/annotations.h"
#include "locking/lock_class.h"
#include "locking/mutex.h"

namespace lockfs::locking {

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
  std::atomic<unsigned> seq_{0};
  SpinLock writer_;
};

}  // namespace lockfs::locking

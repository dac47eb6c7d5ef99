// RwSemaphore: the kernel's rw_semaphore (i_rwsem, invalidate_lock, mmap_lock, s_umount,
// s_vfs_rename_sem). Writer-fair: once a writer waits, new readers queue behind it.
#pragma once

#include <atomic>
#include <cstdint>

#include "locking/annotations.h"
#include "locking/lock_class.h"

namespace lockfs::locking {

// Thread safety: all members are safe from any thread. Every acquisition and release is
// reported to the validator and the tracer (one predictable branch each when they are off).
// A killable acquire returns 0 or -EINTR (the current task has a fatal signal pending); on
// -EINTR nothing is held. Sleepers wait on the hashed queue of the lock's address
// (internal/wait_table.h), so the lock itself is a few words.
class LOCKFS_CAPABILITY("rw_semaphore") RwSemaphore {
 public:
  explicit RwSemaphore(const LockClass& cls, uint64_t object = 0, uint64_t aux = 0);
  ~RwSemaphore();
  RwSemaphore(const RwSemaphore&) = delete;
  RwSemaphore& operator=(const RwSemaphore&) = delete;

  void down_read(Subclass s = Subclass::kNormal) LOCKFS_ACQUIRE_SHARED();
  [[nodiscard]] int down_read_killable(Subclass s = Subclass::kNormal)
      LOCKFS_TRY_ACQUIRE_SHARED(0);
  [[nodiscard]] bool down_read_trylock() LOCKFS_TRY_ACQUIRE_SHARED(true);
  void up_read() LOCKFS_RELEASE_SHARED();

  void down_write(Subclass s = Subclass::kNormal) LOCKFS_ACQUIRE();
  [[nodiscard]] int down_write_killable(Subclass s = Subclass::kNormal) LOCKFS_TRY_ACQUIRE(0);
  [[nodiscard]] bool down_write_trylock() LOCKFS_TRY_ACQUIRE(true);
  void up_write() LOCKFS_RELEASE();

  // Exclusive -> shared without letting a writer in between.
  void downgrade_write() LOCKFS_RELEASE() LOCKFS_ACQUIRE_SHARED();

  // Checks the caller's held-lock stack (validator on) and the lock state.
  void assert_held(Mode m) const LOCKFS_ASSERT_SHARED_CAPABILITY(this);
  void assert_held_exclusive() const LOCKFS_ASSERT_CAPABILITY(this);
  void assert_not_held() const;
  bool is_locked() const;
  // Threads in (or entering) a slow-path wait, killable or not. For tests and statistics.
  int32_t nr_waiters() const { return sleepers_.load(std::memory_order_relaxed); }

  // The object the lock protects (set once the inode number is known).
  void set_object(uint64_t object, uint64_t aux = 0) { map_.object = object; map_.aux = aux; }
  const LockMap& map() const { return map_; }

 private:
  LockMap map_;
  // count_ > 0: that many readers; -1: a writer. Changed by CAS only (fast path, and the
  // slow path's re-check under the hashed queue's mutex).
  std::atomic<int32_t> count_{0};
  std::atomic<int32_t> waiting_writers_{0};
  // Threads in (or entering) a slow-path wait. Releasers wake the hashed queue only when it
  // is non-zero; seq_cst on both sides (Dekker) makes sure a sleeper is never missed.
  std::atomic<int32_t> sleepers_{0};

  bool read_trylock_fast();
  bool write_trylock_fast();
  int read_slow(bool killable);
  int write_slow(bool killable);
  void wake_sleepers();
};

// Scoped guards (non-killable). For killable acquisitions call the method and check it.
class LOCKFS_SCOPED_CAPABILITY ReadGuard {
 public:
  explicit ReadGuard(RwSemaphore& s, Subclass sub = Subclass::kNormal) LOCKFS_ACQUIRE_SHARED(s)
      : s_(s) { s_.down_read(sub); }
  ~ReadGuard() LOCKFS_RELEASE() { s_.up_read(); }
  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;

 private:
  RwSemaphore& s_;
};

class LOCKFS_SCOPED_CAPABILITY WriteGuard {
 public:
  explicit WriteGuard(RwSemaphore& s, Subclass sub = Subclass::kNormal) LOCKFS_ACQUIRE(s)
      : s_(s) { s_.down_write(sub); }
  ~WriteGuard() LOCKFS_RELEASE() { s_.up_write(); }
  WriteGuard(const WriteGuard&) = delete;
  WriteGuard& operator=(const WriteGuard&) = delete;

 private:
  RwSemaphore& s_;
};

}  // namespace lockfs::locking

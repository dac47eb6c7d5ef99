// Mutex (sleeping) and SpinLock (d_lock, i_lock, flc_lock: never sleep while holding one).
#pragma once

#include <atomic>
#include <cstdint>

#include "locking/annotations.h"
#include "locking/lock_class.h"

namespace lockfs::locking {

// Thread safety: all members safe from any thread; reported to validator and tracer.
// Sleepers wait on the hashed queue of the lock's address (internal/wait_table.h).
class LOCKFS_CAPABILITY("mutex") Mutex {
 public:
  explicit Mutex(const LockClass& cls, uint64_t object = 0, uint64_t aux = 0);
  ~Mutex();
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock(Subclass s = Subclass::kNormal) LOCKFS_ACQUIRE();
  [[nodiscard]] int lock_killable(Subclass s = Subclass::kNormal) LOCKFS_TRY_ACQUIRE(0);
  [[nodiscard]] bool trylock() LOCKFS_TRY_ACQUIRE(true);
  void unlock() LOCKFS_RELEASE();
  void assert_held() const LOCKFS_ASSERT_CAPABILITY(this);
  void assert_not_held() const;
  bool is_locked() const { return locked_.load(std::memory_order_relaxed); }
  // Threads in (or entering) a slow-path wait. For tests and statistics.
  int32_t nr_waiters() const { return sleepers_.load(std::memory_order_relaxed); }
  void set_object(uint64_t object, uint64_t aux = 0) { map_.object = object; map_.aux = aux; }
  const LockMap& map() const { return map_; }

 private:
  LockMap map_;
  std::atomic<bool> locked_{false};
  std::atomic<int32_t> sleepers_{0};  // as RwSemaphore::sleepers_

  bool trylock_fast();
  int lock_slow(bool killable);
};

// Thread safety: as Mutex. A sleeping wait while any SpinLock is held is a validator
// violation (the kernel's "sleeping function called from invalid context"). Waiting for one
// spins briefly and then sleeps on a futex: unlike the kernel's, our holder can be preempted.
class LOCKFS_CAPABILITY("spinlock") SpinLock {
 public:
  explicit SpinLock(const LockClass& cls, uint64_t object = 0, uint64_t aux = 0);
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

  void lock(Subclass s = Subclass::kNormal) LOCKFS_ACQUIRE();
  [[nodiscard]] bool trylock() LOCKFS_TRY_ACQUIRE(true);
  void unlock() LOCKFS_RELEASE();
  void assert_held() const LOCKFS_ASSERT_CAPABILITY(this);
  void assert_not_held() const;
  bool is_locked() const { return state_.load(std::memory_order_relaxed) != kFree; }
  void set_object(uint64_t object, uint64_t aux = 0) { map_.object = object; map_.aux = aux; }
  const LockMap& map() const { return map_; }

 private:
  static constexpr uint32_t kFree = 0, kHeld = 1, kContended = 2;  // kContended: may have sleepers
  static constexpr unsigned kSpinsBeforeSleep = 100;
  LockMap map_;
  std::atomic<uint32_t> state_{kFree};

  bool trylock_fast();
  void lock_slow();
};

class LOCKFS_SCOPED_CAPABILITY MutexGuard {
 public:
  explicit MutexGuard(Mutex& m) LOCKFS_ACQUIRE(m) : m_(m) { m_.lock(); }
  ~MutexGuard() LOCKFS_RELEASE() { m_.unlock(); }
  MutexGuard(const MutexGuard&) = delete;
  MutexGuard& operator=(const MutexGuard&) = delete;

 private:
  Mutex& m_;
};

class LOCKFS_SCOPED_CAPABILITY SpinGuard {
 public:
  explicit SpinGuard(SpinLock& l) LOCKFS_ACQUIRE(l) : l_(l) { l_.lock(); }
  ~SpinGuard() LOCKFS_RELEASE() { l_.unlock(); }
  SpinGuard(const SpinGuard&) = delete;
  SpinGuard& operator=(const SpinGuard&) = delete;

 private:
  SpinLock& l_;
};

}  // namespace lockfs::locking

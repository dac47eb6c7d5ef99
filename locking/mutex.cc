// Mutex (sleeps on the hashed wait queue of its address, see rwsem.cc) and SpinLock (spins,
// then waits on a futex in its lock word; the holder never sleeps).
#include "locking/mutex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "locking/check.h"
#include "locking/internal/runtime.h"
#include "locking/internal/wait_table.h"

namespace lockfs::locking {

using internal::instrumented;

// Issue #7: as RwSemaphore, no queue inside.
static_assert(sizeof(Mutex) <= 40, "mutex grew: every inode pays for it");
// The futex calls pass the lock word's address as a plain 32-bit word.
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
              std::atomic<uint32_t>::is_always_lock_free);

namespace {
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
}  // namespace

Mutex::Mutex(const LockClass& cls, uint64_t object, uint64_t aux) : map_{&cls, object, aux} {}

Mutex::~Mutex() {
  LOCKFS_CHECK(sleepers_.load(std::memory_order_relaxed) == 0, "mutex destroyed with waiters");
}

bool Mutex::trylock_fast() {
  bool expected = false;
  return locked_.compare_exchange_strong(expected, true, std::memory_order_seq_cst,
                                         std::memory_order_relaxed);
}

int Mutex::lock_slow(bool killable) {
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  auto pred = [this] { return trylock_fast(); };
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

void Mutex::lock(Subclass s) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  (void)internal::instrumented_acquire(
      map_, Mode::kExclusive, s, false, LOCKFS_CALLER, [this] { return trylock_fast(); },
      [this] { return lock_slow(false); });
}

int Mutex::lock_killable(Subclass s) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  return internal::instrumented_acquire(
      map_, Mode::kExclusive, s, true, LOCKFS_CALLER, [this] { return trylock_fast(); },
      [this] { return lock_slow(true); });
}

bool Mutex::trylock() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  return internal::instrumented_trylock(map_, Mode::kExclusive, LOCKFS_CALLER,
                                        [this] { return trylock_fast(); });
}

void Mutex::unlock() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  if (instrumented()) internal::lock_released(map_, Mode::kExclusive);
  const bool was = locked_.exchange(false, std::memory_order_seq_cst);
  LOCKFS_CHECK(was, "unlock of a mutex not locked");
  if (sleepers_.load(std::memory_order_seq_cst) > 0) internal::lock_waitqueue(this).wake_all();
}

void Mutex::assert_held() const LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  internal::assert_held(map_, Mode::kExclusive, locked_.load(std::memory_order_relaxed));
}

void Mutex::assert_not_held() const { internal::assert_not_held(map_); }

SpinLock::SpinLock(const LockClass& cls, uint64_t object, uint64_t aux) : map_{&cls, object, aux} {}

bool SpinLock::trylock_fast() {
  uint32_t free = kFree;
  return state_.load(std::memory_order_relaxed) == kFree &&
         state_.compare_exchange_strong(free, kHeld, std::memory_order_acquire,
                                        std::memory_order_relaxed);
}

// The kernel spins because a spinlock's holder cannot be preempted. Ours can: with 2 cores
// and more runnable threads a waiter that only spins (or yields) burns its slice while the
// holder sits preempted -- measured at 70 us per contended i_pages wait under mmap writeback.
// So the wait spins about as long as a typical hold and then sleeps on the lock word (a
// futex), to be woken by the unlock. Holding a SpinLock still may not sleep; only waiting
// for one may.
void SpinLock::lock_slow() {
  for (unsigned spins = 0; spins < kSpinsBeforeSleep; ++spins) {
    cpu_relax();
    if (trylock_fast()) return;
  }
  // kContended tells the unlock to wake a sleeper; whoever takes the lock this way leaves it
  // set, as a sleeper may remain (at worst one needless wake-up).
  while (state_.exchange(kContended, std::memory_order_acquire) != kFree) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state_), FUTEX_WAIT_PRIVATE, kContended,
            nullptr, nullptr, 0);
  }
}

void SpinLock::lock(Subclass s) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  const bool instr = instrumented();
  if (instr) internal::before_fast_path();
  if (__builtin_expect(trylock_fast(), 1)) {
    if (instr) internal::lock_acquired_uncontended(map_, Mode::kExclusive, s, false, LOCKFS_CALLER);
    return;
  }
  if (instr) internal::lock_wait_begin(map_, Mode::kExclusive, s, false, LOCKFS_CALLER);
  const bool timed = instr && internal::tracer_on();
  const uint64_t t0 = timed ? internal::now_ns() : 0;
  lock_slow();
  if (instr) {
    const uint64_t t1 = timed ? internal::now_ns() : 0;
    internal::lock_acquired(map_, Mode::kExclusive, s, true, internal::elapsed_ns(t0, t1),
                            LOCKFS_CALLER, t1);
  }
}

bool SpinLock::trylock() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  return internal::instrumented_trylock(map_, Mode::kExclusive, LOCKFS_CALLER,
                                        [this] { return trylock_fast(); });
}

void SpinLock::unlock() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  if (instrumented()) internal::lock_released(map_, Mode::kExclusive);
  const uint32_t was = state_.exchange(kFree, std::memory_order_release);
  LOCKFS_CHECK(was != kFree, "unlock of a spinlock not locked");
  if (was == kContended) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state_), FUTEX_WAKE_PRIVATE, 1, nullptr,
            nullptr, 0);
  }
}

void SpinLock::assert_held() const LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  internal::assert_held(map_, Mode::kExclusive, is_locked());
}

void SpinLock::assert_not_held() const { internal::assert_not_held(map_); }

}  // namespace lockfs::locking

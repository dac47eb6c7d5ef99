// Shared by the locking unit tests: a fixture that leaves global state clean, a watchdog that
// turns a hang into a failure, lock classes for tests, and small thread helpers.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "locking/annotations.h"
#include "locking/folio_flags.h"
#include "locking/lock_class.h"
#include "locking/mutex.h"
#include "locking/rwsem.h"
#include "locking/sync_point.h"
#include "locking/tracer.h"
#include "locking/validator.h"

namespace lockfs::locking::testing {

// Aborts the test binary when not destroyed within `seconds` (a hang is a failure, not a
// stuck CI job).
class Watchdog {
 public:
  explicit Watchdog(int seconds = 20)
      : thread_([this, seconds] {
          std::unique_lock lk(mu_);
          if (!cv_.wait_for(lk, std::chrono::seconds(seconds), [this] { return done_; })) {
            std::fprintf(stderr, "watchdog: test hung for %d s, aborting\n", seconds);
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lk(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// Resets the validator and tracer around each test; validator in warn mode by default so a
// test can count violations. Tests wanting strict mode set it (and a handler) themselves.
class LockingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clean();
    set_validate_mode(ValidateMode::kWarn);
  }
  void TearDown() override { clean(); }
  static void clean() {
    set_validate_mode(ValidateMode::kOff);
    set_strict_handler(nullptr);
    tracer_disable();
    trace_reset();
    reset_validator();
    sync_point_clear_all();
  }

  Watchdog watchdog_{20};
};

// Polls `cond` (yielding) until it holds; the watchdog bounds the wait.
template <typename Cond>
void wait_until(Cond cond) {
  while (!cond()) std::this_thread::yield();
}

// Try-and-release probes: "could someone take it now?" without the analysis seeing a
// conditional acquisition (a try-lock inside EXPECT_* would leave it unbalanced).
inline bool can_down_read(RwSemaphore& s) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  if (!s.down_read_trylock()) return false;
  s.up_read();
  return true;
}
inline bool can_down_write(RwSemaphore& s) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  if (!s.down_write_trylock()) return false;
  s.up_write();
  return true;
}
template <typename L>  // Mutex, SpinLock, FolioFlags
bool can_lock(L& l) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  if (!l.trylock()) return false;
  l.unlock();
  return true;
}

inline size_t count_kind(ViolationKind k) {
  size_t n = 0;
  for (const Violation& v : violations()) n += v.kind == k;
  return n;
}

inline LockClass& class_a() {
  static LockClass c("test_a", LockKind::kMutex);
  return c;
}
inline LockClass& class_b() {
  static LockClass c("test_b", LockKind::kMutex);
  return c;
}
inline LockClass& class_c() {
  static LockClass c("test_c", LockKind::kMutex);
  return c;
}
inline LockClass& class_sem() {
  static LockClass c("test_rwsem", LockKind::kRwSem);
  return c;
}
inline LockClass& class_sem2() {
  static LockClass c("test_rwsem2", LockKind::kRwSem);
  return c;
}
inline LockClass& class_spin() {
  static LockClass c("test_spin", LockKind::kSpinLock);
  return c;
}
inline LockClass& class_spin2() {
  static LockClass c("test_spin2", LockKind::kSpinLock);
  return c;
}
inline LockClass& class_seq() {
  static LockClass c("test_seq", LockKind::kSeqLock);
  return c;
}
inline LockClass& class_folio() {
  static LockClass c("test_folio", LockKind::kFolioBit);
  return c;
}

}  // namespace lockfs::locking::testing

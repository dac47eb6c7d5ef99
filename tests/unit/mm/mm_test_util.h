// Helpers shared by the mm tests: a strict validator that records violations instead of
// aborting, a lock class for a fake host inode's i_rwsem, and a watchdog.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "locking/lock_class.h"
#include "locking/validator.h"

namespace lockfs::core::test {

inline const locking::LockClass& host_class() {
  static const locking::LockClass cls("i_rwsem(test)", locking::LockKind::kRwSem);
  return cls;
}

// Runs the validator strict for the scope; a violation fails the test (recorded, not abort,
// so the failure message names it).
class StrictValidator {
 public:
  StrictValidator() {
    locking::reset_violations();
    locking::set_strict_handler([](const locking::Violation& v) {
      ADD_FAILURE() << "validator: " << locking::violation_kind_name(v.kind) << ": " << v.message;
    });
    locking::set_validate_mode(locking::ValidateMode::kStrict);
  }
  ~StrictValidator() {
    locking::set_validate_mode(locking::ValidateMode::kOff);
    locking::set_strict_handler(nullptr);
  }
};

// Aborts the process if the scope lasts more than `seconds` (a hang fails loudly).
class Watchdog {
 public:
  explicit Watchdog(int seconds)
      : t_([this, seconds] {
          std::unique_lock lk(mu_);
          if (!cv_.wait_for(lk, std::chrono::seconds(seconds), [this] { return done_; })) {
            std::fprintf(stderr, "watchdog: test hung for %d s\n", seconds);
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lk(mu_);
      done_ = true;
    }
    cv_.notify_all();
    t_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread t_;
};

}  // namespace lockfs::core::test

// A mounted core::Vfs with the validator strict (violations recorded, not aborting), the
// tracer on, and a watchdog: the base of core/'s unit tests.
#pragma once

#include <gtest/gtest.h>
#include <time.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/vfs.h"
#include "locking/validator.h"
#include "tests/support/lock_recorder.h"

namespace lockfs::testing {

// a strictly after b.
inline bool later(const timespec& a, const timespec& b) {
  return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

class CoreTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Remounts with other options (profile, limits).
  void remount(const core::MountOptions& opts);

  // Recorded violations (strict handler), and clearing them for tests that expect some.
  std::vector<locking::Violation> violations();
  void clear_violations();

  // Shorthands that assert success and drop the lookup count again.
  core::Ino mkdir(core::Ino parent, const std::string& name, mode_t mode = 0755);
  core::Ino mkfile(core::Ino parent, const std::string& name, mode_t mode = 0644);
  core::Ino ino_of(const std::string& path);  // 0 when it does not resolve
  struct stat stat_of(core::Ino ino);

  std::unique_ptr<core::Vfs> vfs;

 private:
  std::unique_ptr<Watchdog> watchdog_;
  std::mutex mu_;
  std::vector<locking::Violation> violations_;
};

}  // namespace lockfs::testing

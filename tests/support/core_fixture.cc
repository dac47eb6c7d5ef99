// CoreTest: strict validator with a recording handler, tracer on, watchdog.
#include "tests/support/core_fixture.h"

#include "locking/tracer.h"

namespace lockfs::testing {

void CoreTest::SetUp() {
  watchdog_ = std::make_unique<Watchdog>(std::chrono::seconds(60),
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
  locking::reset_validator();  // first: it clears a sticky out-of-memory stop
  locking::set_validate_mode(locking::ValidateMode::kStrict);
  locking::reset_violations();
  locking::set_strict_handler([this](const locking::Violation& v) {
    std::lock_guard lk(mu_);
    violations_.push_back(v);
  });
  locking::tracer_enable();
  locking::trace_reset();
  core::MountOptions opts;
  opts.size_bytes = 64 << 20;
  opts.nr_inodes = 4096;
  remount(opts);
}

void CoreTest::TearDown() {
  vfs.reset();
  EXPECT_FALSE(locking::validator_ran_out_of_memory())
      << "the validator ran out of memory and stopped checking";
  {
    std::lock_guard lk(mu_);
    for (const locking::Violation& v : violations_) {
      ADD_FAILURE() << "unexpected violation: " << locking::violation_kind_name(v.kind) << ": "
                    << v.message;
    }
    violations_.clear();
  }
  locking::set_strict_handler(nullptr);
  locking::tracer_disable();
  watchdog_.reset();
}

void CoreTest::remount(const core::MountOptions& opts) {
  vfs.reset();
  auto m = core::Vfs::mount(opts);
  ASSERT_TRUE(m.ok()) << m.error();
  vfs = std::move(m.value());
}

std::vector<locking::Violation> CoreTest::violations() {
  std::lock_guard lk(mu_);
  return violations_;
}

void CoreTest::clear_violations() {
  std::lock_guard lk(mu_);
  violations_.clear();
}

core::Ino CoreTest::mkdir(core::Ino parent, const std::string& name, mode_t mode) {
  auto r = vfs->mkdir(parent, name, mode);
  EXPECT_TRUE(r.ok()) << "mkdir " << name << ": " << r.error();
  if (!r.ok()) return 0;
  vfs->forget(r->ino, 1);
  return r->ino;
}

core::Ino CoreTest::mkfile(core::Ino parent, const std::string& name, mode_t mode) {
  auto r = vfs->mknod(parent, name, S_IFREG | mode, 0);
  EXPECT_TRUE(r.ok()) << "mknod " << name << ": " << r.error();
  if (!r.ok()) return 0;
  vfs->forget(r->ino, 1);
  return r->ino;
}

core::Ino CoreTest::ino_of(const std::string& path) {
  auto r = vfs->path_lookup(path);
  return r.ok() ? *r : 0;
}

struct stat CoreTest::stat_of(core::Ino ino) {
  auto r = vfs->getattr(ino);
  EXPECT_TRUE(r.ok()) << r.error();
  return r.ok() ? *r : (struct stat){};
}

}  // namespace lockfs::testing

// The lockfs-stress engine as a test: every profile runs the random workload with no
// violation, no unexpected errno and a consistent namespace afterwards.
#include <gtest/gtest.h>

#include <sstream>

#include "core/stress.h"
#include "locking/tracer.h"
#include "locking/validator.h"
#include "tests/support/lock_recorder.h"

namespace lockfs::testing {
namespace {

class StressProfiles : public ::testing::TestWithParam<const char*> {};

TEST_P(StressProfiles, RandomWorkloadIsCleanAndConsistent) {
  Watchdog dog(std::chrono::seconds(60), "stress");
  locking::reset_validator();
  core::StressOptions opts;
  opts.threads = 4;
  opts.ops = 3000;
  opts.seed = 42;
  opts.profile = GetParam();
  opts.lookup_hold_us = 0;
  auto r = core::run_stress(opts);
  ASSERT_TRUE(r.ok()) << r.error();
  std::ostringstream report;
  core::print_stress_report(report, opts, *r);
  EXPECT_TRUE(r->ok()) << report.str();
  EXPECT_EQ(r->violations, 0u) << report.str();
  EXPECT_TRUE(r->fsck.ok()) << r->fsck.summary();
  // The private directories were exercised and match their models exactly.
  EXPECT_GT(r->model_ops, 0u);
  EXPECT_EQ(r->model_mismatches, 0u) << report.str();
  EXPECT_GE(r->ops_run, opts.ops);
  ASSERT_NE(r->find("i_rwsem(dir)"), nullptr) << report.str();
  EXPECT_GT(r->find("i_rwsem(dir)")->acquisitions, 0u);
  EXPECT_NE(report.str().find("i_rwsem(dir) contention"), std::string::npos);
  locking::set_validate_mode(locking::ValidateMode::kOff);
}

INSTANTIATE_TEST_SUITE_P(Profiles, StressProfiles, ::testing::Values("current", "5.x", "3.x"));

TEST(Stress, RejectsBadOptions) {
  core::StressOptions opts;
  opts.threads = 0;
  EXPECT_EQ(core::run_stress(opts).error(), -EINVAL);
  opts.threads = 1;
  opts.profile = "1.0";
  EXPECT_EQ(core::run_stress(opts).error(), -EINVAL);
}

}  // namespace
}  // namespace lockfs::testing

// Rename torture: concurrent cross-directory renames, exchanges, lookups, path walks, readdirs
// and mkdir/rmdir among nested directories. No violation (validator strict), no deadlock
// (watchdog), and a consistent namespace afterwards.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "core/fsck.h"
#include "core/super.h"
#include "core/vfs.h"
#include "tests/support/core_fixture.h"

namespace lockfs::testing {
namespace {

using core::Ino;
using core::kRootIno;

class RenameTortureTest : public CoreTest, public ::testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override {
    CoreTest::SetUp();
    core::MountOptions opts;
    opts.size_bytes = 16 << 20;
    opts.nr_inodes = 4096;
    opts.profile = GetParam();
    remount(opts);
  }
};

std::string name_of(int i) { return "n" + std::to_string(i); }

TEST_P(RenameTortureTest, ConcurrentCrossDirectoryRenamesStayConsistent) {
  Watchdog dog(std::chrono::seconds(30), "rename torture");
  constexpr int kNames = 4;
  std::vector<Ino> dirs{kRootIno};
  // A tree three levels deep, four names per level: 1 + 4 + 16 + 64 directories.
  for (size_t i = 0; i < dirs.size() && dirs.size() < 85; ++i) {
    for (int n = 0; n < kNames && dirs.size() < 85; ++n) dirs.push_back(mkdir(dirs[i], name_of(n)));
  }
  for (size_t i = 0; i < 20; ++i) mkfile(dirs[i * 3 % dirs.size()], "f" + std::to_string(i));
  std::mutex mu;
  std::atomic<uint64_t> renamed{0}, failed_unexpectedly{0};
  const std::set<int> expected = {-ENOENT, -EINVAL, -ENOTEMPTY, -EEXIST, -EISDIR, -ENOTDIR,
                                  -EBUSY};
  auto worker = [&](int seed) {
    locking::Task task(100 + seed, 0, 0, "torture");
    locking::TaskScope scope(task);
    std::mt19937 rng(seed);
    auto pick = [&] {
      std::lock_guard lk(mu);
      return dirs[rng() % dirs.size()];
    };
    for (int i = 0; i < 2000; ++i) {
      const int op = rng() % 10;
      const Ino a = pick();
      const Ino b = pick();
      const std::string na = name_of(rng() % kNames);
      const std::string nb = name_of(rng() % kNames);
      if (op < 4) {
        const unsigned flags = (rng() % 3 == 0) ? RENAME_EXCHANGE
                               : (rng() % 2)    ? RENAME_NOREPLACE
                                                : 0;
        auto r = vfs->rename(a, na, b, nb, flags);
        if (r.ok()) {
          ++renamed;
        } else if (!expected.count(r.error())) {
          ++failed_unexpectedly;
          ADD_FAILURE() << "rename: " << r.error();
        }
      } else if (op < 6) {
        auto r = vfs->lookup(a, na);
        if (r.ok()) vfs->forget(r->ino, 1);
      } else if (op == 6) {
        (void)vfs->path_lookup("/" + na + "/" + nb + "/../" + na);
      } else if (op == 7) {
        auto f = vfs->opendir(a, O_RDONLY);
        if (f.ok()) {
          (void)vfs->readdir(*f, 0, rng() % 2, [&](std::string_view name, const struct stat& st,
                                                     uint64_t) {
            if (name != "." && name != "..") {
              // readdirplus counted it; give the count back as a client would.
              return true;
            }
            return true;
          });
          (void)vfs->releasedir(*f);
        }
      } else if (op == 8) {
        auto r = vfs->mkdir(a, na, 0755);
        if (r.ok()) {
          vfs->forget(r->ino, 1);
          std::lock_guard lk(mu);
          dirs.push_back(r->ino);
        }
      } else {
        (void)vfs->rmdir(a, na);
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(worker, t + 1);
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed_unexpectedly.load(), 0u);
  EXPECT_GT(renamed.load(), 0u);
  const core::FsckReport rep = core::check_namespace(vfs->sb());
  EXPECT_TRUE(rep.ok()) << rep.summary();
  EXPECT_EQ(locking::violation_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Profiles, RenameTortureTest, ::testing::Values("current", "5.x", "3.x"));

}  // namespace
}  // namespace lockfs::testing

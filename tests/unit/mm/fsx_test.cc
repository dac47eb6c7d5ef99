// fsx in-process: random writes, reads, truncates, punch holes, zero ranges, preallocation,
// fsync, and reads/writes through a user mapping (the fault path), checked against a
// std::string model after every operation. Small files keep 100k+ operations to seconds.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/mm/mm.h"
#include "core/pagecache/address_space.h"
#include "locking/rwsem.h"
#include "tests/unit/mm/mm_test_util.h"

namespace lockfs::core {
namespace {

using locking::WriteGuard;

class Fsx {
 public:
  static constexpr uint64_t kMaxSize = 96 * 1024;  // not page aligned on purpose at times
  static constexpr uint64_t kMapLen = 24 * kPageSize;

  // budget_pages below the file's page count makes writes run out of space: ENOSPC and
  // short counts are then checked too (the model takes exactly what was written).
  explicit Fsx(uint32_t seed, uint64_t budget_pages = 2 * kMapLen / kPageSize)
      : rng_(seed),
        mm_(budget_pages * kPageSize),
        budget_(budget_pages),
        i_rwsem_(test::host_class(), 42),
        as_(mm_, budget_, i_rwsem_, 42) {
    auto a = mm_.mmap_file(as_.vm_object(), 0, kMapLen, kVmRead | kVmWrite);
    EXPECT_TRUE(a.ok());
    map_ = *a;
  }
  ~Fsx() { EXPECT_TRUE(mm_.munmap(map_, kMapLen).ok()); }

  // Returns false (and says why) at the first mismatch.
  bool step(uint64_t n) {
    const int op = static_cast<int>(rng_() % 100);
    if (op < 25) return do_write();
    if (op < 45) return do_read();
    if (op < 55) return do_truncate();
    if (op < 63) return do_punch();
    if (op < 68) return do_zero();
    if (op < 71) return do_allocate();
    if (op < 73) return as_.writepages().ok();
    if (op < 86) return do_mapped_read();
    return do_mapped_write();
  }
  uint64_t mismatches() const { return mismatches_; }
  uint64_t enospc() const { return enospc_; }
  uint64_t short_writes() const { return short_; }
  std::string last_error;

 private:
  uint64_t rand_below(uint64_t n) { return n ? rng_() % n : 0; }
  std::string random_bytes(size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng_() % 255 + 1);
    return s;
  }
  bool fail(const std::string& why) {
    ++mismatches_;
    last_error = why;
    return false;
  }
  bool check_range(uint64_t off, const std::string& got, const char* what) {
    for (size_t i = 0; i < got.size(); ++i) {
      if (got[i] != model_[off + i]) {
        return fail(std::string(what) + " mismatch at " + std::to_string(off + i) + " size " +
                    std::to_string(model_.size()));
      }
    }
    return true;
  }
  bool invariants() {
    const uint64_t max_pages = (model_.size() + kPageSize - 1) / kPageSize;
    if (as_.nr_pages() > max_pages) return fail("pages past EOF");
    if (budget_.used() != as_.nr_pages()) return fail("budget != pages");
    return true;
  }
  bool do_write() {
    const uint64_t off = rand_below(kMaxSize);
    const std::string data = random_bytes(1 + rand_below(3 * kPageSize));
    const uint64_t len = std::min<uint64_t>(data.size(), kMaxSize + 1000 - off);
    WriteGuard g(i_rwsem_);
    const uint64_t pages = as_.nr_pages();
    auto r = as_.write(off, std::span<const char>(data.data(), len));
    if (!r) {
      if (r.error() != -ENOSPC) return fail("write failed " + std::to_string(r.error()));
      if (as_.nr_pages() != pages) return fail("ENOSPC write changed the cache");
      ++enospc_;
      return invariants();
    }
    if (*r > len) return fail("write overran");
    if (*r < len) {
      if (budget_.used() != budget_.max_pages()) return fail("short write with space left");
      ++short_;
    }
    if (model_.size() < off + *r) model_.resize(off + *r, '\0');
    model_.replace(off, *r, data, 0, *r);
    return invariants();
  }
  bool do_read() {
    const uint64_t off = rand_below(model_.size() + 100);
    std::string got(rand_below(3 * kPageSize) + 1, '?');
    auto r = as_.read(off, std::span<char>(got.data(), got.size()), model_.size());
    if (!r) return fail("read failed");
    const uint64_t want =
        off >= model_.size() ? 0 : std::min<uint64_t>(got.size(), model_.size() - off);
    if (*r != want) return fail("short read");
    got.resize(*r);
    return check_range(off, got, "read");
  }
  bool do_truncate() {
    const uint64_t n = rand_below(kMaxSize);
    WriteGuard g(i_rwsem_);
    WriteGuard g2(as_.invalidate_lock);
    if (!as_.truncate(n).ok()) return fail("truncate failed");
    model_.resize(n, '\0');
    return invariants();
  }
  bool do_punch() {
    if (model_.empty()) return true;
    const uint64_t off = rand_below(model_.size());
    const uint64_t len = 1 + rand_below(std::min<uint64_t>(model_.size() - off, 4 * kPageSize));
    WriteGuard g(i_rwsem_);
    WriteGuard g2(as_.invalidate_lock);
    if (!as_.punch_hole(off, len).ok()) return fail("punch failed");
    model_.replace(off, len, len, '\0');
    return invariants();
  }
  bool do_zero() {
    if (model_.empty()) return true;
    const uint64_t off = rand_below(model_.size());
    const uint64_t len = 1 + rand_below(std::min<uint64_t>(model_.size() - off, 4 * kPageSize));
    WriteGuard g(i_rwsem_);
    WriteGuard g2(as_.invalidate_lock);
    const uint64_t pages = as_.nr_pages();
    if (auto r = as_.zero_range(off, len); !r) {
      if (r.error() != -ENOSPC || as_.nr_pages() != pages) return fail("zero_range failed");
      ++enospc_;
      return invariants();  // nothing changed
    }
    model_.replace(off, len, len, '\0');
    return invariants();
  }
  bool do_allocate() {
    if (model_.empty()) return true;
    const uint64_t off = rand_below(model_.size());
    const uint64_t len = 1 + rand_below(std::min<uint64_t>(model_.size() - off, 4 * kPageSize));
    WriteGuard g(i_rwsem_);
    const uint64_t pages = as_.nr_pages();
    if (auto r = as_.allocate(off, len); !r) {
      if (r.error() != -ENOSPC || as_.nr_pages() != pages) return fail("allocate failed");
      ++enospc_;
    }
    return invariants();  // contents unchanged either way
  }
  // Mapped accesses stay inside i_size and the mapping (past EOF is SIGBUS: checked apart).
  bool pick_mapped(uint64_t* off, uint64_t* len) {
    const uint64_t limit = std::min<uint64_t>(model_.size(), kMapLen);
    if (limit == 0) return false;
    *off = rand_below(limit);
    *len = 1 + rand_below(std::min<uint64_t>(limit - *off, 2 * kPageSize));
    return true;
  }
  bool do_mapped_read() {
    uint64_t off, len;
    if (!pick_mapped(&off, &len)) return true;
    std::string got(len, '?');
    auto r = mm_.access_read(map_ + off, std::span<char>(got.data(), len));
    // Reading a hole through a mapping gives it a page (shmem_fault): with the budget spent
    // that fails (SIGBUS in the kernel, -ENOSPC here) after whatever was read before it.
    const bool full = budget_.used() == budget_.max_pages();
    if (!r) {
      if (r.error() != -ENOSPC || !full) {
        return fail("mapped read failed " + std::to_string(r.error()));
      }
      ++enospc_;
      return true;
    }
    if (*r < len && !full) return fail("short mapped read");
    got.resize(*r);
    return check_range(off, got, "mapped read");
  }
  bool do_mapped_write() {
    uint64_t off, len;
    if (!pick_mapped(&off, &len)) return true;
    const std::string data = random_bytes(len);
    auto r = mm_.access_write(map_ + off, std::span<const char>(data.data(), len));
    if (!r) {
      // A hole needs a page: with the budget spent that is -ENOSPC (SIGBUS in the kernel).
      if (r.error() != -ENOSPC) return fail("mapped write failed " + std::to_string(r.error()));
      ++enospc_;
      return invariants();
    }
    model_.replace(off, *r, data, 0, *r);
    if (*r < len && budget_.used() != budget_.max_pages()) return fail("short mapped write");
    return invariants();
  }

  std::mt19937_64 rng_;
  Mm mm_;
  PageBudget budget_;
  locking::RwSemaphore i_rwsem_;
  AddressSpace as_;
  uint64_t map_ = 0;
  std::string model_;
  uint64_t mismatches_ = 0;
  uint64_t enospc_ = 0;
  uint64_t short_ = 0;
};

TEST(Fsx, HundredThousandRandomOperations) {
  test::StrictValidator strict;
  test::Watchdog dog(120);
  constexpr uint64_t kOps = 100000;
  Fsx fsx(20261122);
  for (uint64_t i = 0; i < kOps; ++i) {
    if (!fsx.step(i)) {
      ADD_FAILURE() << "op " << i << ": " << fsx.last_error;
      break;
    }
  }
  EXPECT_EQ(fsx.mismatches(), 0u);
  EXPECT_EQ(locking::violation_count(), 0u);
}

// Same mix with room for a third of the file: space runs out all the time.
TEST(Fsx, RandomOperationsWithTheBudgetRunningOut) {
  test::StrictValidator strict;
  test::Watchdog dog(120);
  Fsx fsx(7, 8);
  for (uint64_t i = 0; i < 30000; ++i) {
    if (!fsx.step(i)) {
      ADD_FAILURE() << "op " << i << ": " << fsx.last_error;
      break;
    }
  }
  EXPECT_EQ(fsx.mismatches(), 0u);
  EXPECT_GT(fsx.enospc(), 0u);
  EXPECT_GT(fsx.short_writes(), 0u);
}

}  // namespace
}  // namespace lockfs::core

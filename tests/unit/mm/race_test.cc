// Races on one file: truncate against mapped reads and mapped writes, punch hole against
// read(). No stale data (a reader that starts after a truncate or punch finished never sees
// bytes older than it), no page left past EOF, no validator violation (strict).
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>

#include "core/mm/mm.h"
#include "core/pagecache/address_space.h"
#include "locking/rwsem.h"
#include "tests/unit/mm/file_fixture.h"

namespace lockfs::core {
namespace {

using locking::WriteGuard;

class RaceTest : public test::FileFixture {
 protected:
  static constexpr uint64_t kPages = 16;
  RaceTest() : FileFixture(kPages, 4, 3) {}
  void write_gen(char gen) {
    const std::string data(kPages * kPageSize, gen);
    WriteGuard g(i_rwsem_);
    ASSERT_EQ(*as_->write(0, std::span<const char>(data.data(), data.size())), data.size());
  }
  void truncate(uint64_t n) {
    WriteGuard g(i_rwsem_);
    WriteGuard g2(as_->invalidate_lock);
    ASSERT_TRUE(as_->truncate(n).ok());
    // Nothing may be left past EOF, even with faults racing (they recheck under the lock).
    EXPECT_LE(as_->nr_pages(), (n + kPageSize - 1) / kPageSize);
  }

};

TEST_F(RaceTest, TruncateRacingMappedReads) {
  test::Watchdog dog(60);
  map_all();
  std::atomic<int> truncated_upto{0};  // every byte of generation <= this is gone
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> stale{0}, torn{0}, ok_reads{0};
  std::thread reader([&] {
    std::mt19937 rng(1);
    std::string page(kPageSize, '?');
    while (!stop.load()) {
      const int t = truncated_upto.load();
      const uint64_t at = (rng() % kPages) * kPageSize;
      auto r = mm_.access_read(map_ + at, std::span<char>(page.data(), kPageSize));
      if (!r) continue;  // SIGBUS: past EOF at that moment
      // The fault keeps the folio locked while copying, as write_begin/write_end do: a page
      // is seen whole, from one generation.
      if (page != std::string(kPageSize, page[0])) ++torn;
      const int v = static_cast<unsigned char>(page[0]);
      if (v != 0 && v <= t) ++stale;
      ++ok_reads;
    }
  });
  for (int gen = 1; gen <= 100; ++gen) {
    write_gen(static_cast<char>(gen));
    // Let the reader see this generation at least once, then truncate under its feet.
    const uint64_t seen = ok_reads.load();
    while (ok_reads.load() == seen) std::this_thread::yield();
    truncate(0);
    truncated_upto = gen;
  }
  stop = true;
  reader.join();
  RecordProperty("mapped_reads", static_cast<int>(ok_reads.load()));
  EXPECT_EQ(stale.load(), 0u);
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_EQ(as_->nr_pages(), 0u);
  EXPECT_EQ(budget_.used(), 0u);
}

TEST_F(RaceTest, TruncateRacingMappedWrites) {
  test::Watchdog dog(60);
  map_all();
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> writes{0};
  std::thread writer([&] {
    std::mt19937 rng(2);
    const std::string junk(64, 'J');
    while (!stop.load()) {
      const uint64_t at = rng() % (kPages * kPageSize - junk.size());
      if (mm_.access_write(map_ + at, std::span<const char>(junk.data(), junk.size()))) ++writes;
    }
  });
  for (int gen = 1; gen <= 100; ++gen) {
    write_gen(static_cast<char>(gen));
    const uint64_t seen = writes.load();
    while (writes.load() == seen) std::this_thread::yield();
    truncate(gen % 3 == 0 ? 0 : (gen % kPages) * kPageSize + 100);
  }
  stop = true;
  writer.join();
  RecordProperty("mapped_writes", static_cast<int>(writes.load()));
  truncate(0);
  EXPECT_EQ(as_->nr_pages(), 0u);
  EXPECT_EQ(budget_.used(), 0u);
  // Growing the file again shows zeros: no mapped write survived past the truncate.
  {
    WriteGuard g(i_rwsem_);
    WriteGuard g2(as_->invalidate_lock);
    ASSERT_TRUE(as_->truncate(kPages * kPageSize).ok());
  }
  std::string all(kPages * kPageSize, '?');
  ASSERT_EQ(*as_->read(0, std::span<char>(all.data(), all.size()), all.size()), all.size());
  EXPECT_EQ(all, std::string(all.size(), '\0'));
}

TEST_F(RaceTest, PunchHoleRacingReads) {
  test::Watchdog dog(60);
  std::atomic<int> punched_upto{0};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> stale{0}, reads{0};
  std::thread reader([&] {
    std::mt19937 rng(3);
    std::string buf(3 * kPageSize, '?');
    while (!stop.load()) {
      const int t = punched_upto.load();
      const uint64_t at = rng() % (kPages * kPageSize);
      auto r = as_->read(at, std::span<char>(buf.data(), buf.size()), kPages * kPageSize);
      if (!r) continue;
      // read() does not lock folios, so a page may mix the generation being written with
      // zeros; but nothing of a generation already punched may show up.
      for (size_t i = 0; i < *r; ++i) {
        const int v = static_cast<unsigned char>(buf[i]);
        if (v != 0 && v <= t) {
          ++stale;
          break;
        }
      }
      ++reads;
    }
  });
  for (int gen = 1; gen <= 100; ++gen) {
    write_gen(static_cast<char>(gen));
    const uint64_t seen = reads.load();
    while (reads.load() == seen) std::this_thread::yield();
    {
      WriteGuard g(i_rwsem_);
      WriteGuard g2(as_->invalidate_lock);
      ASSERT_TRUE(as_->punch_hole(0, kPages * kPageSize).ok());
      EXPECT_EQ(as_->nr_pages(), 0u);
    }
    punched_upto = gen;
  }
  stop = true;
  reader.join();
  RecordProperty("reads", static_cast<int>(reads.load()));
  EXPECT_EQ(stale.load(), 0u);
  EXPECT_EQ(budget_.used(), 0u);
  EXPECT_EQ(mm_.storage_pages_mapped(), 0u);  // punched pages' windows are gone too
}

}  // namespace
}  // namespace lockfs::core

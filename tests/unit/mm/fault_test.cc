// The fault path of user mappings of a file: per-VMA read lock with the mmap_lock fallback,
// ->fault / ->page_mkwrite with the folio locked, SIGBUS past EOF, holes allocated, mapped
// writes visible to read(), and concurrent faults against VMA writers.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/mm/mm.h"
#include "core/pagecache/address_space.h"
#include "locking/rwsem.h"
#include "locking/sync_point.h"
#include "locking/task.h"
#include "tests/unit/mm/file_fixture.h"

namespace lockfs::core {
namespace {

using locking::WriteGuard;

class FaultTest : public test::FileFixture {
 protected:
  static constexpr uint64_t kPages = 32;
  FaultTest() : FileFixture(kPages, 4, 9) {}
  void fill(uint64_t pages) {
    std::string data(pages * kPageSize, '\0');
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i / kPageSize + 1);
    WriteGuard g(i_rwsem_);
    ASSERT_EQ(*as_->write(0, std::span<const char>(data.data(), data.size())), data.size());
  }
  Result<size_t> mread(uint64_t off, std::string* out, size_t len) {
    out->assign(len, '?');
    return mm_.access_read(map_ + off, std::span<char>(out->data(), len));
  }
  Result<size_t> mwrite(uint64_t off, const std::string& s) {
    return mm_.access_write(map_ + off, std::span<const char>(s.data(), s.size()));
  }

};

TEST_F(FaultTest, MappedReadSeesFileAndUsesVmaLock) {
  fill(4);
  map_all();
  std::string out;
  ASSERT_EQ(*mread(kPageSize - 2, &out, 4), 4u);
  EXPECT_EQ(out, std::string("\1\1\2\2"));
  EXPECT_EQ(mm_.faults_vma_locked(), 2u);
  EXPECT_EQ(mm_.faults_mmap_locked(), 0u);
  EXPECT_EQ(as_->aops_stats().fault, 2u);
}

TEST_F(FaultTest, MappedWriteGoesThroughPageMkwriteAndIsVisibleToRead) {
  fill(2);
  map_all();
  ASSERT_EQ(*mwrite(10, "hello"), 5u);
  EXPECT_EQ(as_->aops_stats().page_mkwrite, 1u);
  std::string out(5, '?');
  ASSERT_EQ(*as_->read(10, std::span<char>(out.data(), 5), 2 * kPageSize), 5u);
  EXPECT_EQ(out, "hello");
}

TEST_F(FaultTest, PastEofIsSigbusAndHolesGetPages) {
  fill(1);
  {
    WriteGuard g(i_rwsem_);
    as_->i_size_write(3 * kPageSize);  // as setattr growing the file would
  }
  map_all();
  std::string out;
  EXPECT_EQ(mread(3 * kPageSize, &out, 1).error(), -EFAULT);
  // Short count: the first page is inside, the next is past EOF.
  auto r = mread(3 * kPageSize - 1, &out, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 1u);
  EXPECT_EQ(out[0], '\0');
  EXPECT_EQ(as_->nr_pages(), 2u);  // the hole at page 2 was given a page by the fault
  ASSERT_EQ(*mwrite(kPageSize, "x"), 1u);
  EXPECT_EQ(as_->nr_pages(), 3u);
}

TEST_F(FaultTest, ReadOnlyMappingRefusesWrites) {
  fill(1);
  map_all(kVmRead);
  EXPECT_EQ(mwrite(0, "x").error(), -EFAULT);
  ASSERT_TRUE(mm_.mprotect(map_, kPageSize, kVmRead | kVmWrite).ok());
  EXPECT_EQ(*mwrite(0, "x"), 1u);
}

TEST_F(FaultTest, FallsBackToMmapLockWhenTheVmaIsWriteLocked) {
  test::Watchdog dog(30);
  fill(1);
  map_all();
  mm_.mmap_write_lock();
  mm_.vma_start_write(mm_.vma_lookup(map_));
  std::atomic<bool> done{false};
  std::thread reader([&] {
    std::string out;
    EXPECT_EQ(*mread(0, &out, 1), 1u);
    done = true;
  });
  // The reader's per-VMA trylock fails, so it must be asleep on mmap_lock.
  while (mm_.mmap_lock.nr_waiters() == 0) std::this_thread::yield();
  EXPECT_FALSE(done.load());
  mm_.mmap_write_unlock();
  reader.join();
  EXPECT_EQ(mm_.faults_mmap_locked(), 1u);
}

TEST_F(FaultTest, KilledFaultReturnsEintr) {
  fill(1);
  map_all();
  locking::Task task(5, 0, 0, "fault");
  locking::TaskScope scope(task);
  task.send_fatal_signal();
  std::string out;
  EXPECT_EQ(mread(0, &out, 1).error(), -EINTR);  // invalidate_lock shared, killable
  EXPECT_EQ(mm_.mmap_file(as_->vm_object(), 0, kPageSize, kVmRead).error(), -EINTR);
}

// write_begin's folio_lock_killable: a writer waiting for a folio a fault holds is killed:
// -EINTR with no progress, a short count with some, and nothing allocated for the rest.
TEST_F(FaultTest, WriterKilledWhileWaitingForAFolioLock) {
  test::Watchdog dog(30);
  fill(2);
  map_all();
  std::atomic<bool> held{false}, release{false};
  locking::sync_point_set("filemap_fault:folio_locked", [&] {
    held = true;
    while (!release.load()) std::this_thread::yield();
  });
  std::thread reader([&] {
    std::string out;
    EXPECT_EQ(*mread(kPageSize, &out, 1), 1u);  // holds page 1's folio lock meanwhile
  });
  while (!held.load()) std::this_thread::yield();
  locking::sync_point_clear_all();  // the callback already running keeps running
  // Cases 0 and 1 run into absent pages after the held one; cases 2 and 3 stay within the
  // two present pages (the overwrite path, which skips the scan).
  for (int c = 0; c < 4; ++c) {
    const int progress = c % 2;
    locking::Task task(11, 0, 0, "write");
    const uint64_t base = as_->aops_stats().write_begin;
    std::atomic<int> rc{1};
    std::atomic<size_t> n{0};
    std::thread writer([&] {
      locking::TaskScope scope(task);
      // progress 0: starts at the held page; 1: page 0 first, then waits on page 1.
      const uint64_t pos = progress ? kPageSize - 10 : kPageSize;
      const std::string data(c < 2 ? 100 + 3 * kPageSize : 100, 'k');
      WriteGuard g(i_rwsem_);
      auto r = as_->write(pos, std::span<const char>(data.data(), data.size()));
      rc = r.error();
      n = r ? *r : 0;
    });
    // Wait until the writer has entered write_begin for the held page (page 0 done first
    // when progress is 1). Whether it already sleeps does not matter: folio_lock_killable
    // checks the signal before it waits, and wakes on it while waiting.
    while (as_->aops_stats().write_begin < base + 1 + progress) std::this_thread::yield();
    task.send_fatal_signal();
    writer.join();
    if (progress == 0) {
      EXPECT_EQ(rc.load(), -EINTR);
    } else {
      EXPECT_EQ(rc.load(), 0);
      EXPECT_EQ(n.load(), 10u);  // page 0's tail, then killed at page 1
    }
    EXPECT_EQ(as_->nr_pages(), 2u);  // nothing allocated past the held page
    EXPECT_EQ(budget_.used(), 2u);
  }
  release = true;
  reader.join();
}

// Faults (readers) against a writer splitting and merging the mapping: every read sees the
// file's bytes, whichever lock the fault got.
TEST_F(FaultTest, ConcurrentFaultsAgainstVmaWriters) {
  test::Watchdog dog(60);
  fill(kPages);
  map_all();
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::string out;
      while (!stop.load()) {
        const uint64_t page = rng() % kPages;
        auto r = mread(page * kPageSize, &out, kPageSize);
        if (!r || *r != kPageSize || out != std::string(kPageSize, static_cast<char>(page + 1))) {
          ++bad;
        }
        ++reads;
      }
    });
  }
  for (int i = 0; i < 300; ++i) {
    const uint64_t at = (i * 7 % (kPages - 2)) * kPageSize;
    ASSERT_TRUE(mm_.mprotect(map_ + at, 2 * kPageSize, kVmRead).ok());
    ASSERT_TRUE(mm_.mprotect(map_ + at, 2 * kPageSize, kVmRead | kVmWrite).ok());
    if (i % 50 == 0) {
      mm_.mmap_write_lock();
      EXPECT_TRUE(mm_.mm_take_all_locks().ok());
      mm_.mmap_write_unlock();
    }
  }
  while (reads.load() < 1000) std::this_thread::yield();
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0u);
  // The file's vm_operations have ->close, so split pieces do not merge back (the kernel's
  // can_merge_remove_vma); the pieces still tile the mapping with the right offsets and flags.
  mm_.mmap_read_lock();
  uint64_t at = map_;
  for (const VmaSnapshot& v : mm_.snapshot()) {
    EXPECT_EQ(v.start, at);
    EXPECT_EQ(v.pgoff, (v.start - map_) / kPageSize);
    EXPECT_EQ(v.flags & (kVmRead | kVmWrite), kVmRead | kVmWrite);
    at = v.end;
  }
  EXPECT_EQ(at, map_ + kPages * kPageSize);
  mm_.mmap_read_unlock();
}

}  // namespace
}  // namespace lockfs::core

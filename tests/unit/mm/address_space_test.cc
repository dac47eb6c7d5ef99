// AddressSpace: read/write/truncate/punch/zero/allocate/seek/nr_pages/ENOSPC, with the
// validator strict, against the contract's folio states (aops counters).
#include "core/pagecache/address_space.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "core/mm/mm.h"
#include "core/mm/on_exit.h"
#include "locking/rwsem.h"
#include "locking/task.h"
#include "locking/tracer.h"
#include "locking/validator.h"
#include "tests/unit/mm/file_fixture.h"

namespace lockfs::core {
namespace {

using locking::WriteGuard;

class AddressSpaceTest : public test::FileFixture {
 protected:
  static constexpr uint64_t kPages = 64;
  AddressSpaceTest() : FileFixture(kPages, 1, 7) {}

  Result<size_t> write(uint64_t pos, const std::string& s) {
    WriteGuard g(i_rwsem_);
    auto r = as_->write(pos, std::span<const char>(s.data(), s.size()));
    if (r) size_ = std::max(size_, pos + *r);
    return r;
  }
  std::string read(uint64_t pos, size_t len) {
    std::string out(len, '?');
    auto r = as_->read(pos, std::span<char>(out.data(), out.size()), size_);
    EXPECT_TRUE(r.ok()) << r.error();
    out.resize(r ? *r : 0);
    return out;
  }
  void truncate(uint64_t n) {
    WriteGuard g(i_rwsem_);
    WriteGuard g2(as_->invalidate_lock);
    ASSERT_TRUE(as_->truncate(n).ok());
    size_ = n;
  }
  Result<void> punch(uint64_t off, uint64_t len) {
    WriteGuard g(i_rwsem_);
    WriteGuard g2(as_->invalidate_lock);
    return as_->punch_hole(off, len);
  }
  Result<void> zero(uint64_t off, uint64_t len) {
    WriteGuard g(i_rwsem_);
    WriteGuard g2(as_->invalidate_lock);
    return as_->zero_range(off, len);
  }

  uint64_t size_ = 0;
};

TEST_F(AddressSpaceTest, WriteReadRoundTripAcrossPages) {
  std::string data(3 * kPageSize + 100, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
  auto w = write(1000, data);
  ASSERT_TRUE(w.ok()) << w.error();
  ASSERT_EQ(*w, data.size());
  EXPECT_EQ(read(1000, data.size()), data);
  EXPECT_EQ(read(0, 1000), std::string(1000, '\0'));
  EXPECT_EQ(as_->nr_pages(), 4u);
  EXPECT_EQ(budget_.used(), 4u);
  auto st = as_->aops_stats();
  EXPECT_EQ(st.write_begin, 4u);
  EXPECT_EQ(st.write_end, 4u);
}

// New pages are filled a run at a time (one pwritev per run, partial ends composed with
// zeros around the store's bytes): every byte lands at its own offset, over several runs.
TEST_F(AddressSpaceTest, NewPagesGetTheirOwnBytesAcrossRuns) {
  std::string data(40 * kPageSize + 123, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + i / kPageSize);
  const uint64_t pos = 3 * kPageSize - 7;
  auto w = write(pos, data);
  ASSERT_TRUE(w.ok()) << w.error();
  ASSERT_EQ(*w, data.size());
  EXPECT_EQ(read(pos, data.size()), data);
  EXPECT_EQ(read(0, pos), std::string(pos, '\0'));
  EXPECT_EQ(as_->nr_pages(), 42u);  // pages 2..43
  const auto st = as_->aops_stats();
  EXPECT_EQ(st.write_begin, 42u);
  EXPECT_EQ(st.write_end, 42u);
}

// Partial new pages at both ends of one store and a store inside one page: the bytes
// around the store read as zeros, as a page never written does -- past the store's end too,
// once i_size moves over them (size_ stands for a truncate up).
TEST_F(AddressSpaceTest, PartialNewPagesAreZeroAroundTheStore) {
  ASSERT_TRUE(write(0, "first").ok());  // the memfd, to put stale bytes where pages will go
  const std::string stale(10 * kPageSize, 'Z');  // pages 1..10
  ASSERT_EQ(::pwrite(as_->vm_object().fd, stale.data(), stale.size(), kPageSize),
            ssize_t(stale.size()));
  ASSERT_TRUE(write(kPageSize + 100, std::string(2 * kPageSize, 'p')).ok());
  ASSERT_TRUE(write(10 * kPageSize + 50, "inside").ok());
  size_ = 11 * kPageSize;
  EXPECT_TRUE(read(kPageSize, 100) == std::string(100, '\0'));
  EXPECT_TRUE(read(kPageSize + 100, 2 * kPageSize) == std::string(2 * kPageSize, 'p'));
  EXPECT_TRUE(read(3 * kPageSize + 100, kPageSize - 100) == std::string(kPageSize - 100, '\0'));
  EXPECT_TRUE(read(10 * kPageSize, kPageSize) ==
              std::string(50, '\0') + "inside" + std::string(kPageSize - 56, '\0'));
}

// When the memfd write of a run fails, the pages are zeroed and copied through their
// windows instead. RLIMIT_FSIZE makes pwritev fail (EFBIG) once the memfd exists; stores
// through a mapping are not held to it.
TEST_F(AddressSpaceTest, NewPagesAreCopiedThroughTheWindowsWhenTheMemfdWriteFails) {
  ASSERT_TRUE(write(0, "first").ok());  // creates the memfd (ftruncate needs the limit off)
  // Stale bytes where the new pages go: the zeroing must cover them, not the memfd's holes.
  const int fd = as_->vm_object().fd;
  const std::string stale(4 * kPageSize, 'Z');
  ASSERT_EQ(::pwrite(fd, stale.data(), stale.size(), 4 * kPageSize), ssize_t(stale.size()));
  rlimit old_limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct sigaction ignore {}, old_action {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &old_action), 0);
  std::string data(3 * kPageSize, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('A' + i % 23);
  Result<size_t> w = err(-EIO);
  bool refused = false;
  {
    // Put back on every way out (an exception from the write included): the limit would fail
    // every later memfd in this process, and output to a file past 4 KiB.
    OnExit restore([&] {
      EXPECT_EQ(::setrlimit(RLIMIT_FSIZE, &old_limit), 0);
      EXPECT_EQ(::sigaction(SIGXFSZ, &old_action, nullptr), 0);
    });
    rlimit tight = old_limit;
    tight.rlim_cur = kPageSize;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &tight), 0);
    w = write(4 * kPageSize + 300, data);
    refused = ::pwrite(fd, "x", 1, 8 * kPageSize) < 0;
  }
  ASSERT_TRUE(refused) << "RLIMIT_FSIZE did not stop a memfd write: the test proves nothing";
  ASSERT_TRUE(w.ok()) << w.error();
  ASSERT_EQ(*w, data.size());
  size_ = 8 * kPageSize;  // a truncate up: the last page's tail must read as zeros
  EXPECT_TRUE(read(4 * kPageSize, 300) == std::string(300, '\0'));
  EXPECT_TRUE(read(4 * kPageSize + 300, data.size()) == data);
  EXPECT_TRUE(read(7 * kPageSize + 300, kPageSize - 300) == std::string(kPageSize - 300, '\0'));
}

// As filemap_get_read_batch, reads and writes look pages up (and add new ones) many per
// i_pages section, not one section per page: with tracing on, each section shows up twice.
TEST_F(AddressSpaceTest, ReadsAndWritesTakeIPagesOncePerBatch) {
  auto i_pages_sections = [](const std::function<void()>& fn) {
    locking::trace_reset();
    fn();
    for (const locking::LockStat& st : locking::lock_stats()) {
      if (std::string(st.name) == "i_pages") return st.acquisitions;
    }
    return uint64_t{0};
  };
  locking::tracer_enable(1 << 12);
  const std::string all(kPages * kPageSize, 'b');
  // New pages: one scan for the absent ones, then one section per 32 added.
  EXPECT_EQ(i_pages_sections([&] { ASSERT_TRUE(write(0, all).ok()); }), 3u);
  // Present pages: the scan, then one lookup per 32.
  EXPECT_EQ(i_pages_sections([&] { ASSERT_TRUE(write(0, all).ok()); }), 3u);
  // A small overwrite (up to 32 pages, all present): the lookup alone.
  const std::string some(8 * kPageSize + 100, 'c');
  EXPECT_EQ(i_pages_sections([&] { ASSERT_TRUE(write(kPageSize - 50, some).ok()); }), 1u);
  EXPECT_EQ(read(kPageSize - 51, some.size() + 2), "b" + some + "b");
  ASSERT_TRUE(write(0, all).ok());
  EXPECT_EQ(i_pages_sections([&] { EXPECT_EQ(read(0, all.size()), all); }), 2u);
  truncate(0);
  EXPECT_EQ(i_pages_sections([&] {
              WriteGuard g(i_rwsem_);
              ASSERT_TRUE(as_->allocate(0, all.size()).ok());
            }),
            3u);
  locking::tracer_disable();
  size_ = all.size();
  EXPECT_EQ(read(0, all.size()), std::string(all.size(), '\0'));
  EXPECT_EQ(as_->nr_pages(), kPages);
}

TEST_F(AddressSpaceTest, SparseFileStaysSparse) {
  ASSERT_TRUE(write(10 * kPageSize, "hello").ok());
  EXPECT_EQ(as_->nr_pages(), 1u);
  EXPECT_EQ(read(0, 5), std::string(5, '\0'));
  EXPECT_EQ(*as_->seek_data(0, size_), 10 * kPageSize);
  EXPECT_EQ(*as_->seek_hole(0, size_), 0u);
  EXPECT_EQ(*as_->seek_hole(10 * kPageSize, size_), size_);
  EXPECT_EQ(as_->seek_data(size_, size_).error(), -ENXIO);
  EXPECT_EQ(as_->seek_hole(size_ + 1, size_).error(), -ENXIO);
}

TEST_F(AddressSpaceTest, TruncateDropsPagesAndZeroesTail) {
  ASSERT_TRUE(write(0, std::string(3 * kPageSize, 'q')).ok());
  truncate(kPageSize + 10);
  EXPECT_EQ(as_->nr_pages(), 2u);
  EXPECT_EQ(budget_.used(), 2u);
  // Growing again shows zeros past the old end, not the old bytes.
  truncate(3 * kPageSize);
  EXPECT_EQ(read(kPageSize + 10, 10), std::string(10, '\0'));
  EXPECT_EQ(read(kPageSize, 10), std::string(10, 'q'));
  EXPECT_EQ(read(2 * kPageSize, 10), std::string(10, '\0'));
  EXPECT_GE(as_->aops_stats().invalidate_folio, 1u);
  EXPECT_GE(as_->aops_stats().launder_folio, 1u);  // the dropped page was dirty
}

TEST_F(AddressSpaceTest, PunchHoleFreesWholePagesZeroesEdges) {
  ASSERT_TRUE(write(0, std::string(4 * kPageSize, 'p')).ok());
  ASSERT_TRUE(punch(100, 2 * kPageSize).ok());
  EXPECT_EQ(as_->nr_pages(), 3u);  // page 1 gone, pages 0 and 2 zeroed in part
  EXPECT_EQ(read(0, 100), std::string(100, 'p'));
  EXPECT_EQ(read(100, 2 * kPageSize), std::string(2 * kPageSize, '\0'));
  EXPECT_EQ(read(2 * kPageSize + 100, 10), std::string(10, 'p'));
  EXPECT_EQ(*as_->seek_hole(0, size_), kPageSize);
  EXPECT_EQ(*as_->seek_data(kPageSize, size_), 2 * kPageSize);
}

TEST_F(AddressSpaceTest, ZeroRangeAllocates) {
  size_ = 4 * kPageSize;
  ASSERT_TRUE(zero(kPageSize, 2 * kPageSize).ok());
  EXPECT_EQ(as_->nr_pages(), 2u);
  EXPECT_EQ(*as_->seek_data(0, size_), kPageSize);
  EXPECT_EQ(read(kPageSize, 2 * kPageSize), std::string(2 * kPageSize, '\0'));
}

TEST_F(AddressSpaceTest, NoSpaceIsNoSideEffect) {
  ASSERT_TRUE(write(0, std::string(kPages * kPageSize, 'f')).ok());
  EXPECT_EQ(budget_.used(), kPages);
  EXPECT_EQ(write(kPages * kPageSize, "x").error(), -ENOSPC);
  EXPECT_EQ(zero(kPages * kPageSize, kPageSize).error(), -ENOSPC);
  EXPECT_EQ(as_->nr_pages(), kPages);
  // Overwriting present pages needs no new page.
  EXPECT_EQ(*write(0, "abc"), 3u);
  truncate(0);
  EXPECT_EQ(budget_.used(), 0u);
  EXPECT_EQ(mm_.storage_pages_mapped(), 0u);
}

TEST_F(AddressSpaceTest, ShortWriteWhenBudgetRunsOut) {
  ASSERT_TRUE(write(0, std::string((kPages - 1) * kPageSize, 'f')).ok());
  auto r = write((kPages - 1) * kPageSize, std::string(3 * kPageSize, 'g'));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, kPageSize);
  EXPECT_EQ(budget_.used(), kPages);
}

TEST_F(AddressSpaceTest, KilledWriterGetsEintrAndNothingChanges) {
  ASSERT_TRUE(write(0, std::string(kPageSize, 'a')).ok());
  locking::Task task(123, 0, 0, "write");
  locking::TaskScope scope(task);
  task.send_fatal_signal();
  // A new page needs a window (init_mm's mmap_lock, killable): -EINTR before any change.
  EXPECT_EQ(write(5 * kPageSize, "zz").error(), -EINTR);
  EXPECT_EQ(as_->nr_pages(), 1u);
  EXPECT_EQ(budget_.used(), 1u);
  // read: invalidate_lock shared, killable.
  std::string out(4, '?');
  EXPECT_EQ(as_->read(0, std::span<char>(out.data(), 4), size_).error(), -EINTR);
}

TEST_F(AddressSpaceTest, FsyncWritesBackDirtyFolios) {
  ASSERT_TRUE(write(0, std::string(2 * kPageSize, 'w')).ok());
  ASSERT_TRUE(as_->writepages().ok());
  EXPECT_EQ(as_->aops_stats().writepages, 1u);
  truncate(0);
  EXPECT_EQ(as_->aops_stats().launder_folio, 0u);  // clean after writeback: no launder
}

// An empty file has no inside yet: every query answers from the shell, and nothing that
// only reads or invalidates creates it.
TEST_F(AddressSpaceTest, EmptyMappingAnswersWithoutItsInside) {
  size_ = 3 * kPageSize;
  as_->i_size_write(size_);
  EXPECT_EQ(read(0, 10), std::string(10, '\0'));
  EXPECT_EQ(as_->seek_data(0, size_).error(), -ENXIO);
  EXPECT_EQ(*as_->seek_hole(5, size_), 5u);
  EXPECT_TRUE(as_->writepages().ok());
  truncate(kPageSize + 1);
  EXPECT_TRUE(punch(0, kPageSize).ok());
  EXPECT_EQ(as_->nr_pages(), 0u);
  EXPECT_EQ(as_->aops_stats().writepages, 0u);
  EXPECT_EQ(mm_.storage_pages_mapped(), 0u);
  ASSERT_TRUE(write(kPageSize, "x").ok());
  EXPECT_EQ(*as_->seek_data(0, size_), kPageSize);
  EXPECT_EQ(as_->nr_pages(), 1u);
}

// Several threads creating the inside at once end up with one (one VmObject address).
TEST_F(AddressSpaceTest, FirstUseFromManyThreadsBuildsOneInside) {
  std::vector<VmObject*> seen(4);
  std::vector<std::thread> ts;
  for (size_t i = 0; i < seen.size(); ++i) {
    ts.emplace_back([&, i] { seen[i] = &as_->vm_object(); });
  }
  ASSERT_TRUE(write(0, "abc").ok());
  for (auto& t : ts) t.join();
  for (VmObject* o : seen) EXPECT_EQ(o, seen[0]);
  EXPECT_EQ(&as_->vm_object(), seen[0]);
  EXPECT_GE(seen[0]->fd, 0);
  EXPECT_EQ(read(0, 3), "abc");
}

// A write over present and absent pages that runs out of budget part-way stops at the
// first absent page it could not charge, after writing the present ones before it.
TEST_F(AddressSpaceTest, ShortWriteOverMixedPagesStopsAtFirstUnchargedHole) {
  ASSERT_TRUE(write(0, std::string(kPageSize, 'a')).ok());
  ASSERT_TRUE(write(2 * kPageSize, std::string(kPageSize, 'b')).ok());
  ASSERT_TRUE(budget_.charge(kPages - 3).ok());  // one page left
  auto w = write(0, std::string(5 * kPageSize, 'c'));
  ASSERT_TRUE(w.ok()) << w.error();
  // Pages 0 and 2 present, page 1 takes the last page of budget, page 3 cannot be had.
  EXPECT_EQ(*w, 3 * kPageSize);
  EXPECT_EQ(read(0, 3 * kPageSize), std::string(3 * kPageSize, 'c'));
  EXPECT_EQ(as_->nr_pages(), 3u);
  budget_.uncharge(kPages - 3);
}

// Writes map windows for whole clusters; a cluster keeps them while any of its pages has a
// folio and loses them all with its last one.
TEST_F(AddressSpaceTest, WindowsComeAndGoByCluster) {
  ASSERT_TRUE(write(5 * kPageSize, "five").ok());
  EXPECT_EQ(mm_.storage_pages_mapped(), kStorageCluster);  // only page 5 has memory
  ASSERT_TRUE(write(3 * kPageSize, "three").ok());  // in the mapped cluster: no new window
  EXPECT_EQ(mm_.storage_windows(), 1u);
  EXPECT_EQ(budget_.used(), 2u);
  ASSERT_TRUE(punch(5 * kPageSize, kPageSize).ok());
  EXPECT_EQ(mm_.storage_pages_mapped(), 5u);  // page 3 still cached: pages 0..4 stay
  EXPECT_EQ(read(3 * kPageSize, 5), "three");
  ASSERT_TRUE(punch(3 * kPageSize, kPageSize).ok());
  EXPECT_EQ(mm_.storage_pages_mapped(), 0u);
  EXPECT_EQ(budget_.used(), 0u);
}

}  // namespace
}  // namespace lockfs::core

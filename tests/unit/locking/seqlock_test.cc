// SeqLock and SeqCount: readers never observe a torn write; writers exclude each other, and a
// SeqCount writer must hold the lock that serialises its writers.
#include "locking/seqlock.h"

#include <chrono>
#include <thread>
#include <vector>

#include "tests/unit/locking/locking_fixture.h"

namespace lockfs::locking {
namespace {

using testing::class_seq;
using testing::class_spin;

class SeqLockTest : public testing::LockingTest {};

TEST_F(SeqLockTest, ReadersNeverSeeTornWrites) {
  SeqLock lock(class_seq());
  constexpr int kWords = 4;
  std::atomic<uint64_t> data[kWords] = {};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> torn{0}, reads{0};
  std::vector<std::thread> writers, readers;
  std::atomic<int> ready{0};
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      while (ready.load() < 2) std::this_thread::yield();  // overlap with the readers
      for (uint64_t i = 1; i <= 3000; ++i) {
        lock.write_seqlock();
        const uint64_t v = i * 2 + static_cast<uint64_t>(w);
        // Word by word, so a reader racing us would see a mix without the sequence check.
        for (auto& d : data) d.store(v, std::memory_order_relaxed);
        lock.write_sequnlock();
      }
    });
  }
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      bool first = true;
      while (!stop.load()) {
        uint64_t snap[kWords];
        unsigned seq;
        do {
          seq = lock.read_seqbegin();
          for (int k = 0; k < kWords; ++k) snap[k] = data[k].load(std::memory_order_relaxed);
        } while (lock.read_seqretry(seq));
        for (int k = 1; k < kWords; ++k) torn += snap[k] != snap[0];
        reads++;
        if (first) {
          first = false;
          ready++;
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_GT(reads.load(), 0u);
  EXPECT_EQ(data[0].load(), data[3].load());
}

TEST_F(SeqLockTest, RetryDetectsAWriter) {
  SeqLock lock(class_seq());
  const unsigned seq = lock.read_seqbegin();
  EXPECT_FALSE(lock.read_seqretry(seq));
  lock.assert_not_held();
  lock.write_seqlock();
  EXPECT_EQ(held_locks().size(), 1u);
  lock.assert_held();
  lock.write_sequnlock();
  EXPECT_EQ(violation_count(), 0u);
  lock.assert_not_held();
  lock.assert_held();  // not held: reported
  EXPECT_EQ(testing::count_kind(ViolationKind::kAssertFailed), 1u);
  EXPECT_TRUE(lock.read_seqretry(seq));
  EXPECT_EQ(lock.read_seqbegin() % 2, 0u);
}

// The same race with the count alone, its writers serialised by a lock they hold.
TEST_F(SeqLockTest, CountReadersNeverSeeTornWrites) {
  SpinLock writers(class_spin());
  SeqCount count;
  constexpr int kWords = 4;
  std::atomic<uint64_t> data[kWords] = {};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> torn{0}, reads{0}, changed{0};
  std::atomic<bool> reader_ready{false};
  std::thread reader([&] {
    uint64_t last = 0;
    while (!stop.load()) {
      uint64_t snap[kWords];
      unsigned seq;
      do {
        seq = count.read_begin();
        for (int k = 0; k < kWords; ++k) snap[k] = data[k].load(std::memory_order_relaxed);
      } while (count.read_retry(seq));
      for (int k = 1; k < kWords; ++k) torn += snap[k] != snap[0];
      changed += snap[0] != last;
      last = snap[0];
      reads++;
      reader_ready = true;
    }
  });
  while (!reader_ready.load()) std::this_thread::yield();
  // At least 20000 writes, and on (for at most 10 s) until the reader has seen 100 of them:
  // on a loaded machine it may sleep through the first 20000.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (uint64_t i = 1;
       i <= 20000 || (changed.load() < 100 && std::chrono::steady_clock::now() < deadline); ++i) {
    SpinGuard g(writers);
    count.write_begin(writers);
    for (auto& d : data) d.store(i, std::memory_order_relaxed);
    count.write_end(writers);
  }
  stop = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_GE(changed.load(), 100u);  // the reader really ran alongside the writer
  EXPECT_EQ(violation_count(), 0u);
}

// A write section whose writer forgot the lock: what the static check refuses to compile.
void write_without_lock(SeqCount& count, const SpinLock& writers) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  count.write_begin(writers);
  count.write_end(writers);
}

TEST_F(SeqLockTest, CountWriterWithoutItsLockIsReported) {
  SpinLock writers(class_spin());
  SeqCount count;
  const unsigned seq = count.read_begin();
  write_without_lock(count, writers);  // reported, as lockdep_assert_held would
  EXPECT_EQ(testing::count_kind(ViolationKind::kAssertFailed), 1u);
  EXPECT_TRUE(count.read_retry(seq));
  EXPECT_EQ(count.read_begin() % 2, 0u);
}

}  // namespace
}  // namespace lockfs::locking

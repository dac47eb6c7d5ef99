// The lock wait table: 1024 WaitQueues, each on its own cache lines so that waits on
// unrelated locks do not bounce one line between threads.
#include "locking/internal/wait_table.h"

#include <cstddef>
#include <cstdint>
#include <new>

namespace lockfs::locking::internal {

namespace {

struct alignas(64) Bucket {
  WaitQueue wq;
};

}  // namespace

WaitQueue& lock_waitqueue(const void* lock) {
  // Built in static storage on the first slow-path wait and never destroyed: threads still
  // running during static destruction may still sleep on or wake a lock. Not on the heap:
  // a waiter has already announced itself to the lock when it gets here, so this must not
  // fail.
  constexpr size_t kBuckets = size_t{1} << kLockWaitTableBits;
  alignas(Bucket) static unsigned char storage[kBuckets * sizeof(Bucket)];
  static Bucket* const table = [] {
    auto* t = reinterpret_cast<Bucket*>(storage);
    for (size_t i = 0; i < kBuckets; ++i) new (&t[i]) Bucket();
    return t;
  }();
  const uint64_t h = reinterpret_cast<uintptr_t>(lock) * 0x9E3779B97F4A7C15ull;
  return table[h >> (64 - kLockWaitTableBits)].wq;
}

}  // namespace lockfs::locking::internal

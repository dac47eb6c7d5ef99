// The lock wait table: 1024 WaitQueues, each on its own cache lines so that waits on
// unrelated locks do not bounce one line between threads.
#include "locking/internal/wait_table.h"

#include <cstdint>

namespace lockfs::locking::internal {

namespace {

struct alignas(64) Bucket {
  WaitQueue wq;
};

}  // namespace

WaitQueue& lock_waitqueue(const void* lock) {
  // Allocated on the first slow-path wait and never freed: threads still running during
  // static destruction may still sleep on or wake a lock.
  static Bucket* const table = new Bucket[1u << kLockWaitTableBits];
  const uint64_t h = reinterpret_cast<uintptr_t>(lock) * 0x9E3779B97F4A7C15ull;
  return table[h >> (64 - kLockWaitTableBits)].wq;
}

}  // namespace lockfs::locking::internal

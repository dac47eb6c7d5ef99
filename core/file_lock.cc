// POSIX record-lock range arithmetic (split, replace, merge per owner) and the waiter wakeup.
#include "core/file_lock.h"

#include <fcntl.h>

#include <algorithm>
#include <limits>

#include "core/lock_classes.h"

namespace lockfs::core {

FileLockContext::FileLockContext(uint64_t ino) : flc_lock(lock_class::kFlcLock, ino) {}

void FileLockContext::wake_waiters() {
  waiters.with_lock_wake_all([this] { gen.fetch_add(1, std::memory_order_release); });
}

namespace {
bool overlaps(const PosixLock& a, const PosixLock& b) {
  return a.start <= b.end && b.start <= a.end;
}
}  // namespace

const PosixLock* posix_conflict(const std::vector<PosixLock>& locks, const PosixLock& want) {
  for (const PosixLock& l : locks) {
    if (l.owner == want.owner || !overlaps(l, want)) continue;
    if (l.type == F_WRLCK || want.type == F_WRLCK) return &l;
  }
  return nullptr;
}

void posix_apply(std::vector<PosixLock>& locks, const PosixLock& want) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  std::vector<PosixLock> out;
  out.reserve(locks.size() + 2);
  PosixLock merged = want;
  for (const PosixLock& l : locks) {
    if (l.owner != want.owner) {
      out.push_back(l);
      continue;
    }
    const bool overlap = overlaps(l, want);
    const bool adjacent = (want.end != kMax && l.start == want.end + 1) ||
                          (l.end != kMax && l.end + 1 == want.start);
    if (want.type != F_UNLCK && l.type == want.type && (overlap || adjacent)) {
      // Same owner, same type, touching: one lock covers both (the kernel merges too).
      merged.start = std::min(merged.start, l.start);
      merged.end = std::max(merged.end, l.end);
      continue;
    }
    if (!overlap) {
      out.push_back(l);
      continue;
    }
    // The new request replaces the overlapped part; keep what sticks out on either side.
    if (l.start < want.start) {
      PosixLock left = l;
      left.end = want.start - 1;
      out.push_back(left);
    }
    if (l.end > want.end) {
      PosixLock right = l;
      right.start = want.end + 1;
      out.push_back(right);
    }
  }
  if (want.type != F_UNLCK) out.push_back(merged);
  std::sort(out.begin(), out.end(), [](const PosixLock& a, const PosixLock& b) {
    return a.owner != b.owner ? a.owner < b.owner : a.start < b.start;
  });
  locks = std::move(out);
}

}  // namespace lockfs::core

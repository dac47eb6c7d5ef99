// Per-inode file-lock state: POSIX record locks (fcntl) and flock locks, under flc_lock as
// file_lock_operations / lock_manager_operations rows say, with a wait queue for F_SETLKW and
// blocking flock.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "locking/mutex.h"
#include "locking/wait_queue.h"

namespace lockfs::core {

class File;

struct PosixLock {
  uint64_t owner;
  short type;      // F_RDLCK or F_WRLCK
  uint64_t start;  // inclusive
  uint64_t end;    // inclusive; UINT64_MAX: to end of file and beyond
  pid_t pid;
};

struct FlockLock {
  const File* file;
  short type;  // F_RDLCK (LOCK_SH) or F_WRLCK (LOCK_EX)
};

// Thread safety: the lists are guarded by flc_lock (a spinlock: no sleeping while held).
// Waiters sleep on `waiters` until `gen` changes; every removal bumps gen and wakes them.
class FileLockContext {
 public:
  explicit FileLockContext(uint64_t ino);
  FileLockContext(const FileLockContext&) = delete;
  FileLockContext& operator=(const FileLockContext&) = delete;

  locking::SpinLock flc_lock;
  std::vector<PosixLock> flc_posix LOCKFS_GUARDED_BY(flc_lock);
  std::vector<FlockLock> flc_flock LOCKFS_GUARDED_BY(flc_lock);

  locking::WaitQueue waiters;
  std::atomic<uint64_t> gen{0};
  // Bumps gen and wakes every waiter (call after releasing flc_lock).
  void wake_waiters();
};

// The POSIX lock of another owner that conflicts with `want`, or nullptr.
const PosixLock* posix_conflict(const std::vector<PosixLock>& locks, const PosixLock& want);
// Applies `want` (F_RDLCK/F_WRLCK/F_UNLCK) for want.owner over [start, end]: the owner's
// locks in the range are replaced, split at the edges, and adjacent same-type locks merged.
void posix_apply(std::vector<PosixLock>& locks, const PosixLock& want);

}  // namespace lockfs::core

// POSIX record locks (fcntl F_GETLK/F_SETLK/F_SETLKW) and flock, on the inode's
// FileLockContext under flc_lock. Blocking waits are killable (-EINTR), as F_SETLKW's is.
#include <sys/file.h>

#include <limits>
#include <unordered_map>

#include "core/file.h"
#include "core/inode.h"
#include "core/lock_classes.h"
#include "core/vfs_internal.h"
#include "locking/sync_point.h"

namespace lockfs::core {

using contract::LockId;
using contract::Role;
using locking::OpScope;
using locking::SpinGuard;

namespace {

constexpr uint64_t kEof = std::numeric_limits<uint64_t>::max();

// posix_locks_deadlock: which lock owner each sleeping F_SETLKW waits for, under the global
// blocked_lock_lock (as fs/locks.c keeps blocked_hash). A request whose wait would close a
// cycle of owners fails with -EDEADLK instead of sleeping.
struct BlockedOwners {
  locking::SpinLock blocked_lock_lock{lock_class::kBlockedLockLock};
  std::unordered_map<uint64_t, uint64_t> waits_for LOCKFS_GUARDED_BY(blocked_lock_lock);
};
BlockedOwners& blocked() {
  static BlockedOwners b;
  return b;
}
constexpr int kMaxDeadlockDepth = 10;  // MAX_DEADLK_ITERATIONS

// Registers `owner` as waiting for `blocker`, unless that would be a deadlock (-EDEADLK).
int block_on(uint64_t owner, uint64_t blocker) {
  BlockedOwners& b = blocked();
  SpinGuard g(b.blocked_lock_lock);
  uint64_t o = blocker;
  for (int i = 0; i < kMaxDeadlockDepth; ++i) {
    if (o == owner) return -EDEADLK;
    auto it = b.waits_for.find(o);
    if (it == b.waits_for.end()) break;
    o = it->second;
  }
  b.waits_for[owner] = blocker;
  return 0;
}

void unblock(uint64_t owner) {
  BlockedOwners& b = blocked();
  SpinGuard g(b.blocked_lock_lock);
  b.waits_for.erase(owner);
}

// flock_to_posix: the byte range [start, end] a struct flock names. -EINVAL, -EOVERFLOW.
int to_range(Inode* inode, const struct flock& lk, uint64_t* start, uint64_t* end) {
  int64_t base = 0;
  switch (lk.l_whence) {
    case SEEK_SET: case SEEK_CUR: break;  // the client sends SEEK_CUR already resolved
    case SEEK_END: base = static_cast<int64_t>(inode->size()); break;
    default: return -EINVAL;
  }
  int64_t s = base + lk.l_start;
  if (s < 0) return -EINVAL;
  if (lk.l_len > 0) {
    if (lk.l_len - 1 > std::numeric_limits<int64_t>::max() - s) return -EOVERFLOW;
    *start = s;
    *end = s + lk.l_len - 1;
  } else if (lk.l_len == 0) {
    *start = s;
    *end = kEof;
  } else {
    if (s + lk.l_len < 0) return -EINVAL;
    *start = s + lk.l_len;
    *end = s - 1;
  }
  return 0;
}

void check_row(File* f, Op op) {
  Inode* inode = f->f_inode;
  contract_check(contract_of(inode->i_sb), op,
                 {{Role::kInode, LockId::kIRwsem, &inode->i_rwsem.map()}});
}

}  // namespace

// vfs_test_lock — row file_operations.lock: no lock on entry; the lists under flc_lock.
Result<struct flock> Vfs::getlk(File* f, uint64_t owner, const struct flock& lk) {
  OpScope op("getlk");
  check_row(f, Op::kLock);
  if (lk.l_type != F_RDLCK && lk.l_type != F_WRLCK) return err(-EINVAL);
  Inode* inode = f->f_inode;
  PosixLock want{owner, lk.l_type, 0, 0, locking::current().pid};
  if (int rc = to_range(inode, lk, &want.start, &want.end)) return err(rc);
  struct flock out = lk;
  FileLockContext* ctxp = inode->flctx_if_any();
  if (ctxp == nullptr) {  // never locked: no conflict
    out.l_type = F_UNLCK;
    return out;
  }
  FileLockContext& ctx = *ctxp;
  SpinGuard g(ctx.flc_lock);
  if (const PosixLock* c = posix_conflict(ctx.flc_posix, want)) {
    out.l_type = c->type;
    out.l_whence = SEEK_SET;
    out.l_start = static_cast<off_t>(c->start);
    out.l_len = c->end == kEof ? 0 : static_cast<off_t>(c->end - c->start + 1);
    out.l_pid = c->pid;
  } else {
    out.l_type = F_UNLCK;
  }
  return out;
}

// vfs_lock_file — row file_operations.lock: no lock on entry; the lists change under
// flc_lock. F_SETLK: -EAGAIN on conflict; F_SETLKW: killable sleep until it can be granted,
// -EDEADLK when the owner it would wait for waits (transitively) for this owner.
// -EBADF (lock type vs open mode), -EINVAL, -EINTR.
Result<void> Vfs::setlk(File* f, uint64_t owner, const struct flock& lk, bool sleep) {
  OpScope op("setlk");
  check_row(f, Op::kLock);
  if (lk.l_type != F_RDLCK && lk.l_type != F_WRLCK && lk.l_type != F_UNLCK) return err(-EINVAL);
  if (lk.l_type == F_RDLCK && !f->readable()) return err(-EBADF);
  if (lk.l_type == F_WRLCK && !f->writable()) return err(-EBADF);
  Inode* inode = f->f_inode;
  PosixLock want{owner, lk.l_type, 0, 0, locking::current().pid};
  if (int rc = to_range(inode, lk, &want.start, &want.end)) return err(rc);
  if (want.type == F_UNLCK && inode->flctx_if_any() == nullptr) return {};  // never locked
  FileLockContext& ctx = inode->flctx();
  for (;;) {
    uint64_t seen;
    uint64_t blocker = 0;
    {
      SpinGuard g(ctx.flc_lock);
      const PosixLock* c = want.type == F_UNLCK ? nullptr : posix_conflict(ctx.flc_posix, want);
      if (c == nullptr) {
        posix_apply(ctx.flc_posix, want);
        seen = kEof;
      } else {
        seen = ctx.gen.load(std::memory_order_acquire);
        blocker = c->owner;
      }
    }
    if (seen == kEof) {
      ctx.wake_waiters();  // an unlock or downgrade may grant someone's request
      return {};
    }
    if (!sleep) return err(-EAGAIN);
    if (int rc = block_on(owner, blocker)) {
      op.set_result(rc);
      return err(rc);
    }
    LOCKFS_SYNC_POINT("setlk:wait");
    int rc = ctx.waiters.wait_event_killable(
        [&] { return ctx.gen.load(std::memory_order_acquire) != seen; });
    unblock(owner);
    if (rc != 0) {
      op.set_result(rc);
      return err(rc);
    }
  }
}

// vfs flock — row file_operations.flock: no lock on entry; flc_lock inside. A conversion drops
// the old lock first (waking waiters), as flock_lock_inode does. LOCK_NB: -EWOULDBLOCK.
Result<void> Vfs::flock(File* f, uint64_t owner, int opflags) {
  OpScope op("flock");
  check_row(f, Op::kFlock);
  const bool nb = opflags & LOCK_NB;
  short type;
  switch (opflags & ~LOCK_NB) {
    case LOCK_SH: type = F_RDLCK; break;
    case LOCK_EX: type = F_WRLCK; break;
    case LOCK_UN: type = F_UNLCK; break;
    default: return err(-EINVAL);
  }
  if (type == F_UNLCK && f->f_inode->flctx_if_any() == nullptr) return {};  // never locked
  FileLockContext& ctx = f->f_inode->flctx();
  bool removed = false;
  for (;;) {
    uint64_t seen = kEof;
    bool done = false;
    {
      SpinGuard g(ctx.flc_lock);
      auto& locks = ctx.flc_flock;
      for (auto it = locks.begin(); it != locks.end(); ++it) {
        if (it->file != f) continue;
        if (it->type == type) return {};  // already held in that mode
        locks.erase(it);
        removed = true;
        break;
      }
      if (type == F_UNLCK) {
        done = true;
      } else {
        bool conflict = false;
        for (const FlockLock& l : locks) {
          if (l.file != f && (l.type == F_WRLCK || type == F_WRLCK)) conflict = true;
        }
        if (!conflict) {
          locks.push_back({f, type});
          done = true;
        } else {
          seen = ctx.gen.load(std::memory_order_acquire);
        }
      }
    }
    if (removed) {
      ctx.wake_waiters();
      removed = false;
    }
    if (done) return {};
    if (nb) return err(-EWOULDBLOCK);
    int rc = ctx.waiters.wait_event_killable(
        [&] { return ctx.gen.load(std::memory_order_acquire) != seen; });
    if (rc != 0) {
      op.set_result(rc);
      return err(rc);
    }
  }
}

}  // namespace lockfs::core

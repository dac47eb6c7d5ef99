// Helpers the vfs_*.cc callers share: pinning by number, entry replies, the row-driven lock
// modes, and notify_change (setattr's locking, reused by O_TRUNC).
#pragma once

#include <string_view>
#include <utility>

#include "core/contract_scope.h"
#include "core/inode.h"
#include "core/mm/on_exit.h"
#include "core/super.h"
#include "core/vfs.h"
#include "locking/task.h"

namespace lockfs::core {

// Pins `ino`; an empty ref when it does not exist.
inline InodeRef pin(SuperBlock& sb, Ino ino) { return InodeRef(&sb, sb.iget(ino)); }
// One more pin of an inode the caller has pinned: an ihold, no inode_hash_lock.
inline InodeRef pin_again(SuperBlock& sb, const InodeRef& ref) {
  sb.ihold(ref.get());
  return InodeRef(&sb, ref.get());
}

// The reply for a name the client now holds: takes one lookup count of `inode`.
EntryOut make_entry(SuperBlock& sb, Inode* inode);
// The same reply when the caller has counted the lookup already (SuperBlock::nlookup_get).
EntryOut counted_entry(Inode* inode);

// The mode the profile's row prescribes for the directory's i_rwsem in `op` (lookup:
// shared now, exclusive under 3.x; iterate: shared, 3.x readdir exclusive). Shared when the
// row says nothing usable.
locking::Mode dir_mode(const Contract& c, Op op);

// Takes / releases an rwsem in a run-time mode.
void rwsem_lock(locking::RwSemaphore& s, locking::Mode m,
                locking::Subclass sub = locking::Subclass::kNormal)
    LOCKFS_NO_THREAD_SAFETY_ANALYSIS;
[[nodiscard]] int rwsem_lock_killable(locking::RwSemaphore& s, locking::Mode m,
                                      locking::Subclass sub = locking::Subclass::kNormal)
    LOCKFS_NO_THREAD_SAFETY_ANALYSIS;
void rwsem_unlock(locking::RwSemaphore& s, locking::Mode m) LOCKFS_NO_THREAD_SAFETY_ANALYSIS;

// An rwsem held in a run-time mode until the scope ends -- an exception included -- or until
// unlock(). The locks core takes in a mode the profile decides, or releases before the end
// of a scope, are held this way, so an allocation that throws under them (serve() answers
// ENOMEM) leaves nothing held.
class RwsemHold {
 public:
  RwsemHold() = default;
  RwsemHold(locking::RwSemaphore& s, locking::Mode m,
            locking::Subclass sub = locking::Subclass::kNormal) {
    lock(s, m, sub);
  }
  ~RwsemHold() { unlock(); }
  RwsemHold(const RwsemHold&) = delete;
  RwsemHold& operator=(const RwsemHold&) = delete;

  void lock(locking::RwSemaphore& s, locking::Mode m,
            locking::Subclass sub = locking::Subclass::kNormal) {
    rwsem_lock(s, m, sub);
    s_ = &s;
    m_ = m;
  }
  // 0, or -EINTR with nothing held (a fatal signal while waiting).
  [[nodiscard]] int lock_killable(locking::RwSemaphore& s, locking::Mode m,
                                  locking::Subclass sub = locking::Subclass::kNormal) {
    const int rc = rwsem_lock_killable(s, m, sub);
    if (rc == 0) {
      s_ = &s;
      m_ = m;
    }
    return rc;
  }
  void unlock() {
    if (s_ == nullptr) return;
    rwsem_unlock(*s_, m_);
    s_ = nullptr;
  }

 private:
  locking::RwSemaphore* s_ = nullptr;
  locking::Mode m_ = locking::Mode::kShared;
};

// notify_change: setattr_prepare's permission checks, then ->setattr with i_rwsem exclusive
// and, for a size change, invalidate_lock exclusive around the truncate. `f`: the open file
// the change came through (ftruncate), or null.
Result<void> notify_change(Inode* inode, const SetAttrIn& in, File* f);

// Sets the operation name for the trace and the result on exit.
template <typename T>
T traced(locking::OpScope& op, T r) {
  op.set_result(r.ok() ? 0 : r.error());
  return r;
}

}  // namespace lockfs::core

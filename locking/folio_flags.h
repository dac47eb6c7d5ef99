// The flags word of a folio: PG_locked (a sleeping bit lock), PG_writeback (waitable),
// PG_uptodate and PG_dirty. Waiters share hashed wait queues, as in mm/filemap.c.
#pragma once

#include <atomic>
#include <cstdint>

#include "locking/annotations.h"
#include "locking/lock_class.h"

namespace lockfs::locking {

// Thread safety: all members safe from any thread. lock/unlock are reported to the validator
// and tracer under `cls` with object = inode number, aux = folio index.
class LOCKFS_CAPABILITY("folio_lock") FolioFlags {
 public:
  FolioFlags(const LockClass& cls, uint64_t ino, uint64_t index);
  FolioFlags(const FolioFlags&) = delete;
  FolioFlags& operator=(const FolioFlags&) = delete;

  void lock() LOCKFS_ACQUIRE();                                  // folio_lock
  [[nodiscard]] bool trylock() LOCKFS_TRY_ACQUIRE(true);         // folio_trylock
  [[nodiscard]] int lock_killable() LOCKFS_TRY_ACQUIRE(0);       // folio_lock_killable
  void unlock() LOCKFS_RELEASE();                                // folio_unlock
  // A new folio: __folio_set_locked sets PG_locked while no other thread can see the folio;
  // the lock starts to matter when the page cache publishes it, so the acquisition is
  // reported (validator, tracer, fault injection) by lock_published() right after that.
  // clear_locked_unpublished() undoes the bit on a folio that was never published.
  void set_locked_unpublished() LOCKFS_ACQUIRE();
  void lock_published();
  void clear_locked_unpublished() LOCKFS_RELEASE();
  bool locked() const { return test(kLocked); }
  void assert_locked() const LOCKFS_ASSERT_CAPABILITY(this);
  // This thread does not hold the folio lock (validator on; otherwise no check).
  void assert_not_locked() const;

  // Writeback: set while "I/O" is in flight; waiters sleep until it ends.
  void start_writeback();   // folio must be locked
  void end_writeback();
  void wait_writeback();    // folio_wait_writeback
  bool writeback() const { return test(kWriteback); }

  // Someone may be sleeping on this folio's hashed queue (lock or writeback). For tests.
  bool has_waiters() const { return test(kWaiters); }

  bool uptodate() const { return test(kUptodate); }
  void set_uptodate() { flags_.fetch_or(kUptodate, std::memory_order_release); }
  bool dirty() const { return test(kDirty); }
  // Returns true when the folio was clean (the caller then accounts the new dirty folio).
  bool set_dirty() { return !(flags_.fetch_or(kDirty, std::memory_order_acq_rel) & kDirty); }
  bool test_clear_dirty() { return flags_.fetch_and(~kDirty, std::memory_order_acq_rel) & kDirty; }

  const LockMap& map() const { return map_; }

 private:
  static constexpr uint32_t kLocked = 1u << 0;
  static constexpr uint32_t kWriteback = 1u << 1;
  static constexpr uint32_t kUptodate = 1u << 2;
  static constexpr uint32_t kDirty = 1u << 3;
  static constexpr uint32_t kWaiters = 1u << 4;  // someone sleeps on this folio's hashed queue
  bool test(uint32_t bit) const { return flags_.load(std::memory_order_acquire) & bit; }
  // Sets PG_locked; true when this call took it.
  bool test_and_set_locked() {
    return !(flags_.fetch_or(kLocked, std::memory_order_acquire) & kLocked);
  }
  // A sleeper's predicate: take the lock, or mark a waiter (so unlock wakes the hashed queue)
  // and try once more, closing the race with an unlock in between.
  bool lock_or_mark_waiter() {
    if (test_and_set_locked()) return true;
    flags_.fetch_or(kWaiters, std::memory_order_seq_cst);
    return test_and_set_locked();
  }

  LockMap map_;
  std::atomic<uint32_t> flags_{0};
};

}  // namespace lockfs::locking

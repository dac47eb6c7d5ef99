// Profile kV5: the 5.x Documentation/filesystems/locking.rst (seed 003), transcribed table by
// table: pages instead of folios, ->readpage, ->iterate vs ->iterate_shared, no invalidate_lock,
// bd_mutex, and an mmap_lock column that only says "yes".
#include "locking/contract_data.h"

namespace lockfs::locking::contract::data {
namespace {

constexpr const char* kDops = "dentry_operations";
constexpr const char* kIops = "inode_operations";
constexpr const char* kXattr = "xattr_handler";
constexpr const char* kSops = "super_operations";
constexpr const char* kFst = "file_system_type";
constexpr const char* kAops = "address_space_operations";
constexpr const char* kFlops = "file_lock_operations";
constexpr const char* kLmops = "lock_manager_operations";
constexpr const char* kBh = "buffer_head";
constexpr const char* kBdops = "block_device_operations";
constexpr const char* kFops = "file_operations";
constexpr const char* kDqops = "dquot_operations";
constexpr const char* kVmops = "vm_operations_struct";

constexpr const char* kNoAutomount = "automount points: none on a FUSE mount";
constexpr const char* kLockManager = "lock-manager callback of lockd/nfsd, not modelled";
constexpr const char* kBlockDev = "block devices only; FUSE has none";
constexpr const char* kNoQuota = "no disk quota on a FUSE mount";
constexpr const char* kNoSwap = "swap files need a block-mapped file";
constexpr const char* kNonLru = "migration of non-LRU pages only";
constexpr const char* kStale = "stale prototype: not in 5.x struct file_operations";

}  // namespace

std::vector<Row> v5_rows() {
  using enum Role;
  using enum LockId;
  return {
      // dentry_operations: rename_lock | ->d_lock | may block | rcu-walk
      row(kDops, "d_revalidate",
          {no(kGlobal, kRenameLock), no(kDentry, kDLock), maybe_sh(kGlobal, kRcu, "rcu-walk")},
          kRefWalkBlocks, kNA, ""),
      off(row(kDops, "d_weak_revalidate",
              {no(kGlobal, kRenameLock), no(kDentry, kDLock), no(kGlobal, kRcu)}, kBlocks, kNA, ""),
          "only after a path-walk jump (/proc links, mount roots)"),
      row(kDops, "d_hash",
          {no(kGlobal, kRenameLock), no(kDentry, kDLock), maybe_sh(kGlobal, kRcu, "rcu-walk")},
          kNoBlock, kNA, ""),
      row(kDops, "d_compare",
          {held(kGlobal, kRenameLock), no(kDentry, kDLock), maybe_sh(kGlobal, kRcu, "rcu-walk")},
          kNoBlock, kNA, ""),
      row(kDops, "d_delete", {no(kGlobal, kRenameLock), ex(kDentry, kDLock), no(kGlobal, kRcu)},
          kNoBlock, kNA, ""),
      row(kDops, "d_init", {no(kGlobal, kRenameLock), no(kDentry, kDLock), no(kGlobal, kRcu)},
          kBlocks, kNA, ""),
      row(kDops, "d_release", {no(kGlobal, kRenameLock), no(kDentry, kDLock), no(kGlobal, kRcu)},
          kBlocks, kNA, ""),
      row(kDops, "d_prune", {no(kGlobal, kRenameLock), ex(kDentry, kDLock), no(kGlobal, kRcu)},
          kNoBlock, kNA, "in the table, not in the prototypes"),
      row(kDops, "d_iput", {no(kGlobal, kRenameLock), no(kDentry, kDLock), no(kGlobal, kRcu)},
          kBlocks, kNA, ""),
      off(row(kDops, "d_dname", {no(kGlobal, kRenameLock), no(kDentry, kDLock), no(kGlobal, kRcu)},
              kNoBlock, kNA, ""),
          "names of unlinked pseudo-fs objects (pipes, sockets)"),
      off(row(kDops, "d_automount",
              {no(kGlobal, kRenameLock), no(kDentry, kDLock), no(kGlobal, kRcu)}, kBlocks, kNA, ""),
          kNoAutomount),
      off(row(kDops, "d_manage",
              {no(kGlobal, kRenameLock), no(kDentry, kDLock), maybe_sh(kGlobal, kRcu, "rcu-walk")},
              kRefWalkBlocks, kNA, ""),
          kNoAutomount),
      off(row(kDops, "d_real", {no(kGlobal, kRenameLock), no(kDentry, kDLock), no(kGlobal, kRcu)},
              kBlocks, kNA, ""),
          "overlay/union filesystems only"),

      // inode_operations: i_rwsem(inode); "all may block"
      row(kIops, "lookup", {sh(kDir, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "create", {ex(kDir, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "link", {ex(kDir, kIRwsem), ex(kSource, kIRwsem)}, kBlocks, kNA,
          "exclusive (both)"),
      row(kIops, "mknod", {ex(kDir, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "symlink", {ex(kDir, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "mkdir", {ex(kDir, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "unlink", {ex(kDir, kIRwsem), ex(kVictim, kIRwsem)}, kBlocks, kNA,
          "exclusive (both); ->i_rwsem exclusive on victim"),
      row(kIops, "rmdir", {ex(kDir, kIRwsem), ex(kVictim, kIRwsem)}, kBlocks, kNA,
          "exclusive (both); ->i_rwsem exclusive on victim"),
      row(kIops, "rename",
          {ex(kParents, kIRwsem), ex(kVictim, kIRwsem, "if the target exists"),
           ex(kSuperblock, kSVfsRenameSem, "cross-directory")},
          kBlocks, kNA,
          "exclusive (all); victim exclusive; cross-directory ->rename() has "
          "(per-superblock) ->s_vfs_rename_sem"),
      row(kIops, "readlink", {no(kInode, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "get_link", {no(kInode, kIRwsem)}, kBlocks, kNA, ""),
      off(row(kIops, "truncate", {}, kBlocks, kNA, "in the prototypes, not in the table"),
          "no ->truncate method exists any more; ->setattr() truncates"),
      row(kIops, "setattr", {ex(kInode, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "permission", {no(kInode, kIRwsem)}, kRefWalkBlocks, kNA,
          "may not block if called in rcu-walk mode"),
      row(kIops, "get_acl", {no(kInode, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "getattr", {no(kInode, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "listxattr", {no(kInode, kIRwsem)}, kBlocks, kNA, ""),
      off(row(kIops, "fiemap", {no(kInode, kIRwsem)}, kBlocks, kNA, ""),
          "FUSE has no FIEMAP request"),
      row(kIops, "update_time", {no(kInode, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "atomic_open", {either(kDir, kIRwsem, "exclusive if O_CREAT is set")}, kBlocks,
          kNA, "shared (exclusive if O_CREAT is set in open flags)"),
      row(kIops, "tmpfile", {no(kDir, kIRwsem)}, kBlocks, kNA, ""),

      // xattr_handler operations: i_rwsem(inode); "all may block"
      row(kXattr, "list", {no(kInode, kIRwsem)}, kBlocks, kNA, ""),
      row(kXattr, "get", {no(kInode, kIRwsem)}, kBlocks, kNA, ""),
      row(kXattr, "set", {ex(kInode, kIRwsem)}, kBlocks, kNA, ""),

      // super_operations: s_umount | note; "All may block [not true, see below]"
      row(kSops, "alloc_inode", {}, kBlocks, kNA, ""),
      row(kSops, "free_inode", {}, kNoBlock, kNA, "called from RCU callback"),
      row(kSops, "destroy_inode", {}, kBlocks, kNA, ""),
      row(kSops, "dirty_inode", {}, kBlocks, kNA, ""),
      row(kSops, "write_inode", {}, kBlocks, kNA, ""),
      row(kSops, "drop_inode", {ex(kInode, kILock)}, kNoBlock, kNA, "!!!inode->i_lock!!!"),
      row(kSops, "evict_inode", {}, kBlocks, kNA, ""),
      row(kSops, "put_super", {ex(kSuperblock, kSUmount)}, kBlocks, kNA, ""),
      row(kSops, "sync_fs", {sh(kSuperblock, kSUmount)}, kBlocks, kNA, ""),
      row(kSops, "freeze_fs", {ex(kSuperblock, kSUmount)}, kBlocks, kNA, ""),
      row(kSops, "unfreeze_fs", {ex(kSuperblock, kSUmount)}, kBlocks, kNA, ""),
      row(kSops, "statfs", {maybe_sh(kSuperblock, kSUmount, "only when called by ustat(2)")},
          kBlocks, kNA,
          "s_umount (shared) when called by ustat(2); statfs(), fstatfs() "
          "don't hold it"),
      row(kSops, "remount_fs", {ex(kSuperblock, kSUmount)}, kBlocks, kNA, ""),
      row(kSops, "umount_begin", {no(kSuperblock, kSUmount)}, kBlocks, kNA, ""),
      row(kSops, "show_options", {no(kSuperblock, kSUmount), held(kGlobal, kNamespaceSem)}, kBlocks,
          kNA, "(namespace_sem)"),
      off(row(kSops, "quota_read",
              {no(kSuperblock, kSUmount), held(kSuperblock, kDqioSem, "via dqio_sem")}, kBlocks,
              kNA, "the only one operating on the quota file (via dqio_sem)"),
          kNoQuota),
      off(row(kSops, "quota_write",
              {no(kSuperblock, kSUmount), held(kSuperblock, kDqioSem, "via dqio_sem")}, kBlocks,
              kNA, "the only one operating on the quota file (via dqio_sem)"),
          kNoQuota),
      off(row(kSops, "bdev_try_to_free_page", {no(kSuperblock, kSUmount)}, kBlocks, kNA,
              "called from the ->releasepage handler of the block device inode"),
          kBlockDev),

      // file_system_type: may block
      row(kFst, "mount", {}, kBlocks, kNA,
          "returns ERR_PTR or the root dentry; its superblock should be locked on return",
          {ex(kSuperblock, kSUmount, "held on return")}),
      row(kFst, "kill_sb", {ex(kSuperblock, kSUmount, "write-locked superblock")}, kBlocks, kNA,
          "takes a write-locked superblock, does all shutdown work on it, unlocks and "
          "drops the reference"),

      // address_space_operations: PageLocked(page) | i_rwsem;
      // "All except set_page_dirty and freepage may block"
      row(kAops, "writepage", {}, kBlocks, kFUnlocks,
          "unlock the page synchronously unless it returns WRITEPAGE_ACTIVATE; pages under "
          "writeout are not locked"),
      row(kAops, "readpage", {}, kBlocks, kFUnlocks,
          "unlocks the page, either synchronously or via I/O completion; may be called from "
          "the request handler (/dev/loop)"),
      row(kAops, "writepages", {}, kBlocks, kNA, ""),
      row(kAops, "set_page_dirty", {}, kNoBlock, kFNo,
          "may be called under spinlock (it cannot block), sometimes with the page not locked"),
      row(kAops, "readahead", {}, kBlocks, kFUnlocks,
          "unlocks the pages that I/O is attempted on like ->readpage()"),
      row(kAops, "readpages", {}, kBlocks, kFNo, "pages come unlocked upon I/O completion"),
      row(kAops, "write_begin", {ex(kInode, kIRwsem)}, kBlocks, kFLocksIt,
          "may be called from the request handler (/dev/loop)"),
      row(kAops, "write_end", {ex(kInode, kIRwsem)}, kBlocks, kFUnlocks,
          "may be called from the request handler (/dev/loop)"),
      off(row(kAops, "bmap", {}, kBlocks, kNA, ""), "FIBMAP and swap: needs block addresses"),
      row(kAops, "invalidatepage", {}, kBlocks, kFLocked,
          "drop some or all of the buffers from the page when it is being truncated"),
      row(kAops, "releasepage", {}, kBlocks, kFLocked, ""),
      row(kAops, "freepage", {}, kNoBlock, kFLocked, ""),
      off(row(kAops, "direct_IO", {}, kBlocks, kNA, ""),
          "memory-backed: nothing under the page cache to do direct I/O to"),
      off(row(kAops, "isolate_page", {}, kBlocks, kFLocked, ""), kNonLru),
      off(row(kAops, "migratepage", {}, kBlocks, kFBoth, ""),
          "page migration is the kernel's; userspace folios do not migrate"),
      off(row(kAops, "putback_page", {}, kBlocks, kFLocked, ""), kNonLru),
      row(kAops, "launder_page", {}, kBlocks, kFLocked, "kept locked across the entire operation"),
      off(row(kAops, "is_partially_uptodate", {}, kBlocks, kFLocked, ""),
          "only for blocks smaller than a folio; memfs folios are wholly uptodate"),
      off(row(kAops, "error_remove_page", {}, kBlocks, kFLocked, ""),
          "memory-failure (hwpoison) handling only"),
      off(row(kAops, "swap_activate", {}, kBlocks, kFNo, ""), kNoSwap),
      off(row(kAops, "swap_deactivate", {}, kBlocks, kFNo, ""), kNoSwap),

      // file_lock_operations: inode->i_lock | may block
      row(kFlops, "fl_copy_lock", {ex(kInode, kILock)}, kNoBlock, kNA, ""),
      row(kFlops, "fl_release_private", {maybe(kInode, kILock)}, kMaybeBlocks, kNA,
          "may block for flock or POSIX locks; on a lease (i_lock held) should not block"),

      // lock_manager_operations: inode->i_lock | blocked_lock_lock | may block
      off(row(kLmops, "lm_notify", {ex(kInode, kILock), ex(kGlobal, kBlockedLockLock)}, kNoBlock,
              kNA, "unblock callback"),
          kLockManager),
      off(row(kLmops, "lm_grant", {no(kInode, kILock), no(kGlobal, kBlockedLockLock)}, kNoBlock,
              kNA, ""),
          kLockManager),
      off(row(kLmops, "lm_break", {ex(kInode, kILock), no(kGlobal, kBlockedLockLock)}, kNoBlock,
              kNA, "break_lease callback"),
          kLockManager),
      off(row(kLmops, "lm_change", {ex(kInode, kILock), no(kGlobal, kBlockedLockLock)}, kNoBlock,
              kNA, ""),
          kLockManager),
      off(row(kLmops, "lm_breaker_owns_lease", {no(kInode, kILock), no(kGlobal, kBlockedLockLock)},
              kNoBlock, kNA, ""),
          kLockManager),

      // buffer_head: no table, only a note
      off(row(kBh, "b_end_io", {ex(kBufferHead, kBhLock)}, kNoBlock, kNA,
              "called from interrupts; bh is locked, but that's all warranties we have"),
          "no buffer heads: nothing is backed by a block device"),

      // block_device_operations: bd_mutex
      off(row(kBdops, "open", {ex(kBlockDevice, kOpenMutex)}, kUnstated, kNA, ""), kBlockDev),
      off(row(kBdops, "release", {ex(kBlockDevice, kOpenMutex)}, kUnstated, kNA, ""), kBlockDev),
      off(row(kBdops, "ioctl", {no(kBlockDevice, kOpenMutex)}, kUnstated, kNA, ""), kBlockDev),
      off(row(kBdops, "compat_ioctl", {no(kBlockDevice, kOpenMutex)}, kUnstated, kNA, ""),
          kBlockDev),
      off(row(kBdops, "direct_access", {no(kBlockDevice, kOpenMutex)}, kUnstated, kNA, ""),
          kBlockDev),
      off(row(kBdops, "unlock_native_capacity", {no(kBlockDevice, kOpenMutex)}, kUnstated, kNA, ""),
          kBlockDev),
      off(row(kBdops, "revalidate_disk", {no(kBlockDevice, kOpenMutex)}, kUnstated, kNA, ""),
          kBlockDev),
      off(row(kBdops, "getgeo", {no(kBlockDevice, kOpenMutex)}, kUnstated, kNA, ""), kBlockDev),
      off(row(kBdops, "swap_slot_free_notify",
              {no(kBlockDevice, kOpenMutex), ex(kGlobal, kSwapLock)}, kUnstated, kFMaybe,
              "called with swap_lock and sometimes the page lock held"),
          kBlockDev),

      // file_operations: no table; "All may block." plus the notes below it.
      row(kFops, "llseek", {}, kBlocks, kNA,
          "locking has moved to the individual llseek implementations; does not protect "
          "file->f_pos against concurrent modifications"),
      row(kFops, "read", {}, kBlocks, kNA, ""),
      row(kFops, "write", {}, kBlocks, kNA, ""),
      row(kFops, "read_iter", {}, kBlocks, kNA, ""),
      row(kFops, "write_iter", {}, kBlocks, kNA, ""),
      row(kFops, "iterate", {ex(kDir, kIRwsem)}, kBlocks, kNA, "called with i_rwsem exclusive"),
      row(kFops, "iterate_shared", {either(kDir, kIRwsem, "at least shared")}, kBlocks, kNA,
          "called with i_rwsem at least shared"),
      row(kFops, "poll", {}, kBlocks, kNA, ""),
      row(kFops, "unlocked_ioctl", {}, kBlocks, kNA, ""),
      row(kFops, "compat_ioctl", {}, kBlocks, kNA, ""),
      row(kFops, "mmap", {}, kBlocks, kNA, ""),
      row(kFops, "open", {}, kBlocks, kNA, ""),
      row(kFops, "flush", {}, kBlocks, kNA, ""),
      row(kFops, "release", {}, kBlocks, kNA, ""),
      row(kFops, "fsync", {}, kBlocks, kNA, ""),
      row(kFops, "fasync", {}, kBlocks, kNA,
          "responsible for maintaining the FASYNC bit in filp->f_flags"),
      row(kFops, "lock", {}, kBlocks, kNA, ""),
      off(row(kFops, "readv", {}, kBlocks, kNA, ""), kStale),
      off(row(kFops, "writev", {}, kBlocks, kNA, ""), kStale),
      off(row(kFops, "sendfile", {}, kBlocks, kNA, ""), kStale),
      row(kFops, "sendpage", {}, kBlocks, kNA, ""),
      row(kFops, "get_unmapped_area", {}, kBlocks, kNA, ""),
      row(kFops, "check_flags", {}, kBlocks, kNA, ""),
      row(kFops, "flock", {}, kBlocks, kNA, ""),
      row(kFops, "splice_write", {}, kBlocks, kNA, ""),
      row(kFops, "splice_read", {}, kBlocks, kNA, ""),
      row(kFops, "setlease", {}, kBlocks, kNA, "should call generic_setlease()"),
      row(kFops, "fallocate", {}, kBlocks, kNA, ""),

      // dquot_operations: FS recursion | held locks when called
      off(row(kDqops, "write_dquot",
              {maybe(kSuperblock, kDqonoffSem, "or dqptr_sem"),
               maybe(kSuperblock, kDqptrSem, "or dqonoff_sem")},
              kUnstated, kNA, "FS recursion: yes"),
          kNoQuota),
      off(row(kDqops, "acquire_dquot",
              {maybe(kSuperblock, kDqonoffSem, "or dqptr_sem"),
               maybe(kSuperblock, kDqptrSem, "or dqonoff_sem")},
              kUnstated, kNA, "FS recursion: yes"),
          kNoQuota),
      off(row(kDqops, "release_dquot",
              {maybe(kSuperblock, kDqonoffSem, "or dqptr_sem"),
               maybe(kSuperblock, kDqptrSem, "or dqonoff_sem")},
              kUnstated, kNA, "FS recursion: yes"),
          kNoQuota),
      off(row(kDqops, "mark_dirty", {}, kUnstated, kNA, "FS recursion: no"), kNoQuota),
      off(row(kDqops, "write_info", {held(kSuperblock, kDqonoffSem)}, kUnstated, kNA,
              "FS recursion: yes"),
          kNoQuota),

      // vm_operations_struct: mmap_lock | PageLocked(page); the mode column only says "yes"
      row(kVmops, "open", {held(kMm, kMmapLock)}, kUnstated, kNA, ""),
      row(kVmops, "close", {held(kMm, kMmapLock)}, kUnstated, kNA, ""),
      row(kVmops, "fault", {held(kMm, kMmapLock)}, kUnstated, kFCanReturnLocked,
          "must lock the page if it may be truncated/invalidated (the page lock will block "
          "subsequent truncate), then return with VM_FAULT_LOCKED",
          {ex(kFolio, kFolioLock, "if the page may be truncated and/or invalidated")}),
      off(row(kVmops, "map_pages", {held(kMm, kMmapLock), ex(kMm, kPageTableLock)}, kNoBlock, kNA,
              "called with page table locked and must not block; not in the prototypes"),
          "fault-around: the VMA manager faults one page at a time"),
      row(kVmops, "page_mkwrite", {held(kMm, kMmapLock)}, kUnstated, kFCanReturnLocked,
          "must ensure that there are no truncate/invalidate races, then return with the page "
          "locked"),
      off(row(kVmops, "pfn_mkwrite", {held(kMm, kMmapLock)}, kUnstated, kNA, ""),
          "VM_PFNMAP/VM_MIXEDMAP page-less entries only"),
      off(row(kVmops, "access", {held(kMm, kMmapLock)}, kUnstated, kNA, ""),
          "needed only for VM_IO | VM_PFNMAP VMAs"),
  };
}

}  // namespace lockfs::locking::contract::data

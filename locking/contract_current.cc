// Profile kCurrent: shared/reference/locking.rst (the newest text), transcribed table by table.
// Every op of every table gets a row, including ops that only appear in the prototypes
// (truncate) or only in the table (d_prune, lm_open_conflict). Notes keep the text's words.
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
constexpr const char* kBdops = "block_device_operations";
constexpr const char* kFops = "file_operations";
constexpr const char* kDqops = "dquot_operations";
constexpr const char* kVmops = "vm_operations_struct";

// Reasons a row cannot apply to a FUSE filesystem (shared by several rows).
constexpr const char* kNoAutomount = "automount points: none on a FUSE mount";
constexpr const char* kLockManager = "lock-manager callback of lockd/nfsd, not modelled";
constexpr const char* kBlockDev = "block devices only; FUSE has none";
constexpr const char* kNoQuota = "no disk quota on a FUSE mount";
constexpr const char* kNoSwap = "swap files need a block-mapped file";
constexpr const char* kDUnalias =
    "d_splice_alias() moving a directory alias; memfs directories have one dentry";

}  // namespace

std::vector<Row> current_rows() {
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
      off(row(kDops, "d_unalias_trylock",
              {held(kGlobal, kRenameLock), no(kDentry, kDLock), no(kGlobal, kRcu)}, kNoBlock, kNA,
              ""),
          kDUnalias),
      off(row(kDops, "d_unalias_unlock",
              {held(kGlobal, kRenameLock), no(kDentry, kDLock), no(kGlobal, kRcu)}, kNoBlock, kNA,
              ""),
          kDUnalias),

      // inode_operations: i_rwsem(inode); "all may block"
      row(kIops, "lookup", {sh(kDir, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "create", {ex(kDir, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "link", {ex(kDir, kIRwsem), ex(kSource, kIRwsem)}, kBlocks, kNA,
          "exclusive (both)"),
      row(kIops, "mknod", {ex(kDir, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "symlink", {ex(kDir, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "mkdir", {ex(kDir, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "unlink", {ex(kDir, kIRwsem), ex(kVictim, kIRwsem), ex(kNonDirs, kIRwsem)},
          kBlocks, kNA,
          "exclusive (both); ->i_rwsem exclusive on victim and on all non-directories "
          "involved"),
      row(kIops, "rmdir", {ex(kDir, kIRwsem), ex(kVictim, kIRwsem)}, kBlocks, kNA,
          "exclusive (both); ->i_rwsem exclusive on victim"),
      row(kIops, "rename",
          {ex(kParents, kIRwsem), ex(kVictim, kIRwsem, "if the target exists"),
           ex(kNonDirs, kIRwsem), ex(kMovedDir, kIRwsem, "if a subdirectory changes parent"),
           ex(kSuperblock, kSVfsRenameSem, "cross-directory")},
          kBlocks, kNA,
          "exclusive (both parents, some children); victim exclusive; cross-directory "
          "->rename() has (per-superblock) ->s_vfs_rename_sem"),
      row(kIops, "readlink", {no(kInode, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "get_link", {no(kInode, kIRwsem)}, kBlocks, kNA, ""),
      off(row(kIops, "truncate", {}, kBlocks, kNA, "in the prototypes, not in the table"),
          "no ->truncate method exists any more; ->setattr() truncates"),
      row(kIops, "setattr", {ex(kInode, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "permission", {no(kInode, kIRwsem)}, kRefWalkBlocks, kNA,
          "may not block if called in rcu-walk mode"),
      row(kIops, "get_inode_acl", {no(kInode, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "get_acl", {no(kInode, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "getattr", {no(kInode, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "listxattr", {no(kInode, kIRwsem)}, kBlocks, kNA, ""),
      off(row(kIops, "fiemap", {no(kInode, kIRwsem)}, kBlocks, kNA, ""),
          "FUSE has no FIEMAP request"),
      row(kIops, "update_time", {no(kInode, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "sync_lazytime", {no(kInode, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "atomic_open", {either(kDir, kIRwsem, "exclusive if O_CREAT is set")}, kBlocks,
          kNA, "shared (exclusive if O_CREAT is set in open flags)"),
      row(kIops, "tmpfile", {no(kDir, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "fileattr_get", {maybe(kInode, kIRwsem)}, kBlocks, kNA, "no or exclusive"),
      row(kIops, "fileattr_set", {ex(kInode, kIRwsem)}, kBlocks, kNA, ""),
      row(kIops, "get_offset_ctx", {no(kInode, kIRwsem)}, kBlocks, kNA, ""),

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

      // file_system_type: may block
      row(kFst, "kill_sb", {ex(kSuperblock, kSUmount, "write-locked superblock")}, kBlocks, kNA,
          "takes a write-locked superblock, does all shutdown work on it, unlocks and "
          "drops the reference"),

      // address_space_operations: folio locked | i_rwsem | invalidate_lock;
      // "All except dirty_folio and free_folio may block"
      row(kAops, "read_folio", {sh(kMapping, kInvalidateLock)}, kBlocks, kFUnlocks,
          "unlocks the folio, either synchronously or via I/O completion; may be called from "
          "the request handler (/dev/loop)"),
      row(kAops, "writepages", {}, kBlocks, kNA, ""),
      row(kAops, "dirty_folio", {}, kNoBlock, kFMaybe,
          "cannot be truncated: the caller holds the folio lock or the page table lock"),
      row(kAops, "readahead", {sh(kMapping, kInvalidateLock)}, kBlocks, kFUnlocks,
          "unlocks the folios that I/O is attempted on like ->read_folio()"),
      row(kAops, "write_begin", {ex(kInode, kIRwsem)}, kBlocks, kFLocksIt,
          "may be called from the request handler (/dev/loop)"),
      row(kAops, "write_end", {ex(kInode, kIRwsem)}, kBlocks, kFUnlocks,
          "may be called from the request handler (/dev/loop)"),
      off(row(kAops, "bmap", {}, kBlocks, kNA, ""), "FIBMAP and swap: needs block addresses"),
      row(kAops, "invalidate_folio", {ex(kMapping, kInvalidateLock)}, kBlocks, kFLocked,
          "the filesystem must exclusively acquire invalidate_lock before invalidating page "
          "cache in truncate / hole punch path"),
      row(kAops, "release_folio", {}, kBlocks, kFLocked, "locked and not under writeback"),
      row(kAops, "free_folio", {}, kNoBlock, kFLocked, ""),
      off(row(kAops, "direct_IO", {}, kBlocks, kNA, ""),
          "memory-backed: nothing under the page cache to do direct I/O to"),
      off(row(kAops, "migrate_folio", {}, kBlocks, kFBoth, ""),
          "page migration is the kernel's; userspace folios do not migrate"),
      row(kAops, "launder_folio", {}, kBlocks, kFLocked, "kept locked across the entire operation"),
      off(row(kAops, "is_partially_uptodate", {}, kBlocks, kFLocked, ""),
          "only for blocks smaller than a folio; memfs folios are wholly uptodate"),
      off(row(kAops, "error_remove_folio", {}, kBlocks, kFLocked, ""),
          "memory-failure (hwpoison) handling only"),
      off(row(kAops, "swap_activate", {}, kBlocks, kFNo, ""), kNoSwap),
      off(row(kAops, "swap_deactivate", {}, kBlocks, kFNo, ""), kNoSwap),
      off(row(kAops, "swap_rw", {}, kBlocks, kFUnlocks, ""), kNoSwap),

      // file_lock_operations: inode->i_lock | may block
      row(kFlops, "fl_copy_lock", {ex(kInode, kILock)}, kNoBlock, kNA, ""),
      row(kFlops, "fl_release_private", {maybe(kInode, kILock)}, kMaybeBlocks, kNA,
          "may block for flock or POSIX locks; on a lease (i_lock held) should not block"),

      // lock_manager_operations: flc_lock | blocked_lock_lock | may block
      off(row(kLmops, "lm_notify", {no(kInode, kFlcLock), ex(kGlobal, kBlockedLockLock)}, kNoBlock,
              kNA, "unblock callback"),
          kLockManager),
      off(row(kLmops, "lm_grant", {no(kInode, kFlcLock), no(kGlobal, kBlockedLockLock)}, kNoBlock,
              kNA, ""),
          kLockManager),
      off(row(kLmops, "lm_break", {ex(kInode, kFlcLock), no(kGlobal, kBlockedLockLock)}, kNoBlock,
              kNA, "break_lease callback"),
          kLockManager),
      off(row(kLmops, "lm_change", {ex(kInode, kFlcLock), no(kGlobal, kBlockedLockLock)}, kNoBlock,
              kNA, ""),
          kLockManager),
      off(row(kLmops, "lm_breaker_owns_lease",
              {ex(kInode, kFlcLock), no(kGlobal, kBlockedLockLock)}, kNoBlock, kNA, ""),
          kLockManager),
      off(row(kLmops, "lm_lock_expirable", {ex(kInode, kFlcLock), no(kGlobal, kBlockedLockLock)},
              kNoBlock, kNA, ""),
          kLockManager),
      off(row(kLmops, "lm_expire_lock", {no(kInode, kFlcLock), no(kGlobal, kBlockedLockLock)},
              kBlocks, kNA, ""),
          kLockManager),
      off(row(kLmops, "lm_open_conflict", {ex(kInode, kFlcLock), no(kGlobal, kBlockedLockLock)},
              kNoBlock, kNA, "in the table, not in the prototypes"),
          kLockManager),
      off(row(kLmops, "lm_breaker_timedout", {ex(kInode, kFlcLock), no(kGlobal, kBlockedLockLock)},
              kNoBlock, kNA, ""),
          kLockManager),

      // block_device_operations: open_mutex
      off(row(kBdops, "open", {ex(kBlockDevice, kOpenMutex)}, kUnstated, kNA, ""), kBlockDev),
      off(row(kBdops, "release", {ex(kBlockDevice, kOpenMutex)}, kUnstated, kNA, ""), kBlockDev),
      off(row(kBdops, "ioctl", {no(kBlockDevice, kOpenMutex)}, kUnstated, kNA, ""), kBlockDev),
      off(row(kBdops, "compat_ioctl", {no(kBlockDevice, kOpenMutex)}, kUnstated, kNA, ""),
          kBlockDev),
      off(row(kBdops, "direct_access", {no(kBlockDevice, kOpenMutex)}, kUnstated, kNA, ""),
          kBlockDev),
      off(row(kBdops, "unlock_native_capacity", {no(kBlockDevice, kOpenMutex)}, kUnstated, kNA, ""),
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
      off(row(kFops, "iopoll", {}, kBlocks, kNA, ""), "polled block I/O (io_uring IOPOLL)"),
      row(kFops, "iterate_shared", {sh(kDir, kIRwsem), ex(kFile, kFPosLock)}, kBlocks, kNA,
          "called with i_rwsem held for reading, and with the file f_pos_lock held "
          "exclusively"),
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
      row(kFops, "get_unmapped_area", {}, kBlocks, kNA, ""),
      row(kFops, "check_flags", {}, kBlocks, kNA, ""),
      row(kFops, "flock", {}, kBlocks, kNA, ""),
      row(kFops, "splice_write", {}, kBlocks, kNA, ""),
      row(kFops, "splice_read", {}, kBlocks, kNA, ""),
      row(kFops, "setlease", {}, kBlocks, kNA, "should call generic_setlease()"),
      row(kFops, "fallocate", {}, kBlocks, kNA,
          "must take the invalidate_lock to prevent reloading now-stale page cache",
          {ex(kMapping, kInvalidateLock, "when punching holes or invalidating page cache")}),
      row(kFops, "show_fdinfo", {}, kBlocks, kNA, ""),
      off(row(kFops, "mmap_capabilities", {}, kBlocks, kNA, ""), "NOMMU kernels only"),
      row(kFops, "copy_file_range", {}, kBlocks, kNA,
          "must serialize against modifications of file data: i_rwsem against write(2), "
          "mapping->invalidate_lock against ->page_mkwrite",
          {ex(kInode, kIRwsem, "can be used against write(2)"),
           ex(kMapping, kInvalidateLock, "against changes via a memory mapping")}),
      off(row(kFops, "remap_file_range", {}, kBlocks, kNA,
              "must serialize against modifications of file data: i_rwsem against write(2), "
              "mapping->invalidate_lock against ->page_mkwrite",
              {ex(kInode, kIRwsem, "can be used against write(2)"),
               ex(kMapping, kInvalidateLock, "against changes via a memory mapping")}),
          "FUSE has no reflink/dedupe request"),
      row(kFops, "fadvise", {}, kBlocks, kNA, ""),

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

      // vm_operations_struct: mmap_lock | PageLocked(page)
      row(kVmops, "open", {ex(kMm, kMmapLock)}, kUnstated, kNA, ""),
      row(kVmops, "close", {either(kMm, kMmapLock)}, kUnstated, kNA, ""),
      row(kVmops, "fault", {sh(kMm, kMmapLock)}, kUnstated, kFCanReturnLocked,
          "must lock invalidate_lock if the page may be truncated/invalidated, then return "
          "with VM_FAULT_LOCKED and the page locked",
          {sh(kMapping, kInvalidateLock, "if the page may be truncated and/or invalidated")}),
      off(row(kVmops, "huge_fault", {maybe_sh(kMm, kMmapLock)}, kUnstated, kNA,
              "The mmap_lock may not be held when this method is called"),
          "PUD/PMD mappings: the VMA manager maps base pages"),
      off(row(kVmops, "map_pages", {maybe_sh(kMm, kMmapLock), sh(kGlobal, kRcu)}, kNoBlock, kNA,
              "called with the RCU lock held and must not block"),
          "fault-around: the VMA manager faults one page at a time"),
      row(kVmops, "page_mkwrite", {sh(kMm, kMmapLock)}, kUnstated, kFCanReturnLocked,
          "must ensure no truncate/invalidate races or races with ->remap_file_range or "
          "->copy_file_range; usually mapping->invalidate_lock is suitable",
          {sh(kMapping, kInvalidateLock, "usually")}),
      off(row(kVmops, "pfn_mkwrite", {sh(kMm, kMmapLock)}, kUnstated, kNA, ""),
          "VM_PFNMAP/VM_MIXEDMAP page-less entries only"),
      off(row(kVmops, "access", {sh(kMm, kMmapLock)}, kUnstated, kNA, ""),
          "needed only for VM_IO | VM_PFNMAP VMAs"),
  };
}

}  // namespace lockfs::locking::contract::data

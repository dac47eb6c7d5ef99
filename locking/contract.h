// The locking contract as data: the rules of Documentation/filesystems/locking.rst (newest),
// and of the 5.x and 3.x texts, as rows of (operations table, op) -> the locks held on each
// object involved, may-block, and the folio state on entry/exit. Callers in core/ look rows up
// and enforce them; printers and the profile diff are generated from the same rows.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "locking/result.h"

namespace lockfs::locking::contract {

enum class Profile : uint8_t {
  kCurrent,  // shared/reference/locking.rst (folios, iterate_shared + f_pos_lock, ...)
  kV5,       // the 5.x locking.rst (seed 003): pages, i_rwsem, iterate vs iterate_shared
  kV3,       // the 3.x Documentation/filesystems/Locking (seed 002): i_mutex, lookup exclusive
};
inline constexpr Profile kAllProfiles[] = {Profile::kCurrent, Profile::kV5, Profile::kV3};
const char* profile_name(Profile p);  // "current", "5.x", "3.x"
// Accepts "current" (also "newest", "6.x"), "5.x", "3.x". -EINVAL otherwise.
Result<Profile> profile_by_name(std::string_view name);

// Which lock a rule is about. kIRwsem also stands for the 3.x i_mutex, kMmapLock for the 3.x
// mmap_sem and kOpenMutex for the 5.x/3.x bd_mutex (each printed as its profile names it).
enum class LockId : uint8_t {
  kIRwsem, kInvalidateLock, kFolioLock, kSUmount, kSVfsRenameSem, kMmapLock, kVmaLock,
  kFPosLock, kILock, kDLock, kRenameLock, kFlcLock, kBlockedLockLock, kOpenMutex, kDqioSem,
  kBkl,  // 3.x: the big kernel lock column, where the old text has one
  // Locks the texts name outside the main columns (notes, old tables).
  kFileLockLock,  // 3.x file_lock_operations / lock_manager_operations: global file_lock_lock
  kFileListLock,  // 3.x ->setlease: "has the file_list_lock held"
  kSwapLock,      // block_device ->swap_slot_free_notify: "called with swap_lock"
  kNamespaceSem,  // ->show_options: "(namespace_sem)"
  kRcu,           // RCU read side: dentry ops in rcu-walk, ->map_pages "with the RCU lock held"
  kPageTableLock, // 5.x ->map_pages: "called with page table locked"
  kDqonoffSem,    // dquot_operations: "dqonoff_sem or dqptr_sem"
  kDqptrSem,
  kBhLock,        // buffer_head ->b_end_io: "bh is locked"
};
const char* lock_name(LockId l, Profile p);

// The object the lock is on, as locking.rst names it.
enum class Role : uint8_t {
  kInode,       // "the inode" of a non-directory op (setattr, xattr set, fileattr_set)
  kDir,         // the directory operated in (lookup, create, ...)
  kVictim,      // rmdir/unlink/rename: the object removed or replaced
  kSource,      // link: the object linked; rename: the object moved
  kParents,     // rename: both parents
  kNonDirs,     // unlink/rename: all non-directories involved
  kMovedDir,    // rename: any subdirectory that changes parent
  kFile,        // the struct file (f_pos_lock)
  kMapping,     // the address_space (invalidate_lock)
  kFolio,
  kSuperblock,
  kMm,          // the mm (mmap_lock)
  kVma,
  kDentry,
  kGlobal,      // a global lock (rename_lock, blocked_lock_lock)
  kBlockDevice, // block_device_operations: the block device / gendisk (open_mutex, bd_mutex)
  kBufferHead,  // buffer_head ->b_end_io
};
const char* role_name(Role r);

enum class Req : uint8_t {
  kNo,                  // "no": must not be held by the caller
  kShared,              // "shared" / "read"
  kExclusive,           // "exclusive" / "write" / "yes" for exclusive-only locks
  kSharedOrExclusive,   // "read/write", or atomic_open's "shared (exclusive if O_CREAT)"
  kMaybe,               // "maybe" / "no or exclusive"
  kMaybeShared,         // "maybe-read", "maybe(read)"
  kHeld,                // "yes" for a lock with shared and exclusive sides, mode not stated
                        // (5.x/3.x mmap_lock column, rename_lock, "(namespace_sem)")
};
const char* req_name(Req r);

enum class MayBlock : uint8_t {
  kYes, kNo, kMaybe, kRefWalk /* yes (ref-walk) */,
  kNotStated,  // the text says nothing (block_device, dquot, most vm_operations rows)
};
const char* may_block_name(MayBlock m);

// Folio (3.x/5.x: page) lock state on entry and what the method does with it.
enum class FolioState : uint8_t {
  kNotApplicable,
  kNo,               // "no": not locked
  kLocked,           // "yes"
  kLockedUnlocks,    // "yes, unlocks": locked on entry, method unlocks
  kLocksIt,          // "locks the folio": method returns it locked (write_begin)
  kLockedBoth,       // "yes (both)" (migrate_folio)
  kMaybe,
  kCanReturnLocked,  // vm fault/page_mkwrite: "can return with page locked"
};
const char* folio_state_name(FolioState s);

struct LockRule {
  Role role;
  LockId lock;
  Req req;
  const char* condition;  // "" or when the rule applies ("cross-directory", "if O_CREAT")
};

struct Row {
  const char* table;  // "inode_operations", "file_operations", ...
  const char* op;     // "lookup", "iterate_shared", "read_folio", ...
  std::vector<LockRule> locks;
  MayBlock may_block;
  FolioState folio;
  const char* note;   // the notes of the text that change or explain the rule ("" if none)
  bool exercised;     // false: cannot apply to a FUSE filesystem; `reason` says why
  const char* reason;
  // Locks the text says the method itself must take (not held on entry): fallocate and
  // copy_file_range's invalidate_lock, ->fault's invalidate_lock, 5.x/3.x ->mount's s_umount.
  std::vector<LockRule> takes;
};

// All rows of a profile, in the order of the text.
const std::vector<Row>& rows(Profile p);
// nullptr when the profile has no such op (e.g. "iterate_shared" in 3.x has "readdir").
const Row* find_row(Profile p, std::string_view table, std::string_view op);
// The requirement a row puts on (role, lock); kNo when the row says nothing of it.
Req required(const Row& row, Role role, LockId lock);
// The row's rules as one line: "i_rwsem(dir)=exclusive; s_vfs_rename_sem(superblock)=exclusive
// [cross-directory]", then "takes invalidate_lock(mapping)=exclusive" for each lock the method
// takes itself. "-" when the row has no rule.
std::string format_locks(const Row& row, Profile p);
// "yes, unlocks", "locks the folio" (3.x/5.x: "locks the page"), "-" when not applicable.
std::string folio_state_text(FolioState s, Profile p);

// True when `only` is empty, or equals the row's op or "table.op".
bool row_matches(const Row& row, std::string_view only);
// Prints all rows of the profile (or those whose op or "table.op" equals `only`).
void print_table(std::ostream& os, Profile p, std::string_view only = {});
// Prints, table by table, rows added, removed and changed between two profiles.
void print_diff(std::ostream& os, Profile a, Profile b);

}  // namespace lockfs::locking::contract

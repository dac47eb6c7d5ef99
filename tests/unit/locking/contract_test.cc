// Tests of the contract table (locking/contract*.cc): that every op of every table of the three
// texts has a row, that the key rules read as the texts say, and what the printers show.
#include "locking/contract.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace lockfs::locking::contract {
namespace {

// A hang fails the test: SIGALRM's default action kills the process.
class Contract : public ::testing::Test {
 protected:
  void SetUp() override { alarm(20); }
  void TearDown() override { alarm(0); }
};

using OpLists = std::map<std::string, std::vector<std::string>>;

// The ops of each table, read off the texts (the union of the prototypes and the locking
// table; d_prune and lm_open_conflict are only in the tables, truncate and get_sb only in the
// prototypes). Written from the texts, not from the rows, so a dropped or invented row fails.
const OpLists kCurrentOps = {
    {"dentry_operations",
     {"d_revalidate", "d_weak_revalidate", "d_hash", "d_compare", "d_delete", "d_init", "d_release",
      "d_prune", "d_iput", "d_dname", "d_automount", "d_manage", "d_real", "d_unalias_trylock",
      "d_unalias_unlock"}},
    {"inode_operations",
     {"create",      "lookup",        "link",        "unlink",   "symlink",      "mkdir",
      "rmdir",       "mknod",         "rename",      "readlink", "get_link",     "truncate",
      "permission",  "get_inode_acl", "setattr",     "getattr",  "listxattr",    "fiemap",
      "update_time", "sync_lazytime", "atomic_open", "tmpfile",  "fileattr_set", "fileattr_get",
      "get_acl",     "get_offset_ctx"}},
    {"xattr_handler", {"list", "get", "set"}},
    {"super_operations",
     {"alloc_inode", "free_inode", "destroy_inode", "dirty_inode", "write_inode", "drop_inode",
      "evict_inode", "put_super", "sync_fs", "freeze_fs", "unfreeze_fs", "statfs", "umount_begin",
      "show_options", "quota_read", "quota_write"}},
    {"file_system_type", {"kill_sb"}},
    {"address_space_operations",
     {"read_folio", "writepages", "dirty_folio", "readahead", "write_begin", "write_end", "bmap",
      "invalidate_folio", "release_folio", "free_folio", "direct_IO", "migrate_folio",
      "launder_folio", "is_partially_uptodate", "error_remove_folio", "swap_activate",
      "swap_deactivate", "swap_rw"}},
    {"file_lock_operations", {"fl_copy_lock", "fl_release_private"}},
    {"lock_manager_operations",
     {"lm_notify", "lm_grant", "lm_break", "lm_change", "lm_breaker_owns_lease",
      "lm_lock_expirable", "lm_expire_lock", "lm_open_conflict", "lm_breaker_timedout"}},
    {"block_device_operations",
     {"open", "release", "ioctl", "compat_ioctl", "direct_access", "unlock_native_capacity",
      "getgeo", "swap_slot_free_notify"}},
    {"file_operations",
     {"llseek",
      "read",
      "write",
      "read_iter",
      "write_iter",
      "iopoll",
      "iterate_shared",
      "poll",
      "unlocked_ioctl",
      "compat_ioctl",
      "mmap",
      "open",
      "flush",
      "release",
      "fsync",
      "fasync",
      "lock",
      "get_unmapped_area",
      "check_flags",
      "flock",
      "splice_write",
      "splice_read",
      "setlease",
      "fallocate",
      "show_fdinfo",
      "mmap_capabilities",
      "copy_file_range",
      "remap_file_range",
      "fadvise"}},
    {"dquot_operations",
     {"write_dquot", "acquire_dquot", "release_dquot", "mark_dirty", "write_info"}},
    {"vm_operations_struct",
     {"open", "close", "fault", "huge_fault", "map_pages", "page_mkwrite", "pfn_mkwrite",
      "access"}},
};

const OpLists kV5Ops = {
    {"dentry_operations",
     {"d_revalidate", "d_weak_revalidate", "d_hash", "d_compare", "d_delete", "d_init", "d_release",
      "d_prune", "d_iput", "d_dname", "d_automount", "d_manage", "d_real"}},
    {"inode_operations",
     {"create",  "lookup",  "link",      "unlink",   "symlink",     "mkdir",       "rmdir",
      "mknod",   "rename",  "readlink",  "get_link", "truncate",    "permission",  "get_acl",
      "setattr", "getattr", "listxattr", "fiemap",   "update_time", "atomic_open", "tmpfile"}},
    {"xattr_handler", {"list", "get", "set"}},
    {"super_operations",
     {"alloc_inode", "free_inode", "destroy_inode", "dirty_inode", "write_inode", "drop_inode",
      "evict_inode", "put_super", "sync_fs", "freeze_fs", "unfreeze_fs", "statfs", "remount_fs",
      "umount_begin", "show_options", "quota_read", "quota_write", "bdev_try_to_free_page"}},
    {"file_system_type", {"mount", "kill_sb"}},
    {"address_space_operations", {"writepage",         "readpage",      "writepages",
                                  "set_page_dirty",    "readahead",     "readpages",
                                  "write_begin",       "write_end",     "bmap",
                                  "invalidatepage",    "releasepage",   "freepage",
                                  "direct_IO",         "isolate_page",  "migratepage",
                                  "putback_page",      "launder_page",  "is_partially_uptodate",
                                  "error_remove_page", "swap_activate", "swap_deactivate"}},
    {"file_lock_operations", {"fl_copy_lock", "fl_release_private"}},
    {"lock_manager_operations",
     {"lm_notify", "lm_grant", "lm_break", "lm_change", "lm_breaker_owns_lease"}},
    {"buffer_head", {"b_end_io"}},
    {"block_device_operations",
     {"open", "release", "ioctl", "compat_ioctl", "direct_access", "unlock_native_capacity",
      "revalidate_disk", "getgeo", "swap_slot_free_notify"}},
    {"file_operations", {"llseek",         "read",
                         "write",          "read_iter",
                         "write_iter",     "iterate",
                         "iterate_shared", "poll",
                         "unlocked_ioctl", "compat_ioctl",
                         "mmap",           "open",
                         "flush",          "release",
                         "fsync",          "fasync",
                         "lock",           "readv",
                         "writev",         "sendfile",
                         "sendpage",       "get_unmapped_area",
                         "check_flags",    "flock",
                         "splice_write",   "splice_read",
                         "setlease",       "fallocate"}},
    {"dquot_operations",
     {"write_dquot", "acquire_dquot", "release_dquot", "mark_dirty", "write_info"}},
    {"vm_operations_struct",
     {"open", "close", "fault", "map_pages", "page_mkwrite", "pfn_mkwrite", "access"}},
};

const OpLists kV3Ops = {
    {"dentry_operations",
     {"d_revalidate", "d_hash", "d_compare", "d_delete", "d_release", "d_prune", "d_iput",
      "d_dname", "d_automount", "d_manage"}},
    {"inode_operations",
     {"create",   "lookup",     "link",        "unlink",   "symlink",     "mkdir",
      "rmdir",    "mknod",      "rename",      "readlink", "follow_link", "put_link",
      "truncate", "permission", "get_acl",     "setattr",  "getattr",     "setxattr",
      "getxattr", "listxattr",  "removexattr", "fiemap",   "update_time", "atomic_open"}},
    {"super_operations",
     {"alloc_inode", "destroy_inode", "dirty_inode", "write_inode", "drop_inode", "evict_inode",
      "put_super", "sync_fs", "freeze_fs", "unfreeze_fs", "statfs", "remount_fs", "umount_begin",
      "show_options", "quota_read", "quota_write", "bdev_try_to_free_page"}},
    {"file_system_type", {"get_sb", "mount", "kill_sb"}},
    {"address_space_operations",
     {"writepage",
      "readpage",
      "sync_page",
      "writepages",
      "set_page_dirty",
      "readpages",
      "write_begin",
      "write_end",
      "bmap",
      "invalidatepage",
      "releasepage",
      "freepage",
      "direct_IO",
      "get_xip_mem",
      "migratepage",
      "launder_page",
      "is_partially_uptodate",
      "error_remove_page",
      "swap_activate",
      "swap_deactivate"}},
    {"file_lock_operations", {"fl_copy_lock", "fl_release_private"}},
    {"lock_manager_operations",
     {"lm_compare_owner", "lm_notify", "lm_grant", "lm_break", "lm_change"}},
    {"buffer_head", {"b_end_io"}},
    {"block_device_operations",
     {"open", "release", "ioctl", "compat_ioctl", "direct_access", "media_changed",
      "unlock_native_capacity", "revalidate_disk", "getgeo", "swap_slot_free_notify"}},
    {"file_operations", {"llseek",       "read",
                         "write",        "aio_read",
                         "aio_write",    "readdir",
                         "poll",         "unlocked_ioctl",
                         "compat_ioctl", "mmap",
                         "open",         "flush",
                         "release",      "fsync",
                         "aio_fsync",    "fasync",
                         "lock",         "readv",
                         "writev",       "sendfile",
                         "sendpage",     "get_unmapped_area",
                         "check_flags",  "flock",
                         "splice_write", "splice_read",
                         "setlease",     "fallocate"}},
    {"dquot_operations",
     {"write_dquot", "acquire_dquot", "release_dquot", "mark_dirty", "write_info"}},
    {"vm_operations_struct", {"open", "close", "fault", "page_mkwrite", "access"}},
};

const OpLists& ops_of(Profile p) {
  switch (p) {
    case Profile::kCurrent:
      return kCurrentOps;
    case Profile::kV5:
      return kV5Ops;
    case Profile::kV3:
      return kV3Ops;
  }
  return kCurrentOps;
}

const Row& must_find(Profile p, const char* table, const char* op) {
  const Row* r = find_row(p, table, op);
  EXPECT_NE(r, nullptr) << profile_name(p) << " " << table << "." << op;
  static const Row kEmpty{"",   "", {}, MayBlock::kNotStated, FolioState::kNotApplicable, "",
                          true, "", {}};
  return r != nullptr ? *r : kEmpty;
}

const LockRule* rule_of(const Row& r, Role role, LockId lock) {
  for (const LockRule& l : r.locks) {
    if (l.role == role && l.lock == lock) return &l;
  }
  return nullptr;
}

std::string diff(Profile a, Profile b) {
  std::ostringstream os;
  print_diff(os, a, b);
  return os.str();
}

// The lines of `text` from the one starting with `start` (after leading blanks) up to, not
// including, the next line that starts a new entry ("  changed", "  only in", "  renamed",
// "  note only", "== ").
std::string entry(const std::string& text, const std::string& start) {
  std::istringstream in(text);
  std::string line, out;
  bool inside = false;
  while (std::getline(in, line)) {
    std::string trimmed = line.substr(std::min(line.find_first_not_of(' '), line.size()));
    bool header = line.rfind("  changed", 0) == 0 || line.rfind("  only in", 0) == 0 ||
                  line.rfind("  renamed", 0) == 0 || line.rfind("  note only", 0) == 0 ||
                  line.rfind("== ", 0) == 0;
    if (inside && header) break;
    if (!inside && trimmed.rfind(start, 0) == 0) inside = true;
    if (inside) out += line + "\n";
  }
  return out;
}

TEST_F(Contract, RowCountsPerTableMatchTheTexts) {
  for (Profile p : kAllProfiles) {
    std::map<std::string, std::multiset<std::string>> got;
    for (const Row& r : rows(p)) got[r.table].insert(r.op);
    const OpLists& want = ops_of(p);
    EXPECT_EQ(got.size(), want.size()) << profile_name(p) << ": number of tables";
    for (const auto& [table, ops] : want) {
      EXPECT_EQ(got[table].size(), ops.size()) << profile_name(p) << " " << table;
      EXPECT_EQ(got[table], std::multiset<std::string>(ops.begin(), ops.end()))
          << profile_name(p) << " " << table;
    }
  }
  size_t current = 0, v5 = 0, v3 = 0;
  for (const auto& [t, ops] : kCurrentOps) current += ops.size();
  for (const auto& [t, ops] : kV5Ops) v5 += ops.size();
  for (const auto& [t, ops] : kV3Ops) v3 += ops.size();
  EXPECT_EQ(current, 140u);
  EXPECT_EQ(v5, 135u);
  EXPECT_EQ(v3, 130u);
  EXPECT_EQ(rows(Profile::kCurrent).size(), current);
  EXPECT_EQ(rows(Profile::kV5).size(), v5);
  EXPECT_EQ(rows(Profile::kV3).size(), v3);
}

TEST_F(Contract, LookupIsSharedNowAndExclusiveIn3x) {
  EXPECT_EQ(required(must_find(Profile::kCurrent, "inode_operations", "lookup"), Role::kDir,
                     LockId::kIRwsem),
            Req::kShared);
  EXPECT_EQ(
      required(must_find(Profile::kV5, "inode_operations", "lookup"), Role::kDir, LockId::kIRwsem),
      Req::kShared);
  EXPECT_EQ(
      required(must_find(Profile::kV3, "inode_operations", "lookup"), Role::kDir, LockId::kIRwsem),
      Req::kExclusive);
  EXPECT_STREQ(lock_name(LockId::kIRwsem, Profile::kV3), "i_mutex");
  EXPECT_STREQ(lock_name(LockId::kIRwsem, Profile::kCurrent), "i_rwsem");
}

TEST_F(Contract, RenameRules) {
  for (Profile p : kAllProfiles) {
    const Row& r = must_find(p, "inode_operations", "rename");
    EXPECT_EQ(required(r, Role::kParents, LockId::kIRwsem), Req::kExclusive);
    EXPECT_EQ(required(r, Role::kVictim, LockId::kIRwsem), Req::kExclusive);
    const LockRule* s = rule_of(r, Role::kSuperblock, LockId::kSVfsRenameSem);
    ASSERT_NE(s, nullptr) << profile_name(p);
    EXPECT_EQ(s->req, Req::kExclusive);
    EXPECT_NE(std::string(s->condition).find("cross-directory"), std::string::npos);
  }
  // Only the newest text locks the non-directories and the subdirectory that moves.
  const Row& now = must_find(Profile::kCurrent, "inode_operations", "rename");
  EXPECT_EQ(required(now, Role::kNonDirs, LockId::kIRwsem), Req::kExclusive);
  EXPECT_EQ(required(now, Role::kMovedDir, LockId::kIRwsem), Req::kExclusive);
  const Row& v5 = must_find(Profile::kV5, "inode_operations", "rename");
  EXPECT_EQ(rule_of(v5, Role::kNonDirs, LockId::kIRwsem), nullptr);
  EXPECT_EQ(rule_of(v5, Role::kMovedDir, LockId::kIRwsem), nullptr);
}

TEST_F(Contract, UnlinkAndRmdirLockTheVictimExclusive) {
  for (Profile p : kAllProfiles) {
    for (const char* op : {"unlink", "rmdir"}) {
      const Row& r = must_find(p, "inode_operations", op);
      EXPECT_EQ(required(r, Role::kDir, LockId::kIRwsem), Req::kExclusive) << op;
      EXPECT_EQ(required(r, Role::kVictim, LockId::kIRwsem), Req::kExclusive) << op;
    }
  }
  EXPECT_EQ(required(must_find(Profile::kCurrent, "inode_operations", "unlink"), Role::kNonDirs,
                     LockId::kIRwsem),
            Req::kExclusive);
}

TEST_F(Contract, AtomicOpenAndFileattr) {
  const LockRule* ao = rule_of(must_find(Profile::kCurrent, "inode_operations", "atomic_open"),
                               Role::kDir, LockId::kIRwsem);
  ASSERT_NE(ao, nullptr);
  EXPECT_EQ(ao->req, Req::kSharedOrExclusive);
  EXPECT_NE(std::string(ao->condition).find("O_CREAT"), std::string::npos);
  EXPECT_EQ(required(must_find(Profile::kV3, "inode_operations", "atomic_open"), Role::kDir,
                     LockId::kIRwsem),
            Req::kExclusive);
  EXPECT_EQ(required(must_find(Profile::kCurrent, "inode_operations", "fileattr_get"), Role::kInode,
                     LockId::kIRwsem),
            Req::kMaybe);
  EXPECT_EQ(required(must_find(Profile::kCurrent, "inode_operations", "fileattr_set"), Role::kInode,
                     LockId::kIRwsem),
            Req::kExclusive);
}

TEST_F(Contract, FolioRules) {
  const Row& wb = must_find(Profile::kCurrent, "address_space_operations", "write_begin");
  EXPECT_EQ(wb.folio, FolioState::kLocksIt);
  EXPECT_EQ(required(wb, Role::kInode, LockId::kIRwsem), Req::kExclusive);
  const Row& rf = must_find(Profile::kCurrent, "address_space_operations", "read_folio");
  EXPECT_EQ(rf.folio, FolioState::kLockedUnlocks);
  EXPECT_EQ(required(rf, Role::kMapping, LockId::kInvalidateLock), Req::kShared);
  const Row& inv = must_find(Profile::kCurrent, "address_space_operations", "invalidate_folio");
  EXPECT_EQ(inv.folio, FolioState::kLocked);
  EXPECT_EQ(required(inv, Role::kMapping, LockId::kInvalidateLock), Req::kExclusive);
  // 5.x: the same states on pages, and no invalidate_lock at all.
  const Row& rp = must_find(Profile::kV5, "address_space_operations", "readpage");
  EXPECT_EQ(rp.folio, FolioState::kLockedUnlocks);
  EXPECT_EQ(rule_of(rp, Role::kMapping, LockId::kInvalidateLock), nullptr);
  EXPECT_EQ(folio_state_text(FolioState::kLocksIt, Profile::kV5), "locks the page");
  EXPECT_EQ(folio_state_text(FolioState::kLocksIt, Profile::kCurrent), "locks the folio");
}

TEST_F(Contract, IterateSharedHoldsFPosLock) {
  const Row& it = must_find(Profile::kCurrent, "file_operations", "iterate_shared");
  EXPECT_EQ(required(it, Role::kDir, LockId::kIRwsem), Req::kShared);
  EXPECT_EQ(required(it, Role::kFile, LockId::kFPosLock), Req::kExclusive);
  const Row& v5 = must_find(Profile::kV5, "file_operations", "iterate_shared");
  EXPECT_EQ(required(v5, Role::kDir, LockId::kIRwsem), Req::kSharedOrExclusive);
  EXPECT_EQ(rule_of(v5, Role::kFile, LockId::kFPosLock), nullptr);
  EXPECT_EQ(
      required(must_find(Profile::kV5, "file_operations", "iterate"), Role::kDir, LockId::kIRwsem),
      Req::kExclusive);
}

TEST_F(Contract, InvalidateLockTakenByFallocateAndCopyFileRange) {
  for (const char* op : {"fallocate", "copy_file_range", "remap_file_range"}) {
    const Row& r = must_find(Profile::kCurrent, "file_operations", op);
    bool takes = false;
    for (const LockRule& l : r.takes) {
      takes |=
          l.lock == LockId::kInvalidateLock && l.role == Role::kMapping && l.req == Req::kExclusive;
    }
    EXPECT_TRUE(takes) << op;
    EXPECT_TRUE(r.locks.empty()) << op << ": not held on entry";
  }
}

TEST_F(Contract, VmOperationsMmapLockModes) {
  auto mode = [](Profile p, const char* op) {
    return required(must_find(p, "vm_operations_struct", op), Role::kMm, LockId::kMmapLock);
  };
  EXPECT_EQ(mode(Profile::kCurrent, "open"), Req::kExclusive);
  EXPECT_EQ(mode(Profile::kCurrent, "close"), Req::kSharedOrExclusive);
  EXPECT_EQ(mode(Profile::kCurrent, "fault"), Req::kShared);
  EXPECT_EQ(mode(Profile::kCurrent, "huge_fault"), Req::kMaybeShared);
  EXPECT_EQ(mode(Profile::kCurrent, "map_pages"), Req::kMaybeShared);
  EXPECT_EQ(mode(Profile::kCurrent, "page_mkwrite"), Req::kShared);
  EXPECT_EQ(mode(Profile::kV5, "open"), Req::kHeld);
  EXPECT_EQ(mode(Profile::kV3, "fault"), Req::kHeld);
  EXPECT_STREQ(lock_name(LockId::kMmapLock, Profile::kV3), "mmap_sem");
  const Row& mk = must_find(Profile::kCurrent, "vm_operations_struct", "page_mkwrite");
  EXPECT_EQ(mk.folio, FolioState::kCanReturnLocked);
  ASSERT_EQ(mk.takes.size(), 1u);
  EXPECT_EQ(mk.takes[0].lock, LockId::kInvalidateLock);
}

TEST_F(Contract, SuperOperationNotes) {
  const Row& drop = must_find(Profile::kCurrent, "super_operations", "drop_inode");
  EXPECT_EQ(required(drop, Role::kInode, LockId::kILock), Req::kExclusive);
  EXPECT_EQ(drop.may_block, MayBlock::kNo);
  EXPECT_EQ(required(must_find(Profile::kCurrent, "super_operations", "statfs"), Role::kSuperblock,
                     LockId::kSUmount),
            Req::kMaybeShared);
  EXPECT_EQ(required(must_find(Profile::kCurrent, "file_system_type", "kill_sb"), Role::kSuperblock,
                     LockId::kSUmount),
            Req::kExclusive);
}

TEST_F(Contract, ProfileByName) {
  EXPECT_EQ(*profile_by_name("current"), Profile::kCurrent);
  EXPECT_EQ(*profile_by_name("newest"), Profile::kCurrent);
  EXPECT_EQ(*profile_by_name("6.x"), Profile::kCurrent);
  EXPECT_EQ(*profile_by_name("5.x"), Profile::kV5);
  EXPECT_EQ(*profile_by_name("3.x"), Profile::kV3);
  for (const char* bad : {"", "4.x", "Current", "5", "3.x "}) {
    auto r = profile_by_name(bad);
    EXPECT_FALSE(r.ok()) << "'" << bad << "'";
    EXPECT_EQ(r.error(), -EINVAL);
  }
  for (Profile p : kAllProfiles) EXPECT_EQ(*profile_by_name(profile_name(p)), p);
}

TEST_F(Contract, FindRowOfAMissingOpIsNull) {
  EXPECT_EQ(find_row(Profile::kV3, "file_operations", "iterate_shared"), nullptr);
  EXPECT_EQ(find_row(Profile::kCurrent, "address_space_operations", "readpage"), nullptr);
  EXPECT_EQ(find_row(Profile::kCurrent, "inode_operations", "no_such_op"), nullptr);
  EXPECT_EQ(find_row(Profile::kCurrent, "no_such_table", "lookup"), nullptr);
  EXPECT_EQ(find_row(Profile::kV3, "xattr_handler", "set"), nullptr);
  EXPECT_NE(find_row(Profile::kV3, "file_operations", "readdir"), nullptr);
  EXPECT_EQ(required(must_find(Profile::kCurrent, "inode_operations", "lookup"), Role::kVictim,
                     LockId::kIRwsem),
            Req::kNo);
}

TEST_F(Contract, RowMatches) {
  const Row& r = must_find(Profile::kCurrent, "file_operations", "open");
  EXPECT_TRUE(row_matches(r, ""));
  EXPECT_TRUE(row_matches(r, "open"));
  EXPECT_TRUE(row_matches(r, "file_operations.open"));
  EXPECT_FALSE(row_matches(r, "vm_operations_struct.open"));
  EXPECT_FALSE(row_matches(r, "file_operations.ope"));
  EXPECT_FALSE(row_matches(r, "file_operationsXopen"));
}

TEST_F(Contract, PrintTableContainsEveryOp) {
  for (Profile p : kAllProfiles) {
    std::ostringstream os;
    print_table(os, p);
    const std::string out = os.str();
    for (const auto& [table, ops] : ops_of(p)) {
      EXPECT_NE(out.find("== " + table + " =="), std::string::npos) << table;
      for (const std::string& op : ops) {
        EXPECT_NE(out.find("\n  " + op + " "), std::string::npos)
            << profile_name(p) << " " << table << "." << op;
      }
    }
  }
  std::ostringstream v3;
  print_table(v3, Profile::kV3, "lookup");
  EXPECT_NE(v3.str().find("i_mutex(dir)=exclusive"), std::string::npos) << v3.str();
  EXPECT_EQ(v3.str().find("i_rwsem"), std::string::npos);
  EXPECT_NE(v3.str().find("1 row, 1 exercised on FUSE\n"), std::string::npos);
}

TEST_F(Contract, PrintTableFiltersByOpOrTableOp) {
  std::ostringstream all_opens, one_open;
  print_table(all_opens, Profile::kCurrent, "open");
  print_table(one_open, Profile::kCurrent, "vm_operations_struct.open");
  EXPECT_NE(all_opens.str().find("3 rows, 2 exercised on FUSE"), std::string::npos)
      << all_opens.str();
  EXPECT_NE(one_open.str().find("1 row, 1 exercised on FUSE\n"), std::string::npos);
  EXPECT_NE(one_open.str().find("mmap_lock(mm)=write"), std::string::npos) << one_open.str();
  EXPECT_EQ(one_open.str().find("file_operations"), std::string::npos);
  std::ostringstream rename;
  print_table(rename, Profile::kCurrent, "rename");
  EXPECT_NE(rename.str().find("s_vfs_rename_sem(superblock)=exclusive [cross-directory]"),
            std::string::npos)
      << rename.str();
}

TEST_F(Contract, DiffCurrentVs5xShowsTheSeedChanges) {
  const std::string d = diff(Profile::kCurrent, Profile::kV5);
  // rename: "exclusive (both parents, some children)" vs "exclusive (all)".
  const std::string rename = entry(d, "changed rename");
  EXPECT_NE(rename.find("i_rwsem(non-dirs)=exclusive"), std::string::npos) << d;
  EXPECT_NE(rename.find("moved-dir"), std::string::npos);
  EXPECT_NE(rename.find("both parents, some children"), std::string::npos);
  EXPECT_NE(rename.find("exclusive (all)"), std::string::npos);
  EXPECT_NE(entry(d, "changed unlink").find("non-dirs"), std::string::npos);
  // iterate_shared: f_pos_lock, i_rwsem read vs "at least shared"; ->iterate is gone.
  const std::string it = entry(d, "changed iterate_shared");
  EXPECT_NE(it.find("f_pos_lock(file)=exclusive"), std::string::npos) << d;
  EXPECT_NE(it.find("at least shared"), std::string::npos);
  EXPECT_NE(entry(d, "5.x:     iterate:").find("i_rwsem(dir)=exclusive"), std::string::npos);
  // fileattr_get/set and the other inode ops that only the newest text has.
  EXPECT_NE(entry(d, "current: fileattr_get:").find("maybe"), std::string::npos);
  EXPECT_NE(entry(d, "current: fileattr_set:").find("exclusive"), std::string::npos);
  EXPECT_NE(d.find("current: get_inode_acl:"), std::string::npos);
  // invalidate_lock: read_folio/readpage and invalidate_folio/invalidatepage pair up.
  const std::string rf = entry(d, "renamed read_folio (current) / readpage (5.x)");
  EXPECT_NE(rf.find("invalidate_lock(mapping)=shared"), std::string::npos) << d;
  EXPECT_NE(rf.find("page: yes, unlocks"), std::string::npos);
  EXPECT_NE(entry(d, "renamed invalidate_folio").find("invalidate_lock(mapping)=exclusive"),
            std::string::npos);
  EXPECT_NE(entry(d, "renamed dirty_folio (current) / set_page_dirty (5.x)").find("maybe"),
            std::string::npos);
  EXPECT_NE(entry(d, "changed fallocate").find("takes invalidate_lock(mapping)=exclusive"),
            std::string::npos);
  EXPECT_NE(entry(d, "current: copy_file_range:").find("takes invalidate_lock"), std::string::npos);
  EXPECT_NE(d.find("current: swap_rw:"), std::string::npos);
  EXPECT_NE(d.find("5.x:     writepage:"), std::string::npos);
  // vm_operations_struct: modes instead of "yes", huge_fault, fault's invalidate_lock.
  EXPECT_NE(entry(d, "changed open:").find("mmap_lock(mm)=write"), std::string::npos) << d;
  EXPECT_NE(entry(d, "changed close:").find("read/write"), std::string::npos);
  const std::string fault = entry(d, "changed fault");
  EXPECT_NE(fault.find("mmap_lock(mm)=read"), std::string::npos);
  EXPECT_NE(fault.find("mmap_lock(mm)=held"), std::string::npos);
  EXPECT_NE(fault.find("takes invalidate_lock(mapping)=shared"), std::string::npos);
  EXPECT_NE(entry(d, "current: huge_fault:").find("maybe-read"), std::string::npos);
  EXPECT_NE(entry(d, "changed page_mkwrite").find("invalidate_lock"), std::string::npos);
  // lock_manager_operations: flc_lock instead of i_lock; open_mutex instead of bd_mutex.
  EXPECT_NE(entry(d, "changed lm_notify").find("flc_lock(inode)=no"), std::string::npos);
  EXPECT_NE(entry(d, "changed lm_breaker_owns_lease").find("flc_lock(inode)=exclusive"),
            std::string::npos);
  EXPECT_NE(d.find("open_mutex (current) = bd_mutex (5.x)"), std::string::npos);
  // Rows the two texts state alike are not listed: atomic_open reads the same in both.
  EXPECT_EQ(d.find("changed atomic_open"), std::string::npos);
  EXPECT_EQ(d.find("changed lookup"), std::string::npos);
}

TEST_F(Contract, DiffCurrentVs3xShowsLookupExclusiveToShared) {
  const std::string d = diff(Profile::kCurrent, Profile::kV3);
  const std::string lookup = entry(d, "changed lookup");
  EXPECT_NE(lookup.find("current: lookup: i_rwsem(dir)=shared"), std::string::npos) << d;
  EXPECT_NE(lookup.find("3.x:     lookup: i_mutex(dir)=exclusive"), std::string::npos) << d;
  const std::string ao = entry(d, "changed atomic_open");
  EXPECT_NE(ao.find("i_rwsem(dir)=shared/exclusive [exclusive if O_CREAT is set]"),
            std::string::npos)
      << d;
  EXPECT_NE(ao.find("i_mutex(dir)=exclusive"), std::string::npos);
  EXPECT_NE(d.find("i_rwsem (current) = i_mutex (3.x)"), std::string::npos);
  EXPECT_NE(d.find("renamed iterate_shared (current) / readdir (3.x)"), std::string::npos);
  EXPECT_NE(d.find("3.x:     setxattr:"), std::string::npos);
  // Creating ops held i_mutex exclusive then and i_rwsem exclusive now: not a change.
  EXPECT_EQ(d.find("changed create"), std::string::npos);
}

TEST_F(Contract, DiffSeparatesRuleChangesFromRewording) {
  const std::string d = diff(Profile::kV5, Profile::kV3);
  // "exclusive (both)" (5.x) and "yes (both)" (3.x) state the same rule in other words.
  EXPECT_EQ(d.find("changed link"), std::string::npos) << d;
  const std::string link = entry(d, "note only link");
  EXPECT_NE(link.find("exclusive (both)"), std::string::npos) << d;
  EXPECT_NE(link.find("yes (both)"), std::string::npos);
  EXPECT_NE(entry(d, "changed lookup").find("i_mutex(dir)=exclusive"), std::string::npos);
  EXPECT_NE(entry(d, "renamed iterate (5.x) / readdir (3.x), rules differ").find("exclusive"),
            std::string::npos)
      << d;
}

TEST_F(Contract, DiffOfAProfileWithItselfIsEmpty) {
  for (Profile p : kAllProfiles) {
    EXPECT_NE(diff(p, p).find("no differences"), std::string::npos) << profile_name(p);
  }
}

TEST_F(Contract, EveryNotExercisedRowSaysWhy) {
  for (Profile p : kAllProfiles) {
    size_t off = 0;
    for (const Row& r : rows(p)) {
      ASSERT_NE(r.reason, nullptr);
      ASSERT_NE(r.note, nullptr);
      if (r.exercised) {
        EXPECT_STREQ(r.reason, "") << r.table << "." << r.op;
      } else {
        ++off;
        EXPECT_GT(std::string(r.reason).size(), 8u) << r.table << "." << r.op;
      }
      for (const auto* rules : {&r.locks, &r.takes}) {
        for (const LockRule& l : *rules) ASSERT_NE(l.condition, nullptr);
      }
    }
    EXPECT_GT(off, 0u);
  }
  // The rows the brief names as not exercised on a FUSE filesystem.
  for (auto [table, op] : std::vector<std::pair<const char*, const char*>>{
           {"address_space_operations", "swap_activate"},
           {"address_space_operations", "bmap"},
           {"address_space_operations", "migrate_folio"},
           {"block_device_operations", "open"},
           {"dquot_operations", "write_dquot"},
           {"lock_manager_operations", "lm_break"},
           {"vm_operations_struct", "huge_fault"},
           {"dentry_operations", "d_automount"}}) {
    EXPECT_FALSE(must_find(Profile::kCurrent, table, op).exercised) << table << "." << op;
  }
  EXPECT_TRUE(must_find(Profile::kCurrent, "inode_operations", "rename").exercised);
}

}  // namespace
}  // namespace lockfs::locking::contract

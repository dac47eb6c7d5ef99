// The contract rows of each profile, their lookup, and the names the printers use.
// The rows themselves are in contract_current.cc, contract_v5.cc and contract_v3.cc.
#include "locking/contract.h"

#include <cstring>
#include <map>
#include <utility>

#include "locking/contract_data.h"

namespace lockfs::locking::contract {
namespace {

using Key = std::pair<std::string_view, std::string_view>;  // (table, op)

// Rows and their (table, op) index, built once per profile. Keys point into the string
// literals of the row tables, so lookups allocate nothing.
struct ProfileRows {
  std::vector<Row> rows;
  std::map<Key, const Row*, std::less<>> index;

  explicit ProfileRows(std::vector<Row> r) : rows(std::move(r)) {
    for (const Row& row : rows) {
      bool inserted = index.emplace(Key{row.table, row.op}, &row).second;
      LOCKFS_CHECK(inserted, "contract: duplicate (table, op) row");
    }
  }
};

const ProfileRows& profile_rows(Profile p) {
  // Function-local statics: built on first use, thread-safe, never destroyed before use.
  switch (p) {
    case Profile::kCurrent: {
      static const ProfileRows kRows(data::current_rows());
      return kRows;
    }
    case Profile::kV5: {
      static const ProfileRows kRows(data::v5_rows());
      return kRows;
    }
    case Profile::kV3: {
      static const ProfileRows kRows(data::v3_rows());
      return kRows;
    }
  }
  LOCKFS_CHECK(false, "contract: unknown profile");
  __builtin_unreachable();
}

bool old_profile(Profile p) { return p != Profile::kCurrent; }

// Locks whose modes the texts give as read/write rather than shared/exclusive.
bool read_write_words(LockId l) {
  return l == LockId::kMmapLock || l == LockId::kSUmount || l == LockId::kRcu;
}

std::string req_text(Req r, LockId l) {
  if (read_write_words(l)) {
    switch (r) {
      case Req::kShared:
        return "read";
      case Req::kExclusive:
        return "write";
      case Req::kSharedOrExclusive:
        return "read/write";
      case Req::kMaybeShared:
        return "maybe-read";
      default:
        break;
    }
  }
  return req_name(r);
}

std::string rule_text(const LockRule& r, Profile p) {
  std::string s = lock_name(r.lock, p);
  if (r.role != Role::kGlobal) {
    s += '(';
    s += role_name(r.role);
    s += ')';
  }
  s += '=';
  s += req_text(r.req, r.lock);
  if (r.condition != nullptr && r.condition[0] != '\0') {
    s += " [";
    s += r.condition;
    s += ']';
  }
  return s;
}

}  // namespace

const char* profile_name(Profile p) {
  switch (p) {
    case Profile::kCurrent:
      return "current";
    case Profile::kV5:
      return "5.x";
    case Profile::kV3:
      return "3.x";
  }
  return "?";
}

Result<Profile> profile_by_name(std::string_view name) {
  if (name == "current" || name == "newest" || name == "6.x") return Profile::kCurrent;
  if (name == "5.x") return Profile::kV5;
  if (name == "3.x") return Profile::kV3;
  return err(-EINVAL);
}

const char* lock_name(LockId l, Profile p) {
  switch (l) {
    case LockId::kIRwsem:
      return p == Profile::kV3 ? "i_mutex" : "i_rwsem";
    case LockId::kInvalidateLock:
      return "invalidate_lock";
    case LockId::kFolioLock:
      return old_profile(p) ? "page lock" : "folio lock";
    case LockId::kSUmount:
      return "s_umount";
    case LockId::kSVfsRenameSem:
      return "s_vfs_rename_sem";
    case LockId::kMmapLock:
      return p == Profile::kV3 ? "mmap_sem" : "mmap_lock";
    case LockId::kVmaLock:
      return "vma lock";
    case LockId::kFPosLock:
      return "f_pos_lock";
    case LockId::kILock:
      return "i_lock";
    case LockId::kDLock:
      return "d_lock";
    case LockId::kRenameLock:
      return "rename_lock";
    case LockId::kFlcLock:
      return "flc_lock";
    case LockId::kBlockedLockLock:
      return "blocked_lock_lock";
    case LockId::kOpenMutex:
      return old_profile(p) ? "bd_mutex" : "open_mutex";
    case LockId::kDqioSem:
      return "dqio_sem";
    case LockId::kBkl:
      return "BKL";
    case LockId::kFileLockLock:
      return "file_lock_lock";
    case LockId::kFileListLock:
      return "file_list_lock";
    case LockId::kSwapLock:
      return "swap_lock";
    case LockId::kNamespaceSem:
      return "namespace_sem";
    case LockId::kRcu:
      return "rcu";
    case LockId::kPageTableLock:
      return "page table lock";
    case LockId::kDqonoffSem:
      return "dqonoff_sem";
    case LockId::kDqptrSem:
      return "dqptr_sem";
    case LockId::kBhLock:
      return "bh lock";
  }
  return "?";
}

const char* role_name(Role r) {
  switch (r) {
    case Role::kInode:
      return "inode";
    case Role::kDir:
      return "dir";
    case Role::kVictim:
      return "victim";
    case Role::kSource:
      return "source";
    case Role::kParents:
      return "parents";
    case Role::kNonDirs:
      return "non-dirs";
    case Role::kMovedDir:
      return "moved-dir";
    case Role::kFile:
      return "file";
    case Role::kMapping:
      return "mapping";
    case Role::kFolio:
      return "folio";
    case Role::kSuperblock:
      return "superblock";
    case Role::kMm:
      return "mm";
    case Role::kVma:
      return "vma";
    case Role::kDentry:
      return "dentry";
    case Role::kGlobal:
      return "global";
    case Role::kBlockDevice:
      return "bdev";
    case Role::kBufferHead:
      return "bh";
  }
  return "?";
}

const char* req_name(Req r) {
  switch (r) {
    case Req::kNo:
      return "no";
    case Req::kShared:
      return "shared";
    case Req::kExclusive:
      return "exclusive";
    case Req::kSharedOrExclusive:
      return "shared/exclusive";
    case Req::kMaybe:
      return "maybe";
    case Req::kMaybeShared:
      return "maybe-shared";
    case Req::kHeld:
      return "held";
  }
  return "?";
}

const char* may_block_name(MayBlock m) {
  switch (m) {
    case MayBlock::kYes:
      return "yes";
    case MayBlock::kNo:
      return "no";
    case MayBlock::kMaybe:
      return "maybe";
    case MayBlock::kRefWalk:
      return "yes (ref-walk)";
    case MayBlock::kNotStated:
      return "-";
  }
  return "?";
}

const char* folio_state_name(FolioState s) {
  switch (s) {
    case FolioState::kNotApplicable:
      return "-";
    case FolioState::kNo:
      return "no";
    case FolioState::kLocked:
      return "yes";
    case FolioState::kLockedUnlocks:
      return "yes, unlocks";
    case FolioState::kLocksIt:
      return "locks the folio";
    case FolioState::kLockedBoth:
      return "yes (both)";
    case FolioState::kMaybe:
      return "maybe";
    case FolioState::kCanReturnLocked:
      return "can return with page locked";
  }
  return "?";
}

std::string folio_state_text(FolioState s, Profile p) {
  if (s == FolioState::kLocksIt && old_profile(p)) return "locks the page";
  return folio_state_name(s);
}

const std::vector<Row>& rows(Profile p) { return profile_rows(p).rows; }

const Row* find_row(Profile p, std::string_view table, std::string_view op) {
  const auto& index = profile_rows(p).index;
  auto it = index.find(Key{table, op});
  return it == index.end() ? nullptr : it->second;
}

Req required(const Row& row, Role role, LockId lock) {
  for (const LockRule& r : row.locks) {
    if (r.role == role && r.lock == lock) return r.req;
  }
  return Req::kNo;
}

std::string format_locks(const Row& row, Profile p) {
  std::string s;
  for (const LockRule& r : row.locks) {
    if (!s.empty()) s += "; ";
    s += rule_text(r, p);
  }
  for (const LockRule& r : row.takes) {
    if (!s.empty()) s += "; ";
    s += "takes " + rule_text(r, p);
  }
  return s.empty() ? "-" : s;
}

bool row_matches(const Row& row, std::string_view only) {
  if (only.empty() || only == row.op) return true;
  std::string_view table = row.table;
  return only.size() == table.size() + 1 + std::strlen(row.op) &&
         only.substr(0, table.size()) == table && only[table.size()] == '.' &&
         only.substr(table.size() + 1) == row.op;
}

namespace data {

const std::vector<Rename>& renames() {
  // Newer name first. Pairs are matched in this order, so a 3.x ->readdir pairs with the
  // 5.x ->iterate before ->iterate_shared.
  static const std::vector<Rename> kRenames = {
      {"inode_operations", "get_link", "follow_link"},
      {"address_space_operations", "read_folio", "readpage"},
      {"address_space_operations", "dirty_folio", "set_page_dirty"},
      {"address_space_operations", "invalidate_folio", "invalidatepage"},
      {"address_space_operations", "release_folio", "releasepage"},
      {"address_space_operations", "free_folio", "freepage"},
      {"address_space_operations", "migrate_folio", "migratepage"},
      {"address_space_operations", "launder_folio", "launder_page"},
      {"address_space_operations", "error_remove_folio", "error_remove_page"},
      {"file_operations", "read_iter", "aio_read"},
      {"file_operations", "write_iter", "aio_write"},
      {"file_operations", "iterate", "readdir"},
      {"file_operations", "iterate_shared", "readdir"},
  };
  return kRenames;
}

}  // namespace data
}  // namespace lockfs::locking::contract

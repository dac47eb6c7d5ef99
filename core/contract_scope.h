// The mount's view of the contract table: the row of every VFS operation core/ calls, looked up
// once at mount time for the mount's profile, and the entry check a filesystem method runs to
// compare the locks its row promises with the locks the calling thread holds.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <vector>

#include "locking/contract.h"
#include "locking/lock_class.h"

namespace lockfs::core {

namespace contract = locking::contract;

// The operations core/ calls, each bound to one row (table, op) of the contract table.
enum class Op : uint8_t {
  kLookup, kCreate, kLink, kMknod, kSymlink, kMkdir, kUnlink, kRmdir, kRename, kReadlink,
  kSetattr, kPermission, kGetattr, kListxattr, kTmpfile, kFileattrGet, kFileattrSet,
  kXattrGet, kXattrSet, kXattrList,
  kStatfs, kEvictInode, kKillSb, kDropInode,
  kLlseek, kReadIter, kWriteIter, kIterate, kOpen, kFlush, kRelease, kFsync, kLock, kFlock,
  kFallocate, kCopyFileRange,
  kCount,
};
inline constexpr size_t kOpCount = static_cast<size_t>(Op::kCount);
const char* op_name(Op op);  // "inode_operations.lookup"

// One rule of a row as contract_check tests it: the lock (role, lock) must be held in
// `need` whenever the caller's conditions include `cond` (0: always).
struct ContractCheck {
  contract::Role role;
  contract::LockId lock;
  contract::Req req;
  locking::Mode need;
  unsigned cond;  // Cond bits
};

// Thread safety: immutable after construction.
class Contract {
 public:
  explicit Contract(contract::Profile profile);

  contract::Profile profile() const { return profile_; }
  // The profile's row for `op`; when the profile's text has no such op (3.x has no fileattr),
  // the current profile's row stands in (fallback() says so). nullptr if no text has it.
  const contract::Row* row(Op op) const { return rows_[static_cast<size_t>(op)]; }
  bool fallback(Op op) const { return fallback_[static_cast<size_t>(op)]; }
  // The mode a caller takes (role, lock) in, per the row: exclusive for "exclusive"/"yes",
  // shared for "shared"/"read/write"; nullopt for "no"/"maybe" or no row.
  std::optional<locking::Mode> mode(Op op, contract::Role role, contract::LockId lock) const;
  // The row's rules that require a lock held, with their conditions parsed (mount time).
  const std::vector<ContractCheck>& checks(Op op) const {
    return checks_[static_cast<size_t>(op)];
  }

 private:
  contract::Profile profile_;
  std::array<const contract::Row*, kOpCount> rows_{};
  std::array<bool, kOpCount> fallback_{};
  std::array<std::vector<ContractCheck>, kOpCount> checks_{};
};

// One concrete lock playing a role of the row.
struct Binding {
  contract::Role role;
  contract::LockId lock;
  const locking::LockMap* map;
};

// Conditions under which conditional rules of a row apply (rule.condition text). Conditions
// not listed here apply whenever the caller binds a lock for the rule's role.
enum Cond : unsigned {
  kCondNone = 0,
  kCondCrossDir = 1u << 0,  // "cross-directory" rename
  kCondCreate = 1u << 1,    // "if O_CREAT"
};

// On method entry: every rule of the op's row whose (role, lock) is bound and whose condition
// holds must be held in its mode (locking::lock_is_held); otherwise a ViolationKind::kContract
// is reported (strict mode: the strict handler runs). Returns the number of rules violated.
int contract_check(const Contract& c, Op op, std::initializer_list<Binding> bindings,
                   unsigned conds = kCondNone);

// The same check as an object whose lifetime brackets the method body.
class ContractScope {
 public:
  ContractScope(const Contract& c, Op op, std::initializer_list<Binding> bindings,
                unsigned conds = kCondNone)
      : violations_(contract_check(c, op, bindings, conds)) {}
  ContractScope(const ContractScope&) = delete;
  ContractScope& operator=(const ContractScope&) = delete;
  int violations() const { return violations_; }

 private:
  int violations_;
};

}  // namespace lockfs::core

// Binding core/'s operations to contract rows and checking the held locks against them.
#include "core/contract_scope.h"

#include <string>
#include <string_view>

#include <fmt/format.h>

#include "locking/validator.h"

namespace lockfs::core {

using contract::LockId;
using contract::Profile;
using contract::Req;
using contract::Role;
using contract::Row;

namespace {

struct OpNames {
  const char* table;
  // The op's name in the texts, newest first (3.x's readdir is iterate_shared's ancestor).
  std::initializer_list<const char*> names;
};

const OpNames& names_of(Op op) {
  static const OpNames kNames[kOpCount] = {
      {"inode_operations", {"lookup"}},
      {"inode_operations", {"create"}},
      {"inode_operations", {"link"}},
      {"inode_operations", {"mknod"}},
      {"inode_operations", {"symlink"}},
      {"inode_operations", {"mkdir"}},
      {"inode_operations", {"unlink"}},
      {"inode_operations", {"rmdir"}},
      {"inode_operations", {"rename", "rename2"}},
      {"inode_operations", {"readlink"}},
      {"inode_operations", {"setattr"}},
      {"inode_operations", {"permission"}},
      {"inode_operations", {"getattr"}},
      {"inode_operations", {"listxattr"}},
      {"inode_operations", {"tmpfile"}},
      {"inode_operations", {"fileattr_get"}},
      {"inode_operations", {"fileattr_set"}},
      {"xattr_handler", {"get", "getxattr"}},
      {"xattr_handler", {"set", "setxattr"}},
      {"xattr_handler", {"list", "listxattr"}},
      {"super_operations", {"statfs"}},
      {"super_operations", {"evict_inode", "clear_inode"}},
      {"file_system_type", {"kill_sb"}},
      {"super_operations", {"drop_inode"}},
      {"file_operations", {"llseek"}},
      {"file_operations", {"read_iter", "aio_read", "read"}},
      {"file_operations", {"write_iter", "aio_write", "write"}},
      {"file_operations", {"iterate_shared", "readdir", "iterate"}},
      {"file_operations", {"open"}},
      {"file_operations", {"flush"}},
      {"file_operations", {"release"}},
      {"file_operations", {"fsync"}},
      {"file_operations", {"lock"}},
      {"file_operations", {"flock"}},
      {"file_operations", {"fallocate"}},
      {"file_operations", {"copy_file_range"}},
  };
  return kNames[static_cast<size_t>(op)];
}

const Row* find(Profile p, Op op) {
  const OpNames& n = names_of(op);
  for (const char* name : n.names) {
    if (const Row* r = contract::find_row(p, n.table, name)) return r;
  }
  // xattr handlers may be filed under the section title.
  if (std::string_view(n.table) == "xattr_handler") {
    for (const char* name : n.names) {
      if (const Row* r = contract::find_row(p, "xattr_handler operations", name)) return r;
    }
  }
  return nullptr;
}

// The Cond bit a rule's condition text needs (kCondNone: it applies whenever bound).
unsigned condition_bit(const char* cond) {
  if (cond == nullptr || *cond == '\0') return kCondNone;
  std::string_view c(cond);
  if (c.find("cross") != std::string_view::npos) return kCondCrossDir;
  if (c.find("O_CREAT") != std::string_view::npos) return kCondCreate;
  // Other conditions ("if the target exists", "if a subdirectory changes parent") are
  // expressed by the caller binding a lock for that role only when the condition holds.
  return kCondNone;
}

}  // namespace

const char* op_name(Op op) {
  static const std::array<std::string, kOpCount> kFull = [] {
    std::array<std::string, kOpCount> a;
    for (size_t i = 0; i < kOpCount; ++i) {
      const OpNames& n = names_of(static_cast<Op>(i));
      a[i] = std::string(n.table) + "." + *n.names.begin();
    }
    return a;
  }();
  return kFull[static_cast<size_t>(op)].c_str();
}

Contract::Contract(Profile profile) : profile_(profile) {
  for (size_t i = 0; i < kOpCount; ++i) {
    const Op op = static_cast<Op>(i);
    rows_[i] = find(profile, op);
    if (rows_[i] == nullptr && profile != Profile::kCurrent) {
      rows_[i] = find(Profile::kCurrent, op);
      fallback_[i] = rows_[i] != nullptr;
    }
    if (rows_[i] == nullptr) continue;
    for (const contract::LockRule& rule : rows_[i]->locks) {
      locking::Mode need;
      switch (rule.req) {
        case Req::kExclusive: need = locking::Mode::kExclusive; break;
        case Req::kShared:
        case Req::kSharedOrExclusive:
        case Req::kHeld: need = locking::Mode::kShared; break;  // kShared accepts either mode
        default: continue;                                     // no, maybe: nothing to check
      }
      checks_[i].push_back({rule.role, rule.lock, rule.req, need, condition_bit(rule.condition)});
    }
  }
}

std::optional<locking::Mode> Contract::mode(Op op, Role role, LockId lock) const {
  const Row* r = row(op);
  if (r == nullptr) return std::nullopt;
  switch (contract::required(*r, role, lock)) {
    case Req::kExclusive:
    case Req::kHeld:
      return locking::Mode::kExclusive;
    case Req::kShared:
    case Req::kSharedOrExclusive:
      return locking::Mode::kShared;
    default:
      return std::nullopt;
  }
}

int contract_check(const Contract& c, Op op, std::initializer_list<Binding> bindings,
                   unsigned conds) {
  // With the validator off, lock_is_held answers yes to everything: nothing to find.
  if (locking::validate_mode() == locking::ValidateMode::kOff) return 0;
  int bad = 0;
  for (const ContractCheck& rule : c.checks(op)) {
    if (rule.cond != kCondNone && !(conds & rule.cond)) continue;
    for (const Binding& b : bindings) {
      if (b.role != rule.role || b.lock != rule.lock || b.map == nullptr) continue;
      if (locking::lock_is_held(*b.map, rule.need)) continue;
      ++bad;
      locking::report_violation(
          locking::ViolationKind::kContract,
          fmt::format("{} ({} profile): {} on {} (object {}) must be held {}, caller holds: {}",
                      op_name(op), contract::profile_name(c.profile()),
                      contract::lock_name(rule.lock, c.profile()), contract::role_name(rule.role),
                      b.map->object, contract::req_name(rule.req),
                      locking::format_held_locks(locking::held_locks())));
    }
  }
  return bad;
}

}  // namespace lockfs::core

// Internal to locking/contract*.cc: the shorthand the three transcribed texts are written in,
// and the per-profile row tables. Nothing outside locking/contract*.cc includes this.
#pragma once

#include <utility>
#include <vector>

#include "locking/contract.h"

namespace lockfs::locking::contract::data {

// The last LockId, for loops over all of them. Keep it the last enumerator of LockId.
inline constexpr LockId kLastLockId = LockId::kBhLock;

// One lock rule per cell of the text: ex(kDir, kIRwsem) is "i_rwsem(dir): exclusive".
constexpr LockRule no(Role r, LockId l, const char* cond = "") { return {r, l, Req::kNo, cond}; }
constexpr LockRule sh(Role r, LockId l, const char* cond = "") {
  return {r, l, Req::kShared, cond};
}
constexpr LockRule ex(Role r, LockId l, const char* cond = "") {
  return {r, l, Req::kExclusive, cond};
}
constexpr LockRule either(Role r, LockId l, const char* cond = "") {
  return {r, l, Req::kSharedOrExclusive, cond};
}
constexpr LockRule maybe(Role r, LockId l, const char* cond = "") {
  return {r, l, Req::kMaybe, cond};
}
constexpr LockRule maybe_sh(Role r, LockId l, const char* cond = "") {
  return {r, l, Req::kMaybeShared, cond};
}
constexpr LockRule held(Role r, LockId l, const char* cond = "") {
  return {r, l, Req::kHeld, cond};
}

// Short names for the may-block and folio columns.
inline constexpr MayBlock kBlocks = MayBlock::kYes;
inline constexpr MayBlock kNoBlock = MayBlock::kNo;
inline constexpr MayBlock kMaybeBlocks = MayBlock::kMaybe;
inline constexpr MayBlock kRefWalkBlocks = MayBlock::kRefWalk;
inline constexpr MayBlock kUnstated = MayBlock::kNotStated;
inline constexpr FolioState kNA = FolioState::kNotApplicable;
inline constexpr FolioState kFNo = FolioState::kNo;
inline constexpr FolioState kFLocked = FolioState::kLocked;
inline constexpr FolioState kFUnlocks = FolioState::kLockedUnlocks;
inline constexpr FolioState kFLocksIt = FolioState::kLocksIt;
inline constexpr FolioState kFBoth = FolioState::kLockedBoth;
inline constexpr FolioState kFMaybe = FolioState::kMaybe;
inline constexpr FolioState kFCanReturnLocked = FolioState::kCanReturnLocked;

// A row the model exercises.
inline Row row(const char* table, const char* op, std::vector<LockRule> locks, MayBlock may_block,
               FolioState folio, const char* note, std::vector<LockRule> takes = {}) {
  return Row{table, op, std::move(locks), may_block, folio, note, true, "", std::move(takes)};
}
// The same row, marked as one that cannot apply to a FUSE filesystem, with the reason.
inline Row off(Row r, const char* reason) {
  r.exercised = false;
  r.reason = reason;
  return r;
}

// The rows of each profile, in the order of its text (contract_current.cc, _v5.cc, _v3.cc).
std::vector<Row> current_rows();
std::vector<Row> v5_rows();
std::vector<Row> v3_rows();

// An op renamed between texts (readpage -> read_folio): the diff pairs them instead of
// listing one as removed and the other as added.
struct Rename {
  const char* table;
  const char* newer;
  const char* older;
};
const std::vector<Rename>& renames();

}  // namespace lockfs::locking::contract::data

// The checks that catch a broken caller: a memfs method entered without the locks its row
// promises (kContract + the method's assert), two directory locks taken against the learned
// order (kOrderCycle), and the mount's row table per profile.
#include <gtest/gtest.h>

#include "core/contract_scope.h"
#include "core/memfs.h"
#include "core/namei.h"
#include "core/super.h"
#include "core/vfs.h"
#include "locking/validator.h"
#include "tests/support/core_fixture.h"

namespace lockfs::testing {
namespace {

using core::kRootIno;
using locking::Subclass;
using locking::ViolationKind;
namespace ct = locking::contract;

class ContractScopeTest : public CoreTest {
 protected:
  bool saw(ViolationKind k) {
    for (const auto& v : violations()) {
      if (v.kind == k) return true;
    }
    return false;
  }
};

TEST_F(ContractScopeTest, MemfsMethodWithoutItsLockIsCaught) {
  core::SuperBlock& sb = vfs->sb();
  core::InodeAttr a;
  a.mode = S_IFREG | 0644;
  a.nlink = 1;
  auto made = sb.new_inode(a);
  ASSERT_TRUE(made.ok());
  core::Inode* root = sb.s_root;
  // Deliberately no root->i_rwsem: the row says "create: exclusive".
  auto r = [&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
    return core::memfs::create(core::Op::kCreate, root, "bad", *made);
  }();
  EXPECT_TRUE(r.ok());  // the recording handler let it run on
  EXPECT_TRUE(saw(ViolationKind::kContract));
  bool mentions_create = false;
  for (const auto& v : violations()) {
    if (v.message.find("create") != std::string::npos) mentions_create = true;
  }
  EXPECT_TRUE(mentions_create);
  clear_violations();
  sb.iput(*made);
  ASSERT_TRUE(vfs->unlink(kRootIno, "bad").ok());
}

TEST_F(ContractScopeTest, RenameWithoutTheVictimLockIsCaught) {
  const core::Ino a = mkfile(kRootIno, "a");
  const core::Ino b = mkfile(kRootIno, "b");
  core::SuperBlock& sb = vfs->sb();
  core::Inode* root = sb.s_root;
  core::Inode* src = sb.iget(a);
  core::Inode* victim = sb.iget(b);
  [&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
    root->i_rwsem.down_write(Subclass::kParent);
    src->i_rwsem.down_write();
    // The victim b is not locked: ->rename's row wants it exclusive.
    core::Dentry* od = core::memfs::lookup(root, "a");
    core::Dentry* nd = core::memfs::lookup(root, "b");
    EXPECT_TRUE(core::memfs::rename({root, od, root, "b", nd, 0}).ok());
    src->i_rwsem.up_write();
    root->i_rwsem.up_write();
  }();
  EXPECT_TRUE(saw(ViolationKind::kContract));
  EXPECT_TRUE(saw(ViolationKind::kAssertFailed));
  clear_violations();
  sb.iput(victim);
  sb.iput(src);
  EXPECT_EQ(ino_of("/b"), a);
}

TEST_F(ContractScopeTest, ContractCheckPassesWhenHeld) {
  core::SuperBlock& sb = vfs->sb();
  core::Inode* root = sb.s_root;
  const locking::LockMap* m = &root->i_rwsem.map();
  root->i_rwsem.down_write();
  EXPECT_EQ(core::contract_check(sb.s_contract, core::Op::kMkdir,
                                 {{ct::Role::kDir, ct::LockId::kIRwsem, m}}),
            0);
  root->i_rwsem.up_write();
  root->i_rwsem.down_read();
  // Shared is not enough for mkdir.
  EXPECT_EQ(core::contract_check(sb.s_contract, core::Op::kMkdir,
                                 {{ct::Role::kDir, ct::LockId::kIRwsem, m}}),
            1);
  // ... but is what lookup needs.
  EXPECT_EQ(core::contract_check(sb.s_contract, core::Op::kLookup,
                                 {{ct::Role::kDir, ct::LockId::kIRwsem, m}}),
            0);
  root->i_rwsem.up_read();
  EXPECT_TRUE(saw(ViolationKind::kContract));
  clear_violations();
}

// A conditional rule applies only when the caller says its condition holds: rename wants
// s_vfs_rename_sem only across directories.
TEST_F(ContractScopeTest, ConditionalRuleAppliesOnlyUnderItsCondition) {
  core::SuperBlock& sb = vfs->sb();
  const locking::LockMap* sem = &sb.s_vfs_rename_sem.map();
  const std::initializer_list<core::Binding> bound = {
      {ct::Role::kSuperblock, ct::LockId::kSVfsRenameSem, sem}};
  EXPECT_EQ(core::contract_check(sb.s_contract, core::Op::kRename, bound, core::kCondNone), 0);
  EXPECT_FALSE(saw(ViolationKind::kContract));
  EXPECT_EQ(core::contract_check(sb.s_contract, core::Op::kRename, bound, core::kCondCrossDir),
            1);
  EXPECT_TRUE(saw(ViolationKind::kContract));
  clear_violations();
  // With the validator off nothing is recorded to check against: no violation, whatever is
  // held (lock_is_held answers yes; contract_check does not even ask it).
  locking::set_validate_mode(locking::ValidateMode::kOff);
  EXPECT_EQ(core::contract_check(sb.s_contract, core::Op::kRename, bound, core::kCondCrossDir),
            0);
  locking::set_validate_mode(locking::ValidateMode::kStrict);
  EXPECT_FALSE(saw(ViolationKind::kContract));
}

TEST_F(ContractScopeTest, DirectoriesInTheWrongOrderAreAnOrderCycle) {
  const core::Ino pa = mkdir(kRootIno, "a");
  mkdir(pa, "b");
  // rmdir teaches the validator "parent, then child".
  ASSERT_TRUE(vfs->rmdir(pa, "b").ok());
  const core::Ino pb = mkdir(pa, "b");
  core::SuperBlock& sb = vfs->sb();
  core::Inode* parent = sb.iget(pa);
  core::Inode* child = sb.iget(pb);
  [&]() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
    child->i_rwsem.down_write(Subclass::kChild);
    parent->i_rwsem.down_write(Subclass::kParent);  // against the learned order
    parent->i_rwsem.up_write();
    child->i_rwsem.up_write();
  }();
  EXPECT_TRUE(saw(ViolationKind::kOrderCycle));
  clear_violations();
  sb.iput(child);
  sb.iput(parent);
}

TEST_F(ContractScopeTest, RowsResolvePerProfile) {
  core::Contract now(ct::Profile::kCurrent);
  core::Contract old(ct::Profile::kV3);
  ASSERT_NE(now.row(core::Op::kIterate), nullptr);
  EXPECT_STREQ(now.row(core::Op::kIterate)->op, "iterate_shared");
  ASSERT_NE(old.row(core::Op::kIterate), nullptr);
  EXPECT_STREQ(old.row(core::Op::kIterate)->op, "readdir");
  EXPECT_EQ(now.mode(core::Op::kLookup, ct::Role::kDir, ct::LockId::kIRwsem),
            locking::Mode::kShared);
  EXPECT_EQ(old.mode(core::Op::kLookup, ct::Role::kDir, ct::LockId::kIRwsem),
            locking::Mode::kExclusive);
  EXPECT_EQ(now.mode(core::Op::kIterate, ct::Role::kFile, ct::LockId::kFPosLock),
            locking::Mode::kExclusive);
  for (size_t i = 0; i < core::kOpCount; ++i) {
    EXPECT_NE(now.row(static_cast<core::Op>(i)), nullptr) << core::op_name(static_cast<core::Op>(i));
  }
}

TEST_F(ContractScopeTest, IsSubdirWalksDotDot) {
  const core::Ino a = mkdir(kRootIno, "a");
  const core::Ino b = mkdir(a, "b");
  const core::Ino c = mkdir(b, "c");
  core::SuperBlock& sb = vfs->sb();
  EXPECT_TRUE(core::is_subdir(sb, c, a));
  EXPECT_TRUE(core::is_subdir(sb, c, c));
  EXPECT_FALSE(core::is_subdir(sb, a, c));
  EXPECT_EQ(core::d_ancestor(sb, a, c), b);
  EXPECT_EQ(core::d_ancestor(sb, kRootIno, c), a);
  EXPECT_EQ(core::d_ancestor(sb, c, a), 0u);
}

}  // namespace
}  // namespace lockfs::testing

// vfs rename: same-directory and cross-directory cases, flags, the loop checks, link counts,
// and the lock order directory-locking.rst prescribes.
#include <gtest/gtest.h>

#include <cstdio>

#include "core/vfs.h"
#include "tests/support/core_fixture.h"

namespace lockfs::testing {
namespace {

using core::kRootIno;
using locking::Mode;
using locking::Subclass;

class RenameTest : public CoreTest {};

TEST_F(RenameTest, SameDirectoryLocksParentThenNonDirsInInodeOrder) {
  const core::Ino a = mkfile(kRootIno, "a");
  const core::Ino b = mkfile(kRootIno, "b");
  ASSERT_LT(a, b);
  // Rename b over a: source b, target a; locked in inode order a then b whatever the roles.
  auto ev = record_locks([&] { ASSERT_TRUE(vfs->rename(kRootIno, "b", kRootIno, "a", 0).ok()); });
  ASSERT_EQ(ev.size(), 3u) << format_events(ev);
  EXPECT_EQ(ev[0].object, kRootIno);
  EXPECT_EQ(ev[0].sub, Subclass::kParent);
  EXPECT_EQ(ev[1].object, a);
  EXPECT_EQ(ev[1].sub, Subclass::kNormal);
  EXPECT_EQ(ev[2].object, b);
  EXPECT_EQ(ev[2].sub, Subclass::kNonDir2);
  for (const auto& e : ev) EXPECT_EQ(e.mode, Mode::kExclusive);
  EXPECT_EQ(ino_of("/a"), b);
  EXPECT_EQ(ino_of("/b"), 0u);
  EXPECT_EQ(vfs->getattr(a).error(), -ENOENT);  // replaced and unreferenced: evicted
}

TEST_F(RenameTest, CrossDirectoryTakesRenameSemAndAncestorFirst) {
  const core::Ino p = mkdir(kRootIno, "p");
  const core::Ino c = mkdir(p, "c");
  const core::Ino d = mkdir(c, "d");  // moved subdirectory
  // Source parent c, target parent p: p is c's ancestor, so p is locked first.
  auto ev = record_locks([&] { ASSERT_TRUE(vfs->rename(c, "d", p, "d2", 0).ok()); });
  ASSERT_EQ(ev.size(), 4u) << format_events(ev);
  EXPECT_EQ(ev[0].cls, "s_vfs_rename_sem");
  EXPECT_EQ(ev[0].mode, Mode::kExclusive);
  EXPECT_EQ(ev[1].object, p);
  EXPECT_EQ(ev[1].sub, Subclass::kParent);
  EXPECT_EQ(ev[2].object, c);
  EXPECT_EQ(ev[2].sub, Subclass::kParent2);
  EXPECT_EQ(ev[3].object, d);  // the subdirectory that changes parent
  EXPECT_EQ(ev[3].sub, Subclass::kChild);
  EXPECT_EQ(stat_of(c).st_nlink, 2u);
  EXPECT_EQ(stat_of(p).st_nlink, 4u);
  EXPECT_EQ(ino_of("/p/d2/.."), p);
}

TEST_F(RenameTest, UnrelatedParentsLockSourceParentFirst) {
  const core::Ino x = mkdir(kRootIno, "x");
  const core::Ino y = mkdir(kRootIno, "y");
  const core::Ino f = mkfile(y, "f");
  auto ev = record_locks([&] { ASSERT_TRUE(vfs->rename(y, "f", x, "f", 0).ok()); });
  ASSERT_EQ(ev.size(), 4u) << format_events(ev);
  EXPECT_EQ(ev[1].object, y);
  EXPECT_EQ(ev[2].object, x);
  EXPECT_EQ(ev[3].object, f);
  EXPECT_EQ(ev[3].cls, "i_rwsem(reg)");
}

TEST_F(RenameTest, IntoOwnSubtreeIsEinval) {
  const core::Ino a = mkdir(kRootIno, "a");
  const core::Ino b = mkdir(a, "b");
  EXPECT_EQ(vfs->rename(kRootIno, "a", b, "a", 0).error(), -EINVAL);
  EXPECT_EQ(vfs->rename(kRootIno, "a", a, "x", 0).error(), -EINVAL);
  // Target an ancestor of the source: ENOTEMPTY (EINVAL for an exchange).
  const core::Ino c = mkdir(b, "c");
  EXPECT_EQ(vfs->rename(c, "..", kRootIno, "z", 0).error(), -EBUSY);
  mkfile(c, "f");
  // The trap check comes before the type check (do_renameat2 before vfs_rename).
  EXPECT_EQ(vfs->rename(c, "f", kRootIno, "a", 0).error(), -ENOTEMPTY);
  const core::Ino e = mkdir(c, "e");
  EXPECT_EQ(vfs->rename(c, "e", kRootIno, "a", 0).error(), -ENOTEMPTY);
  EXPECT_EQ(vfs->rename(c, "e", kRootIno, "a", RENAME_EXCHANGE).error(), -EINVAL);
  EXPECT_EQ(ino_of("/a/b/c/e"), e);
}

TEST_F(RenameTest, FlagsAndTypeErrors) {
  mkfile(kRootIno, "f");
  mkfile(kRootIno, "g");
  const core::Ino d = mkdir(kRootIno, "d");
  mkfile(d, "inside");
  mkdir(kRootIno, "empty");
  EXPECT_EQ(vfs->rename(kRootIno, "f", kRootIno, "g", RENAME_NOREPLACE).error(), -EEXIST);
  EXPECT_EQ(vfs->rename(kRootIno, "f", kRootIno, "none", RENAME_EXCHANGE).error(), -ENOENT);
  EXPECT_EQ(vfs->rename(kRootIno, "f", kRootIno, "g", RENAME_NOREPLACE | RENAME_EXCHANGE).error(),
            -EINVAL);
  EXPECT_EQ(vfs->rename(kRootIno, "f", kRootIno, "g", RENAME_WHITEOUT).error(), -EINVAL);
  EXPECT_EQ(vfs->rename(kRootIno, "f", kRootIno, "d", 0).error(), -EISDIR);
  EXPECT_EQ(vfs->rename(kRootIno, "d", kRootIno, "f", 0).error(), -ENOTDIR);
  EXPECT_EQ(vfs->rename(kRootIno, "empty", kRootIno, "d", 0).error(), -ENOTEMPTY);
  EXPECT_EQ(vfs->rename(kRootIno, "none", kRootIno, "x", 0).error(), -ENOENT);
  EXPECT_EQ(vfs->rename(kRootIno, ".", kRootIno, "x", 0).error(), -EBUSY);
  EXPECT_EQ(vfs->rename(kRootIno, "f", kRootIno, std::string(256, 'n'), 0).error(),
            -ENAMETOOLONG);
}

TEST_F(RenameTest, DirectoryReplacesEmptyDirectory) {
  const core::Ino a = mkdir(kRootIno, "a");
  const core::Ino s = mkdir(a, "s");
  const core::Ino t = mkdir(kRootIno, "t");
  ASSERT_TRUE(vfs->rename(a, "s", kRootIno, "t", 0).ok());
  EXPECT_EQ(ino_of("/t"), s);
  EXPECT_EQ(vfs->getattr(t).error(), -ENOENT);
  EXPECT_EQ(stat_of(kRootIno).st_nlink, 4u);  // a and t
  EXPECT_EQ(stat_of(a).st_nlink, 2u);
}

TEST_F(RenameTest, ExchangeSwapsAndFixesLinkCounts) {
  const core::Ino a = mkdir(kRootIno, "a");
  const core::Ino b = mkdir(kRootIno, "b");
  const core::Ino sub = mkdir(a, "sub");
  const core::Ino f = mkfile(b, "f");
  ASSERT_TRUE(vfs->rename(a, "sub", b, "f", RENAME_EXCHANGE).ok());
  EXPECT_EQ(ino_of("/a/sub"), f);
  EXPECT_EQ(ino_of("/b/f"), sub);
  EXPECT_EQ(ino_of("/b/f/.."), b);
  EXPECT_EQ(stat_of(a).st_nlink, 2u);
  EXPECT_EQ(stat_of(b).st_nlink, 3u);
}

TEST_F(RenameTest, SameInodeIsANoOp) {
  const core::Ino f = mkfile(kRootIno, "f");
  ASSERT_TRUE(vfs->link(f, kRootIno, "g").ok());
  vfs->forget(f, 1);
  ASSERT_TRUE(vfs->rename(kRootIno, "f", kRootIno, "g", 0).ok());
  EXPECT_EQ(ino_of("/f"), f);
  EXPECT_EQ(ino_of("/g"), f);
  EXPECT_EQ(stat_of(f).st_nlink, 2u);
}

TEST_F(RenameTest, StickyDirectoryRefusesOthersVictims) {
  const core::Ino t = mkdir(kRootIno, "tmp", 01777);
  {
    AsUser alice(1000, 1000);
    mkfile(t, "alice");
  }
  AsUser bob(1001, 1001);
  mkfile(t, "bob");
  EXPECT_EQ(vfs->rename(t, "bob", t, "alice", 0).error(), -EPERM);
  EXPECT_EQ(vfs->rename(t, "alice", t, "mine", 0).error(), -EPERM);
}

}  // namespace
}  // namespace lockfs::testing

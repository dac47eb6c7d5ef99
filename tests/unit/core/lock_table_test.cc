// One table: for every vfs caller not covered in its own file, the exact VFS-level locks it
// takes (class, object, mode, in order), checked against the contract row's requirement.
#include <gtest/gtest.h>
#include <linux/falloc.h>

#include <functional>

#include "core/vfs.h"
#include "locking/contract.h"
#include "tests/support/core_fixture.h"

namespace lockfs::testing {
namespace {

using core::kRootIno;
using locking::Mode;
namespace ct = locking::contract;

struct Want {
  std::string cls;
  core::Ino object;
  Mode mode;
};

class LockTableTest : public CoreTest {
 protected:
  void expect_locks(const char* what, const std::function<void()>& op,
                    const std::vector<Want>& want) {
    auto ev = record_locks(op);
    ASSERT_EQ(ev.size(), want.size()) << what << ": " << format_events(ev);
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(ev[i].cls, want[i].cls) << what << " #" << i;
      EXPECT_EQ(ev[i].object, want[i].object) << what << " #" << i;
      EXPECT_EQ(ev[i].mode, want[i].mode) << what << " #" << i;
    }
  }
  // The row's mode for the inode role: what the callers above must have taken.
  static Mode row(const char* table, const char* op, ct::Role role) {
    const ct::Row* r = ct::find_row(ct::Profile::kCurrent, table, op);
    EXPECT_NE(r, nullptr) << table << "." << op;
    return r && ct::required(*r, role, ct::LockId::kIRwsem) == ct::Req::kExclusive
               ? Mode::kExclusive
               : Mode::kShared;
  }
};

TEST_F(LockTableTest, CallersWithNoLockOnEntry) {
  const core::Ino f = mkfile(kRootIno, "f");
  auto l = vfs->symlink(kRootIno, "l", "f");
  ASSERT_TRUE(l.ok());
  ASSERT_TRUE(vfs->setxattr(f, "user.a", std::span<const char>("1", 1), 0).ok());
  expect_locks("getattr", [&] { ASSERT_TRUE(vfs->getattr(f).ok()); }, {});
  expect_locks("readlink", [&] { ASSERT_TRUE(vfs->readlink(l->ino).ok()); }, {});
  expect_locks("getxattr", [&] { ASSERT_TRUE(vfs->getxattr(f, "user.a").ok()); }, {});
  expect_locks("listxattr", [&] { ASSERT_TRUE(vfs->listxattr(f).ok()); }, {});
  expect_locks("statfs", [&] { ASSERT_TRUE(vfs->statfs(kRootIno).ok()); }, {});
  expect_locks("fileattr_get", [&] { ASSERT_TRUE(vfs->fileattr_get(f).ok()); }, {});
  expect_locks("access", [&] { ASSERT_TRUE(vfs->access(f, R_OK).ok()); }, {});
  expect_locks("tmpfile", [&] {
    auto t = vfs->tmpfile(kRootIno, 0600, O_RDWR);
    ASSERT_TRUE(t.ok());
    ASSERT_TRUE(vfs->release(t->file).ok());
    vfs->forget(t->entry.ino, 1);
  }, {});
}

TEST_F(LockTableTest, CallersTakingTheInodeExclusive) {
  const core::Ino f = mkfile(kRootIno, "f");
  const Mode set = row("xattr_handler", "set", ct::Role::kInode);
  expect_locks("setxattr",
               [&] { ASSERT_TRUE(vfs->setxattr(f, "user.a", std::span<const char>("1", 1), 0).ok()); },
               {{"i_rwsem(reg)", f, set}});
  expect_locks("removexattr", [&] { ASSERT_TRUE(vfs->removexattr(f, "user.a").ok()); },
               {{"i_rwsem(reg)", f, set}});
  expect_locks("fileattr_set", [&] { ASSERT_TRUE(vfs->fileattr_set(f, core::kFlagNoatime).ok()); },
               {{"i_rwsem(reg)", f, row("inode_operations", "fileattr_set", ct::Role::kInode)}});
  const core::Ino d = mkdir(kRootIno, "d");
  expect_locks("setattr(dir)",
               [&] { ASSERT_TRUE(vfs->setattr(d, {.valid = core::kSetMode, .mode = 0700}, nullptr).ok()); },
               {{"i_rwsem(dir)", d, row("inode_operations", "setattr", ct::Role::kInode)}});
}

TEST_F(LockTableTest, CreationCallersTakeTheDirectoryExclusive) {
  const Mode m = row("inode_operations", "create", ct::Role::kDir);
  expect_locks("create", [&] {
    auto c = vfs->create(kRootIno, "c", 0644, O_CREAT | O_RDWR);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(vfs->release(c->file).ok());
    vfs->forget(c->entry.ino, 1);
  }, {{"i_rwsem(dir)", kRootIno, m}});
  expect_locks("mknod", [&] { ASSERT_TRUE(vfs->mknod(kRootIno, "p", S_IFIFO | 0644, 0).ok()); },
               {{"i_rwsem(dir)", kRootIno, row("inode_operations", "mknod", ct::Role::kDir)}});
  expect_locks("symlink", [&] { ASSERT_TRUE(vfs->symlink(kRootIno, "s", "x").ok()); },
               {{"i_rwsem(dir)", kRootIno, row("inode_operations", "symlink", ct::Role::kDir)}});
}

TEST_F(LockTableTest, FileMethodsTakeWhatTheirImplementationsTake) {
  auto c = vfs->create(kRootIno, "f", 0644, O_CREAT | O_RDWR);
  ASSERT_TRUE(c.ok());
  vfs->forget(c->entry.ino, 1);
  const core::Ino f = c->entry.ino;
  // fallocate (allocate) and SEEK_DATA: the method's own inode_lock, no invalidate_lock.
  expect_locks("fallocate", [&] { ASSERT_TRUE(vfs->fallocate(c->file, 0, 0, 8192).ok()); },
               {{"i_rwsem(reg)", f, Mode::kExclusive}});
  expect_locks("lseek", [&] { ASSERT_TRUE(vfs->lseek(c->file, 0, SEEK_HOLE).ok()); },
               {{"i_rwsem(reg)", f, Mode::kExclusive}});
  // ZERO_RANGE invalidates the cache: invalidate_lock exclusive inside i_rwsem.
  expect_locks("zero range",
               [&] { ASSERT_TRUE(vfs->fallocate(c->file, FALLOC_FL_ZERO_RANGE, 0, 4096).ok()); },
               {{"i_rwsem(reg)", f, Mode::kExclusive}, {"invalidate_lock", f, Mode::kExclusive}});
  expect_locks("fsync", [&] { ASSERT_TRUE(vfs->fsync(c->file, false).ok()); }, {});
  ASSERT_TRUE(vfs->release(c->file).ok());
}

}  // namespace
}  // namespace lockfs::testing

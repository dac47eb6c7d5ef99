// vfs set/get/list/removexattr: namespaces, flags, sizes, and the row's locking (set:
// i_rwsem exclusive; get and list: none).
#include <gtest/gtest.h>
#include <sys/xattr.h>

#include "core/vfs.h"
#include "tests/support/core_fixture.h"

namespace lockfs::testing {
namespace {

using core::kRootIno;
using locking::Mode;

class XattrTest : public CoreTest {
 protected:
  Result<void> set(core::Ino ino, const std::string& name, const std::string& v, int flags = 0) {
    return vfs->setxattr(ino, name, std::span<const char>(v.data(), v.size()), flags);
  }
};

TEST_F(XattrTest, SetTakesInodeExclusiveGetTakesNothing) {
  const core::Ino f = mkfile(kRootIno, "f");
  auto ev = record_locks([&] { ASSERT_TRUE(set(f, "user.k", "v").ok()); });
  ASSERT_EQ(ev.size(), 1u) << format_events(ev);
  EXPECT_EQ(ev[0].object, f);
  EXPECT_EQ(ev[0].mode, Mode::kExclusive);
  ev = record_locks([&] { EXPECT_EQ(*vfs->getxattr(f, "user.k"), "v"); });
  EXPECT_TRUE(ev.empty()) << format_events(ev);
}

TEST_F(XattrTest, FlagsAndErrors) {
  const core::Ino f = mkfile(kRootIno, "f");
  EXPECT_EQ(set(f, "user.k", "a", XATTR_REPLACE).error(), -ENODATA);
  ASSERT_TRUE(set(f, "user.k", "a", XATTR_CREATE).ok());
  EXPECT_EQ(set(f, "user.k", "b", XATTR_CREATE).error(), -EEXIST);
  ASSERT_TRUE(set(f, "user.k", "b", XATTR_REPLACE).ok());
  EXPECT_EQ(*vfs->getxattr(f, "user.k"), "b");
  EXPECT_EQ(vfs->getxattr(f, "user.none").error(), -ENODATA);
  EXPECT_EQ(set(f, "user." + std::string(251, 'n'), "v").error(), -ERANGE);
  EXPECT_EQ(set(f, "", "v").error(), -ERANGE);
  EXPECT_EQ(set(f, "user.", "v").error(), -EINVAL);
  EXPECT_EQ(set(f, "bogus.k", "v").error(), -EOPNOTSUPP);
  EXPECT_EQ(set(f, "user.big", std::string(65537, 'v')).error(), -E2BIG);
  EXPECT_TRUE(set(f, "user.max", std::string(65536, 'v')).ok());
  EXPECT_EQ(set(f, "user.k", "v", 4).error(), -EINVAL);
  ASSERT_TRUE(vfs->removexattr(f, "user.k").ok());
  EXPECT_EQ(vfs->removexattr(f, "user.k").error(), -ENODATA);
}

TEST_F(XattrTest, NamespacesAndList) {
  const core::Ino f = mkfile(kRootIno, "f", 0666);
  ASSERT_TRUE(set(f, "user.a", "1").ok());
  ASSERT_TRUE(set(f, "trusted.t", "2").ok());
  ASSERT_TRUE(set(f, "security.s", "3").ok());
  EXPECT_EQ(*vfs->listxattr(f), std::string("security.s\0trusted.t\0user.a\0", 28));
  auto l = vfs->symlink(kRootIno, "l", "f");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(set(l->ino, "user.a", "1").error(), -EPERM);
  EXPECT_EQ(vfs->getxattr(l->ino, "user.a").error(), -ENODATA);
  const core::Ino priv = mkfile(kRootIno, "priv", 0600);
  AsUser user(1000, 1000);
  EXPECT_EQ(*vfs->listxattr(f), std::string("security.s\0user.a\0", 18));
  EXPECT_EQ(set(f, "trusted.x", "1").error(), -EPERM);
  EXPECT_EQ(vfs->getxattr(f, "trusted.t").error(), -ENODATA);
  EXPECT_TRUE(set(f, "user.mine", "1").ok());
  EXPECT_EQ(set(priv, "user.x", "1").error(), -EACCES);
}

}  // namespace
}  // namespace lockfs::testing

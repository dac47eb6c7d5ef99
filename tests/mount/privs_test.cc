// Privilege dropping on data and owner changes through a real mount (file_remove_privs,
// should_remove_suid, ATTR_KILL_PRIV), which lockfs does itself: it negotiates
// FUSE_HANDLE_KILLPRIV_V2 so the kernel does not ask for security.capability before every
// write.
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "tests/mount/mount_fixture.h"

namespace lockfs::mount_test {
namespace {

using Privs = MountTest;

mode_t mode_of(const std::string& p) {
  struct stat st {};
  if (stat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

int write_some(const std::string& p) {
  int fd = open(p.c_str(), O_WRONLY);
  if (fd < 0) return 1;
  int rc = pwrite(fd, "data", 4, 0) == 4 ? 0 : 2;
  close(fd);
  return rc;
}

// "requests per op" line of `lockfs-ctl stats`: calls=N for `op`.
long op_calls(const std::string& stats, const std::string& op) {
  size_t at = stats.find("\n  " + op + " calls=");
  if (at == std::string::npos) return 0;  // never called
  return std::stol(stats.substr(at + op.size() + 10));
}

TEST_F(Privs, WriteByAnUnprivilegedTaskDropsSetuidAndExecutableSetgid) {
  const std::string a = path("a"), b = path("b");
  ASSERT_TRUE(write_file(a, "", 0777));
  ASSERT_TRUE(write_file(b, "", 0777));
  ASSERT_EQ(chmod(a.c_str(), 06777), 0);
  ASSERT_EQ(chmod(b.c_str(), 02767), 0);  // setgid without group execute: a mandatory-lock mark
  EXPECT_EQ(as_user([&] { return write_some(a) + 10 * write_some(b); }), 0);
  EXPECT_EQ(mode_of(a), 0777u);
  EXPECT_EQ(mode_of(b), 02767u) << "setgid stays when the group cannot execute";
}

TEST_F(Privs, WriteByRootKeepsTheBits) {
  const std::string a = path("a");
  ASSERT_TRUE(write_file(a, "", 0755));
  ASSERT_EQ(chmod(a.c_str(), 06755), 0);
  ASSERT_EQ(write_some(a), 0);
  EXPECT_EQ(mode_of(a), 06755u) << "CAP_FSETID keeps setuid/setgid";
}

TEST_F(Privs, TruncateByAnUnprivilegedTaskAndChownByRootDropSetuid) {
  const std::string a = path("a"), c = path("c");
  ASSERT_TRUE(write_file(a, "0123456789", 0777));
  ASSERT_EQ(chmod(a.c_str(), 04777), 0);
  EXPECT_EQ(as_user([&] { return truncate(a.c_str(), 3) == 0 ? 0 : 1; }), 0);
  EXPECT_EQ(mode_of(a), 0777u);
  ASSERT_TRUE(write_file(c, "", 0755));
  ASSERT_EQ(chmod(c.c_str(), 06755), 0);
  ASSERT_EQ(chown(c.c_str(), 1000, 1000), 0);
  EXPECT_EQ(mode_of(c), 0755u) << "chown drops setuid, and setgid of a group-executable file";
}

TEST_F(Privs, WriteAndTruncateDropFileCapabilities) {
  const std::string a = path("a"), b = path("b");
  ASSERT_TRUE(write_file(a, "x", 0755));
  ASSERT_TRUE(write_file(b, "xyz", 0755));
  // struct vfs_cap_data, revision 2: cap_net_bind_service permitted.
  const uint32_t caps[5] = {0x02000000, 1u << 10, 0, 0, 0};
  for (const std::string* p : {&a, &b}) {
    ASSERT_EQ(setxattr(p->c_str(), "security.capability", caps, sizeof caps, 0), 0)
        << strerror(errno);
    ASSERT_EQ(setxattr(p->c_str(), "user.keep", "1", 1, 0), 0);
  }
  ASSERT_EQ(write_some(a), 0);
  ASSERT_EQ(truncate(b.c_str(), 1), 0);
  char buf[64];
  for (const std::string* p : {&a, &b}) {
    errno = 0;
    EXPECT_EQ(getxattr(p->c_str(), "security.capability", buf, sizeof buf), -1) << *p;
    EXPECT_EQ(errno, ENODATA) << *p;
    EXPECT_EQ(getxattr(p->c_str(), "user.keep", buf, sizeof buf), 1) << "other xattrs stay";
  }
}

TEST_F(Privs, WritesDoNotCostAGetxattrRoundTrip) {
  const std::string a = path("a");
  ASSERT_TRUE(write_file(a, "", 0644));
  const long before = op_calls(ctl("stats").out, "getxattr");
  const long writes_before = op_calls(ctl("stats").out, "write");
  int fd = open(a.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(pwrite(fd, "abcd", 4, i * 4096), 4);
  close(fd);
  const std::string stats = ctl("stats").out;
  EXPECT_GE(op_calls(stats, "write") - writes_before, 100) << stats;
  // Without HANDLE_KILLPRIV_V2 every write is preceded by GETXATTR(security.capability);
  // with it the kernel looks at most once and then marks the inode S_NOSEC (SB_NOSEC).
  EXPECT_LE(op_calls(stats, "getxattr") - before, 1)
      << "the kernel asks for security.capability per write: HANDLE_KILLPRIV_V2 not in effect\n"
      << stats;
}

}  // namespace
}  // namespace lockfs::mount_test

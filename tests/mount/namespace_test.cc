// Namespace ops through a real mount: lookup, mkdir, create, readdir, unlink, rmdir, rename
// (with flags), link, symlink/readlink, mknod, and their errnos as Linux filesystems return them.
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <string>

#include "tests/mount/mount_fixture.h"

namespace lockfs::mount_test {
namespace {

#define EXPECT_ERRNO(expr, e)      \
  do {                             \
    errno = 0;                     \
    EXPECT_EQ((expr), -1);         \
    EXPECT_EQ(errno, (e)) << #expr; \
  } while (0)

int renameat2(const std::string& a, const std::string& b, unsigned flags) {
  return static_cast<int>(syscall(SYS_renameat2, AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), flags));
}

std::set<std::string> list_dir(const std::string& dir) {
  std::set<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (!d) return names;
  while (dirent* e = readdir(d)) names.insert(e->d_name);
  closedir(d);
  return names;
}

using Namespace = MountTest;

TEST_F(Namespace, CreateWriteReadStat) {
  ASSERT_TRUE(write_file(path("a"), "hello"));
  struct stat st;
  ASSERT_EQ(stat(path("a").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_size, 5);
  EXPECT_EQ(st.st_nlink, 1u);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(read_file(path("a")), "hello");
  EXPECT_ERRNO(open(path("missing").c_str(), O_RDONLY), ENOENT);
  EXPECT_ERRNO(open(path("a").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
}

TEST_F(Namespace, MkdirRmdirErrors) {
  ASSERT_EQ(mkdir(path("d").c_str(), 0755), 0);
  EXPECT_ERRNO(mkdir(path("d").c_str(), 0755), EEXIST);
  ASSERT_TRUE(write_file(path("d/f"), "x"));
  EXPECT_ERRNO(rmdir(path("d").c_str()), ENOTEMPTY);
  EXPECT_ERRNO(unlink(path("d").c_str()), EISDIR);
  EXPECT_ERRNO(rmdir(path("d/f").c_str()), ENOTDIR);
  EXPECT_ERRNO(open(path("d/f/x").c_str(), O_RDONLY), ENOTDIR);
  EXPECT_ERRNO(mkdir(path("d/f/x").c_str(), 0755), ENOTDIR);
  EXPECT_ERRNO(rmdir(path("nope").c_str()), ENOENT);
  EXPECT_ERRNO(unlink(path("nope").c_str()), ENOENT);
  std::string longname(256, 'n');
  EXPECT_ERRNO(mkdir(path(longname).c_str(), 0755), ENAMETOOLONG);
  EXPECT_ERRNO(open(path(longname).c_str(), O_RDONLY), ENAMETOOLONG);
  std::string maxname(255, 'm');
  EXPECT_EQ(mkdir(path(maxname).c_str(), 0755), 0);
  ASSERT_EQ(unlink(path("d/f").c_str()), 0);
  EXPECT_EQ(rmdir(path("d").c_str()), 0);
  EXPECT_ERRNO(access(path("d").c_str(), F_OK), ENOENT);
}

TEST_F(Namespace, DirectoryLinkCountsFollowSubdirectories) {
  ASSERT_EQ(mkdir(path("p").c_str(), 0755), 0);
  struct stat st;
  ASSERT_EQ(stat(path("p").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);
  ASSERT_EQ(mkdir(path("p/c1").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(path("p/c2").c_str(), 0755), 0);
  ASSERT_EQ(stat(path("p").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 4u);
  ASSERT_EQ(rmdir(path("p/c1").c_str()), 0);
  ASSERT_EQ(stat(path("p").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 3u);
}

TEST_F(Namespace, ReaddirListsManyEntriesAcrossBuffers) {
  ASSERT_EQ(mkdir(path("many").c_str(), 0755), 0);
  std::set<std::string> want = {".", ".."};
  for (int i = 0; i < 400; i++) {
    std::string name = "file-with-a-rather-long-name-" + std::to_string(i);
    ASSERT_TRUE(write_file(path("many/" + name), ""));
    want.insert(name);
  }
  EXPECT_EQ(list_dir(path("many")), want);
  // readdirplus and plain readdir both: `ls -l` stats every entry.
  Cmd ls = sh("ls -la " + quote(path("many")) + " | wc -l");
  EXPECT_EQ(ls.status, 0);
  EXPECT_EQ(std::stoi(ls.out), 403);  // "total", ".", "..", 400 files
}

TEST_F(Namespace, RenameReplacesAndMovesAcrossDirectories) {
  ASSERT_EQ(mkdir(path("a").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(path("b").c_str(), 0755), 0);
  ASSERT_TRUE(write_file(path("a/x"), "xx"));
  ASSERT_TRUE(write_file(path("b/y"), "yy"));
  ASSERT_EQ(rename(path("a/x").c_str(), path("b/y").c_str()), 0);
  EXPECT_EQ(read_file(path("b/y")), "xx");
  EXPECT_ERRNO(access(path("a/x").c_str(), F_OK), ENOENT);
  // A directory moved to another parent changes both parents' link counts.
  ASSERT_EQ(mkdir(path("a/sub").c_str(), 0755), 0);
  ASSERT_EQ(rename(path("a/sub").c_str(), path("b/sub").c_str()), 0);
  struct stat sa, sb;
  ASSERT_EQ(stat(path("a").c_str(), &sa), 0);
  ASSERT_EQ(stat(path("b").c_str(), &sb), 0);
  EXPECT_EQ(sa.st_nlink, 2u);
  EXPECT_EQ(sb.st_nlink, 3u);
  EXPECT_ERRNO(rename(path("nope").c_str(), path("b/z").c_str()), ENOENT);
}

TEST_F(Namespace, RenameErrors) {
  ASSERT_EQ(mkdir(path("d").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(path("d/sub").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(path("full").c_str(), 0755), 0);
  ASSERT_TRUE(write_file(path("full/f"), ""));
  ASSERT_TRUE(write_file(path("file"), ""));
  EXPECT_ERRNO(rename(path("d").c_str(), path("d/sub/d").c_str()), EINVAL);
  EXPECT_ERRNO(rename(path("d").c_str(), path("full").c_str()), ENOTEMPTY);
  EXPECT_ERRNO(rename(path("file").c_str(), path("d").c_str()), EISDIR);
  EXPECT_ERRNO(rename(path("d").c_str(), path("file").c_str()), ENOTDIR);
  // Renaming onto itself succeeds and changes nothing.
  EXPECT_EQ(rename(path("file").c_str(), path("file").c_str()), 0);
  EXPECT_EQ(access(path("file").c_str(), F_OK), 0);
}

TEST_F(Namespace, RenameNoreplaceAndExchange) {
  ASSERT_TRUE(write_file(path("one"), "1"));
  ASSERT_TRUE(write_file(path("two"), "2"));
  EXPECT_ERRNO(renameat2(path("one"), path("two"), RENAME_NOREPLACE), EEXIST);
  ASSERT_EQ(renameat2(path("one"), path("three"), RENAME_NOREPLACE), 0);
  ASSERT_EQ(renameat2(path("three"), path("two"), RENAME_EXCHANGE), 0);
  EXPECT_EQ(read_file(path("three")), "2");
  EXPECT_EQ(read_file(path("two")), "1");
  EXPECT_ERRNO(renameat2(path("three"), path("absent"), RENAME_EXCHANGE), ENOENT);
  // Exchange a file with a directory: both stay, types swap places.
  ASSERT_EQ(mkdir(path("dir").c_str(), 0755), 0);
  ASSERT_EQ(renameat2(path("two"), path("dir"), RENAME_EXCHANGE), 0);
  struct stat st;
  ASSERT_EQ(stat(path("two").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(read_file(path("dir")), "1");
}

TEST_F(Namespace, HardLinksShareTheInode) {
  ASSERT_TRUE(write_file(path("orig"), "data"));
  ASSERT_EQ(mkdir(path("d").c_str(), 0755), 0);
  ASSERT_EQ(link(path("orig").c_str(), path("d/alias").c_str()), 0);
  struct stat a, b;
  ASSERT_EQ(stat(path("orig").c_str(), &a), 0);
  ASSERT_EQ(stat(path("d/alias").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(b.st_nlink, 2u);
  EXPECT_ERRNO(link(path("orig").c_str(), path("d/alias").c_str()), EEXIST);
  EXPECT_ERRNO(link(path("d").c_str(), path("dlink").c_str()), EPERM);
  ASSERT_EQ(unlink(path("orig").c_str()), 0);
  ASSERT_EQ(stat(path("d/alias").c_str(), &b), 0);
  EXPECT_EQ(b.st_nlink, 1u);
  EXPECT_EQ(read_file(path("d/alias")), "data");
}

TEST_F(Namespace, SymlinkAndReadlink) {
  ASSERT_TRUE(write_file(path("target"), "t"));
  ASSERT_EQ(symlink("target", path("ln").c_str()), 0);
  char buf[64];
  ssize_t n = readlink(path("ln").c_str(), buf, sizeof buf);
  ASSERT_EQ(n, 6);
  EXPECT_EQ(std::string(buf, 6), "target");
  struct stat st;
  ASSERT_EQ(lstat(path("ln").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(st.st_size, 6);
  EXPECT_EQ(read_file(path("ln")), "t");
  EXPECT_ERRNO(symlink("x", path("ln").c_str()), EEXIST);
  EXPECT_ERRNO(readlink(path("target").c_str(), buf, sizeof buf), EINVAL);
  // A dangling link and a loop.
  ASSERT_EQ(symlink("nowhere", path("dangling").c_str()), 0);
  EXPECT_ERRNO(open(path("dangling").c_str(), O_RDONLY), ENOENT);
  ASSERT_EQ(symlink("loop", path("loop").c_str()), 0);
  EXPECT_ERRNO(open(path("loop").c_str(), O_RDONLY), ELOOP);
}

TEST_F(Namespace, MknodFifoAndDevice) {
  ASSERT_EQ(mkfifo(path("fifo").c_str(), 0644), 0);
  struct stat st;
  ASSERT_EQ(stat(path("fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  ASSERT_EQ(mknod(path("null").c_str(), S_IFCHR | 0600, makedev(1, 3)), 0);
  ASSERT_EQ(stat(path("null").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  EXPECT_ERRNO(mknod(path("null").c_str(), S_IFCHR | 0600, makedev(1, 3)), EEXIST);
}

TEST_F(Namespace, UnlinkedOpenFileKeepsItsData) {
  int fd = open(path("tmp").c_str(), O_RDWR | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "still here", 10), 10);
  ASSERT_EQ(unlink(path("tmp").c_str()), 0);
  EXPECT_ERRNO(access(path("tmp").c_str(), F_OK), ENOENT);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_nlink, 0u);
  char buf[16] = {};
  ASSERT_EQ(pread(fd, buf, sizeof buf, 0), 10);
  EXPECT_EQ(std::string(buf, 10), "still here");
  EXPECT_EQ(close(fd), 0);
}

TEST_F(Namespace, FsyncDirectoryAndNoTmpfile) {
  ASSERT_EQ(mkdir(path("d").c_str(), 0755), 0);
  int fd = open(path("d").c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(fsync(fd), 0);
  EXPECT_EQ(fdatasync(fd), 0);
  close(fd);
  // libfuse 3.14's low-level API has no tmpfile op, so the kernel refuses O_TMPFILE.
  EXPECT_ERRNO(open(path("d").c_str(), O_TMPFILE | O_RDWR, 0600), EOPNOTSUPP);
}

TEST_F(Namespace, UmaskAppliesToNewNodes) {
  int rc = in_child([&] {
    umask(027);
    if (mkdir(path("m").c_str(), 0777) != 0) return 1;
    int fd = open(path("f").c_str(), O_CREAT | O_WRONLY, 0666);
    if (fd < 0) return 2;
    close(fd);
    struct stat d, f;
    if (stat(path("m").c_str(), &d) != 0 || stat(path("f").c_str(), &f) != 0) return 3;
    if ((d.st_mode & 07777) != 0750) return 4;
    if ((f.st_mode & 07777) != 0640) return 5;
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

}  // namespace
}  // namespace lockfs::mount_test

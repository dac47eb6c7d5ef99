// File ops through a real mount: read/write, setattr (chmod, chown, truncate, utimens),
// xattrs, fallocate, SEEK_DATA/SEEK_HOLE, copy_file_range, mmap, fsync, poll, statfs, access.
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <random>
#include <string>

#include "tests/mount/mount_fixture.h"

namespace lockfs::mount_test {
namespace {

#define EXPECT_ERRNO(expr, e)       \
  do {                              \
    errno = 0;                      \
    EXPECT_EQ((expr), -1);          \
    EXPECT_EQ(errno, (e)) << #expr; \
  } while (0)

std::string pattern(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

using File = MountTest;

TEST_F(File, LargeWriteReadBack) {
  std::string data = pattern(3 * 1024 * 1024 + 123, 1);
  ASSERT_TRUE(write_file(path("big"), data));
  EXPECT_TRUE(read_file(path("big")) == data);
  struct stat st;
  ASSERT_EQ(stat(path("big").c_str(), &st), 0);
  EXPECT_EQ(static_cast<size_t>(st.st_size), data.size());
  // Overwrite a range in the middle at an unaligned offset.
  int fd = open(path("big").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, "XYZ", 3, 70001), 3);
  ASSERT_EQ(fsync(fd), 0);
  ASSERT_EQ(fdatasync(fd), 0);
  close(fd);
  data.replace(70001, 3, "XYZ");
  EXPECT_TRUE(read_file(path("big")) == data);
}

TEST_F(File, AppendAndTruncate) {
  ASSERT_TRUE(write_file(path("f"), "abc"));
  int fd = open(path("f").c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "def", 3), 3);
  close(fd);
  EXPECT_EQ(read_file(path("f")), "abcdef");
  ASSERT_EQ(truncate(path("f").c_str(), 2), 0);
  EXPECT_EQ(read_file(path("f")), "ab");
  ASSERT_EQ(truncate(path("f").c_str(), 5), 0);
  EXPECT_EQ(read_file(path("f")), std::string("ab\0\0\0", 5));
  fd = open(path("f").c_str(), O_RDWR | O_TRUNC);
  ASSERT_GE(fd, 0);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 0);
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 4096);
  close(fd);
  EXPECT_ERRNO(truncate(path("f").c_str(), -1), EINVAL);
  EXPECT_ERRNO(truncate(mnt_.c_str(), 0), EISDIR);
}

TEST_F(File, ChmodChownUtimens) {
  ASSERT_TRUE(write_file(path("f"), "x"));
  ASSERT_EQ(chmod(path("f").c_str(), 0604), 0);
  ASSERT_EQ(chown(path("f").c_str(), 1234, 5678), 0);
  struct timespec ts[2] = {{1000000000, 123456789}, {1500000000, 987654321}};
  ASSERT_EQ(utimensat(AT_FDCWD, path("f").c_str(), ts, 0), 0);
  struct stat st;
  ASSERT_EQ(stat(path("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0604u);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
  EXPECT_EQ(st.st_atim.tv_nsec, 123456789);
  EXPECT_EQ(st.st_mtim.tv_sec, 1500000000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 987654321);
  // A write moves mtime forward again.
  ASSERT_TRUE(write_file(path("f"), "y"));
  ASSERT_EQ(stat(path("f").c_str(), &st), 0);
  EXPECT_GT(st.st_mtim.tv_sec, 1500000000);
}

TEST_F(File, Xattrs) {
  ASSERT_TRUE(write_file(path("f"), ""));
  std::string f = path("f");
  ASSERT_EQ(setxattr(f.c_str(), "user.color", "blue", 4, 0), 0);
  EXPECT_EQ(getxattr(f.c_str(), "user.color", nullptr, 0), 4);
  char small[2];
  EXPECT_ERRNO(getxattr(f.c_str(), "user.color", small, sizeof small), ERANGE);
  char buf[64];
  ASSERT_EQ(getxattr(f.c_str(), "user.color", buf, sizeof buf), 4);
  EXPECT_EQ(std::string(buf, 4), "blue");
  EXPECT_ERRNO(setxattr(f.c_str(), "user.color", "red", 3, XATTR_CREATE), EEXIST);
  EXPECT_ERRNO(setxattr(f.c_str(), "user.shape", "x", 1, XATTR_REPLACE), ENODATA);
  ASSERT_EQ(setxattr(f.c_str(), "user.shape", "round", 5, XATTR_CREATE), 0);
  ssize_t n = listxattr(f.c_str(), nullptr, 0);
  EXPECT_EQ(n, static_cast<ssize_t>(sizeof("user.color") + sizeof("user.shape")));
  EXPECT_ERRNO(listxattr(f.c_str(), small, sizeof small), ERANGE);
  ASSERT_EQ(listxattr(f.c_str(), buf, sizeof buf), n);
  std::string names(buf, static_cast<size_t>(n));
  EXPECT_NE(names.find("user.color"), std::string::npos);
  EXPECT_NE(names.find("user.shape"), std::string::npos);
  ASSERT_EQ(removexattr(f.c_str(), "user.color"), 0);
  EXPECT_ERRNO(getxattr(f.c_str(), "user.color", buf, sizeof buf), ENODATA);
  EXPECT_ERRNO(removexattr(f.c_str(), "user.color"), ENODATA);
  // An empty value is a value.
  ASSERT_EQ(setxattr(f.c_str(), "user.empty", "", 0, 0), 0);
  EXPECT_EQ(getxattr(f.c_str(), "user.empty", buf, sizeof buf), 0);
}

TEST_F(File, FallocateModes) {
  int fd = open(path("f").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  struct stat st;
  ASSERT_EQ(fallocate(fd, 0, 0, 100000), 0);
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 100000);
  ASSERT_EQ(fallocate(fd, FALLOC_FL_KEEP_SIZE, 100000, 50000), 0);
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 100000);
  std::string ones(16384, '1');
  ASSERT_EQ(pwrite(fd, ones.data(), ones.size(), 0), static_cast<ssize_t>(ones.size()));
  ASSERT_EQ(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192), 0);
  std::string back(16384, 'z');
  ASSERT_EQ(pread(fd, back.data(), back.size(), 0), static_cast<ssize_t>(back.size()));
  EXPECT_EQ(back.substr(0, 4096), std::string(4096, '1'));
  EXPECT_EQ(back.substr(4096, 8192), std::string(8192, '\0'));
  EXPECT_EQ(back.substr(12288), std::string(4096, '1'));
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 100000);
  // Punch hole must come with KEEP_SIZE; negative ranges are invalid.
  EXPECT_ERRNO(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), EOPNOTSUPP);
  EXPECT_ERRNO(fallocate(fd, 0, -1, 10), EINVAL);
  close(fd);
}

TEST_F(File, SeekDataAndHole) {
  int fd = open(path("sparse").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  std::string block(4096, 'd');
  ASSERT_EQ(pwrite(fd, block.data(), block.size(), 0), 4096);
  ASSERT_EQ(pwrite(fd, block.data(), block.size(), 1 << 20), 4096);
  off_t end = (1 << 20) + 4096;
  EXPECT_EQ(lseek(fd, 0, SEEK_DATA), 0);
  off_t hole = lseek(fd, 0, SEEK_HOLE);
  EXPECT_GE(hole, 4096);
  EXPECT_LE(hole, 1 << 20);
  EXPECT_EQ(lseek(fd, hole, SEEK_DATA), 1 << 20);
  EXPECT_EQ(lseek(fd, 1 << 20, SEEK_HOLE), end);
  EXPECT_ERRNO(lseek(fd, end, SEEK_DATA), ENXIO);
  EXPECT_ERRNO(lseek(fd, end + 10, SEEK_HOLE), ENXIO);
  close(fd);
}

TEST_F(File, CopyFileRange) {
  std::string data = pattern(200000, 7);
  ASSERT_TRUE(write_file(path("src"), data));
  int in = open(path("src").c_str(), O_RDONLY);
  int out = open(path("dst").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(in, 0);
  ASSERT_GE(out, 0);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = copy_file_range(in, nullptr, out, nullptr, data.size() - done, 0);
    ASSERT_GT(n, 0);
    done += static_cast<size_t>(n);
  }
  close(in);
  close(out);
  EXPECT_TRUE(read_file(path("dst")) == data);
}

TEST_F(File, SharedMmapWritesReachTheFile) {
  int fd = open(path("m").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 8192), 0);
  void* p = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(p, MAP_FAILED);
  memcpy(static_cast<char*>(p) + 5000, "mapped", 6);
  ASSERT_EQ(msync(p, 8192, MS_SYNC), 0);
  munmap(p, 8192);
  close(fd);
  std::string back = read_file(path("m"));
  ASSERT_EQ(back.size(), 8192u);
  EXPECT_EQ(back.substr(5000, 6), "mapped");
}

// The kernel writes a shared mapping's dirty pages back with FUSE_WRITE_CACHE. lockfs stores
// them as ->page_mkwrite does (op "writepage": invalidate_lock shared, no i_rwsem), and, as
// on any Linux filesystem, a store through a mapping keeps the file's suid bit.
TEST_F(File, SharedMmapWritebackIsAPageMkwriteStore) {
  const std::string f = path("wb");
  int fd = open(f.c_str(), O_RDWR | O_CREAT, 0755);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 3 * 4096), 0);
  ASSERT_EQ(fchmod(fd, 04755), 0);
  ASSERT_EQ(ctl("reset").status, 0);
  void* p = mmap(nullptr, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(p, MAP_FAILED);
  memcpy(static_cast<char*>(p) + 4096 + 10, "stored", 6);
  ASSERT_EQ(msync(p, 3 * 4096, MS_SYNC), 0);
  munmap(p, 3 * 4096);
  close(fd);

  Cmd trace = ctl("trace --format=text");
  ASSERT_EQ(trace.status, 0);
  int writepages = 0;
  bool shared_invalidate = false;
  std::istringstream lines(trace.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(" op=writepage ") == std::string::npos) continue;
    if (line.find("op-begin") != std::string::npos) ++writepages;
    EXPECT_EQ(line.find("i_rwsem"), std::string::npos) << line;
    if (line.find("acquire invalidate_lock") != std::string::npos &&
        line.find("mode=shared") != std::string::npos) {
      shared_invalidate = true;
    }
  }
  EXPECT_GE(writepages, 1) << trace.out;
  EXPECT_TRUE(shared_invalidate) << trace.out;

  // The daemon has the bytes: O_DIRECT reads bypass the kernel's page cache.
  fd = open(f.c_str(), O_RDONLY | O_DIRECT);
  ASSERT_GE(fd, 0);
  char buf[16] = {};
  ASSERT_EQ(pread(fd, buf, 6, 4096 + 10), 6);
  EXPECT_EQ(std::string(buf, 6), "stored");
  close(fd);
  // And it kept S_ISUID: ask the daemon, not the attribute cache.
  struct statx stx {};
  ASSERT_EQ(statx(AT_FDCWD, f.c_str(), AT_STATX_FORCE_SYNC, STATX_MODE, &stx), 0);
  EXPECT_EQ(stx.stx_mode & 07777, 04755);
}

TEST_F(File, PollSaysReady) {
  ASSERT_TRUE(write_file(path("p"), "x"));
  int fd = open(path("p").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  pollfd pfd{fd, POLLIN | POLLOUT, 0};
  ASSERT_EQ(poll(&pfd, 1, 1000), 1);
  EXPECT_TRUE(pfd.revents & POLLIN);
  EXPECT_TRUE(pfd.revents & POLLOUT);
  close(fd);
}

// Opens reply FOPEN_KEEP_CACHE, so pages the kernel cached in one open are used by the next:
// every way of changing data must leave that cache right.
TEST_F(File, KeptPageCacheSeesEveryChange) {
  const std::string f = path("f"), src = path("src");
  const std::string a = pattern(3 * 4096, 1), b = pattern(4096, 2);
  ASSERT_TRUE(write_file(f, a));
  ASSERT_TRUE(write_file(src, b));
  EXPECT_EQ(read_file(f), a);  // now cached
  // write through another descriptor
  int fd = open(f.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, "XYZ", 3, 5000), 3);
  close(fd);
  std::string want = a;
  want.replace(5000, 3, "XYZ");
  EXPECT_EQ(read_file(f), want);
  // punch a hole
  fd = open(f.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 4096), 0);
  close(fd);
  want.replace(4096, 4096, std::string(4096, '\0'));
  EXPECT_EQ(read_file(f), want);
  // copy_file_range into it
  int in = open(src.c_str(), O_RDONLY), out = open(f.c_str(), O_WRONLY);
  ASSERT_GE(in, 0);
  ASSERT_GE(out, 0);
  loff_t ip = 0, op = 8192;
  ASSERT_EQ(copy_file_range(in, &ip, out, &op, 4096, 0), 4096);
  close(in);
  close(out);
  want.replace(8192, 4096, b);
  EXPECT_EQ(read_file(f), want);
  // a shared mapping's store
  fd = open(f.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  void* m = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(m, MAP_FAILED);
  memcpy(m, "mmap", 4);
  ASSERT_EQ(msync(m, 4096, MS_SYNC), 0);
  munmap(m, 4096);
  close(fd);
  want.replace(0, 4, "mmap");
  EXPECT_EQ(read_file(f), want);
  // truncate down and up again: the tail reads as zeros
  ASSERT_EQ(truncate(f.c_str(), 100), 0);
  ASSERT_EQ(truncate(f.c_str(), 3 * 4096), 0);
  want = want.substr(0, 100) + std::string(3 * 4096 - 100, '\0');
  EXPECT_EQ(read_file(f), want);
}

TEST_F(File, StatfsAndAccess) {
  struct statfs sf;
  ASSERT_EQ(statfs(mnt_.c_str(), &sf), 0);
  EXPECT_EQ(static_cast<unsigned long>(sf.f_type), 0x65735546ul);  // FUSE_SUPER_MAGIC
  EXPECT_GT(sf.f_bsize, 0);
  EXPECT_GT(sf.f_blocks, 0u);
  EXPECT_GT(sf.f_files, 0u);
  EXPECT_GE(sf.f_namelen, 255);
  ASSERT_TRUE(write_file(path("f"), "x", 0644));
  EXPECT_EQ(access(path("f").c_str(), R_OK | W_OK), 0);
  // Even root may not execute a file without any x bit.
  EXPECT_ERRNO(access(path("f").c_str(), X_OK), EACCES);
  ASSERT_EQ(chmod(path("f").c_str(), 0744), 0);
  EXPECT_EQ(access(path("f").c_str(), X_OK), 0);
}

}  // namespace
}  // namespace lockfs::mount_test

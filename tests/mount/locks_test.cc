// Locks, chattr flags and permissions through a real mount: fcntl record locks between
// processes, flock, FS_IOC_GETFLAGS/SETFLAGS, and mode checks as a non-root user.
#include <fcntl.h>
#include <grp.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/mount/mount_fixture.h"

namespace lockfs::mount_test {
namespace {

#define EXPECT_ERRNO(expr, e)       \
  do {                              \
    errno = 0;                      \
    EXPECT_EQ((expr), -1);          \
    EXPECT_EQ(errno, (e)) << #expr; \
  } while (0)

struct flock wrlock(off_t start, off_t len) {
  struct flock lk {};
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  lk.l_start = start;
  lk.l_len = len;
  return lk;
}

// A child that takes a write lock on [0, 100) and waits for a byte on `go` before exiting.
pid_t hold_lock_in_child(const std::string& file, int ready_w, int go_r) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(file.c_str(), O_RDWR);
    struct flock lk = wrlock(0, 100);
    char c = fd >= 0 && fcntl(fd, F_SETLK, &lk) == 0 ? 'y' : 'n';
    if (write(ready_w, &c, 1) != 1) _exit(3);
    if (read(go_r, &c, 1) < 0) _exit(4);
    _exit(0);
  }
  return pid;
}

using Locks = MountTest;

TEST_F(Locks, FcntlRecordLocksConflictBetweenProcesses) {
  ASSERT_TRUE(write_file(path("f"), std::string(200, 'x')));
  int ready[2], go[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(go), 0);
  pid_t child = hold_lock_in_child(path("f"), ready[1], go[0]);
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  int fd = open(path("f").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  struct flock q = wrlock(50, 10);
  ASSERT_EQ(fcntl(fd, F_GETLK, &q), 0);
  EXPECT_EQ(q.l_type, F_WRLCK);
  EXPECT_EQ(q.l_pid, child);
  EXPECT_EQ(q.l_start, 0);
  EXPECT_EQ(q.l_len, 100);
  struct flock mine = wrlock(50, 10);
  EXPECT_ERRNO(fcntl(fd, F_SETLK, &mine), EAGAIN);
  struct flock beyond = wrlock(100, 10);
  EXPECT_EQ(fcntl(fd, F_SETLK, &beyond), 0);
  ASSERT_EQ(write(go[1], "g", 1), 1);
  int st;
  ASSERT_EQ(waitpid(child, &st, 0), child);
  // The child's exit released its lock: a blocking lock is granted now.
  EXPECT_EQ(fcntl(fd, F_SETLKW, &mine), 0);
  struct flock free_q = wrlock(0, 100);
  ASSERT_EQ(fcntl(fd, F_GETLK, &free_q), 0);
  EXPECT_EQ(free_q.l_type, F_UNLCK);  // our own locks never conflict with us
  close(fd);
}

// posix_locks_deadlock through the mount: this process holds byte 0, a child holds byte 1
// and sleeps in F_SETLKW for byte 0 (on a lock waiter's thread in the daemon); our F_SETLKW
// for byte 1 would close the cycle and fails with EDEADLK at once. Once we let byte 0 go,
// the child gets it.
TEST_F(Locks, SetlkwThatWouldDeadlockFailsWithEdeadlk) {
  ASSERT_TRUE(write_file(path("f"), "xx"));
  const int fd = open(path("f").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  struct flock mine = wrlock(0, 1);
  ASSERT_EQ(fcntl(fd, F_SETLK, &mine), 0);
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  if (child == 0) {
    int cfd = open(path("f").c_str(), O_RDWR);
    struct flock own = wrlock(1, 1), want = wrlock(0, 1);
    if (cfd < 0 || fcntl(cfd, F_SETLK, &own) != 0) _exit(2);
    if (write(ready[1], "y", 1) != 1) _exit(3);
    _exit(fcntl(cfd, F_SETLKW, &want) == 0 ? 0 : 10 + errno % 100);
  }
  ASSERT_GT(child, 0);
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  ASSERT_TRUE(wait_inflight("setlk", child));
  struct flock theirs = wrlock(1, 1);
  EXPECT_ERRNO(fcntl(fd, F_SETLKW, &theirs), EDEADLK);
  mine.l_type = F_UNLCK;
  ASSERT_EQ(fcntl(fd, F_SETLK, &mine), 0);
  int st = 0;
  ASSERT_EQ(waitpid(child, &st, 0), child);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
  close(fd);
  close(ready[0]);
  close(ready[1]);
}

TEST_F(Locks, FlockExcludesOtherOpenFiles) {
  ASSERT_TRUE(write_file(path("f"), ""));
  int a = open(path("f").c_str(), O_RDONLY);
  int b = open(path("f").c_str(), O_RDONLY);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_EQ(flock(a, LOCK_EX), 0);
  EXPECT_ERRNO(flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
  EXPECT_ERRNO(flock(b, LOCK_SH | LOCK_NB), EWOULDBLOCK);
  ASSERT_EQ(flock(a, LOCK_UN), 0);
  EXPECT_EQ(flock(b, LOCK_SH | LOCK_NB), 0);
  EXPECT_EQ(flock(a, LOCK_SH | LOCK_NB), 0);
  close(a);
  close(b);
  // Closing the last descriptor dropped the locks.
  int c = open(path("f").c_str(), O_RDONLY);
  EXPECT_EQ(flock(c, LOCK_EX | LOCK_NB), 0);
  close(c);
}

// Sleeping lock requests never take every worker thread: with libfuse's workers capped at
// two, six processes sleep in F_SETLKW and six in flock(LOCK_EX) on locks this process
// holds, and meanwhile the mount still answers (stat, a new file), the unlocks get through
// and every sleeper is granted its lock. Were the sleepers on libfuse's workers, the third
// would find none free and the mount would hang until the watchdog fires.
class FewWorkers : public MountTest {
 protected:
  std::string extra_options() override { return "max_threads=2"; }
};

TEST_F(FewWorkers, SleepingLockRequestsLeaveTheMountServing) {
  constexpr int kSleepers = 6;
  ASSERT_TRUE(write_file(path("rec"), "r"));
  ASSERT_TRUE(write_file(path("fl"), "f"));
  const int rec = open(path("rec").c_str(), O_RDWR);
  const int fl = open(path("fl").c_str(), O_RDONLY);
  ASSERT_GE(rec, 0);
  ASSERT_GE(fl, 0);
  struct flock all = wrlock(0, 0);
  ASSERT_EQ(fcntl(rec, F_SETLK, &all), 0);
  ASSERT_EQ(flock(fl, LOCK_EX), 0);
  std::vector<pid_t> sleepers;
  for (int i = 0; i < 2 * kSleepers; ++i) {
    const bool record = i < kSleepers;
    pid_t pid = fork();
    if (pid == 0) {
      int fd = open(path(record ? "rec" : "fl").c_str(), record ? O_RDWR : O_RDONLY);
      if (fd < 0) _exit(2);
      struct flock lk = wrlock(0, 0);
      const int rc = record ? fcntl(fd, F_SETLKW, &lk) : flock(fd, LOCK_EX);
      _exit(rc == 0 ? 0 : 10 + errno % 100);  // granted: 0
    }
    ASSERT_GT(pid, 0);
    sleepers.push_back(pid);
  }
  for (int i = 0; i < 2 * kSleepers; ++i) {
    ASSERT_TRUE(wait_inflight(i < kSleepers ? "setlk" : "flock", sleepers[i])) << i;
  }
  // All twelve asleep in lockfs, each on a thread of its own, and the mount still serves.
  EXPECT_NE(ctl("stats").out.find("lock_waiters: 12\n"), std::string::npos) << ctl("stats").out;
  struct stat st;
  EXPECT_EQ(stat(path("rec").c_str(), &st), 0);
  EXPECT_TRUE(write_file(path("meanwhile"), "still serving"));
  EXPECT_EQ(read_file(path("meanwhile")), "still serving");
  all.l_type = F_UNLCK;
  ASSERT_EQ(fcntl(rec, F_SETLK, &all), 0);
  ASSERT_EQ(flock(fl, LOCK_UN), 0);
  for (pid_t pid : sleepers) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "pid " << pid;
  }
  close(rec);
  close(fl);
  bool drained = false;  // the sleepers' unlock-on-exit requests may still be in flight
  for (int i = 0; i < 1000 && !drained; ++i, usleep(10000)) {
    drained = ctl("stats").out.find("inflight_requests: 0\n") != std::string::npos;
  }
  EXPECT_TRUE(drained) << ctl("stats").out;
  EXPECT_EQ(ctl("violations").status, 0) << ctl("violations").out;
}

TEST_F(Locks, ChattrFlagsThroughIoctl) {
  ASSERT_TRUE(write_file(path("f"), "x"));
  int fd = open(path("f").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  int flags = -1;
  ASSERT_EQ(ioctl(fd, FS_IOC_GETFLAGS, &flags), 0);
  EXPECT_EQ(flags & (FS_APPEND_FL | FS_IMMUTABLE_FL), 0);
  flags |= FS_APPEND_FL;
  ASSERT_EQ(ioctl(fd, FS_IOC_SETFLAGS, &flags), 0);
  int back = 0;
  ASSERT_EQ(ioctl(fd, FS_IOC_GETFLAGS, &back), 0);
  EXPECT_TRUE(back & FS_APPEND_FL);
  close(fd);
  EXPECT_ERRNO(open(path("f").c_str(), O_WRONLY), EPERM);
  int afd = open(path("f").c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(afd, 0);
  EXPECT_EQ(write(afd, "y", 1), 1);
  close(afd);
  EXPECT_ERRNO(unlink(path("f").c_str()), EPERM);
  fd = open(path("f").c_str(), O_RDONLY);
  flags = FS_IMMUTABLE_FL;
  ASSERT_EQ(ioctl(fd, FS_IOC_SETFLAGS, &flags), 0);
  EXPECT_ERRNO(open(path("f").c_str(), O_WRONLY | O_APPEND), EPERM);
  EXPECT_ERRNO(chmod(path("f").c_str(), 0600), EPERM);
  EXPECT_ERRNO(rename(path("f").c_str(), path("g").c_str()), EPERM);
  flags = 0;
  ASSERT_EQ(ioctl(fd, FS_IOC_SETFLAGS, &flags), 0);
  close(fd);
  EXPECT_EQ(read_file(path("f")), "xy");
  EXPECT_EQ(unlink(path("f").c_str()), 0);
  // Other ioctls are not supported.
  fd = open(mnt_.c_str(), O_RDONLY | O_DIRECTORY);
  int dflags = 0;
  EXPECT_EQ(ioctl(fd, FS_IOC_GETFLAGS, &dflags), 0);  // directories too (lsattr -d)
  close(fd);
}

TEST_F(Locks, PermissionsAsAnUnprivilegedUser) {
  ASSERT_EQ(mkdir(path("rootonly").c_str(), 0755), 0);
  ASSERT_TRUE(write_file(path("rootonly/secret"), "s", 0600));
  ASSERT_TRUE(write_file(path("public"), "p", 0644));
  ASSERT_EQ(mkdir(path("shared").c_str(), 01777), 0);
  ASSERT_EQ(chmod(path("shared").c_str(), 01777), 0);
  ASSERT_TRUE(write_file(path("shared/roots"), "r", 0666));
  int rc = as_user([&]() -> int {
    errno = 0;
    if (open(path("rootonly/new").c_str(), O_CREAT | O_WRONLY, 0644) != -1 || errno != EACCES)
      return 1;
    if (open(path("rootonly/secret").c_str(), O_RDONLY) != -1 || errno != EACCES) return 2;
    if (open(path("public").c_str(), O_WRONLY) != -1 || errno != EACCES) return 3;
    if (open(path("public").c_str(), O_RDONLY) < 0) return 4;
    // The mount root is 1777 like tmpfs: anyone may create, and owns what they create.
    int fd = open(path("mine").c_str(), O_CREAT | O_WRONLY, 0600);
    if (fd < 0) return 5;
    close(fd);
    struct stat st;
    if (stat(path("mine").c_str(), &st) != 0 || st.st_uid != 1000 || st.st_gid != 1000) return 6;
    if (mkdir(path("mydir").c_str(), 0700) != 0) return 7;
    if (stat(path("mydir").c_str(), &st) != 0 || st.st_uid != 1000) return 8;
    // Sticky directory: not our file, not our directory.
    if (unlink(path("shared/roots").c_str()) != -1 || errno != EPERM) return 9;
    if (chmod(path("public").c_str(), 0777) != -1 || errno != EPERM) return 10;
    if (chown(path("mine").c_str(), 0, 0) != -1 || errno != EPERM) return 11;
    if (chmod(path("mine").c_str(), 0) != 0) return 12;
    if (open(path("mine").c_str(), O_RDONLY) != -1 || errno != EACCES) return 13;
    if (unlink(path("mine").c_str()) != 0) return 14;
    return 0;
  });
  EXPECT_EQ(rc, 0) << "first failed check in the child";
}

TEST_F(Locks, SetgidDirectoryPassesItsGroup) {
  ASSERT_EQ(mkdir(path("g").c_str(), 0777), 0);
  ASSERT_EQ(chown(path("g").c_str(), 0, 4242), 0);
  ASSERT_EQ(chmod(path("g").c_str(), 02777), 0);
  int rc = as_user([&]() -> int {
    int fd = open(path("g/f").c_str(), O_CREAT | O_WRONLY, 0644);
    if (fd < 0) return 1;
    close(fd);
    if (mkdir(path("g/sub").c_str(), 0755) != 0) return 2;
    struct stat f, d;
    if (stat(path("g/f").c_str(), &f) != 0 || stat(path("g/sub").c_str(), &d) != 0) return 3;
    if (f.st_gid != 4242 || f.st_uid != 1000) return 4;
    if (d.st_gid != 4242 || !(d.st_mode & S_ISGID)) return 5;
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

}  // namespace
}  // namespace lockfs::mount_test

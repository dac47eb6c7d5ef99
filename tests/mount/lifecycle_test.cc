// Request lifetime through a real mount: a process killed while its request waits in lockfs
// exits promptly and the mount stays healthy; a full filesystem says ENOSPC and keeps what
// was written; the kernel's FORGETs bring the live inode count back to the root alone.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <string>

#include "tests/mount/mount_fixture.h"

namespace lockfs::mount_test {
namespace {

int stat_value(const std::string& stats, const std::string& key) {
  size_t at = stats.find(key + ": ");
  if (at == std::string::npos) return -1;
  return std::stoi(stats.substr(at + key.size() + 2));
}

// Waits (bounded by the fixture's watchdog) until `pred` holds.
template <typename Pred>
bool eventually(Pred pred, int tries = 1000) {
  for (int i = 0; i < tries; i++) {
    if (pred()) return true;
    usleep(10000);
  }
  return pred();
}

// Holds a write lock on `file` in this process and starts a child whose F_SETLKW will wait
// for it inside lockfs (wait_inflight tells when it does); -1 if the lock cannot be taken.
pid_t start_blocked_setlkw(const std::string& file, int* holder_fd,
                           bool catch_sigusr1) {
  *holder_fd = open(file.c_str(), O_RDWR);
  struct flock lk {};
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  if (*holder_fd < 0 || fcntl(*holder_fd, F_SETLK, &lk) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    if (catch_sigusr1) {
      struct sigaction sa {};
      sa.sa_handler = [](int) {};
      sa.sa_flags = 0;  // no SA_RESTART: the interrupted fcntl returns EINTR
      sigaction(SIGUSR1, &sa, nullptr);
    }
    int cfd = open(file.c_str(), O_RDWR);
    struct flock w {};
    w.l_type = F_WRLCK;
    w.l_whence = SEEK_SET;
    int rc = fcntl(cfd, F_SETLKW, &w);
    _exit(rc == -1 ? (errno == EINTR ? 42 : errno) : 0);  // 42: EINTR, else the errno
  }
  return pid;
}

class Lifecycle : public MountTest {
 protected:
  // Writes "f", holds a write lock on it (holder_fd_) and returns once waiter_'s F_SETLKW
  // waits for it inside lockfs.
  void block_a_setlkw_waiter(bool catch_sigusr1) {
    ASSERT_TRUE(write_file(path("f"), "x"));
    waiter_ = start_blocked_setlkw(path("f"), &holder_fd_, catch_sigusr1);
    ASSERT_GT(waiter_, 0);
    ASSERT_TRUE(wait_inflight("setlk", waiter_));
  }

  pid_t waiter_ = -1;
  int holder_fd_ = -1;
};

TEST_F(Lifecycle, SigkillOfAProcessBlockedInSetlkwIsPrompt) {
  ASSERT_TRUE(write_file(path("f"), "x"));
  int fd = open(path("f").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  struct flock lk {};
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  ASSERT_EQ(fcntl(fd, F_SETLK, &lk), 0);  // held by this process for the whole test

  pid_t waiter = fork();
  if (waiter == 0) {
    int cfd = open(path("f").c_str(), O_RDWR);
    struct flock w {};
    w.l_type = F_WRLCK;
    w.l_whence = SEEK_SET;
    fcntl(cfd, F_SETLKW, &w);  // blocks in lockfs until killed
    _exit(0);
  }
  // The waiter's SETLKW is in flight in the daemon once stats say so.
  ASSERT_TRUE(wait_inflight("setlk", waiter));
  ASSERT_EQ(kill(waiter, SIGKILL), 0);
  int st = 0;
  ASSERT_EQ(waitpid(waiter, &st, 0), waiter);  // the watchdog bounds "promptly"
  EXPECT_TRUE(WIFSIGNALED(st));
  EXPECT_EQ(WTERMSIG(st), SIGKILL);
  ASSERT_TRUE(eventually([&] { return stat_value(ctl("stats").out, "inflight_requests") == 0; }));
  // The daemon stays healthy: new work, and our lock is still ours.
  ASSERT_TRUE(write_file(path("after"), "ok"));
  EXPECT_EQ(read_file(path("after")), "ok");
  int st2 = in_child([&] {
    int cfd = open(path("f").c_str(), O_RDWR);
    struct flock t {};
    t.l_type = F_WRLCK;
    t.l_whence = SEEK_SET;
    return fcntl(cfd, F_SETLK, &t) == -1 && errno == EAGAIN ? 0 : 1;
  });
  EXPECT_EQ(st2, 0);
  lk.l_type = F_UNLCK;
  ASSERT_EQ(fcntl(fd, F_SETLK, &lk), 0);
  close(fd);
  Cmd stats = ctl("stats");
  EXPECT_NE(stats.out.find("setlk"), std::string::npos);
}


TEST_F(Lifecycle, SignalledSetlkwReturnsEintr) {
  ASSERT_NO_FATAL_FAILURE(block_a_setlkw_waiter(true));
  const pid_t waiter = waiter_;
  const int fd = holder_fd_;
  ASSERT_EQ(kill(waiter, SIGUSR1), 0);
  int st = 0;
  ASSERT_EQ(waitpid(waiter, &st, 0), waiter);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 42) << "F_SETLKW should fail with EINTR";
  Cmd stats = ctl("stats");
  EXPECT_NE(stats.out.find("setlk calls="), std::string::npos);
  EXPECT_EQ(stats.out.find("setlk calls=0"), std::string::npos);
  // One interrupt, counted once, though the request slept on a lock waiter's thread (a
  // second Request of it, to which libfuse may deliver the interrupt again).
  const size_t line = stats.out.find("setlk calls=");
  EXPECT_NE(stats.out.substr(line, stats.out.find('\n', line) - line).find("interrupted=1"),
            std::string::npos) << stats.out;
  EXPECT_NE(stats.out.find("lock_waiters: 0\n"), std::string::npos) << stats.out;
  close(fd);
}

TEST_F(Lifecycle, AbortedConnectionEndsWaitsAndTheDaemonExits) {
  ASSERT_NO_FATAL_FAILURE(block_a_setlkw_waiter(false));
  const pid_t waiter = waiter_;
  const int fd = holder_fd_;
  // umount -f: the kernel's umount_begin aborts the connection (failing every pending
  // request and closing /dev/fuse) even though the busy mount itself stays.
  umount2(mnt_.c_str(), MNT_FORCE);
  int wst = 0;
  ASSERT_EQ(waitpid(waiter, &wst, 0), waiter);
  EXPECT_TRUE(WIFEXITED(wst));
  close(fd);
  // The daemon's session ends; the request still waiting in core is killed so the worker
  // threads can be joined, and the daemon exits cleanly.
  int dst = 0;
  ASSERT_EQ(waitpid(daemon_, &dst, 0), daemon_);
  daemon_ = -1;
  EXPECT_TRUE(WIFEXITED(dst));
  EXPECT_EQ(WEXITSTATUS(dst), 0) << read_file(log_);
  EXPECT_NE(read_file(log_).find("killing waits"), std::string::npos) << read_file(log_);
  if (is_mounted(mnt_)) sh("fusermount3 -u -z " + quote(mnt_));
}

TEST_F(Lifecycle, SigtermStopsTheDaemonAndFailsWaitersWithEnotconn) {
  ASSERT_NO_FATAL_FAILURE(block_a_setlkw_waiter(false));
  const pid_t waiter = waiter_;
  const int fd = holder_fd_;
  ASSERT_EQ(kill(daemon_, SIGTERM), 0);
  int wst = 0;
  ASSERT_EQ(waitpid(waiter, &wst, 0), waiter);
  ASSERT_TRUE(WIFEXITED(wst));
  // Not EINTR: the waiter was not signalled; its server went away.
  EXPECT_EQ(WEXITSTATUS(wst), ENOTCONN);
  close(fd);
  int dst = 0;
  ASSERT_EQ(waitpid(daemon_, &dst, 0), daemon_);
  daemon_ = -1;
  EXPECT_TRUE(WIFEXITED(dst));
  EXPECT_EQ(WEXITSTATUS(dst), 0) << read_file(log_);
  if (is_mounted(mnt_)) sh("fusermount3 -u -z " + quote(mnt_));
}

TEST_F(Lifecycle, LiveInodesReturnToRootAfterForgets) {
  ASSERT_EQ(mkdir(path("w").c_str(), 0755), 0);
  for (int i = 0; i < 50; i++) ASSERT_TRUE(write_file(path("w/f" + std::to_string(i)), "data"));
  ASSERT_EQ(mkdir(path("w/sub").c_str(), 0755), 0);
  ASSERT_EQ(symlink("f1", path("w/ln").c_str()), 0);
  ASSERT_EQ(sh("ls -lR " + quote(mnt_) + " >/dev/null").status, 0);
  EXPECT_GT(stat_value(ctl("stats").out, "live_inodes"), 50);
  ASSERT_EQ(sh("rm -rf " + quote(path("w"))).status, 0);
  sync();
  // Evicting the kernel's dentries and inodes sends FORGET for each lookup it held.
  ASSERT_TRUE(eventually([&] {
    sh("echo 2 > /proc/sys/vm/drop_caches");
    return stat_value(ctl("stats").out, "live_inodes") == 1;
  }, 200)) << ctl("stats").out;
}

class SmallFs : public MountTest {
 protected:
  std::string extra_options() override { return "size=8m"; }
};

TEST_F(SmallFs, FillToEnospcKeepsEarlierFiles) {
  std::mt19937 rng(3);
  std::string a(2 << 20, '\0'), b(1 << 20, '\0');
  for (auto& c : a) c = static_cast<char>(rng());
  for (auto& c : b) c = static_cast<char>(rng());
  ASSERT_TRUE(write_file(path("a"), a));
  ASSERT_TRUE(write_file(path("b"), b));
  int fd = open(path("fill").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  std::string chunk(65536, 'f');
  size_t written = 0;
  int err = 0;
  for (int i = 0; i < 1000; i++) {
    ssize_t n = write(fd, chunk.data(), chunk.size());
    if (n < 0) {
      err = errno;
      break;
    }
    written += static_cast<size_t>(n);
  }
  EXPECT_EQ(err, ENOSPC);
  EXPECT_LE(written + a.size() + b.size(), 8u << 20);
  close(fd);
  EXPECT_TRUE(read_file(path("a")) == a);
  EXPECT_TRUE(read_file(path("b")) == b);
  // Freeing space makes writes possible again. FUSE sends RELEASE after close() returns, so
  // the unlinked file's pages go once the daemon has processed it: wait for statfs to say so.
  ASSERT_EQ(unlink(path("fill").c_str()), 0);
  ASSERT_TRUE(eventually([&] {
    struct statvfs sv;
    return statvfs(mnt_.c_str(), &sv) == 0 && sv.f_bfree * sv.f_bsize >= (2u << 20);
  }));
  EXPECT_TRUE(write_file(path("c"), std::string(1 << 20, 'c')));
}

}  // namespace
}  // namespace lockfs::mount_test

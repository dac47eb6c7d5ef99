// A real lockfs mount per test: starts `lockfs -f` from the build tree on a fresh temporary
// directory (validate=strict, trace=on, allow_other so setresuid children can use it), waits
// until /proc/self/mountinfo lists it, and in TearDown checks that the validator saw no
// violation, unmounts with fusermount3 -u, and that the daemon exits 0. A watchdog kills the
// daemon, detaches the mount and aborts when a test hangs.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace lockfs::mount_test {

inline const std::string kBin = LOCKFS_BINARY_DIR;
inline const std::string kSrc = LOCKFS_SOURCE_DIR;

struct Cmd {
  int status;  // exit status (-1 if killed by a signal)
  std::string out;
};

// Runs `cmd` with /bin/sh, stdout (and stderr when `merge`) captured.
inline Cmd sh(const std::string& cmd, bool merge = true) {
  std::string full = cmd + (merge ? " 2>&1" : "");
  FILE* p = popen(full.c_str(), "r");
  if (!p) return {-1, "popen failed"};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

inline std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}

inline bool write_file(const std::string& path, const std::string& data, mode_t mode = 0644) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (fd < 0) return false;
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) {
      ::close(fd);
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return ::close(fd) == 0;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline bool is_mounted(const std::string& mnt) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, dev, root, mp;
    f >> id >> parent >> dev >> root >> mp;
    if (mp == mnt && line.find(" - fuse") != std::string::npos) return true;
  }
  return false;
}

// Runs `fn` in a forked child; returns its exit status (fn's return value), or -1 on a signal.
template <typename Fn>
int in_child(Fn&& fn) {
  pid_t pid = fork();
  if (pid == 0) _exit(fn());
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// Runs `fn` as uid/gid 1000 (supplementary groups dropped) in a child; 100 if that fails.
template <typename Fn>
int as_user(Fn&& fn) {
  return in_child([&] {
    if (setgroups(0, nullptr) != 0 || setresgid(1000, 1000, 1000) != 0 ||
        setresuid(1000, 1000, 1000) != 0)
      return 100;
    return fn();
  });
}

class Watchdog {
 public:
  Watchdog(int seconds, pid_t* daemon, std::string mnt)
      : thread_([this, seconds, daemon, mnt] {
          std::unique_lock<std::mutex> l(mu_);
          if (!cv_.wait_for(l, std::chrono::seconds(seconds), [this] { return done_; })) {
            fprintf(stderr, "watchdog: test hung for %ds; killing lockfs and aborting\n", seconds);
            if (*daemon > 0) kill(*daemon, SIGKILL);
            umount2(mnt.c_str(), MNT_DETACH);
            abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> l(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

class MountTest : public ::testing::Test {
 protected:
  // Extra -o options for a fixture (e.g. "size=8m").
  virtual std::string extra_options() { return ""; }
  virtual int watchdog_seconds() { return 90; }

  void SetUp() override {
    if (access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/fuse";
    char tmpl[] = "/tmp/lockfs-mt.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // mkdtemp makes it 0700; setresuid children must be able to reach the mount point.
    ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
    mnt_ = dir_ + "/mnt";
    log_ = dir_ + "/lockfs.log";
    ASSERT_EQ(::mkdir(mnt_.c_str(), 0755), 0);
    watchdog_ = std::make_unique<Watchdog>(watchdog_seconds(), &daemon_, mnt_);
    start_daemon();
  }

  void start_daemon() {
    std::string opts = "validate=strict,trace=on,allow_other";
    if (!extra_options().empty()) opts += "," + extra_options();
    daemon_ = fork();
    if (daemon_ == 0) {
      int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::string bin = kBin + "/lockfs";
      execl(bin.c_str(), "lockfs", "-f", mnt_.c_str(), "-o", opts.c_str(), (char*)nullptr);
      _exit(127);
    }
    for (int i = 0; i < 1000 && !is_mounted(mnt_); i++) {
      int st;
      if (waitpid(daemon_, &st, WNOHANG) == daemon_) {
        daemon_ = -1;
        FAIL() << "lockfs exited before mounting:\n" << read_file(log_);
      }
      usleep(10000);
    }
    ASSERT_TRUE(is_mounted(mnt_)) << "lockfs did not mount:\n" << read_file(log_);
    // The control socket listened before the mount appeared: a test may use or stop the
    // daemon at once.
  }

  // Closes descriptors a failed assertion left open on the mount (they would keep it busy).
  void close_leaked_fds() {
    std::vector<int> fds;
    if (DIR* d = opendir("/proc/self/fd")) {
      while (dirent* e = readdir(d)) {
        int fd = atoi(e->d_name);
        char target[4096];
        std::string link = std::string("/proc/self/fd/") + e->d_name;
        ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
        if (fd > 2 && n > 0 && std::string(target, n).rfind(mnt_, 0) == 0) fds.push_back(fd);
      }
      closedir(d);
    }
    for (int fd : fds) ::close(fd);
  }

  // Unmounts and waits for the daemon; returns its exit status (or -1).
  int unmount() {
    if (daemon_ <= 0) return -1;
    close_leaked_fds();
    for (int i = 0; i < 30 && is_mounted(mnt_); i++) {
      if (sh("fusermount3 -u " + quote(mnt_)).status == 0) break;
      usleep(100000);  // EBUSY: a child of the test may still be closing files
    }
    if (is_mounted(mnt_)) {
      ADD_FAILURE() << "mount stayed busy; detaching it";
      sh("fusermount3 -u -z " + quote(mnt_));
    }
    int st = 0;
    pid_t got = -1;
    for (int i = 0; i < 500 && (got = waitpid(daemon_, &st, WNOHANG)) == 0; i++) usleep(10000);
    if (got == 0) {
      ADD_FAILURE() << "lockfs did not exit after unmount; killing it";
      kill(daemon_, SIGKILL);
      got = waitpid(daemon_, &st, 0);
      daemon_ = -1;
      return -1;
    }
    daemon_ = -1;
    if (got < 0) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }

  void TearDown() override {
    if (!dir_.empty() && daemon_ > 0) {
      Cmd v = ctl("violations");
      EXPECT_EQ(v.status, 0) << v.out;
      int rc = unmount();
      EXPECT_EQ(rc, 0) << "lockfs exit status; log:\n" << read_file(log_);
    }
    watchdog_.reset();
    if (!dir_.empty() && !is_mounted(mnt_)) sh("rm -rf " + quote(dir_));
  }

  std::string path(const std::string& rel) const { return mnt_ + "/" + rel; }
  Cmd ctl(const std::string& args) { return sh(kBin + "/lockfs-ctl " + quote(mnt_) + " " + args); }
  // True once `lockfs-ctl stats` lists a request `op` of process `pid` in flight (within ~10 s;
  // the watchdog bounds the test anyway).
  bool wait_inflight(const std::string& op, pid_t pid) {
    const std::string line = "inflight: " + op + " pid=" + std::to_string(pid) + "\n";
    for (int i = 0; i < 1000; i++) {
      if (ctl("stats").out.find(line) != std::string::npos) return true;
      usleep(10000);
    }
    return false;
  }
  // A shell command run inside the mount point.
  Cmd in_mnt(const std::string& cmd) { return sh("cd " + quote(mnt_) + " && " + cmd); }

  std::string dir_, mnt_, log_;
  pid_t daemon_ = -1;
  std::unique_ptr<Watchdog> watchdog_;
};

}  // namespace lockfs::mount_test

// The control interface and the command line, against a real mount: Chrome trace dumps show
// mkdir taking the parent's i_rwsem exclusive and lookup taking it shared; stats, contract,
// violations, reset; trace_file at unmount; --help, bad options, and mounting through
// mount.fuse3 (`mount -t fuse.lockfs`).
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <chrono>
#include <string>
#include <thread>

#include "fs/ctl_protocol.h"
#include "tests/mount/mount_fixture.h"

namespace lockfs::mount_test {
namespace {

using Ctl = MountTest;

// Python: does the Chrome trace in `file` hold an i_rwsem slice taken by `op` on object
// `ino` in `mode`? Prints "yes" or what it saw.
std::string trace_has(const std::string& file, const std::string& op, ino_t ino,
                      const std::string& mode) {
  std::string py =
      "import json,sys\n"
      "t=json.load(open(sys.argv[1]))\n"
      "ev=[e for e in t['traceEvents'] if e.get('ph')=='B' and e.get('cat')=='lock']\n"
      "hit=[e for e in ev if e['name'].startswith('i_rwsem') and e['args'].get('op')==sys.argv[2]"
      " and e['args'].get('object')==int(sys.argv[3]) and e['args'].get('mode')==sys.argv[4]]\n"
      "print('yes' if hit else 'no: ' + repr(sorted({(e['name'],e['args'].get('op'),"
      "e['args'].get('object'),e['args'].get('mode')) for e in ev})[:40]))\n";
  return sh("python3 -c " + quote(py) + " " + quote(file) + " " + op + " " +
            std::to_string(ino) + " " + mode)
      .out;
}

TEST_F(Ctl, ChromeTraceShowsMkdirExclusiveAndLookupShared) {
  ASSERT_EQ(mkdir(path("parent").c_str(), 0755), 0);
  struct stat st;
  ASSERT_EQ(stat(path("parent").c_str(), &st), 0);
  ASSERT_EQ(ctl("reset").status, 0);
  ASSERT_EQ(mkdir(path("parent/child").c_str(), 0755), 0);
  struct stat tmp;
  EXPECT_EQ(stat(path("parent/absent").c_str(), &tmp), -1);  // a negative lookup
  std::string file = dir_ + "/trace.json";
  Cmd dump = sh(kBin + "/lockfs-ctl " + quote(mnt_) + " trace --format=chrome > " + quote(file),
                false);
  ASSERT_EQ(dump.status, 0) << dump.out;
  EXPECT_EQ(trace_has(file, "mkdir", st.st_ino, "exclusive"), "yes\n");
  EXPECT_EQ(trace_has(file, "lookup", st.st_ino, "shared"), "yes\n");
  // The other formats work too.
  Cmd text = ctl("trace --format=text");
  EXPECT_EQ(text.status, 0);
  EXPECT_NE(text.out.find("mkdir"), std::string::npos);
  Cmd jsonl = ctl("trace --format=jsonl");
  EXPECT_EQ(jsonl.status, 0);
  EXPECT_EQ(jsonl.out.substr(0, 1), "{");
  EXPECT_EQ(ctl("trace --format=nope").status, 2);
}

TEST_F(Ctl, StatsContractViolationsResetLockstat) {
  ASSERT_TRUE(write_file(path("f"), "x"));
  // The trace clock settles on its source once it has read clock_gettime for 20 ms.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(write_file(path("f"), "y"));
  Cmd stats = ctl("stats");
  ASSERT_EQ(stats.status, 0) << stats.out;
  EXPECT_NE(stats.out.find("live_inodes: "), std::string::npos);
  EXPECT_NE(stats.out.find("profile: current"), std::string::npos);
  EXPECT_NE(stats.out.find("validate: strict"), std::string::npos);
  EXPECT_NE(stats.out.find("  create calls="), std::string::npos);
  // Timestamps come from the TSC exactly where the kernel keeps time with it.
  const bool tsc = read_file("/sys/devices/system/clocksource/clocksource0/current_clocksource")
                       .rfind("tsc\n", 0) == 0;
  EXPECT_NE(stats.out.find(tsc ? "trace_clock: tsc\n" : "trace_clock: clock_gettime\n"),
            std::string::npos)
      << stats.out;
  Cmd c = ctl("contract");
  EXPECT_EQ(c.status, 0);
  EXPECT_NE(c.out.find("lookup"), std::string::npos);
  Cmd v = ctl("violations");
  EXPECT_EQ(v.status, 0) << v.out;
  EXPECT_NE(v.out.find("violations: 0"), std::string::npos);
  EXPECT_EQ(ctl("lockstat").status, 0);
  EXPECT_EQ(ctl("reset").status, 0);
  EXPECT_EQ(ctl("help").status, 0);
  Cmd bad = ctl("no-such-command");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.out.find("unknown command"), std::string::npos);
  Cmd inj = ctl("inject list");
  EXPECT_EQ(inj.status, 0) << inj.out;
}

TEST_F(Ctl, InjectedFailureReachesTheCaller) {
  Cmd add = ctl("inject add op=mkdir fail=EIO count=1");
  ASSERT_EQ(add.status, 0) << add.out;
  errno = 0;
  EXPECT_EQ(mkdir(path("d").c_str(), 0755), -1);
  EXPECT_EQ(errno, EIO);
  EXPECT_EQ(mkdir(path("d").c_str(), 0755), 0);  // count=1: only once
  EXPECT_EQ(ctl("inject clear").status, 0);
}

TEST_F(Ctl, OnlyTheMountingUserMayConnect) {
  int rc = in_child([&] {
    if (setresgid(1000, 1000, 1000) != 0 || setresuid(1000, 1000, 1000) != 0) return 100;
    Cmd c = sh(kBin + "/lockfs-ctl " + quote(mnt_) + " stats");
    return c.status == 2 ? 0 : 1;
  });
  EXPECT_EQ(rc, 0);
}

TEST_F(Ctl, GivesUpOnASilentDaemon) {
  // A stopped daemon still lets connect() through its listen backlog; lockfs-ctl must give
  // up with a reason instead of waiting forever.
  ASSERT_EQ(kill(daemon_, SIGSTOP), 0);
  const auto t0 = std::chrono::steady_clock::now();
  Cmd c = sh("LOCKFS_CTL_TIMEOUT=1 " + kBin + "/lockfs-ctl " + quote(mnt_) + " stats");
  const auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(kill(daemon_, SIGCONT), 0);
  EXPECT_EQ(c.status, 2) << c.out;
  EXPECT_NE(c.out.find("sent nothing for 1 s"), std::string::npos) << c.out;
  EXPECT_LT(secs, 10.0);
  EXPECT_EQ(ctl("stats").status, 0) << "the daemon answers again once it runs";
}

TEST_F(Ctl, ALateExitLeavesTheNextDaemonsSocket) {
  // Unmounted while stopped, the old daemon only exits after a new one has mounted the same
  // mount point (and bound the same socket path): it must remove its own socket, not the
  // new daemon's.
  const pid_t old = daemon_;
  ASSERT_EQ(kill(old, SIGSTOP), 0);
  Cmd u = sh("fusermount3 -u " + quote(mnt_));
  ASSERT_EQ(u.status, 0) << u.out;
  daemon_ = -1;
  ASSERT_NO_FATAL_FAILURE(start_daemon());
  ASSERT_EQ(kill(old, SIGCONT), 0);
  int st = 0;
  ASSERT_EQ(waitpid(old, &st, 0), old);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << read_file(log_);
  Cmd c = ctl("stats");
  EXPECT_EQ(c.status, 0) << c.out << "\n" << read_file(log_);
}

TEST_F(Ctl, AFailedMountLeavesTheLiveDaemonsSocket) {
  // A second lockfs on the mount point this daemon serves listens before it mounts; when
  // its mount then fails, this daemon must still answer. Only the second daemon's mount
  // fails: it runs in a private mount namespace whose /dev/fuse is /dev/null.
  const std::string second = "mount --bind /dev/null /dev/fuse || exit 77; exec timeout 30 " +
                             kBin + "/lockfs -f " + quote(mnt_) + " -o validate=off";
  Cmd c2 = sh("unshare -m --propagation private sh -c " + quote(second));
  if (c2.status == 77 || c2.out.find("unshare:") == 0) {
    GTEST_SKIP() << "no private mount namespace here: " << c2.out;
  }
  EXPECT_EQ(c2.status, 1) << c2.out;
  EXPECT_NE(c2.out.find("mount failed"), std::string::npos) << c2.out;
  EXPECT_EQ(c2.out.find("unmounted"), std::string::npos) << "it never mounted:\n" << c2.out;
  Cmd c = ctl("stats");
  EXPECT_EQ(c.status, 0) << c.out;
}

TEST_F(Ctl, TraceFileWrittenAtUnmount) {
  // Remount with trace_file: the first mount is unmounted cleanly first.
  ASSERT_EQ(unmount(), 0) << read_file(log_);
  std::string file = dir_ + "/final.json";
  pid_t pid = fork();
  if (pid == 0) {
    int fd = ::open(log_.c_str(), O_WRONLY | O_APPEND);
    dup2(fd, 2);
    std::string bin = kBin + "/lockfs";
    std::string o = "validate=strict,trace=4096,trace_file=" + file;
    execl(bin.c_str(), "lockfs", "-f", mnt_.c_str(), "-o", o.c_str(), (char*)nullptr);
    _exit(127);
  }
  daemon_ = pid;
  for (int i = 0; i < 1000 && !is_mounted(mnt_); i++) usleep(10000);
  ASSERT_TRUE(is_mounted(mnt_)) << read_file(log_);
  ASSERT_EQ(mkdir(path("x").c_str(), 0755), 0);
  ASSERT_EQ(unmount(), 0) << read_file(log_);
  Cmd check = sh("python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); "
                 "print(len(t[\"traceEvents\"]) > 0)' " + quote(file));
  EXPECT_EQ(check.out, "True\n") << check.out;
}

TEST(LockfsCommandLine, HelpAndBadOptions) {
  Cmd help = sh(kBin + "/lockfs --help");
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("validate="), std::string::npos);
  EXPECT_NE(help.out.find("contract="), std::string::npos);
  const char* bad[] = {"-o validate=bogus", "-o size=12q", "-o contract=2.4",
                       "-o trace=maybe", "-o log_level=loud", "-o no_such_option"};
  // An empty directory of our own: were an option wrongly accepted, nothing else gets hidden.
  char tmpl[] = "/tmp/lockfs-opts.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  for (const char* b : bad) {
    Cmd c = sh(kBin + "/lockfs -f " + quote(tmpl) + " " + b);
    EXPECT_NE(c.status, 0) << b;
    EXPECT_FALSE(c.out.empty()) << b;
    if (is_mounted(tmpl)) sh("fusermount3 -u " + quote(tmpl));
  }
  rmdir(tmpl);
  Cmd none = sh(kBin + "/lockfs");
  EXPECT_NE(none.status, 0);
  Cmd table = sh(kBin + "/lockfs-ctl contract --profile=3.x");
  EXPECT_EQ(table.status, 0);
  EXPECT_FALSE(table.out.empty());
  Cmd diff = sh(kBin + "/lockfs-ctl contract --diff 3.x current");
  EXPECT_EQ(diff.status, 0);
  EXPECT_FALSE(diff.out.empty());
  EXPECT_EQ(sh(kBin + "/lockfs-ctl contract --profile=9.x").status, 2);
}

// The daemon listens on its control socket before its mount appears, so a script that runs
// lockfs-ctl the moment it sees the mount (or the moment a backgrounding `lockfs MNT`
// returns) reaches it. The daemon is frozen the instant the mount shows up; its socket must
// already take connections. (Bound after the mount, the socket was missing here about one
// time in three.)
TEST(LockfsCommandLine, ControlSocketListensBeforeTheMountAppears) {
  if (access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/fuse";
  char tmpl[] = "/tmp/lockfs-sock.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl, mnt = dir + "/mnt", log = dir + "/lockfs.log";
  ASSERT_EQ(mkdir(mnt.c_str(), 0755), 0);
  char canonical[PATH_MAX];
  ASSERT_NE(realpath(mnt.c_str(), canonical), nullptr);
  const std::string sock = fs::ctl::socket_path(canonical, getuid());
  // Bounded waits: a plain TEST has no watchdog.
  auto reap = [](pid_t pid, int* st) {
    for (int i = 0; i < 1000; i++) {
      if (waitpid(pid, st, WNOHANG) == pid) return true;
      usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, st, 0);
    return false;
  };
  for (int round = 0; round < 3; round++) {
    pid_t daemon = fork();
    if (daemon == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      const std::string bin = kBin + "/lockfs";
      execl(bin.c_str(), "lockfs", "-f", mnt.c_str(), "-o", "validate=off", (char*)nullptr);
      _exit(127);
    }
    ASSERT_GT(daemon, 0);
    // Polls without sleeping, to stop the daemon the moment its mount appears.
    bool mounted = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!(mounted = is_mounted(mnt)) && std::chrono::steady_clock::now() < deadline) {
      if (waitpid(daemon, nullptr, WNOHANG) == daemon) break;
    }
    ASSERT_EQ(kill(daemon, SIGSTOP), 0);
    const bool exists = access(sock.c_str(), F_OK) == 0;
    bool listening = false;
    if (exists) {
      int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
      listening = connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
      ::close(c);
    }
    // Bound under a name of its own and renamed over the socket's: that name is gone.
    const std::string tmp_name = sock + "." + std::to_string(daemon) + ".new";
    EXPECT_NE(access(tmp_name.c_str(), F_OK), 0) << tmp_name;
    ASSERT_EQ(kill(daemon, SIGCONT), 0);
    EXPECT_TRUE(mounted) << read_file(log);
    EXPECT_TRUE(exists) << "round " << round << ": no socket " << sock;
    EXPECT_TRUE(listening) << "round " << round << ": " << sock << " takes no connection";
    bool unmounted = false;
    if (mounted) {
      Cmd c = sh(kBin + "/lockfs-ctl " + quote(mnt) + " stats");
      EXPECT_EQ(c.status, 0) << c.out;
      unmounted = sh("fusermount3 -u " + quote(mnt)).status == 0;
      EXPECT_TRUE(unmounted);
    }
    if (!unmounted) kill(daemon, SIGTERM);  // a foreground daemon would wait forever
    int st = 0;
    EXPECT_TRUE(reap(daemon, &st)) << "round " << round << ": lockfs did not exit; killed";
    if (unmounted) {
      EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << read_file(log);
    }
    // The daemon took its socket with it.
    EXPECT_NE(access(sock.c_str(), F_OK), 0) << sock;
  }
  sh("rm -rf " + quote(dir));
}

TEST(LockfsCommandLine, MountThroughMountFuse3Helper) {
  if (access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/fuse";
  if (sh("command -v mount.fuse3").status != 0) GTEST_SKIP() << "no mount.fuse3";
  char tmpl[] = "/tmp/lockfs-helper.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl, mnt = dir + "/mnt";
  ASSERT_EQ(mkdir(mnt.c_str(), 0755), 0);
  // `mount -t fuse.lockfs lockfs MNT` runs `mount.fuse3 lockfs MNT -t lockfs -o ...`, which
  // runs "lockfs lockfs MNT -o ..." from PATH; the daemon then backgrounds itself. mount(8)
  // gives helpers a fixed system PATH, so the build tree is reached by calling the helper.
  Cmd m = sh("PATH=" + quote(kBin) + ":$PATH mount.fuse3 lockfs " + quote(mnt) +
             " -t lockfs -o rw,nosuid,nodev,validate=strict");
  ASSERT_EQ(m.status, 0) << m.out;
  ASSERT_TRUE(is_mounted(mnt));
  EXPECT_TRUE(write_file(mnt + "/f", "via helper"));
  EXPECT_EQ(read_file(mnt + "/f"), "via helper");
  Cmd v = sh(kBin + "/lockfs-ctl " + quote(mnt) + " violations");
  EXPECT_EQ(v.status, 0) << v.out;
  EXPECT_EQ(sh("fusermount3 -u " + quote(mnt)).status, 0);
  EXPECT_FALSE(is_mounted(mnt));
  sh("rmdir " + quote(mnt) + " " + quote(dir));
}

}  // namespace
}  // namespace lockfs::mount_test

namespace lockfs::mount_test {
namespace {

// -o contract=3.x models the i_mutex era: lookup holds the parent's lock exclusive.
class OldContract : public MountTest {
 protected:
  std::string extra_options() override { return "contract=3.x"; }
};

TEST_F(OldContract, LookupTakesTheParentExclusive) {
  ASSERT_EQ(mkdir(path("p").c_str(), 0755), 0);
  struct stat st, tmp;
  ASSERT_EQ(stat(path("p").c_str(), &st), 0);
  ASSERT_EQ(ctl("reset").status, 0);
  EXPECT_EQ(stat(path("p/absent").c_str(), &tmp), -1);
  std::string file = dir_ + "/trace.json";
  ASSERT_EQ(sh(kBin + "/lockfs-ctl " + quote(mnt_) + " trace chrome > " + quote(file)).status, 0);
  EXPECT_EQ(trace_has(file, "lookup", st.st_ino, "exclusive"), "yes\n");
  EXPECT_NE(ctl("stats").out.find("profile: 3.x"), std::string::npos);
}

// -o writeback: the kernel caches writes and flushes them later (pid 0 writeback requests).
class Writeback : public MountTest {
 protected:
  std::string extra_options() override { return "writeback"; }
};

TEST_F(Writeback, WritesAppendsAndTruncatesStayCoherent) {
  ASSERT_TRUE(write_file(path("f"), "hello"));
  int fd = open(path("f").c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, " world", 6), 6);
  ASSERT_EQ(fsync(fd), 0);
  close(fd);
  EXPECT_EQ(read_file(path("f")), "hello world");
  ASSERT_EQ(truncate(path("f").c_str(), 5), 0);
  EXPECT_EQ(read_file(path("f")), "hello");
  Cmd cp = in_mnt("cp -a " + quote(kSrc + "/fs") + " t && diff -r " + quote(kSrc + "/fs") + " t");
  EXPECT_EQ(cp.status, 0) << cp.out;
}

}  // namespace
}  // namespace lockfs::mount_test

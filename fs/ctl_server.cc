// Control server: socket setup, peer check, the command table.
#include "fs/ctl_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "fs/ctl_protocol.h"
#include "fs/log.h"
#include "locking/contract.h"
#include "locking/inject.h"
#include "locking/tracer.h"
#include "locking/validator.h"

namespace lockfs::fs {
namespace {

// Which file a path names now: device, inode and change time (see CtlServer::socket_id_).
std::tuple<dev_t, ino_t, time_t, long> file_id(const struct stat& st) {
  return {st.st_dev, st.st_ino, st.st_ctim.tv_sec, st.st_ctim.tv_nsec};
}

// True when a server accepts connections on the Unix socket at `path` (a stopped process's
// listening socket still does: the kernel queues the connection).
bool someone_listens(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return false;
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  // Non-blocking: a listener whose backlog is full (a stopped daemon) would block connect().
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  const bool ok =
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 || errno == EAGAIN;
  close(fd);
  return ok;
}

struct CommandEntry {
  std::string help;
  CtlCommand fn;
};
std::map<std::string, CommandEntry>& commands() {
  static std::map<std::string, CommandEntry> table;
  return table;
}

int cmd_trace(Daemon&, const std::vector<std::string>& args, std::ostream& out) {
  std::string format = args.size() > 1 ? args[1] : "text";
  if (format.rfind("--format=", 0) == 0) format = format.substr(9);
  auto events = locking::trace_snapshot();
  if (format == "text") locking::dump_text(out, events);
  else if (format == "jsonl") locking::dump_jsonl(out, events);
  else if (format == "chrome" || format == "json") locking::dump_chrome(out, events);
  else {
    out << "unknown trace format '" << format << "' (text, jsonl, chrome)\n";
    return 2;
  }
  return 0;
}

int cmd_lockstat(Daemon&, const std::vector<std::string>&, std::ostream& out) {
  locking::dump_lockstat(out);
  return 0;
}

int cmd_violations(Daemon&, const std::vector<std::string>&, std::ostream& out) {
  uint64_t n = locking::violation_count();
  out << "violations: " << n << "\n";
  for (const auto& v : locking::violations()) {
    out << "[" << locking::violation_kind_name(v.kind) << "] pid=" << v.pid
        << " op=" << (v.op ? v.op : "") << "\n"
        << v.message << "\n";
  }
  // Not a violation, but a run that lost its validator is not a clean run either.
  const bool oom = locking::validator_ran_out_of_memory();
  if (oom) out << "validator: ran out of memory and turned itself off; locks since are unchecked\n";
  return n > 0 || oom ? 1 : 0;
}

int cmd_reset(Daemon&, const std::vector<std::string>&, std::ostream& out) {
  locking::trace_reset();
  locking::reset_violations();
  out << "trace, lock_stat and violations reset\n";
  return 0;
}

int cmd_contract(Daemon& d, const std::vector<std::string>& args, std::ostream& out) {
  auto p = locking::contract::profile_by_name(d.options().mount.profile);
  if (!p.ok()) {
    out << "unknown profile " << d.options().mount.profile << "\n";
    return 2;
  }
  locking::contract::print_table(out, *p, args.size() > 1 ? args[1] : std::string());
  return 0;
}

int cmd_stats(Daemon& d, const std::vector<std::string>&, std::ostream& out) {
  const Options& o = d.options();
  out << "profile: " << o.mount.profile << "\n";
  out << "validate: " << locking::validate_mode_name(locking::validate_mode()) << "\n";
  out << "trace: " << (locking::tracer_enabled() ? "on" : "off") << "\n";
  out << "trace_clock: " << locking::trace_clock_name() << "\n";
  out << "live_inodes: " << d.vfs().live_inodes() << "\n";
  auto inflight = d.inflight_ops();
  out << "inflight_requests: " << inflight.size() << "\n";
  for (const auto& r : inflight) out << "inflight: " << r << "\n";
  // Requests asleep for a file lock, each on a thread of its own (Daemon::start_lock_waiter).
  out << "lock_waiters: " << d.lock_waiters() << "\n";
  out << "violations: " << locking::violation_count() << "\n";
  auto st = d.vfs().statfs(core::kRootIno);
  if (st.ok()) {
    out << "block_size: " << st->f_bsize << "\n";
    out << "blocks_total: " << st->f_blocks << "\n";
    out << "blocks_used: " << (st->f_blocks - st->f_bfree) << "\n";
    out << "inodes_total: " << st->f_files << "\n";
    out << "inodes_used: " << (st->f_files - st->f_ffree) << "\n";
  }
  out << "ops:\n";
  for (const OpStat* s : op_stats()) {
    out << "  " << s->name << " calls=" << s->calls.load() << " errors=" << s->errors.load()
        << " interrupted=" << s->interrupted.load() << "\n";
  }
  return 0;
}

// inject add SPEC... | list | del ID | clear  (locking/inject.h has the SPEC syntax)
int cmd_inject(Daemon&, const std::vector<std::string>& args, std::ostream& out) {
  namespace inject = locking::inject;
  std::string sub = args.size() > 1 ? args[1] : "list";
  if (sub == "add") {
    std::string spec;
    for (size_t i = 2; i < args.size(); i++) spec += (i > 2 ? " " : "") + args[i];
    auto rule = inject::parse(spec);
    if (!rule.ok()) {
      out << "bad rule '" << spec << "' (see locking/inject.h for the syntax)\n";
      return 2;
    }
    auto id = inject::add(*rule);
    if (!id.ok()) {
      out << "cannot add rule: " << strerror(-id.error()) << "\n";
      return 2;
    }
    out << *id << "\n";
    return 0;
  }
  if (sub == "list") {
    for (const auto& line : inject::list()) out << line << "\n";
    return 0;
  }
  if ((sub == "del" || sub == "remove" || sub == "rm") && args.size() == 3) {
    char* end = nullptr;
    uint64_t id = strtoull(args[2].c_str(), &end, 10);
    if (end == args[2].c_str() || *end != '\0' || !inject::remove(id).ok()) {
      out << "no rule " << args[2] << "\n";
      return 2;
    }
    return 0;
  }
  if (sub == "clear") {
    inject::clear();
    return 0;
  }
  out << "usage: inject add SPEC | list | del ID | clear\n";
  return 2;
}

int cmd_help(Daemon&, const std::vector<std::string>&, std::ostream& out) {
  for (const auto& [name, e] : commands()) out << name << "\t" << e.help << "\n";
  return 0;
}

void register_builtin_commands() {
  static bool done = false;
  if (done) return;
  done = true;
  register_ctl_command("trace", "[text|jsonl|chrome]  dump the lock trace", cmd_trace);
  register_ctl_command("lockstat", "lock_stat table per lock class", cmd_lockstat);
  register_ctl_command("violations", "list validator violations (status 1 if any)",
                       cmd_violations);
  register_ctl_command("reset", "clear the trace, lock_stat and violations", cmd_reset);
  register_ctl_command("contract", "[OP]  the active profile's contract table", cmd_contract);
  register_ctl_command("stats", "live inodes, space, requests per op", cmd_stats);
  register_ctl_command("inject", "add SPEC | list | del ID | clear  fault injection rules",
                       cmd_inject);
  register_ctl_command("help", "list commands", cmd_help);
}

bool write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

void register_ctl_command(const std::string& name, const std::string& help, CtlCommand fn) {
  commands()[name] = CommandEntry{help, std::move(fn)};
}

int run_ctl_command(Daemon& d, const std::string& line, std::ostream& out) {
  register_builtin_commands();
  auto words = ctl::split_words(line);
  if (words.empty()) {
    out << "empty command (try: help)\n";
    return 2;
  }
  auto it = commands().find(words[0]);
  if (it == commands().end()) {
    out << "unknown command '" << words[0] << "' (try: help)\n";
    return 2;
  }
  return it->second.fn(d, words, out);
}

bool dump_trace_file(const std::string& path) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) return false;
  auto events = locking::trace_snapshot();
  auto ends_with = [&](const char* ext) {
    size_t n = strlen(ext);
    return path.size() >= n && path.compare(path.size() - n, n, ext) == 0;
  };
  if (ends_with(".jsonl")) locking::dump_jsonl(out, events);
  else if (ends_with(".json")) locking::dump_chrome(out, events);
  else locking::dump_text(out, events);
  out.flush();
  return static_cast<bool>(out);
}

Result<std::string> CtlServer::listen(const std::string& canonical_mountpoint, bool take_over) {
  if (listen_fd_ >= 0) return err(-EBUSY);  // listening already
  register_builtin_commands();
  uid_t uid = getuid();
  std::string dir = ctl::socket_dir(uid);
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return err(-errno);
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0) return err(-errno);
  // Someone else's directory (e.g. a pre-created /tmp/lockfs-<uid>) could hijack the socket.
  if (!S_ISDIR(st.st_mode) || st.st_uid != uid || (st.st_mode & 077) != 0) return err(-EPERM);
  path_ = ctl::socket_path(canonical_mountpoint, uid);
  // Bound under a name of our own, then renamed over the socket's name: rename replaces a
  // stale socket atomically, so lockfs-ctl never finds the name missing in between.
  const std::string tmp = fmt::format("{}.{}.new", path_, getpid());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (tmp.size() >= sizeof addr.sun_path) return err(-ENAMETOOLONG);
  memcpy(addr.sun_path, tmp.c_str(), tmp.size() + 1);
  // A daemon still listens there and its lockfs is mounted on this mount point: our mount
  // will cover it. Its socket is taken over only once that mount exists, so that a mount
  // which fails leaves the other daemon reachable. A listener whose mount is gone (stopped
  // while it was unmounted, not yet exited) keeps nothing reachable: take the socket now, or
  // our mount would appear before our socket.
  if (!take_over && someone_listens(path_) && ctl::find_mount(canonical_mountpoint).ok()) {
    return err(-EADDRINUSE);
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return err(-errno);
  unlink(tmp.c_str());  // left by a daemon with our pid that died here
  mode_t old = umask(0177);
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int bind_errno = errno;
  umask(old);
  if (rc != 0) {
    close(fd);
    return err(-bind_errno);
  }
  // Over a stale socket of a daemon that died, or the covered daemon's.
  if (::listen(fd, 8) != 0 || rename(tmp.c_str(), path_.c_str()) != 0) {
    const int e = errno;
    unlink(tmp.c_str());
    close(fd);
    return err(-e);
  }
  if (lstat(path_.c_str(), &st) == 0) socket_id_ = file_id(st);
  listen_fd_ = fd;
  return path_;
}

void CtlServer::start() {
  if (listen_fd_ >= 0 && !thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void CtlServer::stop() {
  if (thread_.joinable()) {
    stop_.store(true);
    thread_.join();
  }
  if (listen_fd_ < 0) return;
  close(listen_fd_);
  listen_fd_ = -1;
  // Only our own socket: a new daemon on the same mount point (mounted as soon as we were
  // unmounted) may already have replaced it with its own. Its file can look like ours --
  // ext4 gives it our inode number at once and, within one clock tick, our ctime -- so a
  // socket somebody still listens on (ours is closed above) is not ours either.
  struct stat st;
  if (lstat(path_.c_str(), &st) == 0 && socket_id_ == file_id(st) && !someone_listens(path_)) {
    unlink(path_.c_str());
  }
}

void CtlServer::run() {
  while (!stop_.load()) {
    // The session loop cannot tell us it is exiting while requests still block its workers
    // from joining; polling its flag here lets unmount kill those waits.
    if (d_.session && fuse_session_exited(d_.session) && !d_.shutting_down()) {
      fs_log()->info("session exited: killing waits of {} in-flight requests", d_.inflight());
      d_.shutdown();
    }
    pollfd p{listen_fd_, POLLIN, 0};
    int n = ::poll(&p, 1, 100);
    if (n <= 0) continue;
    int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    serve_one(c);
    close(c);
  }
}

void CtlServer::serve_one(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
      (cred.uid != 0 && cred.uid != getuid())) {
    write_all(fd, "status=2\npermission denied: only the mounting user or root\n");
    return;
  }
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  timeval wtv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wtv, sizeof wtv);
  std::string line;
  char buf[512];
  while (line.find('\n') == std::string::npos && line.size() < 4096) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  line = line.substr(0, line.find('\n'));
  std::ostringstream out;
  int status;
  try {
    status = run_ctl_command(d_, line, out);
  } catch (const std::exception& e) {
    out << "command failed: " << e.what() << "\n";
    status = 2;
  }
  SPDLOG_LOGGER_DEBUG(fs_log(), "ctl command={} status={}", line, status);
  write_all(fd, "status=" + std::to_string(status) + "\n" + out.str());
}

}  // namespace lockfs::fs

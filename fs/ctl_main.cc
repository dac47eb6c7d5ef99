// lockfs-ctl: talks to a running lockfs daemon through its control socket, or prints the
// contract tables without a mount.
//   lockfs-ctl MOUNTPOINT trace [--format=text|jsonl|chrome] | lockstat | violations | reset
//              | contract [OP] | stats | help | <any command the daemon knows>
//   lockfs-ctl contract [--profile=P] [OP]
//   lockfs-ctl contract --diff P1 P2
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "fs/ctl_protocol.h"
#include "locking/contract.h"

using namespace lockfs;
namespace contract = lockfs::locking::contract;

namespace {

void usage(FILE* to) {
  fprintf(to,
          "usage: lockfs-ctl MOUNTPOINT COMMAND [ARGS]\n"
          "       lockfs-ctl contract [--profile=current|5.x|3.x] [OP]\n"
          "       lockfs-ctl contract --diff PROFILE1 PROFILE2\n"
          "\n"
          "commands for a mounted lockfs (the mounting user or root only):\n"
          "  trace [--format=text|jsonl|chrome]  dump the lock trace to stdout\n"
          "  lockstat                            lock_stat table per lock class\n"
          "  violations                          list violations; exit status 1 if any\n"
          "  reset                               clear trace, lock_stat and violations\n"
          "  contract [OP]                       the mount's active contract table\n"
          "  stats                               live inodes, space, requests per op and\n"
          "                                      the requests in flight\n"
          "  inject add SPEC | list | del ID | clear   fault injection (locking/inject.h)\n"
          "  help                                commands the daemon knows\n"
          "exit status: 0 ok, 1 violations found, 2 error\n"
          "environment: LOCKFS_CTL_TIMEOUT=SECONDS  give up when the daemon is silent this\n"
          "                                         long (default 30)\n");
}

int answer_timeout_seconds() {
  const char* env = getenv("LOCKFS_CTL_TIMEOUT");
  if (env == nullptr) return 30;
  const int v = atoi(env);
  return v > 0 ? v : 30;
}

int offline_contract(const std::vector<std::string>& a) {
  // a[0] == "contract"
  if (a.size() >= 2 && a[1] == "--diff") {
    if (a.size() != 4) {
      fprintf(stderr, "lockfs-ctl: contract --diff wants two profiles\n");
      return 2;
    }
    auto p1 = contract::profile_by_name(a[2]);
    auto p2 = contract::profile_by_name(a[3]);
    if (!p1.ok() || !p2.ok()) {
      fprintf(stderr, "lockfs-ctl: unknown profile (current, 5.x, 3.x)\n");
      return 2;
    }
    contract::print_diff(std::cout, *p1, *p2);
    return 0;
  }
  contract::Profile p = contract::Profile::kCurrent;
  std::string only;
  for (size_t i = 1; i < a.size(); i++) {
    std::string v;
    if (a[i].rfind("--profile=", 0) == 0) {
      v = a[i].substr(10);
    } else if (a[i] == "--profile" && i + 1 < a.size()) {
      v = a[++i];
    } else if (a[i][0] != '-' && only.empty()) {
      only = a[i];
      continue;
    } else {
      fprintf(stderr, "lockfs-ctl: unexpected argument '%s'\n", a[i].c_str());
      return 2;
    }
    auto r = contract::profile_by_name(v);
    if (!r.ok()) {
      fprintf(stderr, "lockfs-ctl: unknown profile '%s' (current, 5.x, 3.x)\n", v.c_str());
      return 2;
    }
    p = *r;
  }
  contract::print_table(std::cout, p, only);
  return 0;
}

int talk(const std::string& mountpoint, const std::vector<std::string>& words) {
  auto canon = fs::ctl::canonical_path(mountpoint);
  if (!canon.ok()) {
    fprintf(stderr, "lockfs-ctl: %s: %s\n", mountpoint.c_str(), strerror(-canon.error()));
    return 2;
  }
  auto m = fs::ctl::find_mount(*canon);
  if (!m.ok() || m->fstype.rfind("fuse", 0) != 0) {
    fprintf(stderr, "lockfs-ctl: %s is not a lockfs mount point\n", canon->c_str());
    return 2;
  }
  std::string path = fs::ctl::socket_path(*canon, m->user_id);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (fd < 0 || path.size() >= sizeof addr.sun_path) {
    fprintf(stderr, "lockfs-ctl: cannot create socket\n");
    return 2;
  }
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  // A daemon that cannot accept (stopped, or at its open-file limit) still lets connect()
  // succeed through the listen backlog: without a timeout we would wait forever.
  const int secs = answer_timeout_seconds();
  timeval tv{secs, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    fprintf(stderr, "lockfs-ctl: cannot reach the lockfs daemon of %s at %s: %s\n", canon->c_str(),
            path.c_str(), strerror(errno));
    close(fd);
    return 2;
  }
  std::string line;
  for (size_t i = 0; i < words.size(); i++) line += (i ? " " : "") + words[i];
  line += "\n";
  if (send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    fprintf(stderr, "lockfs-ctl: send failed: %s\n", strerror(errno));
    close(fd);
    return 2;
  }
  shutdown(fd, SHUT_WR);
  std::string header;
  int status = -1;
  char buf[65536];
  bool body = false;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      fprintf(stderr, "lockfs-ctl: the daemon of %s sent nothing for %d s (stopped, or out of "
              "file descriptors?); LOCKFS_CTL_TIMEOUT=SECONDS waits longer\n", canon->c_str(), secs);
      close(fd);
      return 2;
    }
    if (n <= 0) break;
    size_t off = 0;
    if (!body) {
      for (; off < static_cast<size_t>(n) && buf[off] != '\n'; off++) header.push_back(buf[off]);
      if (off == static_cast<size_t>(n)) continue;
      off++;  // the newline
      body = true;
      if (header.rfind("status=", 0) == 0) status = atoi(header.c_str() + 7);
    }
    FILE* to = status == 2 ? stderr : stdout;
    fwrite(buf + off, 1, static_cast<size_t>(n) - off, to);
  }
  close(fd);
  if (status < 0) {
    fprintf(stderr, "lockfs-ctl: no answer from the daemon\n");
    return 2;
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.empty() || a[0] == "-h" || a[0] == "--help") {
    usage(a.empty() ? stderr : stdout);
    return a.empty() ? 2 : 0;
  }
  if (a[0] == "contract") return offline_contract(a);
  if (a.size() < 2) {
    usage(stderr);
    return 2;
  }
  std::vector<std::string> words(a.begin() + 1, a.end());
  // trace --format=X travels as "trace X".
  if (words[0] == "trace") {
    std::string format = "text";
    for (size_t i = 1; i < words.size(); i++) {
      if (words[i].rfind("--format=", 0) == 0) format = words[i].substr(9);
      else if (words[i] == "--format" && i + 1 < words.size()) format = words[++i];
      else format = words[i];
    }
    words = {"trace", format};
  }
  return talk(a[0], words);
}

// Socket naming and mount discovery shared by the daemon and lockfs-ctl.
#include "fs/ctl_protocol.h"

#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace lockfs::fs::ctl {
namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_octal(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (size_t k = 1; k <= 3; k++) {
        char c = s[i + k];
        if (c < '0' || c > '7') ok = false;
        else v = v * 8 + (c - '0');
      }
      if (ok) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

std::string socket_dir(uid_t uid) {
  if (uid == 0) return "/run/lockfs";
  std::string run = "/run/user/" + std::to_string(uid);
  struct stat st;
  if (stat(run.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return run + "/lockfs";
  return "/tmp/lockfs-" + std::to_string(uid);
}

std::string socket_path(const std::string& canonical_mountpoint, uid_t uid) {
  std::string tail;
  for (char c : canonical_mountpoint) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
    if (c == '/') tail.push_back('-');
    else tail.push_back(plain ? c : '_');
  }
  while (!tail.empty() && tail.front() == '-') tail.erase(tail.begin());
  if (tail.size() > 40) tail = tail.substr(tail.size() - 40);
  char hash[17];
  snprintf(hash, sizeof hash, "%016llx",
           static_cast<unsigned long long>(fnv1a(canonical_mountpoint)));
  return socket_dir(uid) + "/" + tail + "-" + hash + ".sock";
}

Result<std::string> canonical_path(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) return err(-errno);
  return std::string(buf);
}

std::vector<std::string> split_words(const std::string& line) {
  std::vector<std::string> words;
  std::istringstream in(line);
  std::string w;
  while (in >> w) words.push_back(w);
  return words;
}

Result<MountEntry> find_mount(const std::string& canonical) {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return err(-ENOENT);
  std::string line;
  Result<MountEntry> found = err(-ENOENT);
  while (std::getline(in, line)) {
    std::vector<std::string> f = split_words(line);
    // id parent maj:min root mountpoint opts [optional...] - fstype source superopts
    size_t dash = 0;
    for (size_t i = 6; i < f.size(); i++) {
      if (f[i] == "-") {
        dash = i;
        break;
      }
    }
    if (dash == 0 || f.size() < dash + 3) continue;
    if (unescape_octal(f[4]) != canonical) continue;
    MountEntry e;
    e.mountpoint = canonical;
    e.fstype = f[dash + 1];
    e.source = unescape_octal(f[dash + 2]);
    if (f.size() > dash + 3) {
      std::istringstream opts(f[dash + 3]);
      std::string o;
      while (std::getline(opts, o, ',')) {
        if (o.rfind("user_id=", 0) == 0) e.user_id = static_cast<uid_t>(strtoul(o.c_str() + 8, nullptr, 10));
      }
    }
    found = e;  // keep going: the last entry for a path is the topmost mount
  }
  return found;
}

}  // namespace lockfs::fs::ctl

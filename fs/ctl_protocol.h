// The control interface between a lockfs daemon and lockfs-ctl: a Unix stream socket per
// mount, in a directory owned by the mounting user (mode 0700, socket 0600), named after
// the canonical mount point. One request per connection: the client sends one line,
// "<command> [arg...]\n"; the server answers "status=<N>\n" and then the body until EOF.
// N is lockfs-ctl's exit status (0 ok, 1 "found something" e.g. violations, 2 error: the
// body is then the message). Line-based so commands (e.g. `inject ...`) can be added freely.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "locking/result.h"

namespace lockfs::fs::ctl {

// The directory holding `uid`'s control sockets: /run/lockfs for root, else
// /run/user/<uid>/lockfs when /run/user/<uid> exists, else /tmp/lockfs-<uid>.
std::string socket_dir(uid_t uid);
// <socket_dir(uid)>/<readable tail of the mount point>-<hash>.sock; fits in sun_path.
std::string socket_path(const std::string& canonical_mountpoint, uid_t uid);

// A fuse mount as /proc/self/mountinfo lists it.
struct MountEntry {
  std::string mountpoint;
  std::string fstype;  // "fuse.lockfs" (subtype) or "fuse"
  std::string source;
  uid_t user_id = 0;   // the fuse "user_id=" super option: who mounted it
};
// The mount whose mount point is exactly `canonical` (the topmost when stacked).
// -ENOENT when none.
Result<MountEntry> find_mount(const std::string& canonical);

// realpath(3) as a Result.
Result<std::string> canonical_path(const std::string& path);

// Splits a request line into words (spaces/tabs).
std::vector<std::string> split_words(const std::string& line);

}  // namespace lockfs::fs::ctl

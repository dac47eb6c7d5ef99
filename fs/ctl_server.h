// The daemon side of the control interface (see ctl_protocol.h): a thread that accepts one
// connection at a time, checks the peer (SO_PEERCRED: the mounting user or root), runs the
// command and writes the answer. It also watches the FUSE session: once the session has
// exited (unmount), it kills the waits of every request still in flight.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <ostream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "fs/daemon.h"

namespace lockfs::fs {

// A control command: writes its answer to `out`, returns the status (0, 1 or 2).
using CtlCommand = std::function<int(Daemon& d, const std::vector<std::string>& args,
                                     std::ostream& out)>;
// Adds a command (e.g. `inject`) before the server starts. Not thread-safe.
void register_ctl_command(const std::string& name, const std::string& help, CtlCommand fn);
// Runs one request line against the registered commands (also used by tests in-process).
int run_ctl_command(Daemon& d, const std::string& line, std::ostream& out);

// Writes the trace to `path`, format from the extension (.json chrome, .jsonl, else text).
bool dump_trace_file(const std::string& path);

// Thread safety: listen(), start() and stop() from the main thread only.
class CtlServer {
 public:
  explicit CtlServer(Daemon& d) : d_(d) {}
  ~CtlServer() { stop(); }
  CtlServer(const CtlServer&) = delete;
  CtlServer& operator=(const CtlServer&) = delete;

  // Binds and listens on the socket for `canonical_mountpoint`, before the mount appears:
  // whoever sees the mount (or the return of a backgrounding `lockfs MNT`) can connect at
  // once, and waits in the backlog until start(). No thread yet, as fuse_daemonize() forks
  // after this. A socket another daemon listens on is left alone (-EADDRINUSE) unless
  // `take_over`: call again with it once our mount covers that daemon's (that socket then
  // comes after the mount, and lockfs-ctl finds none between its unlink and our bind).
  // Returns the path, or a negative errno (the daemon then runs without a control
  // interface, and says so); -EBUSY if already listening.
  Result<std::string> listen(const std::string& canonical_mountpoint, bool take_over = false);
  // Starts answering on the listening socket; nothing if listen() failed.
  void start();
  // Stops answering and removes the socket file if it is still ours.
  void stop();

 private:
  void run();
  void serve_one(int fd);

  Daemon& d_;
  int listen_fd_ = -1;
  std::string path_;
  // The socket file we bound (stop() unlinks only it, and only if nobody listens on it):
  // device, inode and change time.
  std::tuple<dev_t, ino_t, time_t, long> socket_id_{};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace lockfs::fs

// The running daemon: the mounted core::Vfs, the options, the FUSE session, and the registry
// of requests in flight (so unmount can kill their waits). One per process.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/vfs.h"
#include "fs/fuse.h"
#include "fs/options.h"

namespace lockfs::fs {

class Request;

// Per-op request counters, one static instance per fuse_lowlevel_ops entry (see lowlevel.cc).
// Thread safety: counters are atomics; the registry of instances is append-only under a lock.
struct OpStat {
  explicit OpStat(const char* name);
  OpStat(const OpStat&) = delete;
  OpStat& operator=(const OpStat&) = delete;

  const char* const name;
  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> interrupted{0};  // FUSE_INTERRUPT received while it ran
};
// Every OpStat constructed so far (they are function-local statics: created on first call).
std::vector<const OpStat*> op_stats();

// Thread safety: vfs() and options() are immutable after start; the registry is guarded by
// an internal mutex (daemon bookkeeping, deliberately outside the modeled kernel locks so it
// never shows in the lock trace or the validator's graph).
class Daemon {
 public:
  Daemon(Options opts, std::unique_ptr<core::Vfs> vfs);
  // Whatever way serve() left: no lock waiter's thread outlives us.
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  core::Vfs& vfs() { return *vfs_; }
  const Options& options() const { return opts_; }
  core::Vfs* release_vfs() { return vfs_.release(); }
  void destroy_vfs() { vfs_.reset(); }

  // Registry of in-flight requests. A request registered after shutdown() starts with its
  // fatal signal already pending, so nothing new can block once unmount began.
  void add_inflight(Request* r);
  void remove_inflight(Request* r);
  size_t inflight() const;
  // "op pid" of each request in flight, for `lockfs-ctl stats`.
  std::vector<std::string> inflight_ops() const;
  // Waits until no request named `op` that registered before `self` is still in flight.
  // statfs uses it for "release": the kernel queues RELEASE before close(2) returns, so by the
  // time a later statfs runs, the space of an unlinked, closed file must be free (rm; df).
  void wait_earlier(const Request* self, const char* op);
  // Unmount/stop: sends a fatal signal to the task of every request in flight. Idempotent.
  void shutdown();
  bool shutting_down() const { return shutting_down_.load(std::memory_order_acquire); }

  // Runs `wait` -- a request that must sleep for a file lock -- on a thread of its own, so
  // that sleeping lock requests never hold libfuse's workers (at most max_threads of them):
  // with every worker asleep, the unlock they wait for would never be read, and the mount
  // would hang. false (nothing started) when no thread can be had. Threads that finished
  // are joined here, the rest by join_lock_waiters().
  bool start_lock_waiter(std::function<void()> wait) noexcept;
  // After shutdown(): waits for every lock waiter's thread (their waits were killed).
  void join_lock_waiters();
  size_t lock_waiters() const;

  struct fuse_session* session = nullptr;  // set once by main before the loop runs

 private:
  Options opts_;
  std::unique_ptr<core::Vfs> vfs_;
  mutable std::mutex mu_;
  std::condition_variable cv_;  // signalled when a request leaves the registry
  Request* head_ = nullptr;  // intrusive list of in-flight requests (no allocation)
  uint64_t next_seq_ = 1;    // registration order, under mu_
  std::atomic<bool> shutting_down_{false};
  struct LockWaiter {
    std::thread thread;
    bool done = false;  // mu_; its request has been answered and left the registry
  };
  std::list<LockWaiter> lock_waiters_;  // mu_
};

// The daemon a request belongs to (fuse_req_userdata).
Daemon& daemon_of(fuse_req_t req);

}  // namespace lockfs::fs

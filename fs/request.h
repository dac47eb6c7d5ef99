// One FUSE request as core sees it: a locking::Task built from the requester's pid/uid/gid
// and groups, made current for the request's lifetime, and an OpScope naming the op in the
// trace. Interruptible requests turn FUSE_INTERRUPT into a fatal signal for that task.
#pragma once

#include <atomic>

#include "fs/daemon.h"
#include "fs/fuse.h"
#include "locking/task.h"

namespace lockfs::fs {

// Thread safety: used by the one thread serving the request; only task().send_fatal_signal()
// is called from other threads (interrupt callback, Daemon::shutdown()).
class Request {
 public:
  // interruptible: the op may wait (killable locks, F_SETLKW); registers for FUSE_INTERRUPT.
  // The second half of a request handed off to another thread (a lock waiter): the kernel
  // sent one request, and `stat` counts it, and its interrupt, once.
  struct SecondHalf {
    bool interrupt_counted;  // the first half's hand_off() said it was interrupted
  };
  Request(fuse_req_t req, OpStat& stat, bool interruptible);
  Request(fuse_req_t req, OpStat& stat, SecondHalf second);
  ~Request();
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  fuse_req_t req() const { return req_; }
  Daemon& daemon() { return daemon_; }
  core::Vfs& vfs() { return daemon_.vfs(); }
  const Options& options() const { return daemon_.options(); }
  locking::Task& task() { return task_; }
  const char* op_name() const { return stat_.name; }  // fixed, unlike task().op
  // The kernel sent FUSE_INTERRUPT for this request (its caller got a signal).
  bool interrupted() const { return interrupted_.load(std::memory_order_acquire); }
  const fuse_ctx& ctx() const { return *ctx_; }

  // Called by dispatch right before the one reply: stops interrupt delivery (waiting for a
  // callback that is running to finish, so the task outlives it) and records the result.
  void finish(int neg_errno) noexcept;
  // The request goes on on another thread (a lock waiter) and is answered there. This half
  // stops taking interrupts (libfuse keeps one that comes for the second half) and ends, in
  // the trace, with the -EAGAIN that sent it on. Returns whether it was interrupted.
  bool hand_off() noexcept;

  // Daemon's intrusive registry links and registration order (under the daemon's lock).
  Request* prev = nullptr;
  Request* next = nullptr;
  uint64_t seq = 0;

 private:
  Request(fuse_req_t req, OpStat& stat, bool interruptible, bool interrupt_counted);
  static void on_interrupt(fuse_req_t req, void* data);

  fuse_req_t req_;
  Daemon& daemon_;
  OpStat& stat_;
  const fuse_ctx* ctx_;
  locking::Task task_;
  locking::TaskScope task_scope_;
  locking::OpScope op_scope_;
  bool interruptible_;
  bool interrupt_counted_ = false;  // in `stat`, by this Request or the first half
  bool finished_ = false;
  std::atomic<bool> interrupted_{false};
};

}  // namespace lockfs::fs

// Request context: task identity from fuse_req_ctx, interrupt registration, in-flight registry.
#include "fs/request.h"

#include <spdlog/spdlog.h>

#include <vector>

#include "fs/log.h"

namespace lockfs::fs {
namespace {

// Supplementary groups matter for permission checks only; reading them costs an open of
// /proc/<pid>/status, so root (which passes every mode check) skips it.
locking::Task& load_groups(locking::Task& task, fuse_req_t req) {
  if (task.uid == 0) return task;
  gid_t buf[64];
  int n = fuse_req_getgroups(req, 64, buf);
  if (n <= 0) return task;  // the process is gone or the kernel lacks the info: no extras
  if (n <= 64) {
    task.groups.assign(buf, buf + n);
    return task;
  }
  std::vector<gid_t> big(n);
  int m = fuse_req_getgroups(req, n, big.data());
  if (m > 0) big.resize(std::min(m, n));
  else big.clear();
  task.groups = std::move(big);
  return task;
}

}  // namespace

Request::Request(fuse_req_t req, OpStat& stat, bool interruptible)
    : Request(req, stat, interruptible, false) {
  stat_.calls.fetch_add(1, std::memory_order_relaxed);
}

Request::Request(fuse_req_t req, OpStat& stat, SecondHalf second)
    : Request(req, stat, true, second.interrupt_counted) {}

Request::Request(fuse_req_t req, OpStat& stat, bool interruptible, bool interrupt_counted)
    : req_(req),
      daemon_(daemon_of(req)),
      stat_(stat),
      ctx_(fuse_req_ctx(req)),
      task_(ctx_->pid, ctx_->uid, ctx_->gid, stat.name),
      task_scope_(load_groups(task_, req)),
      op_scope_(stat.name),
      interruptible_(interruptible),
      interrupt_counted_(interrupt_counted) {
  daemon_.add_inflight(this);
  // May call on_interrupt at once when the kernel already interrupted this request (also
  // when that came while a first half of it was registered: libfuse remembers).
  if (interruptible_) fuse_req_interrupt_func(req_, &Request::on_interrupt, this);
}

Request::~Request() {
  // Not finished: an exception unwound the handler and the reply is still to be sent, so
  // the request is alive and unregistering is safe.
  if (interruptible_ && !finished_) fuse_req_interrupt_func(req_, nullptr, nullptr);
  daemon_.remove_inflight(this);
}

void Request::finish(int neg_errno) noexcept {
  if (finished_) return;
  finished_ = true;
  // libfuse runs the callback under the request's lock and this takes the same lock, so a
  // callback already running completes before we go on to reply and destroy the task.
  if (interruptible_) fuse_req_interrupt_func(req_, nullptr, nullptr);
  if (neg_errno < 0) stat_.errors.fetch_add(1, std::memory_order_relaxed);
  op_scope_.set_result(neg_errno);
}

bool Request::hand_off() noexcept {
  finished_ = true;  // no reply from this half; nothing left to unregister at destruction
  // As in finish(): a callback already running completes first, and none runs after.
  if (interruptible_) fuse_req_interrupt_func(req_, nullptr, nullptr);
  op_scope_.set_result(-EAGAIN);
  return interrupted_.load(std::memory_order_acquire);
}

void Request::on_interrupt(fuse_req_t, void* data) {
  auto* self = static_cast<Request*>(data);
  // libfuse delivers an interrupt again to a second half that registers after it came.
  if (!self->interrupt_counted_) self->stat_.interrupted.fetch_add(1, std::memory_order_relaxed);
  self->interrupt_counted_ = true;
  self->interrupted_.store(true, std::memory_order_release);
  self->task_.send_fatal_signal();
}

}  // namespace lockfs::fs

// Task context: current(), TaskScope, OpScope, and fatal-signal delivery to killable waits.
#include "locking/task.h"

#include <unistd.h>

#include <cstring>
#include <new>

#include "locking/internal/runtime.h"
#include "locking/tracer.h"
#include "locking/wait_queue.h"

namespace lockfs::locking {

Task::Task(pid_t pid_, uid_t uid_, gid_t gid_, const char* op_)
    : pid(pid_), uid(uid_), gid(gid_), op(op_) {}

void Task::send_fatal_signal() {
  fatal_.store(true, std::memory_order_release);
  // Lock order: wait_mu_ before the queue's mu_ (see wait_queue.h). Holding wait_mu_ also keeps
  // the waiter inside wait_event_killable, so the queue it registered stays alive meanwhile.
  std::lock_guard lk(wait_mu_);
  if (waiting_on_ != nullptr) waiting_on_->wake_all();
}

void Task::set_waiting_on(WaitQueue* wq) {
  std::lock_guard lk(wait_mu_);
  waiting_on_ = wq;
}

namespace detail {

thread_local constinit Task* t_current = nullptr;

namespace {
// The default task lives in raw thread-local storage and is never destroyed: the validator's
// and tracer's thread-exit work (which reads current()) may run after other thread_locals
// are gone. Task owns no memory until groups are set, which default tasks never do.
alignas(Task) thread_local constinit unsigned char t_default_storage[sizeof(Task)];
thread_local constinit Task* t_default = nullptr;
}  // namespace

Task& default_task() {
  if (__builtin_expect(t_default == nullptr, 0)) {
    t_default = new (t_default_storage) Task(0, getuid(), getgid(), "");
  }
  return *t_default;
}

}  // namespace detail

using detail::t_current;

TaskScope::TaskScope(Task& task)
    : prev_(t_current),
      held_depth_(internal::validator_on() ? internal::thread_state().depth : -1) {
  t_current = &task;
}

TaskScope::~TaskScope() {
  if (held_depth_ >= 0 && internal::validator_on()) internal::check_scope_exit(held_depth_);
  t_current = prev_;
}

namespace {
// The innermost OpScope open on this thread.
thread_local OpScope* t_innermost_op = nullptr;
}  // namespace

// A scope nested directly in one of the same name (the daemon's request "lookup" around
// core's vfs "lookup") is the same operation: it records no second begin/end pair.
OpScope::OpScope(const char* op)
    : prev_op_(current().op),
      outer_(t_innermost_op),
      same_as_outer_(outer_ != nullptr && std::strcmp(outer_->op_, op) == 0),
      op_(op) {
  t_innermost_op = this;
  current().op = op;
  if (internal::tracer_on() && !same_as_outer_) hooks::trace_op(EventType::kOpBegin, op, 0);
}

OpScope::~OpScope() {
  Task& t = current();
  if (internal::tracer_on() && !same_as_outer_) hooks::trace_op(EventType::kOpEnd, op_, result_);
  t.op = prev_op_;
  t_innermost_op = outer_;
}

}  // namespace lockfs::locking

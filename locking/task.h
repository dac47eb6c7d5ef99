// The task context ("current"): who an operation runs for, and whether a fatal signal is
// pending for it. Killable waits of the task return -EINTR once a fatal signal is sent.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

namespace lockfs::locking {

class WaitQueue;

// Thread safety: identity fields are set before the task is made current and not changed
// while it runs; send_fatal_signal() may be called from any thread at any time.
class Task {
 public:
  Task(pid_t pid, uid_t uid, gid_t gid, const char* op = "");
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;

  pid_t pid;
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;  // supplementary groups (permission checks)
  const char* op;  // static string: the operation being run ("lookup", "rename", ...)

  // Marks a fatal signal pending and wakes every killable wait of this task at once; those
  // waits return -EINTR. Non-killable waits are not disturbed. Idempotent.
  void send_fatal_signal();
  bool fatal_signal_pending() const { return fatal_.load(std::memory_order_acquire); }

  // Used by WaitQueue: the queue this task is sleeping on in a killable wait, if any.
  void set_waiting_on(WaitQueue* wq);

 private:
  std::atomic<bool> fatal_{false};
  std::mutex wait_mu_;              // guards waiting_on_ against send_fatal_signal()
  WaitQueue* waiting_on_ = nullptr;
};

namespace detail {
// The task a TaskScope made current on this thread, or null. constinit: reading it is a
// TLS load, with no init call (current() runs in every traced lock event).
extern thread_local constinit Task* t_current;
Task& default_task();
}  // namespace detail

// The calling thread's current task. Each thread has a default task (pid 0, uid/gid of the
// process, op "") until a TaskScope installs another.
inline Task& current() {
  Task* t = detail::t_current;
  return __builtin_expect(t != nullptr, 1) ? *t : detail::default_task();
}

// Makes `task` current on this thread for the scope's lifetime (restores the previous one).
// With the validator on, closing the scope while holding a lock taken inside it is a
// kExitHoldingLocks violation (a request must not return to "user space" holding locks).
class TaskScope {
 public:
  explicit TaskScope(Task& task);
  ~TaskScope();
  TaskScope(const TaskScope&) = delete;
  TaskScope& operator=(const TaskScope&) = delete;

 private:
  Task* prev_;
  int held_depth_;  // the validator's held-stack depth at open (-1: validator was off)
};

// Names the operation current() runs, and records op begin/end (with its result) in the
// trace. Nestable: the inner op name shows while it runs.
class OpScope {
 public:
  explicit OpScope(const char* op);
  ~OpScope();
  void set_result(int rc) { result_ = rc; }  // 0 or a negative errno
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

 private:
  const char* prev_op_;
  OpScope* outer_;
  bool same_as_outer_;
  const char* op_;
  int result_ = 0;
};

}  // namespace lockfs::locking

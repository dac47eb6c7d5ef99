// WaitQueue: sleeping waits for a condition, killable or not (the kernel's wait_event*).
#pragma once

#include <cerrno>
#include <condition_variable>
#include <mutex>

#include "locking/task.h"

namespace lockfs::locking {

// Thread safety: all members are safe from any thread. The condition passed to a wait is
// evaluated under the queue's internal mutex; wakers change the state the condition reads
// and then call wake_all() (or change it inside with_lock()).
class WaitQueue {
 public:
  WaitQueue() = default;
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;

  // Sleeps until pred() holds. Not woken by fatal signals.
  template <typename Pred>
  void wait_event(Pred pred) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, pred);
  }

  // Sleeps until pred() holds (returns 0) or the current task gets a fatal signal (returns
  // -EINTR; pred is not re-checked after that).
  template <typename Pred>
  [[nodiscard]] int wait_event_killable(Pred pred);

  // Runs fn() under the queue's mutex, then wakes all waiters.
  template <typename Fn>
  void with_lock_wake_all(Fn fn) {
    { std::lock_guard lk(mu_); fn(); }
    cv_.notify_all();
  }
  void wake_all() {
    { std::lock_guard lk(mu_); }
    cv_.notify_all();
  }

 private:
  friend class Task;
  std::mutex mu_;
  std::condition_variable cv_;
};

template <typename Pred>
int WaitQueue::wait_event_killable(Pred pred) {
  // Lock order: Task::wait_mu_ before mu_. The task is registered before mu_ is taken, so
  // send_fatal_signal() (flag, then wait_mu_, then mu_ + notify) either finds us registered
  // and wakes us after we sleep, or we see the flag under mu_ before sleeping.
  Task& t = current();
  t.set_waiting_on(this);
  int rc = 0;
  {
    std::unique_lock lk(mu_);
    while (!pred()) {
      if (t.fatal_signal_pending()) {
        rc = -EINTR;
        break;
      }
      cv_.wait(lk);
    }
  }
  t.set_waiting_on(nullptr);
  return rc;
}

}  // namespace lockfs::locking

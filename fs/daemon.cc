// Daemon state: the in-flight registry that lets unmount kill every waiting request.
#include "fs/daemon.h"

#include <cstring>

#include "fs/request.h"

namespace lockfs::fs {
namespace {

std::mutex g_stats_mu;
std::vector<const OpStat*>& stats_list() {
  static std::vector<const OpStat*> list;
  return list;
}

}  // namespace

OpStat::OpStat(const char* n) : name(n) {
  std::lock_guard<std::mutex> g(g_stats_mu);
  stats_list().push_back(this);
}

std::vector<const OpStat*> op_stats() {
  std::lock_guard<std::mutex> g(g_stats_mu);
  return stats_list();
}

Daemon::Daemon(Options opts, std::unique_ptr<core::Vfs> vfs)
    : opts_(std::move(opts)), vfs_(std::move(vfs)) {}

Daemon::~Daemon() {
  shutdown();
  join_lock_waiters();
}

void Daemon::add_inflight(Request* r) {
  std::lock_guard<std::mutex> g(mu_);
  r->seq = next_seq_++;
  r->prev = nullptr;
  r->next = head_;
  if (head_) head_->prev = r;
  head_ = r;
  // Checked under mu_: shutdown() either sees this request in the list or we see its flag.
  if (shutting_down_.load(std::memory_order_acquire)) r->task().send_fatal_signal();
}

void Daemon::remove_inflight(Request* r) {
  std::lock_guard<std::mutex> g(mu_);
  if (r->prev) r->prev->next = r->next;
  else head_ = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = nullptr;
  cv_.notify_all();
}

void Daemon::wait_earlier(const Request* self, const char* op) {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] {
    for (Request* r = head_; r; r = r->next) {
      if (r->seq < self->seq && strcmp(r->op_name(), op) == 0) return false;
    }
    return true;
  });
}

size_t Daemon::inflight() const {
  std::lock_guard<std::mutex> g(mu_);
  size_t n = 0;
  for (Request* r = head_; r; r = r->next) n++;
  return n;
}

std::vector<std::string> Daemon::inflight_ops() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<std::string> out;
  for (Request* r = head_; r; r = r->next) {
    out.push_back(std::string(r->op_name()) + " pid=" + std::to_string(r->task().pid));
  }
  return out;
}

void Daemon::shutdown() {
  std::lock_guard<std::mutex> g(mu_);
  shutting_down_.store(true, std::memory_order_release);
  for (Request* r = head_; r; r = r->next) r->task().send_fatal_signal();
}

bool Daemon::start_lock_waiter(std::function<void()> wait) noexcept {
  std::list<LockWaiter> finished;
  try {
    std::lock_guard<std::mutex> g(mu_);
    for (auto it = lock_waiters_.begin(); it != lock_waiters_.end();) {
      auto next = std::next(it);
      if (it->done) finished.splice(finished.end(), lock_waiters_, it);
      it = next;
    }
    LockWaiter& w = lock_waiters_.emplace_back();
    try {
      w.thread = std::thread([this, &w, wait = std::move(wait)] {
        wait();
        std::lock_guard<std::mutex> g2(mu_);
        w.done = true;
        cv_.notify_all();
      });
    } catch (...) {
      lock_waiters_.pop_back();
      throw;
    }
  } catch (...) {  // std::system_error (no thread) or std::bad_alloc
    for (LockWaiter& w : finished) w.thread.join();
    return false;
  }
  // Outside mu_: each has finished its wait and at most still leaves the thread.
  for (LockWaiter& w : finished) w.thread.join();
  return true;
}

void Daemon::join_lock_waiters() {
  std::list<LockWaiter> all;
  {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] {
      for (const LockWaiter& w : lock_waiters_) {
        if (!w.done) return false;
      }
      return true;
    });
    all.swap(lock_waiters_);
  }
  for (LockWaiter& w : all) w.thread.join();
}

size_t Daemon::lock_waiters() const {
  std::lock_guard<std::mutex> g(mu_);
  size_t n = 0;
  for (const LockWaiter& w : lock_waiters_) n += w.done ? 0 : 1;
  return n;
}

Daemon& daemon_of(fuse_req_t req) { return *static_cast<Daemon*>(fuse_req_userdata(req)); }

}  // namespace lockfs::fs

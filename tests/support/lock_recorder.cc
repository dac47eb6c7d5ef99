// Lock recording from the tracer, watchdog, and task identity for core/ tests.
#include "tests/support/lock_recorder.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "locking/internal/runtime.h"

namespace lockfs::testing {

std::vector<std::string> vfs_lock_classes() {
  return {"i_rwsem(dir)", "i_rwsem(reg)",    "i_rwsem(lnk)", "i_rwsem(special)",
          "s_vfs_rename_sem", "invalidate_lock", "f_pos_lock",   "s_umount"};
}

namespace {

// This thread's trace events from the start of `fn` on.
std::vector<locking::TraceEvent> events_during(const std::function<void()>& fn) {
  const uint32_t tid = locking::trace_thread_id();
  // The trace's own clock: events are stamped with it, not with clock_gettime.
  const uint64_t start = locking::internal::now_ns();
  fn();
  std::vector<locking::TraceEvent> out;
  for (const locking::TraceEvent& e : locking::trace_snapshot()) {
    if (e.tid == tid && e.ts_ns >= start) out.push_back(e);
  }
  return out;
}

}  // namespace

std::vector<LockEvent> record_locks(const std::function<void()>& fn,
                                    const std::vector<std::string>& classes) {
  std::vector<LockEvent> out;
  for (const locking::TraceEvent& e : events_during(fn)) {
    if (e.type != locking::EventType::kAcquire) continue;
    const locking::LockClass* cls = locking::lock_class_by_id(e.class_id);
    if (cls == nullptr) continue;
    std::string name = cls->name();
    if (!classes.empty() && std::find(classes.begin(), classes.end(), name) == classes.end()) {
      continue;
    }
    out.push_back({name, e.mode, e.subclass, e.object, e.contended});
  }
  return out;
}

std::vector<std::string> record_ops(const std::function<void()>& fn) {
  std::vector<std::string> out;
  for (const locking::TraceEvent& e : events_during(fn)) {
    if (e.type == locking::EventType::kOpBegin) out.emplace_back(e.op);
  }
  return out;
}

std::string format_events(const std::vector<LockEvent>& events) {
  std::string s;
  for (const LockEvent& e : events) {
    if (!s.empty()) s += ' ';
    s += e.cls + "#" + std::to_string(e.object) + "/" + locking::subclass_name(e.sub) + ":" +
         locking::mode_name(e.mode);
  }
  return s;
}

Watchdog::Watchdog(std::chrono::seconds timeout, std::string what) : what_(std::move(what)) {
  thread_ = std::thread([this, timeout] {
    std::unique_lock lk(mu_);
    if (!cv_.wait_for(lk, timeout, [this] { return done_; })) {
      std::fprintf(stderr, "watchdog: %s hung (deadlock?), aborting\n", what_.c_str());
      std::abort();
    }
  });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard lk(mu_);
    done_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

AsUser::AsUser(uid_t uid, gid_t gid, std::vector<gid_t> groups)
    : task_(locking::current().pid, uid, gid, "test"), scope_(task_) {
  task_.groups = std::move(groups);
}

}  // namespace lockfs::testing

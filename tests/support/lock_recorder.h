// Test helpers for core/: record the locks an operation takes (from the tracer, this thread
// only), a watchdog that fails a hung test, and a task-identity switch.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "locking/lock_class.h"
#include "locking/task.h"
#include "locking/tracer.h"

namespace lockfs::testing {

struct LockEvent {
  std::string cls;  // lock class name: "i_rwsem(dir)"
  locking::Mode mode;
  locking::Subclass sub;
  uint64_t object;  // inode number for i_rwsem
  bool contended;
};

// The classes a VFS caller's contract is about (spinlocks and folio locks left out).
std::vector<std::string> vfs_lock_classes();

// Runs fn on this thread and returns the acquisitions this thread made meanwhile, oldest
// first, of classes named in `classes` (all classes when empty). The tracer must be on.
std::vector<LockEvent> record_locks(const std::function<void()>& fn,
                                    const std::vector<std::string>& classes = vfs_lock_classes());

// The operations (OpScope names, nested ones included) `fn` began on this thread, in order.
std::vector<std::string> record_ops(const std::function<void()>& fn);

// "i_rwsem(dir)#1/parent:exclusive i_rwsem(reg)#5/normal:exclusive"
std::string format_events(const std::vector<LockEvent>& events);

// Aborts the process (failing the test run loudly) unless destroyed within `timeout`.
class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds timeout, std::string what = "test");
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::string what_;
  std::thread thread_;
};

// Runs the scope as another user (uid, gid, supplementary groups).
class AsUser {
 public:
  AsUser(uid_t uid, gid_t gid, std::vector<gid_t> groups = {});
  AsUser(const AsUser&) = delete;
  AsUser& operator=(const AsUser&) = delete;

 private:
  locking::Task task_;
  locking::TaskScope scope_;
};

}  // namespace lockfs::testing

// The lock-class registry: dense ids from 1, registered at static-initialisation time.
#include "locking/lock_class.h"

#include <atomic>
#include <mutex>

#include "locking/check.h"

namespace lockfs::locking {

namespace {
// Constant-initialised, so classes defined as statics in other translation units may
// register in any order.
std::mutex g_registry_mu;
std::atomic<const LockClass*> g_classes[kMaxLockClasses + 1];
std::atomic<size_t> g_class_count{0};
}  // namespace

LockClass::LockClass(const char* name, LockKind kind) : name_(name), kind_(kind) {
  std::lock_guard lk(g_registry_mu);
  size_t n = g_class_count.load(std::memory_order_relaxed);
  LOCKFS_CHECK(n < kMaxLockClasses, "too many lock classes");
  id_ = static_cast<uint16_t>(n + 1);
  g_classes[id_].store(this, std::memory_order_release);
  g_class_count.store(n + 1, std::memory_order_release);
}

const LockClass* lock_class_by_id(uint16_t id) {
  if (id == 0 || id > kMaxLockClasses) return nullptr;
  return g_classes[id].load(std::memory_order_acquire);
}

size_t lock_class_count() { return g_class_count.load(std::memory_order_acquire); }

const char* subclass_name(Subclass s) {
  switch (s) {
    case Subclass::kNormal:
      return "normal";
    case Subclass::kParent:
      return "parent";
    case Subclass::kParent2:
      return "parent2";
    case Subclass::kChild:
      return "child";
    case Subclass::kXattr:
      return "xattr";
    case Subclass::kNonDir2:
      return "nondir2";
  }
  return "?";
}

const char* mode_name(Mode m) { return m == Mode::kShared ? "shared" : "exclusive"; }

}  // namespace lockfs::locking

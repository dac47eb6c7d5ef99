// Lock classes: one per kind of lock (i_rwsem of directories, of regular files, mmap_lock...),
// registered once by name. The validator orders classes; the tracer and lock_stat report them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lockfs::locking {

enum class LockKind : uint8_t { kRwSem, kMutex, kSpinLock, kSeqLock, kFolioBit, kVmaLock };

// Shared = read side, exclusive = write side (mutex, spinlock and folio lock are exclusive).
enum class Mode : uint8_t { kShared, kExclusive };

// Documented same-class nesting (the kernel's I_MUTEX_* subclasses, directory-locking.rst).
enum class Subclass : uint8_t {
  kNormal = 0,   // the one lock of its class an operation takes
  kParent = 1,   // the (first) parent directory
  kParent2 = 2,  // the second parent of a cross-directory rename
  kChild = 3,    // a child directory / victim locked under its parent
  kXattr = 4,
  kNonDir2 = 5,  // the second non-directory, locked in inode order
};
inline constexpr int kMaxSubclasses = 6;
const char* subclass_name(Subclass s);
const char* mode_name(Mode m);

// Thread safety: construct only as static objects (namespace scope or function-local statics);
// registration is internally synchronised and classes live for the program's lifetime.
class LockClass {
 public:
  LockClass(const char* name, LockKind kind);
  LockClass(const LockClass&) = delete;
  LockClass& operator=(const LockClass&) = delete;

  uint16_t id() const { return id_; }
  const char* name() const { return name_; }
  LockKind kind() const { return kind_; }
  // Every kind but the spinlock may sleep while waiting.
  bool sleeps() const { return kind_ != LockKind::kSpinLock; }

 private:
  const char* name_;
  LockKind kind_;
  uint16_t id_;
};

inline constexpr size_t kMaxLockClasses = 256;
// nullptr when no class has that id. Ids are dense, starting at 1.
const LockClass* lock_class_by_id(uint16_t id);
size_t lock_class_count();

// Identity of one lock instance as the validator and tracer see it (the kernel's lockdep_map).
// object/aux say what the lock protects: inode number (+0), inode number + folio index,
// VMA start + end.
struct LockMap {
  const LockClass* cls;
  uint64_t object = 0;
  uint64_t aux = 0;
};

}  // namespace lockfs::locking

// VmArea (the kernel's vm_area_struct): one contiguous range of an Mm with identical
// attributes, optionally backed by a VmObject (a memfd: a file's page cache memory) through
// its vm_operations. Also the flags and the fault descriptor the vm_operations receive.
#pragma once

#include <atomic>
#include <cstdint>

#include "locking/lock_class.h"
#include "locking/rwsem.h"

namespace lockfs::core {

class Mm;
struct VmArea;

inline constexpr uint64_t kVmPageShift = 12;
inline constexpr uint64_t kVmPageSize = uint64_t{1} << kVmPageShift;

// vm_flags. Two VMAs merge only when their flags are equal.
enum VmFlags : uint32_t {
  kVmRead = 1u << 0,
  kVmWrite = 1u << 1,
  kVmShared = 1u << 2,
  kVmPageCache = 1u << 3,  // a storage window of a page cache (the "direct map"), not user
  kVmPopulate = 1u << 4,   // memory mapped when the VMA is (MAP_POPULATE); else by faults
};

// What a fault handler returns (the kernel's vm_fault_t, reduced to what we model).
enum class VmFault : uint8_t {
  kLocked,  // VM_FAULT_LOCKED: vmf.folio_data is valid and the handler's folio is locked
  kRetry,   // VM_FAULT_RETRY: the page went away under the handler (truncate); fault again
  kSigbus,  // VM_FAULT_SIGBUS: beyond EOF
  kOom,     // VM_FAULT_OOM: no page could be allocated (-ENOSPC from the budget)
  kKilled,  // the handler's killable wait returned -EINTR
};

// The fault descriptor (struct vm_fault). `locked_vma` tells the handler which lock keeps the
// VMA stable: the per-VMA read lock (true) or mmap_lock read (false).
struct VmFaultInfo {
  VmArea* vma;
  uint64_t address;  // page aligned
  uint64_t pgoff;    // page offset in the backing object
  bool write;
  bool locked_vma;
  // Out, with kLocked: the page's memory (a page cache window) and an opaque handle the
  // handler gives back in unlock_page().
  char* page = nullptr;
  void* handle = nullptr;
};

// vm_operations_struct. Each row of the contract says what the caller holds:
//   open:          mmap_lock write.
//   close:         mmap_lock read or write.
//   fault:         mmap_lock read or the VMA read lock; may return the folio locked.
//   page_mkwrite:  mmap_lock read or the VMA read lock; may return the folio locked.
// Neither throws: out of memory is VmFault::kOom (VM_FAULT_OOM), which keeps an access's
// short count (Mm::access holds those locks and does not unwind them for an exception).
// Thread safety: implementations are called concurrently for different faults.
class VmOperations {
 public:
  virtual ~VmOperations() = default;
  virtual void open(VmArea& vma) {}
  virtual void close(VmArea& vma) {}
  virtual bool has_close() const { return false; }  // VMAs with ->close never merge away
  virtual VmFault fault(VmFaultInfo& vmf) { return VmFault::kSigbus; }
  // Called for a write fault after ->fault returned the page locked (nullptr: not needed).
  virtual VmFault page_mkwrite(VmFaultInfo& vmf) { return VmFault::kLocked; }
  // Unlocks the folio a kLocked result handed out (it stays referenced).
  virtual void unlock_page(VmFaultInfo& vmf) {}
  // Drops the reference in vmf.handle (called once the fault is done, whatever the result).
  virtual void put_page(VmFaultInfo& vmf) {}
};

// The object a VMA maps (struct file + its mapping): a memfd whose page offsets the VMA's
// pgoff indexes. Thread safety: fd and ops are constant after construction.
struct VmObject {
  int fd = -1;                  // memfd holding the pages (owned by whoever created it)
  VmOperations* ops = nullptr;  // may be null: no callbacks
  uint64_t id = 0;              // for dumps (inode number)
};

// "vma_lock": user VMAs; "init_mm.vma_lock": page cache windows (see Mm::init_mm).
const locking::LockClass& vma_lock_class();
const locking::LockClass& init_mm_vma_lock_class();

// Fields: vm_start, vm_end, vm_pgoff, vm_flags are written with mmap_lock write + this VMA's
// write lock (vm_lock_seq == mm_lock_seq); read under mmap_lock (either mode) or the VMA read
// lock. obj/ops are written once, before the VMA is linked.
struct VmArea {
  VmArea(uint64_t start, uint64_t end, uint64_t pgoff, uint32_t flags, VmObject* obj,
         const locking::LockClass& lock_class);
  ~VmArea();
  VmArea(const VmArea&) = delete;
  VmArea& operator=(const VmArea&) = delete;

  uint64_t vm_start;
  uint64_t vm_end;
  uint64_t vm_pgoff;
  uint32_t vm_flags;
  VmObject* vm_file;
  VmOperations* vm_ops;

  // The VMA lock: readers hold vm_lock shared (trylock only); a writer takes it exclusive just
  // long enough to wait for readers to drain, then marks the VMA write-locked by setting
  // vm_lock_seq to the mm's sequence. It stays locked until mmap_write_unlock bumps that.
  locking::RwSemaphore vm_lock;
  std::atomic<uint64_t> vm_lock_seq{0};
  bool detached = true;  // not in the tree (new, or removed)

  uint64_t pages() const { return (vm_end - vm_start) >> kVmPageShift; }
  // Page offset of `addr` in the backing object.
  uint64_t pgoff_of(uint64_t addr) const { return vm_pgoff + ((addr - vm_start) >> kVmPageShift); }
};

// Number of VmArea objects alive in the process (leak checks in tests).
uint64_t vma_objects_alive();

}  // namespace lockfs::core

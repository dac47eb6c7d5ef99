// Mm: the reservation, mmap_lock with its write sections, per-VMA locks, lookup and the
// low-level tree and memory edits the VMA operations (vma_rewrite.cc) are built from.
#include "core/mm/mm.h"

#include <sys/mman.h>

#include <cerrno>
#include <sstream>
#include <utility>

#include "locking/check.h"
#include "locking/sync_point.h"
#include "locking/task.h"

namespace lockfs::core {

namespace {
std::atomic<uint64_t> g_vma_alive{0};

const locking::LockClass& tree_lock_class() {
  static const locking::LockClass cls("mm_tree_lock", locking::LockKind::kSpinLock);
  return cls;
}
const locking::LockClass& init_mm_tree_lock_class() {
  static const locking::LockClass cls("init_mm.tree_lock", locking::LockKind::kSpinLock);
  return cls;
}
const locking::LockClass& i_mmap_class() {
  static const locking::LockClass cls("i_mmap_rwsem", locking::LockKind::kRwSem);
  return cls;
}
const locking::LockClass& ptl_class() {
  static const locking::LockClass cls("ptl", locking::LockKind::kSpinLock);
  return cls;
}
const locking::LockClass& init_mm_lock_class() {
  static const locking::LockClass cls("init_mm.mmap_lock", locking::LockKind::kRwSem);
  return cls;
}

uint64_t round_up_page(uint64_t v) { return (v + kVmPageSize - 1) & ~(kVmPageSize - 1); }
}  // namespace

const locking::LockClass& mmap_lock_class() {
  static const locking::LockClass cls("mmap_lock", locking::LockKind::kRwSem);
  return cls;
}
const locking::LockClass& vma_lock_class() {
  static const locking::LockClass cls("vma_lock", locking::LockKind::kVmaLock);
  return cls;
}
const locking::LockClass& init_mm_vma_lock_class() {
  static const locking::LockClass cls("init_mm.vma_lock", locking::LockKind::kVmaLock);
  return cls;
}

VmArea::VmArea(uint64_t start, uint64_t end, uint64_t pgoff, uint32_t flags, VmObject* obj,
               const locking::LockClass& lock_class)
    : vm_start(start),
      vm_end(end),
      vm_pgoff(pgoff),
      vm_flags(flags),
      vm_file(obj),
      vm_ops(obj && !(flags & kVmPageCache) ? obj->ops : nullptr),
      vm_lock(lock_class, start, end) {
  g_vma_alive.fetch_add(1, std::memory_order_relaxed);
}
VmArea::~VmArea() { g_vma_alive.fetch_sub(1, std::memory_order_relaxed); }
uint64_t vma_objects_alive() { return g_vma_alive.load(std::memory_order_relaxed); }

Mm::Mm(uint64_t reserve_bytes) : Mm(reserve_bytes, Kind::kUser) {}

Mm::Mm(uint64_t reserve_bytes, Kind kind)
    : mmap_lock(kind == Kind::kUser ? mmap_lock_class() : init_mm_lock_class()),
      kind_(kind),
      tree_lock_(kind == Kind::kUser ? tree_lock_class() : init_mm_tree_lock_class()),
      i_mmap_lock_(i_mmap_class()),
      ptl_(ptl_class()) {
  const uint64_t want = round_up_page(reserve_bytes ? reserve_bytes : kVmPageSize);
  if (kind == Kind::kUser) {
    size_ = std::max<uint64_t>(want, uint64_t{64} << 20);
    init_mm_.reset(new Mm(reserve_bytes, Kind::kKernel));
  } else {
    // Live pages never exceed the budget, and the page cache maps at most a cluster of
    // window pages per live page; the extra budget's worth keeps windows of files written
    // in turn from fragmenting each other too early.
    size_ = (kStorageCluster + 1) * want;
  }
  void* p = ::mmap(nullptr, size_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  LOCKFS_CHECK(p != MAP_FAILED, "Mm: cannot reserve address space");
  base_ = reinterpret_cast<uint64_t>(p);
  next_fit_ = base_;
}

Mm::~Mm() {
  {
    locking::WriteGuard g(mmap_lock);
    LOCKFS_CHECK(i_mmap_.empty(), "Mm destroyed with user mappings of files");
    LOCKFS_CHECK(storage_.empty(), "Mm destroyed with page cache windows (no storage_unmap)");
    for (auto& [start, vma] : tree_) delete vma;  // anonymous VMAs (tests)
    tree_.clear();
  }
  ::munmap(reinterpret_cast<void*>(base_), size_);
}

const locking::LockClass& Mm::vma_class() const {
  return kind_ == Kind::kUser ? vma_lock_class() : init_mm_vma_lock_class();
}

void Mm::mmap_write_lock() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  mmap_lock.down_write();
  mm_lock_seq_.fetch_add(1, std::memory_order_release);  // odd: a write section is open
}

int Mm::mmap_write_lock_killable() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  const int rc = mmap_lock.down_write_killable();
  if (rc == 0) mm_lock_seq_.fetch_add(1, std::memory_order_release);
  return rc;
}

void Mm::mmap_write_unlock() LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  mmap_assert_write_locked();
  // Ends the write section: no VMA's vm_lock_seq matches any more, so every VMA write lock
  // taken in it is released at once (the kernel's mm_lock_seqcount_end).
  mm_lock_seq_.fetch_add(1, std::memory_order_release);
  mmap_lock.up_write();
}

// The read lock is a trylock on vm_lock, so it cannot wait under tree_lock_; the VMA cannot
// be freed while tree_lock_ is held because removal erases it under tree_lock_ first.
// LOCKFS_NO_THREAD_SAFETY_ANALYSIS: the VMA read lock is returned to the caller held.
VmArea* Mm::lock_vma_under_rcu(uint64_t addr) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  locking::SpinGuard g(tree_lock_);
  auto it = tree_.upper_bound(addr);
  if (it == tree_.begin()) return nullptr;
  VmArea* vma = std::prev(it)->second;
  if (addr >= vma->vm_end) return nullptr;
  return vma_start_read(vma) ? vma : nullptr;
}

// LOCKFS_NO_THREAD_SAFETY_ANALYSIS: on success the read lock is returned to the caller held.
bool Mm::vma_start_read(VmArea* vma) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  if (vma->vm_lock_seq.load(std::memory_order_acquire) ==
      mm_lock_seq_.load(std::memory_order_acquire)) {
    return false;  // write-locked in the open write section
  }
  if (!vma->vm_lock.down_read_trylock()) return false;  // a writer is draining readers
  // A writer may have marked it between the check and the trylock.
  if (vma->vm_lock_seq.load(std::memory_order_acquire) ==
      mm_lock_seq_.load(std::memory_order_acquire)) {
    vma->vm_lock.up_read();
    return false;
  }
  return true;
}

void Mm::vma_end_read(VmArea* vma) LOCKFS_NO_THREAD_SAFETY_ANALYSIS { vma->vm_lock.up_read(); }

void Mm::vma_start_write(VmArea* vma) {
  mmap_assert_write_locked();
  const uint64_t seq = mm_lock_seq_.load(std::memory_order_relaxed);
  if (vma->vm_lock_seq.load(std::memory_order_relaxed) == seq) return;
  vma->vm_lock.down_write();  // waits for the readers to drain; new ones fail their trylock
  vma->vm_lock_seq.store(seq, std::memory_order_release);
  vma->vm_lock.up_write();
  write_locks_.fetch_add(1, std::memory_order_relaxed);
}

int Mm::vma_start_write_killable(VmArea* vma) {
  mmap_assert_write_locked();
  LOCKFS_SYNC_POINT("vma_start_write_killable");
  const uint64_t seq = mm_lock_seq_.load(std::memory_order_relaxed);
  if (vma->vm_lock_seq.load(std::memory_order_relaxed) == seq) return 0;
  // down_write_killable checks the pending signal before it would wait, and while waiting.
  const int rc = vma->vm_lock.down_write_killable();
  if (rc != 0) return rc;
  vma->vm_lock_seq.store(seq, std::memory_order_release);
  vma->vm_lock.up_write();
  write_locks_.fetch_add(1, std::memory_order_relaxed);
  return 0;
}

bool Mm::vma_is_write_locked(const VmArea* vma) const {
  return vma->vm_lock_seq.load(std::memory_order_acquire) ==
             mm_lock_seq_.load(std::memory_order_acquire) &&
         mmap_lock.is_locked();
}

void Mm::vma_assert_write_locked(const VmArea* vma) const {
  LOCKFS_CHECK(vma_is_write_locked(vma), "VMA not write-locked");
}

VmArea* Mm::find_vma(uint64_t addr) const {
  auto it = tree_.upper_bound(addr);
  if (it != tree_.begin()) {
    auto p = std::prev(it);
    if (p->second->vm_end > addr) return p->second;
  }
  return it == tree_.end() ? nullptr : it->second;
}

VmArea* Mm::vma_lookup(uint64_t addr) const {
  VmArea* v = find_vma(addr);
  return v && v->vm_start <= addr ? v : nullptr;
}

std::vector<VmArea*> Mm::overlapping(uint64_t start, uint64_t end) const {
  std::vector<VmArea*> out;
  for (VmArea* v = find_vma(start); v && v->vm_start < end;) {
    out.push_back(v);
    auto it = tree_.upper_bound(v->vm_start);
    v = it == tree_.end() ? nullptr : it->second;
  }
  return out;
}

std::vector<VmaSnapshot> Mm::snapshot() const {
  std::vector<VmaSnapshot> out;
  for (auto& [s, v] : tree_)
    out.push_back({v->vm_start, v->vm_end, v->vm_pgoff, v->vm_flags, v->vm_file});
  return out;
}

std::string Mm::dump() const {
  std::ostringstream os;
  for (auto& [s, v] : tree_) {
    os << std::hex << "[" << (v->vm_start - base_) << "," << (v->vm_end - base_)
       << ") pgoff=" << v->vm_pgoff << " flags=" << v->vm_flags << " obj=" << std::dec
       << (v->vm_file ? v->vm_file->id : 0) << "\n";
  }
  return os.str();
}

Result<uint64_t> Mm::get_unmapped_area(uint64_t len) const {
  const uint64_t hi = base_ + size_;
  // LOCKFS_NO_THREAD_SAFETY_ANALYSIS: the lambda runs under this function's mmap_lock.
  auto scan = [&](uint64_t cand) LOCKFS_NO_THREAD_SAFETY_ANALYSIS -> uint64_t {
    VmArea* v = find_vma(cand);
    while (cand + len <= hi) {
      if (!v || v->vm_start >= cand + len) return cand;
      cand = std::max(cand, v->vm_end);
      auto it = tree_.upper_bound(v->vm_start);
      v = it == tree_.end() ? nullptr : it->second;
    }
    return 0;
  };
  // Next-fit from the cursor, so a file written in order finds free addresses after its
  // window to expand into; then first-fit from the start.
  if (next_fit_ > base_ && next_fit_ < hi) {
    if (uint64_t a = scan(next_fit_)) return a;
  }
  if (uint64_t a = scan(base_)) return a;
  return err(-ENOMEM);
}

namespace {
// A node of container C holding the element made from args, not in any container.
template <typename C, typename... Args>
typename C::node_type make_node(Args&&... args) {
  C c;
  c.emplace(std::forward<Args>(args)...);
  return c.extract(c.begin());
}
}  // namespace

Mm::LinkNodes Mm::make_link_nodes(const Piece& p) const {
  LinkNodes n;
  n.tree = make_node<std::map<uint64_t, VmArea*>>(p.start, nullptr);
  if (!p.obj) return n;
  // An object entry present now is still there when the commit links (its unlinks keep
  // emptied entries until then): only an object without one needs a node for it.
  if (p.flags & kVmPageCache) {
    if (!storage_.count(p.obj)) {
      n.storage_obj = make_node<decltype(storage_)>(p.obj, std::map<uint64_t, VmArea*>());
    }
    n.storage_page = make_node<std::map<uint64_t, VmArea*>>(p.pgoff, nullptr);
  } else {
    // i_mmap_ is written under mmap_lock write (held), so reading it needs no i_mmap_lock_.
    if (!i_mmap_.count(p.obj)) {
      n.i_mmap_obj = make_node<decltype(i_mmap_)>(p.obj, std::set<VmArea*>());
    }
    n.i_mmap_vma = make_node<std::set<VmArea*>>(nullptr);
  }
  return n;
}

void Mm::tree_insert(VmArea* vma, LinkNodes& nodes) {
  nodes.tree.key() = vma->vm_start;
  nodes.tree.mapped() = vma;
  locking::SpinGuard g(tree_lock_);
  const bool inserted = tree_.insert(std::move(nodes.tree)).inserted;
  LOCKFS_CHECK(inserted, "VMA tree: overlapping insert");
  vma->detached = false;
  vma->vm_lock.set_object(vma->vm_start, vma->vm_end);
}

void Mm::tree_erase(VmArea* vma) {
  locking::SpinGuard g(tree_lock_);
  auto it = tree_.find(vma->vm_start);
  LOCKFS_CHECK(it != tree_.end() && it->second == vma, "VMA tree: erase of unknown VMA");
  tree_.erase(it);
  vma->detached = true;
}

void Mm::link_file(VmArea* vma, LinkNodes& nodes) {
  if (!vma->vm_file) return;
  if (vma->vm_flags & kVmPageCache) {
    auto it = storage_.find(vma->vm_file);
    if (it == storage_.end()) {
      LOCKFS_CHECK(!nodes.storage_obj.empty(), "storage windows: no node for a new object");
      it = storage_.insert(std::move(nodes.storage_obj)).position;
    }
    nodes.storage_page.key() = vma->vm_pgoff;
    nodes.storage_page.mapped() = vma;
    LOCKFS_CHECK(it->second.insert(std::move(nodes.storage_page)).inserted,
                 "storage windows overlap");
    return;
  }
  locking::WriteGuard g(i_mmap_lock_);
  auto it = i_mmap_.find(vma->vm_file);
  if (it == i_mmap_.end()) {
    LOCKFS_CHECK(!nodes.i_mmap_obj.empty(), "i_mmap: no node for a new object");
    it = i_mmap_.insert(std::move(nodes.i_mmap_obj)).position;
  }
  nodes.i_mmap_vma.value() = vma;
  it->second.insert(std::move(nodes.i_mmap_vma));
}

void Mm::unlink_file(VmArea* vma, bool keep_empty) {
  if (!vma->vm_file) return;
  if (vma->vm_flags & kVmPageCache) {
    auto it = storage_.find(vma->vm_file);
    LOCKFS_CHECK(it != storage_.end() && it->second.erase(vma->vm_pgoff) == 1,
                 "storage window not indexed");
    if (it->second.empty() && !keep_empty) storage_.erase(it);
    return;
  }
  locking::WriteGuard g(i_mmap_lock_);
  auto it = i_mmap_.find(vma->vm_file);
  LOCKFS_CHECK(it != i_mmap_.end() && it->second.erase(vma) == 1, "i_mmap: VMA not linked");
  if (it->second.empty() && !keep_empty) i_mmap_.erase(it);
}

void Mm::erase_empty_entry(const VmArea* vma) {
  if (!vma->vm_file) return;
  if (vma->vm_flags & kVmPageCache) {
    auto it = storage_.find(vma->vm_file);
    if (it != storage_.end() && it->second.empty()) storage_.erase(it);
    return;
  }
  // Read under our mmap_lock write (i_mmap_ is read under either lock); i_mmap_lock_ is
  // taken only to erase, not for every VMA of a rewrite's window.
  auto it = i_mmap_.find(vma->vm_file);
  if (it == i_mmap_.end() || !it->second.empty()) return;
  locking::WriteGuard g(i_mmap_lock_);
  i_mmap_.erase(it);
}

static int prot_of(uint32_t flags) {
  return ((flags & kVmRead) ? PROT_READ : 0) | ((flags & kVmWrite) ? PROT_WRITE : 0);
}

Result<void> Mm::map_memory(const Piece& p, uint64_t start, uint64_t end) {
  void* want = reinterpret_cast<void*>(start);
  void* got;
  if (p.obj) {
    const uint64_t off = (p.pgoff + ((start - p.start) >> kVmPageShift)) << kVmPageShift;
    got = ::mmap(want, end - start, prot_of(p.flags), MAP_SHARED | MAP_FIXED, p.obj->fd,
                 static_cast<off_t>(off));
  } else {
    got =
        ::mmap(want, end - start, prot_of(p.flags), MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  }
  if (got == MAP_FAILED) {
    const int e = errno;
    reserve_memory(start, end);  // MAP_FIXED may have dropped the reservation already
    return err(e == ENOMEM ? -ENOMEM : -e);
  }
  return ok();
}

Result<void> Mm::protect_memory(const Piece& p, uint64_t start, uint64_t end) {
  if (::mprotect(reinterpret_cast<void*>(start), end - start, prot_of(p.flags)) != 0) {
    return err(-errno);
  }
  return ok();
}

void Mm::reserve_memory(uint64_t start, uint64_t end) {
  void* got = ::mmap(reinterpret_cast<void*>(start), end - start, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  // TODO: this can only fail at vm.max_map_count; the range would stay mapped. Surface it
  // once the caller can report it (munmap's commit phase has no error path by design).
  LOCKFS_CHECK(got != MAP_FAILED, "Mm: cannot give memory back to the reservation");
}

}  // namespace lockfs::core

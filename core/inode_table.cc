// InodeTable: buckets, the RCU-safe chain updates, and growth.
#include "core/inode_table.h"

#include <memory>

#include "core/inode.h"
#include "locking/check.h"
#include "locking/sync_point.h"

namespace lockfs::core {

struct InodeTable::Buckets {
  explicit Buckets(unsigned order)
      : shift(64 - order), heads(std::make_unique<std::atomic<Inode*>[]>(size_t{1} << order)) {}
  size_t count() const { return size_t{1} << (64 - shift); }
  // Fibonacci hashing: numbers are handed out in sequence, and whatever pattern of them
  // survives spreads over the buckets.
  size_t index(Ino ino) const { return (ino * 0x9E3779B97F4A7C15ull) >> shift; }
  std::atomic<Inode*>& head(Ino ino) const { return heads[index(ino)]; }

  const unsigned shift;
  const std::unique_ptr<std::atomic<Inode*>[]> heads;
};

namespace {
constexpr unsigned kFirstOrder = 6;  // 64 buckets
}

InodeTable::InodeTable() : buckets_(new Buckets(kFirstOrder)) {}

// Unmount: every inode is gone and no reader is left.
InodeTable::~InodeTable() { delete buckets_.load(std::memory_order_relaxed); }

template <bool kRcu>
Inode* InodeTable::walk(const Buckets* b, Ino ino) {
  for (Inode* i = b->head(ino).load(std::memory_order_acquire); i != nullptr;
       i = i->i_hash_next.load(std::memory_order_acquire)) {
    if (i->i_ino == ino) return i;
    // Standing on `i` under RCU: a growth may move it meanwhile.
    if constexpr (kRcu) LOCKFS_SYNC_POINT("itable:rcu_walk");
  }
  return nullptr;
}

Inode* InodeTable::find(Ino ino) const {
  return walk<false>(buckets_.load(std::memory_order_relaxed), ino);
}

Inode* InodeTable::find_rcu(Ino ino) const {
  return walk<true>(buckets_.load(std::memory_order_acquire), ino);
}

size_t InodeTable::bucket_of(Ino ino) const {
  return buckets_.load(std::memory_order_relaxed)->index(ino);
}

size_t InodeTable::bucket_count() const { return buckets_.load(std::memory_order_relaxed)->count(); }

void InodeTable::insert(Inode* inode) {
  if (size_ >= buckets_.load(std::memory_order_relaxed)->count()) grow();
  std::atomic<Inode*>& head = buckets_.load(std::memory_order_relaxed)->head(inode->i_ino);
  inode->i_hash_next.store(head.load(std::memory_order_relaxed), std::memory_order_relaxed);
  // Release: a reader that finds the inode sees it constructed.
  head.store(inode, std::memory_order_release);
  ++size_;
}

void InodeTable::remove(Inode* inode) {
  std::atomic<Inode*>* link = &buckets_.load(std::memory_order_relaxed)->head(inode->i_ino);
  for (Inode* i = link->load(std::memory_order_relaxed); i != inode;
       i = link->load(std::memory_order_relaxed)) {
    LOCKFS_CHECK(i != nullptr, "InodeTable::remove of an inode not in the table");
    link = &i->i_hash_next;
  }
  // The removed inode keeps its own link: a reader standing on it walks on.
  link->store(inode->i_hash_next.load(std::memory_order_relaxed), std::memory_order_release);
  --size_;
}

// Doubles the buckets. Each inode is moved onto the head of its new chain, so an inode
// already moved only ever links to inodes already moved: at every step the links form
// chains without a cycle, and a reader on an old chain ends -- perhaps having missed an
// inode that was moved under it. The old array is kept until unmount rather than freed by
// RCU: call_rcu takes a mutex, which may sleep, and this runs under inode_hash_lock. The
// arrays kept add up to less than the current one.
void InodeTable::grow() {
  Buckets* old = buckets_.load(std::memory_order_relaxed);
  retired_.reserve(retired_.size() + 1);  // the allocations first: nothing can fail later
  auto* fresh = new Buckets(64 - old->shift + 1);
  for (size_t b = 0; b < old->count(); ++b) {
    Inode* i = old->heads[b].load(std::memory_order_relaxed);
    while (i != nullptr) {
      Inode* next = i->i_hash_next.load(std::memory_order_relaxed);
      std::atomic<Inode*>& head = fresh->head(i->i_ino);
      i->i_hash_next.store(head.load(std::memory_order_relaxed), std::memory_order_release);
      head.store(i, std::memory_order_relaxed);  // published with the array below
      i = next;
    }
  }
  buckets_.store(fresh, std::memory_order_release);
  retired_.emplace_back(old);
}

std::vector<Inode*> InodeTable::all() const {
  std::vector<Inode*> out;
  out.reserve(size_);
  const Buckets* b = buckets_.load(std::memory_order_relaxed);
  for (size_t k = 0; k < b->count(); ++k) {
    for (Inode* i = b->heads[k].load(std::memory_order_relaxed); i != nullptr;
         i = i->i_hash_next.load(std::memory_order_relaxed)) {
      out.push_back(i);
    }
  }
  return out;
}

Inode* InodeTable::take_all() {
  Inode* list = nullptr;
  Buckets* b = buckets_.load(std::memory_order_relaxed);
  for (size_t k = 0; k < b->count(); ++k) {
    Inode* i = b->heads[k].load(std::memory_order_relaxed);
    b->heads[k].store(nullptr, std::memory_order_release);
    while (i != nullptr) {
      Inode* next = i->i_hash_next.load(std::memory_order_relaxed);
      i->i_hash_next.store(list, std::memory_order_relaxed);
      list = i;
      i = next;
    }
  }
  size_ = 0;
  return list;
}

}  // namespace lockfs::core

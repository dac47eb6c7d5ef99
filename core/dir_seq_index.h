// DirSeqIndex: a directory's entries in readdir order (by sequence number), in one array.
//
// Sequence numbers only grow -- a new entry, and an entry renamed in, takes the directory's
// next one -- so adding is an append and the array stays sorted. Removing leaves a hole that
// a later compaction closes. A readdir pass then walks memory in order instead of chasing
// one tree node per entry (the cache misses dominated readdir of a large directory), and an
// entry costs 16 bytes instead of a 64-byte map node. Readdir cursors are sequence numbers,
// never positions, so compaction does not disturb them.
//
// Thread safety: none of its own; the directory's i_rwsem guards it (readers shared, writers
// exclusive), so no reader walks it while it is compacted.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace lockfs::core {

class Dentry;

class DirSeqIndex {
 public:
  // seq must be greater than every sequence number added before.
  void append(uint64_t seq, Dentry* d) {
    slots_.push_back({seq, d});
    ++live_;
  }

  // Room for `n` more appends without reallocating (removals never reallocate). Grows
  // geometrically, as push_back would: a reserve of exactly size + 1 per rename into a
  // directory would copy the whole array every time.
  void reserve(size_t n) {
    if (slots_.capacity() - slots_.size() < n) {
      slots_.reserve(std::max(slots_.size() + n, 2 * slots_.capacity()));
    }
  }

  // Removes the entry with this sequence number; false if there is none.
  bool remove(uint64_t seq) {
    auto it = lower(seq);
    if (it == slots_.end() || it->seq != seq || it->dentry == nullptr) return false;
    it->dentry = nullptr;
    --live_;
    const size_t holes = slots_.size() - live_;
    if (holes > 64 && holes > live_) {
      std::erase_if(slots_, [](const Slot& s) { return s.dentry == nullptr; });
    }
    return true;
  }

  Dentry* find(uint64_t seq) const {
    auto it = lower(seq);
    return it != slots_.end() && it->seq == seq ? it->dentry : nullptr;
  }

  size_t size() const { return live_; }
  // Appends that fit before the array reallocates (tests: reserve's growth).
  size_t spare() const { return slots_.capacity() - slots_.size(); }

  // fn(seq, dentry) for each entry with seq >= from, in order, until fn returns false.
  template <typename Fn>
  void for_each_from(uint64_t from, Fn&& fn) const {
    for (auto it = lower(from); it != slots_.end(); ++it) {
      if (it->dentry != nullptr && !fn(it->seq, it->dentry)) return;
    }
  }

 private:
  struct Slot {
    uint64_t seq;
    Dentry* dentry;  // null: removed, not yet compacted away
  };
  std::vector<Slot>::const_iterator lower(uint64_t seq) const {
    return std::lower_bound(slots_.begin(), slots_.end(), seq,
                            [](const Slot& s, uint64_t v) { return s.seq < v; });
  }
  std::vector<Slot>::iterator lower(uint64_t seq) {
    return std::lower_bound(slots_.begin(), slots_.end(), seq,
                            [](const Slot& s, uint64_t v) { return s.seq < v; });
  }

  std::vector<Slot> slots_;
  size_t live_ = 0;
};

}  // namespace lockfs::core

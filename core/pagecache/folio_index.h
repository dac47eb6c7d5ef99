// FolioIndex: the page cache's index (the xarray behind i_pages): a radix tree of 64-slot
// nodes mapping page indexes to Folio pointers. Lookups never allocate; range walks skip
// empty subtrees (a node is freed as soon as its last slot empties).
#pragma once

#include <cstdint>

#include "core/pagecache/folio.h"

namespace lockfs::core {

// Thread safety: none of its own; the owner guards it (AddressSpace::Impl: i_pages).
// The index stores raw pointers: the reference it owns is managed by the caller
// (mapping_impl.cc takes it on insertion and drops it after erasure).
class FolioIndex {
 public:
  FolioIndex() = default;
  ~FolioIndex();  // frees the nodes (the owner drops the folios first)
  FolioIndex(const FolioIndex&) = delete;
  FolioIndex& operator=(const FolioIndex&) = delete;

  Folio* load(uint64_t index) const;
  // Stores f at index unless a folio is there already: returns that one (nothing stored),
  // else nullptr. May allocate nodes (std::bad_alloc).
  Folio* insert_if_absent(uint64_t index, Folio* f);
  // Clears the slot; returns what it held.
  Folio* erase(uint64_t index);
  bool empty() const { return root_ == nullptr; }

  // Calls fn(index, folio) for each folio in [first, end), in index order, until fn returns
  // false. Returns false when fn stopped the walk.
  template <typename Fn>
  bool for_each(uint64_t first, uint64_t end, Fn&& fn) const {
    if (!root_ || first >= end) return true;
    return walk(root_, root_shift_, 0, first, end, fn);
  }
  // The first folio in [first, end), or nullptr.
  Folio* find_next(uint64_t first, uint64_t end) const;
  // The first index >= first with no folio.
  uint64_t next_hole(uint64_t first) const;

 private:
  static constexpr unsigned kBits = 6;
  static constexpr uint64_t kSlots = uint64_t{1} << kBits;
  // Nodes one insertion may need: levels added on top of a one-level tree up to the
  // deepest (64 / kBits of them), plus a new path under the new top (as many again); or,
  // into an empty tree, a root and a path (64 / kBits + 1).
  static constexpr unsigned kMaxNewNodes = 2 * (64 / kBits) + 1;
  struct Node {
    uint32_t count = 0;  // non-null slots
    void* slots[kSlots] = {};
  };
  // Indexes a tree whose root has this shift can hold: [0, span(shift)).
  static uint64_t span(unsigned shift) { return kSlots << shift; }
  static void free_tree(Node* n, unsigned shift);
  static Folio* erase_in(Node* n, unsigned shift, uint64_t index);

  template <typename Fn>
  static bool walk(const Node* n, unsigned shift, uint64_t base, uint64_t first, uint64_t end,
                   Fn& fn) {
    uint64_t off = first > base ? (first - base) >> shift : 0;
    for (; off < kSlots; ++off) {
      const uint64_t at = base + (off << shift);
      if (at >= end) break;
      void* s = n->slots[off];
      if (!s) continue;
      if (shift == 0) {
        if (!fn(at, static_cast<Folio*>(s))) return false;
      } else if (!walk(static_cast<const Node*>(s), shift - kBits, at, first, end, fn)) {
        return false;
      }
    }
    return true;
  }

  Node* root_ = nullptr;
  unsigned root_shift_ = 0;
};

}  // namespace lockfs::core

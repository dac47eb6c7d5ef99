// The radix tree behind i_pages. The root grows by adding levels on top (xas_expand) and
// shrinks back when only its first slot is left (xas_shrink); empty nodes are freed on the
// way up from an erase, so a null slot always means an empty subtree.
#include "core/pagecache/folio_index.h"

#include <new>

#include "locking/check.h"

namespace lockfs::core {

FolioIndex::~FolioIndex() {
  if (root_) free_tree(root_, root_shift_);
}

void FolioIndex::free_tree(Node* n, unsigned shift) {
  if (shift > 0) {
    for (void* s : n->slots) {
      if (s) free_tree(static_cast<Node*>(s), shift - kBits);
    }
  }
  delete n;
}

Folio* FolioIndex::load(uint64_t index) const {
  const Node* n = root_;
  if (!n || index >= span(root_shift_)) return nullptr;
  for (unsigned shift = root_shift_;; shift -= kBits) {
    void* s = n->slots[(index >> shift) & (kSlots - 1)];
    if (shift == 0) return static_cast<Folio*>(s);
    if (!s) return nullptr;
    n = static_cast<const Node*>(s);
  }
}

Folio* FolioIndex::insert_if_absent(uint64_t index, Folio* f) {
  // The levels added on top and the nodes missing on the path are all allocated before the
  // first is linked: a std::bad_alloc leaves the tree as it was. (Linking as they came left
  // a node with nothing under it when a deeper one failed: a null slot would no longer mean
  // an empty subtree, the root would never shrink, and empty() would stay false.)
  unsigned shift = root_ ? root_shift_ : 0;
  while (index >= span(shift)) shift += kBits;
  size_t need = 0;
  if (!root_) {
    need = shift / kBits + 1;  // the root and one node per level below it
  } else {
    need = (shift - root_shift_) / kBits;  // new levels on top
    // Follow index's path: through the new top levels (their slot 0 leads to the old root)
    // and the existing nodes, to the first missing one: it and every level below are new.
    const Node* n = shift == root_shift_ ? root_ : nullptr;
    for (unsigned s = shift; s > 0; s -= kBits) {
      const uint64_t slot = (index >> s) & (kSlots - 1);
      if (!n) {  // a new top level
        if (slot != 0) {
          need += s / kBits;
          break;
        }
        if (s - kBits == root_shift_) n = root_;
        continue;
      }
      if (!n->slots[slot]) {
        need += s / kBits;
        break;
      }
      n = static_cast<const Node*>(n->slots[slot]);
    }
  }
  LOCKFS_CHECK(need <= kMaxNewNodes, "FolioIndex: node count planned wrong");
  Node* spare[kMaxNewNodes];
  size_t have = 0;
  try {
    while (have < need) spare[have++] = new Node;
  } catch (const std::bad_alloc&) {
    while (have > 0) delete spare[--have];
    throw;
  }
  auto take = [&] {
    LOCKFS_CHECK(have > 0, "FolioIndex: node count planned wrong");
    return spare[--have];
  };
  if (!root_) {
    root_shift_ = shift;
    root_ = take();
  }
  while (root_shift_ < shift) {  // add a level on top: the old root is its slot 0
    Node* top = take();
    top->slots[0] = root_;
    top->count = 1;
    root_ = top;
    root_shift_ += kBits;
  }
  Node* n = root_;
  for (unsigned s = root_shift_;; s -= kBits) {
    void*& slot = n->slots[(index >> s) & (kSlots - 1)];
    if (s == 0) {
      LOCKFS_CHECK(have == 0, "FolioIndex: node count planned wrong");
      if (slot) return static_cast<Folio*>(slot);
      slot = f;
      ++n->count;
      return nullptr;
    }
    if (!slot) {
      slot = take();
      ++n->count;
    }
    n = static_cast<Node*>(slot);
  }
}

Folio* FolioIndex::erase_in(Node* n, unsigned shift, uint64_t index) {
  void*& s = n->slots[(index >> shift) & (kSlots - 1)];
  if (!s) return nullptr;
  if (shift == 0) {
    Folio* f = static_cast<Folio*>(s);
    s = nullptr;
    --n->count;
    return f;
  }
  Node* child = static_cast<Node*>(s);
  Folio* f = erase_in(child, shift - kBits, index);
  if (f && child->count == 0) {
    delete child;
    s = nullptr;
    --n->count;
  }
  return f;
}

Folio* FolioIndex::erase(uint64_t index) {
  if (!root_ || index >= span(root_shift_)) return nullptr;
  Folio* f = erase_in(root_, root_shift_, index);
  if (!f) return nullptr;
  if (root_->count == 0) {
    delete root_;
    root_ = nullptr;
    root_shift_ = 0;
    return f;
  }
  while (root_shift_ > 0 && root_->count == 1 && root_->slots[0]) {
    Node* child = static_cast<Node*>(root_->slots[0]);
    delete root_;
    root_ = child;
    root_shift_ -= kBits;
  }
  return f;
}

Folio* FolioIndex::find_next(uint64_t first, uint64_t end) const {
  Folio* out = nullptr;
  for_each(first, end, [&](uint64_t, Folio* f) {
    out = f;
    return false;
  });
  return out;
}

uint64_t FolioIndex::next_hole(uint64_t first) const {
  uint64_t want = first;
  for_each(first, UINT64_MAX, [&](uint64_t index, Folio*) {
    if (index != want) return false;
    ++want;
    return true;
  });
  return want;
}

}  // namespace lockfs::core

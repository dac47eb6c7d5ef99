// The radix tree behind i_pages. The root grows by adding levels on top (xas_expand) and
// shrinks back when only its first slot is left (xas_shrink); empty nodes are freed on the
// way up from an erase, so a null slot always means an empty subtree.
#include "core/pagecache/folio_index.h"

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
  if (!root_) {
    root_shift_ = 0;
    while (index >= span(root_shift_)) root_shift_ += kBits;
    root_ = new Node;
  }
  while (index >= span(root_shift_)) {  // add a level on top: the old root is its slot 0
    Node* top = new Node;
    top->slots[0] = root_;
    top->count = 1;
    root_ = top;
    root_shift_ += kBits;
  }
  Node* n = root_;
  for (unsigned shift = root_shift_;; shift -= kBits) {
    void*& s = n->slots[(index >> shift) & (kSlots - 1)];
    if (shift == 0) {
      if (s) return static_cast<Folio*>(s);
      s = f;
      ++n->count;
      return nullptr;
    }
    if (!s) {
      s = new Node;
      ++n->count;
    }
    n = static_cast<Node*>(s);
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

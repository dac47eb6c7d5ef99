// The one place the VMA tree changes shape: Mm::rewrite replaces a window of VMAs by a planned
// layout, doing every fallible step (allocating VMA objects, killable VMA write locks, mapping
// memory) before the first change, so that -EINTR and -ENOMEM leave the tree as it was — the
// reviewer's point in the 000 seed: the error is the real one and nothing is half-done.
#include <algorithm>
#include <memory>
#include <new>
#include <set>

#include "core/mm/mm.h"
#include "locking/check.h"
#include "locking/task.h"

namespace lockfs::core {

namespace {

bool intersects(const VmArea* v, uint64_t start, uint64_t end) {
  return v->vm_start < end && start < v->vm_end;
}

// Room for n elements: in the object up to N, else one heap block. For rewrite's lists,
// which nearly always hold a handful of entries, so that a rewrite (which runs under
// init_mm's mmap_lock for every storage window change) does not malloc for them.
template <typename T, size_t N>
class InlineBuf {
 public:
  explicit InlineBuf(size_t n) {
    if (n > N) heap_ = std::make_unique<T[]>(n);
  }
  InlineBuf(const InlineBuf&) = delete;
  InlineBuf& operator=(const InlineBuf&) = delete;
  T* data() { return heap_ ? heap_.get() : inline_; }
  T& operator[](size_t i) { return data()[i]; }

 private:
  T inline_[N] = {};
  std::unique_ptr<T[]> heap_;
};

}  // namespace

void Mm::merge_pieces(std::vector<Piece>& pieces) {
  std::vector<Piece> out;
  for (const Piece& p : pieces) {
    if (!out.empty()) {
      Piece& a = out.back();
      const bool compatible = a.end == p.start && a.obj == p.obj && a.ops == p.ops &&
                              a.flags == p.flags &&
                              a.pgoff + ((a.end - a.start) >> kVmPageShift) == p.pgoff;
      // Joining pieces of two existing VMAs removes one of them: not when it has ->close
      // (the kernel's can_merge_remove_vma), whose caller would never see it closed.
      const bool removes = a.src && p.src && a.src != p.src;
      if (compatible && !(removes && p.ops && p.ops->has_close())) {
        a.end = p.end;
        if (!a.src) a.src = p.src;
        continue;
      }
    }
    out.push_back(p);
  }
  pieces = std::move(out);
}

Result<VmArea*> Mm::rewrite(const std::vector<VmArea*>& window, std::vector<Piece> final,
                            uint64_t want) {
  // Everything that allocates comes before the commit, which changes nothing until then:
  // std::bad_alloc leaves the tree as it was, and is -ENOMEM as a VMA object's nothrow
  // allocation is (so that storage_map's callers fall back the same way for either).
  try {
    return rewrite_or_throw(window, final, want);
  } catch (const std::bad_alloc&) {
    return err(-ENOMEM);
  }
}

Result<VmArea*> Mm::rewrite_or_throw(const std::vector<VmArea*>& window,
                                     const std::vector<Piece>& final, uint64_t want) {
  mmap_assert_write_locked();
  auto same_state = [](const VmArea* v, const Piece& p) {
    return v->vm_start == p.start && v->vm_end == p.end && v->vm_pgoff == p.pgoff &&
           v->vm_flags == p.flags;
  };
  // Plan: each final piece reuses the first old VMA it overlaps that no earlier piece took
  // (addresses never move, so overlap means "continues that VMA"); the others get a new one.
  std::vector<VmArea*> use(final.size(), nullptr);
  std::vector<bool> is_split(final.size(), false);
  std::set<VmArea*> claimed;
  for (size_t i = 0; i < final.size(); ++i) {
    for (VmArea* w : window) {
      if (!intersects(w, final[i].start, final[i].end)) continue;
      is_split[i] = true;  // continues an existing VMA (if it gets a new object: a split)
      if (!final[i].force_new && !claimed.count(w)) {
        use[i] = w;
        claimed.insert(w);
        break;
      }
    }
  }
  // Allocate before anything else.
  std::vector<std::unique_ptr<VmArea>> fresh(final.size());
  for (size_t i = 0; i < final.size(); ++i) {
    if (use[i]) continue;
    const Piece& p = final[i];
    fresh[i].reset(new (std::nothrow) VmArea(p.start, p.end, p.pgoff, p.flags, p.obj, vma_class()));
    if (!fresh[i]) return err(-ENOMEM);
  }
  // The commit links VMAs into the tree and the file indexes: their nodes are allocated now
  // too, for every piece that will be (re)inserted, so that the commit cannot throw.
  InlineBuf<LinkNodes, 4> nodes(final.size());
  for (size_t i = 0; i < final.size(); ++i) {
    if (!use[i] || !same_state(use[i], final[i])) nodes[i] = make_link_nodes(final[i]);
  }
  // Write-lock (killable) every existing VMA that changes or goes away, then the new ones.
  for (VmArea* w : window) {
    bool changes = true;
    for (size_t i = 0; i < final.size(); ++i) {
      if (use[i] == w) changes = !same_state(w, final[i]);
    }
    if (!changes) continue;
    if (int rc = vma_start_write_killable(w); rc != 0) return err(rc);
  }
  for (auto& f : fresh) {
    if (!f) continue;
    // A new detached VMA has no readers; locking it can only fail on a pending fatal signal,
    // which is handled all the same (the seed's __split_vma comment).
    if (int rc = vma_start_write_killable(f.get()); rc != 0) return err(rc);
  }

  // Memory: walk the segments between all old and new boundaries.
  const size_t max_cuts = 2 * (window.size() + final.size());
  InlineBuf<uint64_t, 16> cut_buf(max_cuts);
  uint64_t* const cuts = cut_buf.data();
  size_t ncuts = 0;
  for (VmArea* w : window) {
    cuts[ncuts++] = w->vm_start;
    cuts[ncuts++] = w->vm_end;
  }
  for (const Piece& p : final) {
    cuts[ncuts++] = p.start;
    cuts[ncuts++] = p.end;
  }
  std::sort(cuts, cuts + ncuts);
  ncuts = static_cast<size_t>(std::unique(cuts, cuts + ncuts) - cuts);
  // What the memory loop below did, to take back if a later segment fails: records with
  // room reserved for each segment, so that recording one never allocates after the memory
  // changed (a throw there would leave it changed and the tree not).
  struct Undo {
    uint64_t start, end;
    bool reprotect;  // else the segment was newly mapped: give it back to the reservation
    Piece before;    // reprotect: the VMA's old state
  };
  InlineBuf<Undo, 8> undo(ncuts);
  size_t nundo = 0;
  InlineBuf<std::pair<uint64_t, uint64_t>, 8> give_back(ncuts);  // after the commit
  size_t ngive = 0;
  auto old_at = [&](uint64_t a) -> VmArea* {
    for (VmArea* w : window)
      if (w->vm_start <= a && a < w->vm_end) return w;
    return nullptr;
  };
  auto new_at = [&](uint64_t a) -> const Piece* {
    for (const Piece& p : final)
      if (p.start <= a && a < p.end) return &p;
    return nullptr;
  };
  for (size_t k = 0; k + 1 < ncuts; ++k) {
    const uint64_t a = cuts[k], b = cuts[k + 1];
    VmArea* o = old_at(a);
    const Piece* n = new_at(a);
    Result<void> r;
    if (!o && n && (n->flags & kVmPopulate)) {
      r = map_memory(*n, a, b);
      if (r) undo[nundo++] = Undo{a, b, false, *n};
    } else if (o && !n) {
      give_back[ngive++] = {a, b};
    } else if (o && n && o->vm_flags != n->flags) {
      if (n->flags & kVmPopulate) {
        r = protect_memory(*n, a, b);
        if (r) undo[nundo++] = Undo{a, b, true, piece_of(o)};
      } else {
        give_back[ngive++] = {a, b};  // zap faulted-in pages; they fault in with new prot
      }
    }
    if (!r) {
      for (size_t i = nundo; i-- > 0;) {
        const Undo& u = undo[i];
        if (u.reprotect) {
          (void)protect_memory(u.before, u.start, u.end);
        } else {
          reserve_memory(u.start, u.end);
        }
      }
      return err(r.error());
    }
  }

  // Commit: nothing below can fail.
  for (VmArea* w : window) {
    bool keep_same = false;
    for (size_t i = 0; i < final.size(); ++i) {
      if (use[i] == w && same_state(w, final[i])) keep_same = true;
    }
    if (keep_same) continue;
    unlink_file(w, /*keep_empty=*/true);  // the links below may need the object's entry
    tree_erase(w);
  }
  VmArea* result = nullptr;
  for (size_t i = 0; i < final.size(); ++i) {
    const Piece& p = final[i];
    VmArea* v = use[i];
    if (v) {
      if (!v->detached) continue;  // unchanged
      v->vm_start = p.start;
      v->vm_end = p.end;
      v->vm_pgoff = p.pgoff;
      v->vm_flags = p.flags;
    } else {
      v = fresh[i].release();
    }
    tree_insert(v, nodes[i]);
    link_file(v, nodes[i]);
    if (!use[i] && is_split[i] && v->vm_ops) v->vm_ops->open(*v);  // __split_vma's ->open
  }
  for (VmArea* w : window) erase_empty_entry(w);  // entries the unlinks above left empty
  for (VmArea* w : window) {
    if (claimed.count(w)) continue;
    // Wholly covered by the new layout: merged away (no ->close, as in vma_merge). Else some
    // of it is unmapped: it is the VMA munmap gathered, and it is closed.
    uint64_t covered = 0;
    for (const Piece& p : final) {
      if (intersects(w, p.start, p.end)) {
        covered += std::min(w->vm_end, p.end) - std::max(w->vm_start, p.start);
      }
    }
    if (covered < w->vm_end - w->vm_start && w->vm_ops) w->vm_ops->close(*w);
    delete w;
  }
  for (size_t i = 0; i < ngive; ++i) reserve_memory(give_back[i].first, give_back[i].second);
  if (want) {
    auto it = tree_.upper_bound(want);
    if (it != tree_.begin() && std::prev(it)->second->vm_end > want) result = std::prev(it)->second;
  }
  return result;
}

Result<VmArea*> Mm::mmap_region(uint64_t addr, uint64_t len, uint64_t pgoff, uint32_t flags,
                                VmObject* obj) {
  mmap_assert_write_locked();
  if (len == 0 || (addr | len) & (kVmPageSize - 1)) return err(-EINVAL);
  if (addr < base_ || addr + len > base_ + size_ || addr + len < addr) return err(-EINVAL);
  if (((flags & kVmPageCache) != 0) != (kind_ == Kind::kKernel)) return err(-EINVAL);
  if (VmArea* v = find_vma(addr); v && v->vm_start < addr + len) return err(-EEXIST);
  std::vector<VmArea*> window;
  std::vector<Piece> final;
  VmArea* prev = addr > base_ ? vma_lookup(addr - 1) : nullptr;
  VmArea* next = vma_lookup(addr + len);
  if (prev) {
    window.push_back(prev);
    final.push_back(piece_of(prev));
  }
  VmOperations* ops = obj && !(flags & kVmPageCache) ? obj->ops : nullptr;
  final.push_back(Piece{addr, addr + len, pgoff, flags, obj, ops, nullptr});
  if (next) {
    window.push_back(next);
    final.push_back(piece_of(next));
  }
  merge_pieces(final);
  return rewrite(window, std::move(final), addr);
}

Result<void> Mm::do_munmap(uint64_t addr, uint64_t len) {
  mmap_assert_write_locked();
  if (len == 0 || (addr & (kVmPageSize - 1))) return err(-EINVAL);
  const uint64_t end = addr + ((len + kVmPageSize - 1) & ~(kVmPageSize - 1));
  // Gather the VMAs to remove; the edge ones are split (their outer parts stay).
  std::vector<VmArea*> window = overlapping(addr, end);
  if (window.empty()) return ok();
  std::vector<Piece> final;
  VmArea* first = window.front();
  VmArea* last = window.back();
  if (first->vm_start < addr) {
    Piece p = piece_of(first);
    p.end = addr;
    p.force_new = true;
    final.push_back(p);
  }
  if (last->vm_end > end) {
    Piece p = piece_of(last);
    p.pgoff = last->pgoff_of(end);
    p.start = end;
    p.force_new = true;
    final.push_back(p);
  }
  auto r = rewrite(window, std::move(final), 0);
  if (!r) return err(r.error());
  return ok();
}

Result<void> Mm::mprotect_range(uint64_t addr, uint64_t len, uint32_t flags) {
  mmap_assert_write_locked();
  if (len == 0 || ((addr | len) & (kVmPageSize - 1))) return err(-EINVAL);
  const uint64_t end = addr + len;
  std::vector<VmArea*> inside = overlapping(addr, end);
  // The whole range must be mapped (mprotect(2) says ENOMEM otherwise).
  uint64_t at = addr;
  for (VmArea* v : inside) {
    if (v->vm_start > at) return err(-ENOMEM);
    at = v->vm_end;
  }
  if (inside.empty() || at < end) return err(-ENOMEM);
  std::vector<VmArea*> window;
  std::vector<Piece> final;
  if (VmArea* prev = addr > base_ ? vma_lookup(addr - 1) : nullptr; prev && prev->vm_end == addr) {
    window.push_back(prev);
    final.push_back(piece_of(prev));
  }
  for (VmArea* v : inside) {
    window.push_back(v);
    const Piece whole = piece_of(v);
    if (v->vm_start < addr) {
      Piece lo = whole;
      lo.end = addr;
      final.push_back(lo);
    }
    Piece mid = whole;
    mid.start = std::max(v->vm_start, addr);
    mid.end = std::min(v->vm_end, end);
    mid.pgoff = v->pgoff_of(mid.start);
    mid.flags = flags;
    final.push_back(mid);
    if (v->vm_end > end) {
      Piece hi = whole;
      hi.start = end;
      hi.pgoff = v->pgoff_of(end);
      final.push_back(hi);
    }
  }
  if (VmArea* next = vma_lookup(end); next && next->vm_start == end) {
    window.push_back(next);
    final.push_back(piece_of(next));
  }
  merge_pieces(final);
  auto r = rewrite(window, std::move(final), 0);
  if (!r) return err(r.error());
  return ok();
}

Result<void> Mm::vma_expand(VmArea* vma, uint64_t start, uint64_t end) {
  mmap_assert_write_locked();
  if (((start | end) & (kVmPageSize - 1)) || start > vma->vm_start || end < vma->vm_end ||
      start < base_ || end > base_ + size_) {
    return err(-EINVAL);
  }
  const uint64_t below = (vma->vm_start - start) >> kVmPageShift;
  if (below > vma->vm_pgoff) return err(-EINVAL);
  if (find_vma(start) != vma) return err(-EINVAL);  // something lies in [start, vm_start)
  std::vector<VmArea*> window{vma};
  std::vector<VmArea*> above = overlapping(vma->vm_end, end);
  if (!above.empty()) {
    // Only "remove next": exactly the next VMA, ending at end, compatible, without ->close.
    VmArea* next = above.front();
    // (Free space may lie between: vma_merge_new_range fills a gap and swallows next.)
    const bool ok_next =
        above.size() == 1 && next->vm_end == end && next->vm_file == vma->vm_file &&
        next->vm_ops == vma->vm_ops && next->vm_flags == vma->vm_flags &&
        next->vm_pgoff == vma->vm_pgoff + ((next->vm_start - vma->vm_start) >> kVmPageShift) &&
        !(next->vm_ops && next->vm_ops->has_close());
    if (!ok_next) return err(-EINVAL);
    window.push_back(next);
  }
  Piece p = piece_of(vma);
  p.start = start;
  p.end = end;
  p.pgoff = vma->vm_pgoff - below;
  auto r = rewrite(window, {p}, start);
  if (!r) return err(r.error());
  return ok();
}

Result<void> Mm::vma_shrink(VmArea* vma, uint64_t start, uint64_t end) {
  mmap_assert_write_locked();
  if (((start | end) & (kVmPageSize - 1)) || start >= end || start < vma->vm_start ||
      end > vma->vm_end || (start != vma->vm_start && end != vma->vm_end)) {
    return err(-EINVAL);
  }
  Piece p = piece_of(vma);
  p.pgoff = vma->pgoff_of(start);
  p.start = start;
  p.end = end;
  auto r = rewrite({vma}, {p}, start);
  if (!r) return err(r.error());
  return ok();
}

Result<void> Mm::mm_take_all_locks() {
  mmap_assert_write_locked();
  for (auto& [s, v] : tree_) {
    // As the seed's mm_take_all_locks: stop at a signal, or when a killable lock says so.
    if (locking::current().fatal_signal_pending()) return err(-EINTR);
    if (int rc = vma_start_write_killable(v); rc != 0) return err(rc);
  }
  return ok();
}

}  // namespace lockfs::core

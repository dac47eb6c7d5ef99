// AddressSpace, the read side and bookkeeping: construction and eviction, filemap_read,
// SEEK_DATA / SEEK_HOLE over the pages present, counters. PageBudget lives here too.
#include "core/pagecache/address_space.h"

#include <algorithm>
#include <cstring>

#include "core/pagecache/mapping_impl.h"
#include "locking/check.h"

namespace lockfs::core {

namespace {
const locking::LockClass& invalidate_lock_class() {
  static const locking::LockClass cls("invalidate_lock", locking::LockKind::kRwSem);
  return cls;
}
}  // namespace

Result<void> PageBudget::charge(uint64_t n) {
  uint64_t cur = used_.load(std::memory_order_relaxed);
  do {
    if (n > max_pages_ || cur > max_pages_ - n) return err(-ENOSPC);
  } while (!used_.compare_exchange_weak(cur, cur + n, std::memory_order_relaxed));
  return ok();
}

void PageBudget::uncharge(uint64_t n) {
  const uint64_t prev = used_.fetch_sub(n, std::memory_order_relaxed);
  LOCKFS_CHECK(prev >= n, "PageBudget: uncharge below zero");
}

AddressSpace::AddressSpace(Mm& mm, PageBudget& budget, locking::RwSemaphore& host_rwsem,
                           uint64_t ino)
    : invalidate_lock(invalidate_lock_class(), ino),
      mm_(mm),
      budget_(budget),
      host_rwsem_(host_rwsem),
      ino_(ino) {}

AddressSpace::~AddressSpace() {
  // evict: nobody else can reach the mapping any more. User mappings must be gone (they hold
  // the file in the kernel; here that is the caller's duty).
  Impl* m = impl_if();
  if (!m) return;  // never held a page nor a mapping
  LOCKFS_CHECK(!mm_.is_mapped(m->obj), "AddressSpace destroyed while mapped");
  m->remove_range(0, UINT64_MAX);
  delete m;  // closes the memfd
}

// Several threads may need the inside at once (writes under i_rwsem, faults under
// mmap_lock, vm_object): each builds one, the first to publish wins, the others drop theirs.
// Building one takes no lock and cannot fail short of std::bad_alloc.
AddressSpace::Impl& AddressSpace::impl() {
  if (Impl* m = impl_if()) return *m;
  Impl* fresh = new Impl(*this);
  Impl* expected = nullptr;
  if (impl_.compare_exchange_strong(expected, fresh, std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
    return *fresh;
  }
  delete fresh;
  return *expected;
}

uint64_t AddressSpace::nr_pages() const {
  const Impl* m = impl_if();
  return m ? m->nr.load(std::memory_order_relaxed) : 0;
}

void AddressSpace::i_size_write(uint64_t size) {
  fault_size_.store(size, std::memory_order_release);
}

// A user mapping maps the memfd itself; if it cannot be created, the mapping's own mmap of
// fd -1 fails and the error reaches the caller.
VmObject& AddressSpace::vm_object() {
  Impl& m = impl();
  (void)m.ensure_memfd();
  return m.obj;
}

AddressSpace::AopsStats AddressSpace::aops_stats() const {
  const Impl* m = impl_if();
  if (!m) return {};
  auto& s = m->stats;
  return {s.read_folio.load(),    s.write_begin.load(),      s.write_end.load(),
          s.dirty_folio.load(),   s.invalidate_folio.load(), s.release_folio.load(),
          s.launder_folio.load(), s.writepages.load(),       s.fault.load(),
          s.page_mkwrite.load()};
}

// LOCKFS_NO_THREAD_SAFETY_ANALYSIS: the index is read under i_pages of a const Impl.
AddressSpace::IndexCheck AddressSpace::check_index() const LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  IndexCheck c;
  Impl* m = impl_if();
  if (!m) return c;
  locking::SpinGuard g(m->i_pages);
  m->pages.for_each(0, UINT64_MAX, [&](uint64_t index, Folio* f) {
    ++c.folios;
    if (f->flags.locked()) ++c.locked;
    if (f->index() != index || !f->mapped.load(std::memory_order_relaxed)) ++c.misplaced;
    return true;
  });
  c.nr = m->nr.load(std::memory_order_relaxed);
  return c;
}

// filemap_read. invalidate_lock is held shared for the whole copy: a punch or truncate
// (exclusive) cannot free a page under us, so no stale data and no access to an unmapped
// window. LOCKFS_NO_THREAD_SAFETY_ANALYSIS: the killable folio lock is taken and released
// inside one iteration, in branches the analysis cannot pair.
Result<size_t> AddressSpace::read(uint64_t pos, std::span<char> out,
                                  uint64_t i_size) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  if (pos >= i_size || out.empty()) return size_t{0};
  const size_t len = static_cast<size_t>(std::min<uint64_t>(out.size(), i_size - pos));
  if (int rc = invalidate_lock.down_read_killable(); rc != 0) return err(rc);
  // The inside appears with the first page (and is never freed before us): none, all holes.
  Impl* m = impl_if();
  size_t done = 0;
  int error = 0;
  // Folios are looked up kReadBatch at a time, one i_pages section per batch.
  FolioRef batch[Impl::kReadBatch];
  uint64_t batch_first = 0;
  size_t batch_len = 0;
  while (done < len) {
    const uint64_t at = pos + done;
    const uint64_t index = at / kPageSize;
    const size_t off = at % kPageSize;
    const size_t n = std::min<size_t>(len - done, kPageSize - off);
    if (m && index >= batch_first + batch_len) {
      for (size_t i = 0; i < batch_len; ++i) batch[i] = nullptr;
      batch_first = index;
      batch_len = std::min<uint64_t>(Impl::kReadBatch, (pos + len - 1) / kPageSize - index + 1);
      m->find_batch(batch_first, batch_len, batch);
    }
    FolioRef f = m ? std::move(batch[index - batch_first]) : nullptr;
    if (!f) {
      std::memset(out.data() + done, 0, n);  // a hole
    } else {
      if (!f->flags.uptodate()) {
        if (int rc = f->flags.lock_killable(); rc != 0) {
          error = rc;
          break;
        }
        if (!f->flags.uptodate()) {
          m->read_folio(*f);  // unlocks
        } else {
          f->flags.unlock();
        }
      }
      std::memcpy(out.data() + done, f->data + off, n);
    }
    done += n;
  }
  invalidate_lock.up_read();
  if (done == 0 && error != 0) return err(error);
  return done;
}

Result<uint64_t> AddressSpace::seek_data(uint64_t off, uint64_t i_size) const {
  if (off >= i_size) return err(-ENXIO);
  Impl* m = impl_if();
  if (!m) return err(-ENXIO);
  uint64_t index;
  {
    locking::SpinGuard g(m->i_pages);
    Folio* f = m->pages.find_next(off / kPageSize, UINT64_MAX);
    if (!f) return err(-ENXIO);
    index = f->index();
  }
  const uint64_t at = std::max(off, index * kPageSize);
  if (at >= i_size) return err(-ENXIO);
  return at;
}

Result<uint64_t> AddressSpace::seek_hole(uint64_t off, uint64_t i_size) const {
  if (off >= i_size) return err(-ENXIO);
  Impl* m = impl_if();
  if (!m) return off;
  uint64_t index;
  {
    locking::SpinGuard g(m->i_pages);
    index = m->pages.next_hole(off / kPageSize);
  }
  return std::min(i_size, std::max(off, index * kPageSize));
}

Result<void> AddressSpace::writepages() {
  Impl* m = impl_if();
  if (!m) return ok();  // no folio: nothing to write back
  return m->writepages();
}

}  // namespace lockfs::core

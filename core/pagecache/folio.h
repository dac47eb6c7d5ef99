// Folio: one page of a file's page cache. Its memory is a page of the file's memfd seen
// through a storage window of init_mm; its flags word carries PG_locked/uptodate/dirty/
// writeback (locking/folio_flags.h).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "locking/folio_flags.h"

namespace lockfs::core {

const locking::LockClass& folio_lock_class();  // "folio_lock"

// Thread safety: the index and data are constant; `mapped` is cleared under the folio lock
// when the folio leaves the cache (truncate, punch), so a holder of the lock that finds it
// still set may use data. Lifetime: an intrusive reference count (folio_get / folio_put);
// the cache's index holds one reference while the folio is attached, and a lookup takes its
// reference under i_pages, before the index can drop its own.
// 48 bytes: the index lives in the flags' lock map (the tracer's aux), not a second time.
struct Folio {
  Folio(uint64_t ino, uint64_t idx, char* mem) : flags(folio_lock_class(), ino, idx), data(mem) {}
  Folio(const Folio&) = delete;
  Folio& operator=(const Folio&) = delete;
  // From a slab cache of folios (folio.cc): 48 bytes a folio, not malloc's 64.
  static void* operator new(size_t size);
  static void operator delete(void* p) noexcept;

  uint64_t index() const { return flags.map().aux; }
  void get() { refcount.fetch_add(1, std::memory_order_relaxed); }
  void put() {
    if (refcount.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  locking::FolioFlags flags;
  char* const data;                     // kPageSize bytes
  std::atomic<uint32_t> refcount{1};    // the creator's reference
  std::atomic<bool> mapped{true};       // folio->mapping != NULL
};

// A counted reference to a folio (what filemap_get_folio returns). Thread safety: as a
// shared_ptr: one FolioRef per thread, the folio itself is shared.
class FolioRef {
 public:
  FolioRef() = default;
  FolioRef(std::nullptr_t) {}  // NOLINT: as a null pointer
  // Takes over a reference the caller already holds.
  static FolioRef adopt(Folio* f) {
    FolioRef r;
    r.f_ = f;
    return r;
  }
  FolioRef(const FolioRef& o) : f_(o.f_) {
    if (f_) f_->get();
  }
  FolioRef(FolioRef&& o) noexcept : f_(std::exchange(o.f_, nullptr)) {}
  FolioRef& operator=(FolioRef o) noexcept {
    std::swap(f_, o.f_);
    return *this;
  }
  ~FolioRef() {
    if (f_) f_->put();
  }
  // Hands the reference to the caller (to be adopted again later).
  Folio* release() { return std::exchange(f_, nullptr); }

  Folio* get() const { return f_; }
  Folio* operator->() const { return f_; }
  Folio& operator*() const { return *f_; }
  explicit operator bool() const { return f_ != nullptr; }
  bool operator==(std::nullptr_t) const { return f_ == nullptr; }

 private:
  Folio* f_ = nullptr;
};

}  // namespace lockfs::core

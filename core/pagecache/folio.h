// Folio: one page of a file's page cache. Its memory is a page of the file's memfd seen
// through a storage window of init_mm; its flags word carries PG_locked/uptodate/dirty/
// writeback (locking/folio_flags.h).
#pragma once

#include <atomic>
#include <cstdint>

#include "locking/folio_flags.h"

namespace lockfs::core {

const locking::LockClass& folio_lock_class();  // "folio_lock"

// Thread safety: index and data are constant; `mapped` is cleared under the folio lock when
// the folio leaves the cache (truncate, punch), so a holder of the lock that finds it still
// set may use data. Lifetime: shared_ptr; the cache holds one reference while attached.
struct Folio {
  Folio(uint64_t ino, uint64_t idx, char* mem)
      : flags(folio_lock_class(), ino, idx), index(idx), data(mem) {}
  Folio(const Folio&) = delete;
  Folio& operator=(const Folio&) = delete;

  locking::FolioFlags flags;
  const uint64_t index;
  char* const data;                // kPageSize bytes
  std::atomic<bool> mapped{true};  // folio->mapping != NULL
};

}  // namespace lockfs::core

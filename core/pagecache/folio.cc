// The folio slab cache (kmem_cache for struct folio): folios are carved from page-sized
// slabs and recycled through a free list, so a cached page costs sizeof(Folio) (48 bytes)
// rather than malloc's 64-byte chunk (issue #7: daemon memory per data byte).
#include "core/pagecache/folio.h"

#include <mutex>
#include <new>

#include "locking/check.h"

#if defined(__SANITIZE_ADDRESS__)
#define LOCKFS_FOLIO_SLAB 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LOCKFS_FOLIO_SLAB 0
#endif
#endif
#ifndef LOCKFS_FOLIO_SLAB
#define LOCKFS_FOLIO_SLAB 1
#endif

namespace lockfs::core {

#if LOCKFS_FOLIO_SLAB
namespace {
// A slab is one 4 KiB malloc chunk. Slabs are never given back: freed folios wait on the
// free list for the next ones, so the cache's size is the peak number of folios (at most
// the budget's pages) times 48 bytes. TODO: release wholly free slabs if that peak matters.
constexpr size_t kSlabBytes = 4096 - 16;
constexpr size_t kPerSlab = kSlabBytes / sizeof(Folio);

struct FreeSlot {
  FreeSlot* next;
};
static_assert(sizeof(Folio) >= sizeof(FreeSlot) && alignof(Folio) >= alignof(FreeSlot));

// The slab's own lock, an allocator detail below every lock class (as the kernel's slab
// locks are below lockdep's page cache classes here): nothing is taken or waited for under
// it, so it is a plain mutex and not a traced class.
std::mutex g_slab_mu;
FreeSlot* g_free = nullptr;
}  // namespace

void* Folio::operator new(size_t size) {
  LOCKFS_CHECK(size == sizeof(Folio), "Folio slab: unexpected size");
  std::lock_guard<std::mutex> g(g_slab_mu);
  if (!g_free) {
    char* slab = static_cast<char*>(::operator new(kPerSlab * sizeof(Folio)));
    for (size_t i = kPerSlab; i-- > 0;) {
      auto* slot = reinterpret_cast<FreeSlot*>(slab + i * sizeof(Folio));
      slot->next = g_free;
      g_free = slot;
    }
  }
  FreeSlot* slot = g_free;
  g_free = slot->next;
  return slot;
}

void Folio::operator delete(void* p) noexcept {
  if (!p) return;
  std::lock_guard<std::mutex> g(g_slab_mu);
  auto* slot = static_cast<FreeSlot*>(p);
  slot->next = g_free;
  g_free = slot;
}
#else
// Sanitizer builds: plain allocations, so a use after the last folio_put is reported.
void* Folio::operator new(size_t size) { return ::operator new(size); }
void Folio::operator delete(void* p) noexcept { ::operator delete(p); }
#endif

}  // namespace lockfs::core

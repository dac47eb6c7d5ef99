// NameHash: the hash of a directory's name table (DirEntries::by_name), keyed per daemon.
//
// Whoever may create names in a shared directory chooses the keys of its table. With a
// public, unkeyed hash they can compute offline a set of names that all land in one bucket,
// and every lookup in that directory then walks all of them (the dcache salts its name hash
// for the same reason). SipHash-1-3 -- the keyed hash Rust's and Python's tables use against
// exactly this -- with a key drawn from getrandom() when the daemon starts makes such a set as
// hard to find as the key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace lockfs::core {

struct SipKey {
  uint64_t k0, k1;
};

// SipHash-c-d of `data` under `key` (Aumasson and Bernstein; the reference's byte order).
template <int C, int D>
uint64_t siphash(SipKey key, std::string_view data) noexcept;

extern template uint64_t siphash<1, 3>(SipKey, std::string_view) noexcept;
extern template uint64_t siphash<2, 4>(SipKey, std::string_view) noexcept;

// The daemon's key: random, drawn once, the same for every directory.
SipKey name_hash_key() noexcept;

struct NameHash {
  // Not noexcept, on purpose: libstdc++ then keeps each key's hash in its node (its
  // __cache_default), so erasing by iterator and growing the table hash nothing again,
  // and a lookup compares names only when the hashes match.
  size_t operator()(std::string_view name) const {
    return static_cast<size_t>(siphash<1, 3>(name_hash_key(), name));
  }
};

}  // namespace lockfs::core

// SipHash, after the reference implementation (github.com/veorq/SipHash), and the daemon's key.
#include "core/name_hash.h"

#include <sys/random.h>

#include <bit>
#include <chrono>
#include <cstring>
#include <random>

namespace lockfs::core {
namespace {

struct SipState {
  uint64_t v0, v1, v2, v3;

  void round() {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }

  template <int C>
  void compress(uint64_t m) {
    v3 ^= m;
    for (int i = 0; i < C; ++i) round();
    v0 ^= m;
  }
};

// The message is read as little-endian words, as the reference does on every host.
uint64_t load_le64(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof w);
  if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
  return w;
}

SipKey draw_key() {
  SipKey key{};
  if (getrandom(&key, sizeof key, 0) == static_cast<ssize_t>(sizeof key)) return key;
  // No getrandom (a seccomp filter, an old kernel): the C++ library's own source, and failing
  // that the clock and an address -- weaker, but a table keyed that way still works.
  try {
    std::random_device rd;
    key.k0 = (uint64_t{rd()} << 32) | rd();
    key.k1 = (uint64_t{rd()} << 32) | rd();
  } catch (const std::exception&) {
    key.k0 = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    key.k1 = reinterpret_cast<uintptr_t>(&key) ^ (key.k0 * 0x9e3779b97f4a7c15ull);
  }
  return key;
}

}  // namespace

template <int C, int D>
uint64_t siphash(SipKey key, std::string_view data) noexcept {
  SipState s{0x736f6d6570736575ull ^ key.k0, 0x646f72616e646f6dull ^ key.k1,
             0x6c7967656e657261ull ^ key.k0, 0x7465646279746573ull ^ key.k1};
  const char* p = data.data();
  const size_t n = data.size();
  const size_t whole = n & ~size_t{7};
  for (size_t i = 0; i < whole; i += 8) s.compress<C>(load_le64(p + i));
  // The last word: the remaining bytes, and the length's low byte on top.
  uint64_t last = static_cast<uint64_t>(n) << 56;
  for (size_t i = 0; i < (n & 7); ++i) {
    last |= uint64_t{static_cast<unsigned char>(p[whole + i])} << (8 * i);
  }
  s.compress<C>(last);
  s.v2 ^= 0xff;
  for (int i = 0; i < D; ++i) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

template uint64_t siphash<1, 3>(SipKey, std::string_view) noexcept;
template uint64_t siphash<2, 4>(SipKey, std::string_view) noexcept;

SipKey name_hash_key() noexcept {
  static const SipKey key = draw_key();
  return key;
}

}  // namespace lockfs::core

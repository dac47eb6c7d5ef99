// NameHash: SipHash against the reference's published outputs, and the daemon's key.
#include "core/name_hash.h"

#include <gtest/gtest.h>

#include <string>

namespace lockfs::testing {
namespace {

using core::SipKey;

// (Named, so that the template's comma stays out of gtest's macros.)
uint64_t sip24(SipKey k, std::string_view s) { return core::siphash<2, 4>(k, s); }
uint64_t sip13(SipKey k, std::string_view s) { return core::siphash<1, 3>(k, s); }

// The reference's test key 00 01 .. 0f, read as little-endian words.
constexpr SipKey kRefKey{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};

std::string counting_bytes(size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(i));
  return s;
}

// SipHash-2-4 shares every step with the 1-3 variant the tables use; only the round counts
// differ. The reference publishes 2-4's outputs (vectors.h; the paper's worked example is
// the 15-byte one), so they check the rounds, the word order and the padding of a partial
// last word.
TEST(NameHashTest, MatchesTheReferenceOutputs) {
  EXPECT_EQ(sip24(kRefKey, ""), 0x726fdb47dd0e0e31ull);
  EXPECT_EQ(sip24(kRefKey, counting_bytes(15)), 0xa129ca6149be45e5ull);
}

TEST(NameHashTest, DependsOnTheKeyAndEveryByte) {
  const std::string name = "a-name-in-a-shared-directory";
  const uint64_t h = sip13(kRefKey, name);
  EXPECT_NE(h, sip13(SipKey{kRefKey.k0 ^ 1, kRefKey.k1}, name));
  EXPECT_NE(h, sip13(SipKey{kRefKey.k0, kRefKey.k1 ^ (uint64_t{1} << 63)}, name));
  for (size_t i = 0; i < name.size(); ++i) {
    std::string other = name;
    other[i] ^= 0x01;
    EXPECT_NE(h, sip13(kRefKey, other)) << i;
  }
  // The length is hashed too: a trailing NUL byte is not the same name.
  EXPECT_NE(sip13(kRefKey, "abc"), sip13(kRefKey, std::string("abc\0", 4)));
}

// The tables' key is drawn once per daemon: a name hashes the same for every directory and
// for the life of the process, and it is not the all-zero key.
TEST(NameHashTest, TheDaemonKeyIsRandomAndStable) {
  const SipKey k = core::name_hash_key();
  EXPECT_FALSE(k.k0 == 0 && k.k1 == 0);
  EXPECT_EQ(core::name_hash_key().k0, k.k0);
  EXPECT_EQ(core::name_hash_key().k1, k.k1);
  EXPECT_EQ(core::NameHash{}("f"), core::NameHash{}("f"));
  EXPECT_EQ(core::NameHash{}("f"), static_cast<size_t>(sip13(k, "f")));
}

}  // namespace
}  // namespace lockfs::testing

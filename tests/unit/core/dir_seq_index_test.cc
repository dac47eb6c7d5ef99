// DirSeqIndex against a std::map model: appends, removals with compactions in between, and
// walks from every cursor.
#include "core/dir_seq_index.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

namespace lockfs::core {
namespace {

Dentry* fake(uint64_t n) { return reinterpret_cast<Dentry*>(n * 16); }

std::vector<uint64_t> walk(const DirSeqIndex& idx, uint64_t from, size_t limit = SIZE_MAX) {
  std::vector<uint64_t> out;
  idx.for_each_from(from, [&](uint64_t seq, Dentry* d) {
    EXPECT_EQ(d, fake(seq));
    out.push_back(seq);
    return out.size() < limit;
  });
  return out;
}

TEST(DirSeqIndex, MatchesAMapThroughAppendsRemovalsAndCompactions) {
  DirSeqIndex idx;
  std::map<uint64_t, Dentry*> model;
  std::mt19937_64 rng(7);
  uint64_t next = 3;
  for (int step = 0; step < 20000; ++step) {
    if (model.empty() || rng() % 3 != 0) {
      idx.append(next, fake(next));
      model[next] = fake(next);
      ++next;
    } else {
      auto it = model.lower_bound(3 + rng() % next);
      if (it == model.end()) it = model.begin();
      ASSERT_TRUE(idx.remove(it->first));
      ASSERT_FALSE(idx.remove(it->first)) << "removed twice";
      model.erase(it);
    }
    ASSERT_EQ(idx.size(), model.size());
    if (step % 997 == 0) {
      const uint64_t from = rng() % (next + 2);
      std::vector<uint64_t> want;
      for (auto it = model.lower_bound(from); it != model.end(); ++it) want.push_back(it->first);
      EXPECT_EQ(walk(idx, from), want) << "from " << from;
    }
  }
  for (const auto& [seq, d] : model) EXPECT_EQ(idx.find(seq), d);
  EXPECT_EQ(idx.find(next), nullptr);
}

TEST(DirSeqIndex, AWalkStopsWhenAskedAndResumesFromItsCursor) {
  DirSeqIndex idx;
  for (uint64_t s = 3; s < 13; ++s) idx.append(s, fake(s));
  ASSERT_TRUE(idx.remove(5));
  EXPECT_EQ(walk(idx, 0, 3), (std::vector<uint64_t>{3, 4, 6}));
  EXPECT_EQ(walk(idx, 7, 2), (std::vector<uint64_t>{7, 8}));
  EXPECT_EQ(walk(idx, 5), (std::vector<uint64_t>{6, 7, 8, 9, 10, 11, 12}));
  EXPECT_TRUE(walk(idx, 13).empty());
}

// Rename reserves one slot before each move into a directory. Reserving exactly one more
// each time would reallocate (and copy the whole array) on every rename; it grows
// geometrically instead, and never reallocates when there is room.
TEST(DirSeqIndex, ReservingOneSlotAtATimeGrowsGeometrically) {
  DirSeqIndex idx;
  int reallocations = 0;
  for (uint64_t seq = 3; seq < 100003; ++seq) {
    const size_t spare = idx.spare();
    idx.reserve(1);
    if (spare >= 1) {
      EXPECT_EQ(idx.spare(), spare) << "reallocated with room to spare";
    } else {
      ++reallocations;
    }
    ASSERT_GE(idx.spare(), 1u);
    idx.append(seq, fake(seq));
  }
  EXPECT_LE(reallocations, 20);
}

}  // namespace
}  // namespace lockfs::core

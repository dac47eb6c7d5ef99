// FolioIndex: the radix tree behind i_pages, checked against a std::map model (random
// inserts and erases at indexes spread over every tree height), plus the walks.
#include "core/pagecache/folio_index.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <vector>

#include "core/pagecache/address_space.h"

namespace lockfs::core {
namespace {

class FolioIndexTest : public ::testing::Test {
 protected:
  Folio* make(uint64_t index) {
    folios_.push_back(std::make_unique<Folio>(1, index, nullptr));
    return folios_.back().get();
  }
  std::vector<std::unique_ptr<Folio>> folios_;
};

TEST_F(FolioIndexTest, EmptyIndex) {
  FolioIndex x;
  EXPECT_TRUE(x.empty());
  EXPECT_EQ(x.load(0), nullptr);
  EXPECT_EQ(x.load(uint64_t{1} << 39), nullptr);
  EXPECT_EQ(x.erase(5), nullptr);
  EXPECT_EQ(x.find_next(0, UINT64_MAX), nullptr);
  EXPECT_EQ(x.next_hole(7), 7u);
}

TEST_F(FolioIndexTest, InsertIfAbsentKeepsTheFirst) {
  FolioIndex x;
  Folio* a = make(100);
  Folio* b = make(100);
  EXPECT_EQ(x.insert_if_absent(100, a), nullptr);
  EXPECT_EQ(x.insert_if_absent(100, b), a);
  EXPECT_EQ(x.load(100), a);
  EXPECT_EQ(x.erase(100), a);
  EXPECT_TRUE(x.empty());
}

TEST_F(FolioIndexTest, GrowsAndShrinksAcrossHeights) {
  FolioIndex x;
  const uint64_t far = (uint64_t{1} << 40) - 1;  // kMaxFilePages - 1
  Folio* lo = make(3);
  Folio* hi = make(far);
  ASSERT_EQ(x.insert_if_absent(3, lo), nullptr);
  ASSERT_EQ(x.insert_if_absent(far, hi), nullptr);
  EXPECT_EQ(x.load(3), lo);
  EXPECT_EQ(x.load(far), hi);
  EXPECT_EQ(x.find_next(4, UINT64_MAX), hi);
  EXPECT_EQ(x.find_next(4, far), nullptr);
  EXPECT_EQ(x.erase(far), hi);
  EXPECT_EQ(x.load(3), lo);
  EXPECT_EQ(x.load(far), nullptr);
  EXPECT_EQ(x.erase(3), lo);
  EXPECT_TRUE(x.empty());
}

TEST_F(FolioIndexTest, NextHoleAndForEachSkipEmptySubtrees) {
  FolioIndex x;
  for (uint64_t i = 60; i < 200; ++i) ASSERT_EQ(x.insert_if_absent(i, make(i)), nullptr);
  ASSERT_EQ(x.insert_if_absent(1u << 20, make(1u << 20)), nullptr);
  EXPECT_EQ(x.next_hole(0), 0u);
  EXPECT_EQ(x.next_hole(60), 200u);
  EXPECT_EQ(x.next_hole(130), 200u);
  EXPECT_EQ(x.next_hole(1u << 20), (1u << 20) + 1);
  std::vector<uint64_t> seen;
  x.for_each(190, UINT64_MAX, [&](uint64_t i, Folio* f) {
    EXPECT_EQ(f->index(), i);
    seen.push_back(i);
    return true;
  });
  EXPECT_EQ(seen, (std::vector<uint64_t>{190, 191, 192, 193, 194, 195, 196, 197, 198, 199,
                                         1u << 20}));
}

TEST_F(FolioIndexTest, MatchesAMapModel) {
  FolioIndex x;
  std::map<uint64_t, Folio*> model;
  std::mt19937_64 rng(7);
  for (int step = 0; step < 20000; ++step) {
    const int bits = static_cast<int>(rng() % 40) + 1;
    const uint64_t index = rng() & ((uint64_t{1} << bits) - 1) & ~uint64_t{0} >> 24;
    if (rng() % 3 == 0) {
      auto it = model.find(index);
      Folio* want = it == model.end() ? nullptr : it->second;
      ASSERT_EQ(x.erase(index), want);
      if (want) model.erase(it);
    } else {
      Folio* f = make(index);
      auto [it, inserted] = model.emplace(index, f);
      ASSERT_EQ(x.insert_if_absent(index, f), inserted ? nullptr : it->second);
    }
    if (step % 500 == 0) {
      auto it = model.begin();
      x.for_each(0, UINT64_MAX, [&](uint64_t i, Folio* f) {
        EXPECT_TRUE(it != model.end() && it->first == i && it->second == f);
        ++it;
        return true;
      });
      EXPECT_TRUE(it == model.end());
      const uint64_t from = rng() & ((uint64_t{1} << 40) - 1);
      auto next = model.lower_bound(from);
      EXPECT_EQ(x.find_next(from, UINT64_MAX), next == model.end() ? nullptr : next->second);
    }
  }
  for (auto& [i, f] : model) ASSERT_EQ(x.erase(i), f);
  EXPECT_TRUE(x.empty());
}

}  // namespace
}  // namespace lockfs::core

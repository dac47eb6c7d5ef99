// The fixture the page-cache tests share: one file's page cache (AddressSpace) over a private
// mm and page budget, the file's i_rwsem, a strict validator, and optionally a shared user
// mapping of the file's first `pages` pages, unmapped before the page cache goes away.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "core/mm/mm.h"
#include "core/pagecache/address_space.h"
#include "locking/rwsem.h"
#include "tests/unit/mm/mm_test_util.h"

namespace lockfs::core::test {

class FileFixture : public ::testing::Test {
 protected:
  // mm and budget get `pages` * `headroom` pages; `ino` names the file in traces.
  FileFixture(uint64_t pages, uint64_t headroom, uint64_t ino)
      : pages_(pages),
        mm_(pages * headroom * kPageSize),
        budget_(pages * headroom),
        i_rwsem_(host_class(), ino),
        as_(std::make_unique<AddressSpace>(mm_, budget_, i_rwsem_, ino)) {}
  ~FileFixture() override {
    if (map_) {
      EXPECT_TRUE(mm_.munmap(map_, pages_ * kPageSize).ok());
    }
    as_.reset();
  }
  void map_all(uint32_t prot = kVmRead | kVmWrite) {
    auto a = mm_.mmap_file(as_->vm_object(), 0, pages_ * kPageSize, prot);
    ASSERT_TRUE(a.ok()) << a.error();
    map_ = *a;
  }

  StrictValidator strict_;
  const uint64_t pages_;
  Mm mm_;
  PageBudget budget_;
  locking::RwSemaphore i_rwsem_;
  std::unique_ptr<AddressSpace> as_;
  uint64_t map_ = 0;  // the user mapping, if map_all() made one
};

}  // namespace lockfs::core::test

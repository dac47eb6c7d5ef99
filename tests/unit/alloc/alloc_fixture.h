// The allocation-failure fixture the alloc_test files share: an operator new that fails the
// N-th allocation of the thread that arms it (defined in alloc_failure_test.cc) and a loop
// that runs an operation with each of its allocations failing in turn.
#pragma once

#include <gtest/gtest.h>

#include <cerrno>
#include <functional>
#include <new>
#include <string>

#include "core/fsck.h"
#include "core/inode.h"
#include "core/pagecache/address_space.h"
#include "core/super.h"
#include "core/vfs.h"
#include "locking/validator.h"
#include "tests/support/core_fixture.h"

namespace lockfs::testing {

// Allocations the arming thread may still make before one fails; -1: none fails.
extern thread_local long t_allocs_left;

class AllocFailureTest : public CoreTest {
 protected:
  // Runs `op` with its k-th allocation failing, for k = 0, 1, ... until it runs through
  // without a failure. `setup` makes the starting state before each try and `undo` takes a
  // successful op back (or checks its result, when `setup` rebuilds the state anyway); both
  // run with allocations working. After every failed try: no lock held, the namespace
  // checks out, the page budget matches the pages present, and `after_failure` (if given)
  // holds.
  // Returns how many allocations the op made (each failed once): a failure the op absorbs
  // (and succeeds all the same) counts, and is followed by `undo`.
  int each_allocation(const std::string& what, const std::function<void()>& setup,
                      const std::function<void()>& op, const std::function<void()>& undo,
                      const std::function<void()>& after_failure = nullptr) {
    if (::testing::Test::HasFailure()) return -1;  // a lock left held would hang what follows
    // Once through first, so that the validator has seen the op's lock chains: its own
    // allocations (a new lock-graph edge) are not what this test is about.
    setup();
    op();
    undo();
    int failures = 0;
    for (long k = 0; k < 10000; ++k) {
      setup();
      bool threw = false;
      t_allocs_left = k;
      try {
        op();
      } catch (const std::bad_alloc&) {
        threw = true;
      }
      // The k-th allocation came (and failed): the count ran down to -1. Some ops take a
      // failure in their stride and succeed all the same (memory release must finish), so
      // the loop ends only when the op made fewer than k + 1 allocations.
      const bool injected = t_allocs_left == -1;
      t_allocs_left = -1;
      // The validator kept going (its own allocations were warmed up), so its record of held
      // locks is what the next check reads.
      if (locking::validate_mode() != locking::ValidateMode::kStrict) {
        ADD_FAILURE() << what << ": the validator turned itself off";
        return failures;
      }
      EXPECT_TRUE(locking::held_locks().empty())
          << what << ", allocation " << k << " failing: " << locking::format_held_locks(
                                                                 locking::held_locks());
      const core::FsckReport rep = core::check_namespace(vfs->sb());
      EXPECT_TRUE(rep.errors.empty())
          << what << ", allocation " << k << " failing: " << rep.errors.front();
      // Every page charged to the budget is a page in some page cache: none charged for
      // a folio that never came, none left uncounted.
      EXPECT_EQ(vfs->sb().s_budget.used(), pages_present())
          << what << ", allocation " << k << " failing: the page budget is off";
      // The page cache indexes hold what they count, none of their folios left locked.
      check_indexes(what + ", allocation " + std::to_string(k) + " failing");
      if (!injected) {
        undo();
        return failures;
      }
      ++failures;
      if (!threw) {
        undo();  // it succeeded all the same
      } else if (after_failure) {
        after_failure();
      }
      if (::testing::Test::HasFailure()) return failures;  // one report, not thousands
    }
    ADD_FAILURE() << what << " still failing after 10000 allocations";
    return failures;
  }

  // Every page cache's index (quiescent: no op runs): as many folios as its count says,
  // each at its own index and unlocked -- a folio a failed operation left locked (never
  // published, or never unlocked) would hang the next one to look at it.
  void check_indexes(const std::string& what) {
    for (core::Ino ino : vfs->sb().all_inos()) {
      const core::Inode* inode = vfs->sb().find_unlocked_for_check(ino);
      if (!inode || !inode->i_mapping) continue;
      const core::AddressSpace::IndexCheck c = inode->i_mapping->check_index();
      EXPECT_EQ(c.folios, c.nr) << what << ": inode " << ino << "'s index and count disagree";
      EXPECT_EQ(c.locked, 0u) << what << ": inode " << ino << " has folios left locked";
      EXPECT_EQ(c.misplaced, 0u) << what << ": inode " << ino << " has folios misplaced";
    }
  }
  // Pages present in every page cache of the superblock (quiescent: no op runs).
  uint64_t pages_present() {
    uint64_t n = 0;
    for (core::Ino ino : vfs->sb().all_inos()) {
      const core::Inode* inode = vfs->sb().find_unlocked_for_check(ino);
      if (inode && inode->i_mapping) n += inode->i_mapping->nr_pages();
    }
    return n;
  }
  bool exists(core::Ino dir, const std::string& name) {
    auto e = vfs->lookup(dir, name);
    if (!e.ok()) return false;
    vfs->forget(e->ino, 1);
    return true;
  }
  // Makes `name` a file in `dir` unless it is one already.
  void ensure_file(core::Ino dir, const std::string& name) {
    if (!exists(dir, name)) mkfile(dir, name);
  }
  void ensure_gone(core::Ino dir, const std::string& name) {
    if (exists(dir, name)) {
      ASSERT_TRUE(vfs->unlink(dir, name).ok());
    }
  }
  uint64_t lookups(core::Ino ino) { return vfs->sb().counts(ino).second; }
  // An op may answer a failed allocation with ENOMEM itself (rename's reservation does):
  // that is a failure too, checked the same way.
  template <typename T>
  static void ok_or_enomem(const Result<T>& r) {
    if (r.ok()) return;
    EXPECT_EQ(r.error(), -ENOMEM);
    throw std::bad_alloc();
  }
};

}  // namespace lockfs::testing

// Allocation failure: every allocation a namespace operation makes may throw std::bad_alloc
// (a daemon under RLIMIT_AS sees it; serve() answers ENOMEM). Whichever one fails, the
// operation unwinds completely -- no lock left held (the fixture fails on the validator's
// report of a scope closing with locks held), nothing half done (the namespace checker
// passes) -- and the filesystem goes on working. The data paths -- the page cache and its
// mm -- are covered the same way in data_alloc_failure_test.cc.
//
// This binary's operator new (alloc_test holds only these tests) fails the N-th allocation
// of the thread that arms it.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <new>
#include <string>

#include "core/fsck.h"
#include "core/vfs.h"
#include "locking/lock_class.h"
#include "locking/mutex.h"
#include "locking/validator.h"
#include "tests/support/core_fixture.h"
#include "tests/unit/alloc/alloc_fixture.h"

namespace lockfs::testing {
thread_local long t_allocs_left = -1;
}  // namespace lockfs::testing
using lockfs::testing::t_allocs_left;

// The replacements pair malloc with free; g++ sees through inlining only half of the pair.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
// Every unaligned form, so that each new meets its own delete; the aligned ones stay the
// library's, pairs of their own.
void* operator new(size_t n) {
  if (t_allocs_left >= 0 && t_allocs_left-- == 0) throw std::bad_alloc();
  if (void* p = std::malloc(n != 0 ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  try {
    return operator new(n);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void* operator new[](size_t n, const std::nothrow_t& nt) noexcept { return operator new(n, nt); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace lockfs::testing {
namespace {

using core::kRootIno;

// Object creation: either the name is made and counted, or nothing is there.
TEST_F(AllocFailureTest, Create) {
  const core::Ino d = mkdir(kRootIno, "d");
  for (int i = 0; i < 40; ++i) mkfile(d, "pad" + std::to_string(i));  // a grown table
  auto made = [&](Result<core::EntryOut> e) {
    ASSERT_TRUE(e.ok()) << e.error();
    vfs->forget(e->ino, 1);
  };
  each_allocation(
      "mknod", [&] {}, [&] { made(vfs->mknod(d, "f", S_IFREG | 0644, 0)); },
      [&] { ASSERT_TRUE(vfs->unlink(d, "f").ok()); },
      [&] { EXPECT_FALSE(exists(d, "f")); });
  each_allocation(
      "mkdir", [&] {}, [&] { made(vfs->mkdir(d, "sub", 0755)); },
      [&] { ASSERT_TRUE(vfs->rmdir(d, "sub").ok()); },
      [&] { EXPECT_FALSE(exists(d, "sub")); });
  each_allocation(
      "symlink", [&] {}, [&] { made(vfs->symlink(d, "s", std::string(300, 'x'))); },
      [&] { ASSERT_TRUE(vfs->unlink(d, "s").ok()); },
      [&] { EXPECT_FALSE(exists(d, "s")); });
  // open(O_CREAT): a failure after the file is made leaves it, as the kernel's create does
  // when its open then fails -- but the reply's lookup is not counted.
  each_allocation(
      "create", [&] { ensure_gone(d, "c"); },
      [&] {
        auto c = vfs->create(d, "c", 0644, O_CREAT | O_RDWR);
        ASSERT_TRUE(c.ok()) << c.error();
        vfs->forget(c->entry.ino, 1);
        ASSERT_TRUE(vfs->release(c->file).ok());
      },
      [&] {},
      [&] {
        auto e = vfs->lookup(d, "c");
        if (!e.ok()) return;
        EXPECT_EQ(lookups(e->ino), 1u);  // this lookup's only
        vfs->forget(e->ino, 1);
      });
  const core::Ino src = mkfile(d, "src");
  each_allocation(
      "link", [&] {}, [&] { made(vfs->link(src, d, "l")); },
      [&] { ASSERT_TRUE(vfs->unlink(d, "l").ok()); },
      [&] {
        EXPECT_FALSE(exists(d, "l"));
        EXPECT_EQ(stat_of(src).st_nlink, 1u);
      });
}

// Removal and rename: the namespace stays consistent whichever allocation fails.
TEST_F(AllocFailureTest, RemoveAndRename) {
  const core::Ino d = mkdir(kRootIno, "d");
  const core::Ino e = mkdir(kRootIno, "e");
  for (int i = 0; i < 40; ++i) mkfile(d, "pad" + std::to_string(i));
  each_allocation(
      "unlink", [&] { ensure_file(d, "v"); }, [&] { ASSERT_TRUE(vfs->unlink(d, "v").ok()); },
      [&] {});
  each_allocation(
      "rmdir", [&] { if (!exists(d, "vd")) mkdir(d, "vd"); },
      [&] { ASSERT_TRUE(vfs->rmdir(d, "vd").ok()); }, [&] {});
  each_allocation(
      "rename within a directory",
      [&] {
        ensure_gone(d, "b");
        ensure_file(d, "a");
      },
      [&] { ok_or_enomem(vfs->rename(d, "a", d, "b", 0)); }, [&] {},
      [&] { EXPECT_NE(exists(d, "a"), exists(d, "b")); });
  each_allocation(
      "rename across directories over a file",
      [&] {
        ensure_file(d, "x");
        ensure_file(e, "y");
      },
      [&] { ok_or_enomem(vfs->rename(d, "x", e, "y", 0)); }, [&] {},
      [&] {
        EXPECT_TRUE(exists(e, "y"));
        EXPECT_TRUE(exists(d, "x"));  // all or nothing: the source is still there
      });
  each_allocation(
      "exchange",
      [&] {
        ensure_file(d, "p");
        ensure_file(e, "q");
      },
      [&] { ok_or_enomem(vfs->rename(d, "p", e, "q", RENAME_EXCHANGE)); }, [&] {},
      [&] {
        EXPECT_TRUE(exists(d, "p"));
        EXPECT_TRUE(exists(e, "q"));
      });
}

// Lookups and readdirplus count a lookup only for an entry the reply really carries.
TEST_F(AllocFailureTest, LookupAndReaddir) {
  const core::Ino d = mkdir(kRootIno, "d");
  std::vector<core::Ino> files;
  for (int i = 0; i < 20; ++i) files.push_back(mkfile(d, "f" + std::to_string(i)));
  // A lookup allocates nothing (the name is hashed in place, the reply is on the stack): it
  // cannot fail for memory.
  EXPECT_EQ(each_allocation(
                "lookup", [&] {},
                [&] {
                  auto r = vfs->lookup(d, "f3");
                  ASSERT_TRUE(r.ok());
                },
                [&] { vfs->forget(files[3], 1); }, [&] { EXPECT_EQ(lookups(files[3]), 0u); }),
            0);
  auto dir = vfs->opendir(d, O_RDONLY);
  ASSERT_TRUE(dir.ok());
  std::vector<core::Ino> listed;
  each_allocation(
      "readdirplus", [&] { listed.clear(); },
      [&] {
        auto r = vfs->readdir(*dir, 0, true, [&](std::string_view name, const struct stat& st,
                                                 uint64_t) {
          if (name != "." && name != "..") listed.push_back(st.st_ino);
          return true;
        });
        ASSERT_TRUE(r.ok());
      },
      [&] {
        for (core::Ino ino : listed) vfs->forget(ino, 1);
      },
      [&] {
        for (core::Ino ino : files) EXPECT_EQ(lookups(ino), 0u) << ino;
      });
  ASSERT_TRUE(vfs->releasedir(*dir).ok());
}

// xattrs: a failed setxattr leaves the attribute as it was or fully set.
TEST_F(AllocFailureTest, Xattr) {
  const core::Ino f = mkfile(kRootIno, "f");
  each_allocation(
      "setxattr", [&] {},
      [&] { ASSERT_TRUE(vfs->setxattr(f, "user.k", std::span<const char>("v", 1), 0).ok()); },
      [&] { ASSERT_TRUE(vfs->removexattr(f, "user.k").ok()); },
      [&] { EXPECT_EQ(vfs->getxattr(f, "user.k").error(), -ENODATA); });
}

// The validator out of memory -- here building the report of a lock order it has not seen
// -- turns itself off, as lockdep does, rather than fail the lock operation it runs in: the
// lock is taken, nothing is left held, and the mode says off.
TEST_F(AllocFailureTest, ValidatorOutOfMemoryTurnsItselfOff) {
  static const locking::LockClass first("alloc_test_first", locking::LockKind::kSpinLock);
  static const locking::LockClass second("alloc_test_second", locking::LockKind::kSpinLock);
  locking::SpinLock a(first), b(second);
  ASSERT_EQ(locking::validate_mode(), locking::ValidateMode::kStrict);
  {
    locking::SpinGuard ga(a);
    t_allocs_left = 0;  // the validator's first allocation: its record of the new order
    locking::SpinGuard gb(b);
    t_allocs_left = -1;
  }
  EXPECT_EQ(locking::validate_mode(), locking::ValidateMode::kOff);
  EXPECT_TRUE(locking::validator_ran_out_of_memory());
  locking::set_validate_mode(locking::ValidateMode::kStrict);  // stays off: stacks are stale
  EXPECT_EQ(locking::validate_mode(), locking::ValidateMode::kOff);
  // Both really released.
  if (a.trylock()) {
    a.unlock();
  } else {
    ADD_FAILURE() << "the first lock is still held";
  }
  if (b.trylock()) {
    b.unlock();
  } else {
    ADD_FAILURE() << "the second lock is still held";
  }
  // On again for the rest of the test: the stack of held locks it stopped keeping is stale.
  locking::reset_validator();
  locking::set_validate_mode(locking::ValidateMode::kStrict);
}

}  // namespace
}  // namespace lockfs::testing

// Allocation failure on the data paths: write (into a hole, extending, across folio batches,
// the client's cached writeback), read, truncate down and up, fallocate (preallocate, punch
// hole, zero range), copy_file_range, fsync, and the mm under them: mmap of a file, faults
// that fill a folio, munmap and mprotect rewriting VMAs. Whichever allocation fails, no lock
// is left held, the namespace checks out, the page budget matches the pages present, the file
// holds its old contents or its new ones -- or, for a write cut short after progress, the
// old contents with the bytes the short count reports written over them -- and the next
// operation works.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>

#include <algorithm>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "core/mm/mm.h"
#include "tests/unit/alloc/alloc_fixture.h"

namespace lockfs::testing {
namespace {

using core::kPageSize;
using core::kRootIno;

// A file's starting state: these writes into an empty file, then i_size set to `size`
// (pages never written are holes).
struct Layout {
  std::vector<std::pair<uint64_t, std::string>> writes;
  uint64_t size;
};

// `old` with `data` written at `pos` (nothing when data is empty).
std::string applied(std::string old, uint64_t pos, const std::string& data) {
  if (data.empty()) return old;
  if (old.size() < pos + data.size()) old.resize(pos + data.size(), '\0');
  old.replace(pos, data.size(), data);
  return old;
}

std::string pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i % 23);
  return s;
}

// File contents compared without printing them: sizes and the first byte that differs.
::testing::AssertionResult same(const std::string& got, const std::string& want) {
  if (got == want) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return ::testing::AssertionFailure() << "contents differ: " << got.size() << " bytes, expected "
                                      << want.size() << "; first difference at " << i;
}

class DataAllocFailureTest : public AllocFailureTest {
 protected:
  struct OpenFile {
    core::Ino ino;
    core::File* f;
  };
  OpenFile open_file(const std::string& name) {
    const core::Ino ino = mkfile(kRootIno, name);
    auto f = vfs->open(ino, O_RDWR);
    EXPECT_TRUE(f.ok());
    files_.push_back(*f);
    return {ino, *f};
  }
  void TearDown() override {
    for (core::File* f : files_) EXPECT_TRUE(vfs->release(f).ok());
    AllocFailureTest::TearDown();
  }

  void set_size(core::Ino ino, uint64_t size) {
    core::SetAttrIn in;
    in.valid = core::kSetSize;
    in.size = size;
    ASSERT_TRUE(vfs->setattr(ino, in, nullptr).ok());
  }
  void write_all(core::File* f, uint64_t pos, const std::string& data) {
    auto n = vfs->write(f, pos, std::span<const char>(data.data(), data.size()));
    ASSERT_TRUE(n.ok()) << n.error();
    ASSERT_EQ(*n, data.size());
  }
  void restore(const OpenFile& o, const Layout& l) {
    set_size(o.ino, 0);
    for (const auto& [pos, data] : l.writes) write_all(o.f, pos, data);
    set_size(o.ino, l.size);
  }
  std::string contents(core::File* f) {
    std::string out(stat_of(core::file_ino(f)).st_size, '\0');
    auto n = vfs->read(f, 0, std::span<char>(out.data(), out.size()));
    EXPECT_TRUE(n.ok());
    if (n.ok()) out.resize(*n);
    return out;
  }
  // A write's result: a short count (an allocation failed after progress) is recorded in
  // *short_n and counted as a failure, as -ENOMEM is.
  static void full_or_fail(const Result<size_t>& n, size_t want, size_t* short_n) {
    *short_n = 0;
    if (!n.ok()) {
      EXPECT_EQ(n.error(), -ENOMEM);
      throw std::bad_alloc();
    }
    if (*n < want) {
      *short_n = *n;
      throw std::bad_alloc();
    }
    ASSERT_EQ(*n, want);
  }

  // Runs a write of `data` at `pos` into a file made by `layout` with each allocation failing.
  void write_case(const std::string& what, const Layout& layout, uint64_t pos,
                  const std::string& data, bool cached = false) {
    const OpenFile o = open_file(what);
    std::string old;
    size_t short_n = 0;
    auto write = [&] {
      auto span = std::span<const char>(data.data(), data.size());
      return cached ? vfs->write_cached(o.f, pos, span) : vfs->write(o.f, pos, span);
    };
    each_allocation(
        what,
        [&] {
          restore(o, layout);
          old = contents(o.f);
        },
        [&] { full_or_fail(write(), data.size(), &short_n); },
        [&] { EXPECT_TRUE(same(contents(o.f), applied(old, pos, data))) << what; },
        [&] {
          EXPECT_TRUE(same(contents(o.f), applied(old, pos, data.substr(0, short_n))))
              << what << ": torn or lost (short count " << short_n << ")";
          // contents() reads only to i_size, and the retry overwrites: first move i_size over
          // the whole range, so that bytes stored past the short count and not reported would
          // show. Past pos + short_n the file reads as before, zeros past the old end.
          if (pos + data.size() > old.size()) {
            set_size(o.ino, pos + data.size());
            std::string want = applied(old, pos, data.substr(0, short_n));
            want.resize(pos + data.size(), '\0');
            EXPECT_TRUE(same(contents(o.f), want))
                << what << ": bytes stored past the short count " << short_n;
          }
          // And the same write goes through now.
          auto n = write();
          ASSERT_TRUE(n.ok());
          EXPECT_TRUE(same(contents(o.f), applied(old, pos, data))) << what;
        });
  }

  std::vector<core::File*> files_;
};

constexpr uint64_t P = kPageSize;

TEST_F(DataAllocFailureTest, WriteIntoHole) {
  // Pages 0 and 2 written, 1 and 3 holes; the write fills page 1 and part of 2.
  const Layout l{{{0, pattern(P, 'a')}, {2 * P, pattern(P, 'b')}}, 4 * P};
  write_case("write into a hole", l, P + 100, pattern(P + 200, 'x'));
}

TEST_F(DataAllocFailureTest, WriteExtending) {
  const Layout l{{{0, pattern(5000, 'a')}}, 5000};
  write_case("extending write", l, 9000, pattern(3 * P + 17, 'y'));
}

TEST_F(DataAllocFailureTest, WriteAcrossFolioBatches) {
  // Four present pages, then 66 new ones in three batches of new folios; page 64 needs new
  // index nodes, so an allocation fails after bytes are stored: a short count, never bytes
  // stored (past i_size, or over the old contents) and not reported.
  const Layout l{{{0, pattern(4 * P, 'a')}}, 4 * P};
  write_case("write across folio batches", l, 2048, pattern(70 * P, 'z'));
}

TEST_F(DataAllocFailureTest, WriteAcrossIndexNodes) {
  // The index holds pages 0-63 in its one node; pages 60-70 go in as one batch of new
  // folios, and page 64 needs new index nodes after 60-63 are in: a failure there must
  // take those out again (they are locked and unpublished: nobody could ever unlock them).
  const Layout l{{{0, pattern(P, 'a')}}, P};
  write_case("write across index nodes", l, 60 * P, pattern(11 * P, 'n'));
}

TEST_F(DataAllocFailureTest, WriteCached) {
  // The client's writeback: inside i_size, invalidate_lock shared rather than i_rwsem.
  const Layout l{{{0, pattern(P, 'a')}}, 8 * P};
  write_case("cached write", l, 100, pattern(5 * P, 'c'), true);
}

TEST_F(DataAllocFailureTest, Read) {
  const OpenFile o = open_file("r");
  const Layout l{{{0, pattern(P, 'a')}, {3 * P, pattern(P, 'b')}}, 6 * P};
  restore(o, l);
  const std::string want = contents(o.f);
  std::string got(want.size(), '\0');
  const int failures = each_allocation(
      "read", [&] {},
      [&] {
        auto n = vfs->read(o.f, 0, std::span<char>(got.data(), got.size()));
        ASSERT_TRUE(n.ok());
        ASSERT_EQ(*n, want.size());
      },
      [&] { EXPECT_TRUE(same(got, want)); });
  // A read allocates nothing (present folios are looked up in batches on the stack, holes
  // read as zeros without a folio), so no failure can be injected: the loop above is the
  // check that it stays so -- an allocation added here needs a test of its failure.
  EXPECT_EQ(failures, 0) << "read allocates now: test its failures";
}

TEST_F(DataAllocFailureTest, Truncate) {
  const OpenFile o = open_file("t");
  // Ten pages in one storage cluster with a hole: shrinking splits and shrinks windows.
  const Layout l{{{0, pattern(4 * P, 'a')}, {6 * P, pattern(4 * P, 'b')}}, 10 * P};
  for (uint64_t new_size : {uint64_t{5000}, uint64_t{7 * P + 1}, uint64_t{0}, 40 * P + 3}) {
    const std::string what = "truncate to " + std::to_string(new_size);
    std::string old;
    each_allocation(
        what,
        [&] {
          restore(o, l);
          old = contents(o.f);
        },
        [&] {
          core::SetAttrIn in;
          in.valid = core::kSetSize;
          in.size = new_size;
          ok_or_enomem(vfs->setattr(o.ino, in, o.f));
        },
        [&] {
          std::string want = old;
          want.resize(new_size, '\0');
          EXPECT_TRUE(same(contents(o.f), want)) << what;
        },
        [&] {
          EXPECT_TRUE(same(contents(o.f), old)) << what;
          // Then writes past the old end read back, and nothing stale shows past it.
          write_all(o.f, 12 * P, "after");
          std::string want = old;
          want.resize(12 * P, '\0');
          EXPECT_TRUE(same(contents(o.f), want + "after")) << what;
        });
  }
}

TEST_F(DataAllocFailureTest, Fallocate) {
  const OpenFile o = open_file("fa");
  const Layout l{{{0, pattern(3 * P, 'a')}, {5 * P, pattern(2 * P, 'b')}}, 7 * P};
  struct Case {
    const char* what;
    int mode;
    uint64_t off, len;
  };
  // The fills reach page 64, whose index nodes are allocated in a later batch of new folios
  // than the first: a failure there comes after pages were added (and must take them out).
  const Case cases[] = {
      {"fallocate extending", 0, 6 * P, 70 * P},
      {"fallocate keep size", FALLOC_FL_KEEP_SIZE, 2 * P, 70 * P},
      {"punch hole", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1000, 5 * P},
      {"zero range", FALLOC_FL_ZERO_RANGE, 1000, 70 * P},
  };
  for (const Case& c : cases) {
    std::string old;
    uint64_t pages_before = 0, used_before = 0;
    auto expected = [&] {
      std::string want = old;
      const bool keep = c.mode & FALLOC_FL_KEEP_SIZE;
      if (!keep && want.size() < c.off + c.len) want.resize(c.off + c.len, '\0');
      if (c.mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
        for (uint64_t i = c.off; i < std::min<uint64_t>(want.size(), c.off + c.len); ++i) {
          want[i] = '\0';
        }
      }
      return want;
    };
    each_allocation(
        c.what,
        [&] {
          restore(o, l);
          old = contents(o.f);
          pages_before = pages_present();
          used_before = vfs->sb().s_budget.used();
        },
        [&] { ok_or_enomem(vfs->fallocate(o.f, c.mode, c.off, c.len)); },
        [&] { EXPECT_TRUE(same(contents(o.f), expected())) << c.what; },
        [&] {
          // All or none: no page of a failed fill stays (past EOF, or zeroed and dirty),
          // nor its charge (shmem_fallocate undoes with shmem_undo_range).
          EXPECT_EQ(pages_present(), pages_before) << c.what << ": pages of the failed fill left";
          EXPECT_EQ(vfs->sb().s_budget.used(), used_before) << c.what;
          const std::string now = contents(o.f);
          EXPECT_TRUE(now == old || now == expected())
              << c.what << ": neither old nor new: " << same(now, old).message();
          ASSERT_TRUE(vfs->fallocate(o.f, c.mode, c.off, c.len).ok());
          EXPECT_TRUE(same(contents(o.f), expected())) << c.what;
        });
  }
}

TEST_F(DataAllocFailureTest, CopyFileRange) {
  const OpenFile src = open_file("src");
  const OpenFile dst = open_file("dst");
  restore(src, Layout{{{0, pattern(12 * P, 's')}}, 12 * P});
  const std::string from = contents(src.f);
  const Layout l{{{0, pattern(2 * P, 'd')}}, 3 * P};
  const uint64_t off_in = 100, off_out = 3000, len = 10 * P;
  std::string old;
  size_t short_n = 0;
  auto copy = [&] { return vfs->copy_file_range(src.f, off_in, dst.f, off_out, len, 0); };
  each_allocation(
      "copy_file_range",
      [&] {
        restore(dst, l);
        old = contents(dst.f);
      },
      [&] { full_or_fail(copy(), len, &short_n); },
      [&] { EXPECT_TRUE(same(contents(dst.f), applied(old, off_out, from.substr(off_in, len)))); },
      [&] {
        EXPECT_TRUE(same(contents(dst.f), applied(old, off_out, from.substr(off_in, short_n))))
            << "short count " << short_n;
        EXPECT_TRUE(same(contents(src.f), from));
        auto n = copy();
        ASSERT_TRUE(n.ok());
        EXPECT_TRUE(same(contents(dst.f), applied(old, off_out, from.substr(off_in, len))));
      });
}

TEST_F(DataAllocFailureTest, Fsync) {
  const OpenFile o = open_file("fs");
  const Layout l{{{0, pattern(5 * P, 'a')}}, 9 * P};
  std::string old;
  const int failures = each_allocation(
      "fsync",
      [&] {
        restore(o, l);
        old = contents(o.f);
      },
      [&] { ok_or_enomem(vfs->fsync(o.f, false)); }, [&] { EXPECT_TRUE(same(contents(o.f), old)); },
      [&] { EXPECT_TRUE(same(contents(o.f), old)); });
  // fsync (writepages: a walk of the index setting and clearing writeback) allocates
  // nothing either; as for read, the loop checks that it stays so.
  EXPECT_EQ(failures, 0) << "fsync allocates now: test its failures";
}

// Eviction of a file with pages (truncate_inode_pages_final: every storage window of the
// file goes, then its mapping is freed) cannot fail: whichever allocation fails, no window
// of the file is left in init_mm's storage index -- one left there would outlive its object
// and be handed to the next object allocated at the same address -- and a new file's data
// reads back right.
TEST_F(DataAllocFailureTest, EvictWithPages) {
  core::SuperBlock& sb = vfs->sb();
  core::Mm& mm = *sb.s_mm;
  const size_t windows_before = mm.storage_windows();
  core::Inode* inode = nullptr;
  auto check = [&] {
    EXPECT_EQ(mm.storage_windows(), windows_before) << "windows of the evicted file are left";
    EXPECT_EQ(sb.s_budget.used(), pages_present());
    const core::Ino ino = mkfile(kRootIno, "new");
    auto f = vfs->open(ino, O_RDWR);
    ASSERT_TRUE(f.ok());
    const std::string data = pattern(20 * P + 5, 'w');
    write_all(*f, 0, data);
    EXPECT_TRUE(same(contents(*f), data)) << "a new file after an eviction";
    EXPECT_TRUE(vfs->release(*f).ok());
    ASSERT_TRUE(vfs->unlink(kRootIno, "new").ok());
    EXPECT_EQ(mm.storage_windows(), windows_before);
  };
  each_allocation(
      "eviction",
      [&] {
        // Two clusters of pages (two windows), unlinked; the test holds the last pin.
        const core::Ino ino = mkfile(kRootIno, "ev");
        auto f = vfs->open(ino, O_RDWR);
        ASSERT_TRUE(f.ok());
        write_all(*f, 0, pattern(4 * P, 'a'));
        write_all(*f, 40 * P, pattern(3 * P, 'b'));
        inode = sb.iget(ino);
        ASSERT_NE(inode, nullptr);
        EXPECT_TRUE(vfs->release(*f).ok());
        ASSERT_TRUE(vfs->unlink(kRootIno, "ev").ok());
        EXPECT_GE(mm.storage_windows(), windows_before + 2);
      },
      [&] { sb.iput(inode); },  // the last pin: evicts
      check, check);
}

// What a VMA rewrite costs in allocations: the VMA objects and container nodes it needs, its
// plan, and nothing per rewrite on top (the commit's nodes and memory-phase lists sit in the
// rewrite's frame; an object that has an entry in storage_ / i_mmap_ gets no new one). Every
// storage window change is a rewrite under init_mm's mmap_lock, so these are budgets: raise
// one only with a reason.
TEST_F(DataAllocFailureTest, VmaRewriteAllocations) {
  const OpenFile o = open_file("cost");
  restore(o, Layout{{{0, pattern(P, 'a')}}, 8 * P});
  core::SuperBlock& sb = vfs->sb();
  core::Inode* inode = sb.iget(o.ino);
  ASSERT_NE(inode, nullptr);
  core::Mm& mm = *sb.s_mm;
  core::VmObject& obj = inode->i_mapping->vm_object();
  // Allocations the calling thread makes in fn (the counter runs down, none fails).
  auto allocations = [](const auto& fn) {
    constexpr long kMany = 1L << 40;
    t_allocs_left = kMany;
    fn();
    const long n = kMany - t_allocs_left;
    t_allocs_left = -1;
    return n;
  };
  auto a = mm.mmap_file(obj, 0, 8 * P, core::kVmRead | core::kVmWrite);
  ASSERT_TRUE(a.ok());
  // Warm up the lock validator on these chains (its first-time allocations are not ours).
  ASSERT_TRUE(mm.mprotect(*a + 2 * P, 2 * P, core::kVmRead).ok());
  ASSERT_TRUE(mm.mprotect(*a + 2 * P, 2 * P, core::kVmRead | core::kVmWrite).ok());
  // Split in three: two new VMAs, three tree and three i_mmap nodes, the plan's lists.
  const long split = allocations([&] {
    ASSERT_TRUE(mm.mprotect(*a + 2 * P, 2 * P, core::kVmRead).ok());
  });
  // Merged back into one: one tree and one i_mmap node for the VMA that grows, the plan.
  const long merge = allocations([&] {
    ASSERT_TRUE(mm.mprotect(*a + 2 * P, 2 * P, core::kVmRead | core::kVmWrite).ok());
  });
  // A storage window growing by a page (vma_expand): a tree and a storage_ node, the plan.
  char* addrs[3];
  ASSERT_TRUE(mm.storage_map(obj, 100, 1, addrs).ok());
  ASSERT_TRUE(mm.storage_map(obj, 101, 1, addrs).ok());
  const long expand = allocations([&] { ASSERT_TRUE(mm.storage_map(obj, 102, 1, addrs).ok()); });
  mm.storage_unmap(obj, 100, 3);
  ASSERT_TRUE(mm.munmap(*a, 8 * P).ok());
  EXPECT_LE(split, 18);
  EXPECT_LE(merge, 18);
  EXPECT_LE(expand, 8);

  // Running out of memory while mapping storage windows is -ENOMEM, whichever allocation
  // fails (a VMA object, a container node, a plan's list): never std::bad_alloc, so that
  // PageAddrs::map's fallback to the span alone and the fault's VM_FAULT_OOM see it alike.
  const size_t windows = mm.storage_windows();
  int failures = 0;
  for (const bool grow : {false, true}) {  // a new window; one growing by three pages
    const uint64_t first = grow ? 103 : 100;
    for (long k = 0; k < 1000; ++k) {
      if (grow) {
        ASSERT_TRUE(mm.storage_map(obj, 100, 3, addrs).ok());
      }
      bool threw = false;
      Result<void> r;
      t_allocs_left = k;
      try {
        r = mm.storage_map(obj, first, 3, addrs);
      } catch (const std::bad_alloc&) {
        threw = true;
      }
      const bool injected = t_allocs_left == -1;
      t_allocs_left = -1;
      EXPECT_FALSE(threw) << "storage_map of " << first << " threw with allocation " << k
                          << " failing";
      if (!threw && !r.ok()) {
        EXPECT_EQ(r.error(), -ENOMEM);
      }
      mm.storage_unmap(obj, 100, 6);
      if (!injected) break;
      ++failures;
    }
  }
  EXPECT_GT(failures, 0);
  EXPECT_EQ(mm.storage_windows(), windows);
  sb.iput(inode);
}

// The mm: a user mapping of a file, faults that allocate a folio for a hole, and VMA
// rewrites (munmap and mprotect of a middle part split the VMA). A failure leaves the VMA
// tree as it was.
TEST_F(DataAllocFailureTest, MmapFaultAndVmaRewrite) {
  const OpenFile o = open_file("m");
  //  pages: 0 1 2 3 4 5 6 7
  //         a a . . . b . .    (. : a hole inside i_size)
  const Layout l{{{0, pattern(2 * P, 'a')}, {5 * P, pattern(P, 'b')}}, 8 * P};
  restore(o, l);
  core::SuperBlock& sb = vfs->sb();
  core::Inode* inode = sb.iget(o.ino);
  ASSERT_NE(inode, nullptr);
  core::Mm& mm = *sb.s_mm;
  core::VmObject& obj = inode->i_mapping->vm_object();
  const uint64_t len = 8 * P;
  uint64_t addr = 0;
  auto snapshot = [&] {
    mm.mmap_read_lock();
    std::vector<core::VmaSnapshot> s = mm.snapshot();
    mm.mmap_read_unlock();
    return s;
  };
  auto unmap_all = [&] {
    if (addr == 0) return;
    ASSERT_TRUE(mm.munmap(addr, len).ok());
    addr = 0;
  };
  auto map = [&] {
    auto a = mm.mmap_file(obj, 0, len, core::kVmRead | core::kVmWrite);
    if (!a.ok()) {
      EXPECT_EQ(a.error(), -ENOMEM);
      throw std::bad_alloc();
    }
    addr = *a;
  };
  // What a mapping of the whole file reads: its contents.
  auto read_through_map = [&] {
    std::string out(len, '\0');
    auto n = mm.access_read(addr, std::span<char>(out.data(), out.size()));
    EXPECT_TRUE(n.ok());
    return out;
  };
  std::vector<core::VmaSnapshot> before;

  each_allocation(
      "mmap of a file",
      [&] {
        unmap_all();
        before = snapshot();
      },
      map, [&] {},
      [&] {
        EXPECT_EQ(snapshot(), before);
        map();
        EXPECT_TRUE(same(read_through_map(), contents(o.f)));
      });

  // Faults: a VM_FAULT_OOM (the page's window or folio could not be had) is -ENOSPC to the
  // accessor, as the fault path says; a failure either way leaves the file unchanged.
  std::string old;
  // Each try starts from the file and mapping restore() makes, the old contents noted.
  auto fresh = [&] {
    restore(o, l);
    old = contents(o.f);
    if (addr == 0) map();
    before = snapshot();
  };
  for (const bool write : {false, true}) {
    const std::string what = write ? "write fault into a hole" : "read fault of a hole";
    // Pages past the storage window restore() leaves ([0, 6)): the fault maps one.
    const uint64_t at = (write ? 7 : 6) * P + 10;
    const std::string data = "fault";
    std::string buf(data.size(), '\0');
    each_allocation(
        what, fresh,
        [&] {
          auto n = write ? mm.access_write(addr + at, std::span<const char>(data.data(), 5))
                         : mm.access_read(addr + at, std::span<char>(buf.data(), 5));
          if (!n.ok()) {
            EXPECT_EQ(n.error(), -ENOSPC);
            throw std::bad_alloc();
          }
          ASSERT_EQ(*n, 5u);
        },
        [&] {
          EXPECT_TRUE(same(contents(o.f), write ? applied(old, at, data) : old)) << what;
          if (!write) {
            EXPECT_EQ(buf, std::string(5, '\0'));
          }
        },
        [&] {
          EXPECT_TRUE(same(contents(o.f), old)) << what;
          EXPECT_EQ(snapshot(), before) << what;
          EXPECT_TRUE(same(read_through_map(), old)) << what;
        });
  }

  // An access over several pages whose later fault fails after earlier pages were copied:
  // the fault is VM_FAULT_OOM and the access returns the bytes copied before it (mm.h's
  // short count) -- for a write those bytes are in the file already, so the count must not
  // be lost. Page 5 is present; 6 and 7 are holes whose faults allocate.
  for (const bool write : {false, true}) {
    const std::string what = write ? "write over three pages" : "read over three pages";
    const uint64_t at = 5 * P + 100;
    const std::string data = pattern(2 * P + 200, 'm');
    std::string buf(data.size(), '\0');
    size_t short_n = 0;
    each_allocation(
        what,
        [&] {
          fresh();
          short_n = 0;
        },
        [&] {
          auto n = write ? mm.access_write(addr + at, std::span<const char>(data))
                         : mm.access_read(addr + at, std::span<char>(buf));
          if (!n.ok()) {
            EXPECT_EQ(n.error(), -ENOSPC);
            throw std::bad_alloc();
          }
          if (*n < data.size()) {
            short_n = *n;
            throw std::bad_alloc();
          }
        },
        [&] {
          EXPECT_TRUE(same(contents(o.f), write ? applied(old, at, data) : old)) << what;
          if (!write) {
            EXPECT_TRUE(same(buf, old.substr(at, data.size()))) << what;
          }
        },
        [&] {
          EXPECT_GT(short_n, 0u) << what << ": the first page needs no allocation";
          EXPECT_TRUE(same(contents(o.f), write ? applied(old, at, data.substr(0, short_n)) : old))
              << what << ": bytes copied but not reported (short count " << short_n << ")";
          if (!write) {
            EXPECT_TRUE(same(buf.substr(0, short_n), old.substr(at, short_n))) << what;
          }
          EXPECT_EQ(snapshot(), before) << what;
        });
  }

  // VMA rewrites: the middle of the mapping unmapped or made read-only splits it in three
  // (two for munmap), all or nothing.
  //   before:  AAAAAAAA      munmap:  AA..AAAA      mprotect:  AABBAAAA
  for (const bool unmap : {true, false}) {
    const std::string what = unmap ? "munmap of the middle" : "mprotect of the middle";
    each_allocation(
        what,
        [&] {
          unmap_all();
          map();
          before = snapshot();
        },
        [&] {
          Result<void> r = unmap ? mm.munmap(addr + 2 * P, 2 * P)
                                 : mm.mprotect(addr + 2 * P, 2 * P, core::kVmRead);
          ok_or_enomem(r);
        },
        [&] { EXPECT_NE(snapshot(), before) << what; },
        [&] {
          EXPECT_EQ(snapshot(), before) << what;
          EXPECT_TRUE(same(read_through_map(), contents(o.f))) << what;
        });
  }
  unmap_all();
  sb.iput(inode);
}

}  // namespace
}  // namespace lockfs::testing

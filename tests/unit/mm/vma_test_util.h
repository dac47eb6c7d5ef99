// A small world for VMA tests: a user Mm, backing objects (memfds filled with a per-page
// pattern, so that every split, merge and failed operation can be checked against the
// memory it maps), layout drawing ("AA..BB") and one-call wrappers that take mmap_lock.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/mm/mm.h"

namespace lockfs::core::test {

// vm_operations with ->open/->close that count and check their contract rows.
class CountingOps : public VmOperations {
 public:
  explicit CountingOps(Mm& mm) : mm_(mm) {}
  void open(VmArea&) override {
    mm_.mmap_assert_write_locked();
    ++opens;
  }
  void close(VmArea&) override {
    mm_.mmap_assert_locked();
    ++closes;
  }
  bool has_close() const override { return true; }
  int opens = 0, closes = 0;

 private:
  Mm& mm_;
};

class VmaWorld {
 public:
  static constexpr uint64_t kObjPages = 64;

  VmaWorld() : mm_(1 << 20), closing_ops_(mm_) {
    init(obj_, 1, nullptr);
    init(obj2_, 2, nullptr);
    init(closing_, 3, &closing_ops_);
  }
  ~VmaWorld() {
    mm_.mmap_write_lock();
    (void)mm_.do_munmap(mm_.base(), mm_.size());
    mm_.mmap_write_unlock();
    for (VmObject* o : {&obj_, &obj2_, &closing_}) ::close(o->fd);
  }

  uint64_t addr(uint64_t page) const { return mm_.base() + page * kVmPageSize; }
  static char pattern(const VmObject* o, uint64_t pgoff) {
    return static_cast<char>(o->id * 31 + pgoff + 1);
  }

  void map(uint64_t page, uint64_t n, uint64_t pgoff, uint32_t flags, VmObject* o = nullptr) {
    mm_.mmap_write_lock();
    auto r = mm_.mmap_region(addr(page), n * kVmPageSize, pgoff, flags, o ? o : &obj_);
    mm_.mmap_write_unlock();
    ASSERT_TRUE(r.ok()) << r.error();
  }
  int unmap(uint64_t page, uint64_t n) {
    return locked([&] {
      mm_.mmap_assert_write_locked();
      return mm_.do_munmap(addr(page), n * kVmPageSize).error();
    });
  }
  int protect(uint64_t page, uint64_t n, uint32_t flags) {
    return locked([&] {
      mm_.mmap_assert_write_locked();
      return mm_.mprotect_range(addr(page), n * kVmPageSize, flags).error();
    });
  }
  int expand(uint64_t vma_page, uint64_t start, uint64_t end) {
    return locked([&] {
      mm_.mmap_assert_write_locked();
      return mm_.vma_expand(mm_.vma_lookup(addr(vma_page)), addr(start), addr(end)).error();
    });
  }
  int shrink(uint64_t vma_page, uint64_t start, uint64_t end) {
    return locked([&] {
      mm_.mmap_assert_write_locked();
      return mm_.vma_shrink(mm_.vma_lookup(addr(vma_page)), addr(start), addr(end)).error();
    });
  }

  // One character per page: '.' for no VMA, else 'A' + the VMA's rank in address order.
  std::string layout(uint64_t pages) {
    mm_.mmap_read_lock();
    std::string out;
    std::vector<const VmArea*> seen;
    for (uint64_t p = 0; p < pages; ++p) {
      const VmArea* v = mm_.vma_lookup(addr(p));
      if (!v) {
        out += '.';
        continue;
      }
      size_t i = 0;
      while (i < seen.size() && seen[i] != v) ++i;
      if (i == seen.size()) seen.push_back(v);
      out += static_cast<char>('A' + i);
    }
    mm_.mmap_read_unlock();
    return out;
  }
  std::vector<VmaSnapshot> snapshot() {
    mm_.mmap_read_lock();
    auto s = mm_.snapshot();
    mm_.mmap_read_unlock();
    return s;
  }
  size_t count() {
    mm_.mmap_read_lock();
    size_t n = mm_.map_count();
    mm_.mmap_read_unlock();
    return n;
  }
  VmArea* vma_at(uint64_t page) {
    mm_.mmap_read_lock();
    VmArea* v = mm_.vma_lookup(addr(page));
    mm_.mmap_read_unlock();
    return v;
  }
  // Every populated page shows the bytes of its (object, pgoff): no split or merge moved
  // memory, and no failed operation lost any.
  void check_pattern() {
    mm_.mmap_read_lock();
    for (const VmaSnapshot& s : mm_.snapshot()) {
      if (!(s.flags & kVmPopulate) || !(s.flags & kVmRead) || !s.obj) continue;
      for (uint64_t a = s.start; a < s.end; a += kVmPageSize) {
        const uint64_t pg = s.pgoff + (a - s.start) / kVmPageSize;
        const char* p = reinterpret_cast<const char*>(a);
        EXPECT_EQ(p[0], pattern(s.obj, pg)) << "page " << (a - mm_.base()) / kVmPageSize;
        EXPECT_EQ(p[kVmPageSize - 1], pattern(s.obj, pg));
      }
    }
    mm_.mmap_read_unlock();
  }

  Mm mm_;
  CountingOps closing_ops_;
  VmObject obj_, obj2_, closing_;

 private:
  template <typename Fn>
  int locked(Fn fn) {
    mm_.mmap_write_lock();
    int rc = fn();
    mm_.mmap_write_unlock();
    return rc;
  }
  static void init(VmObject& o, uint64_t id, VmOperations* ops) {
    o.fd = ::memfd_create("vma-test", MFD_CLOEXEC);
    ASSERT_GE(o.fd, 0);
    o.id = id;
    o.ops = ops;
    ASSERT_EQ(::ftruncate(o.fd, kObjPages * kVmPageSize), 0);
    std::string page(kVmPageSize, '\0');
    for (uint64_t pg = 0; pg < kObjPages; ++pg) {
      page.assign(kVmPageSize, pattern(&o, pg));
      ASSERT_EQ(::pwrite(o.fd, page.data(), page.size(), static_cast<off_t>(pg * kVmPageSize)),
                static_cast<ssize_t>(kVmPageSize));
    }
  }
};

class VmaFixture : public ::testing::Test, public VmaWorld {};

}  // namespace lockfs::core::test

// Instructions per core operation, for callgrind: scripts/icount runs this under
// `valgrind --tool=callgrind --instr-atstart=no` and divides the instructions counted between
// the two CALLGRIND_*_INSTRUMENTATION marks by the operations done. On a shared VM, where
// timings of the same binary vary by a third from run to run, an instruction count is the
// figure that shows what a change to the locking hot paths did. It is not a time: a cache
// miss costs one instruction here and a hundred cycles on the machine.
//
//   lockfs-core-icount off|strict off|on lookup|cycle|write4k|read4k [N]
//
// validator mode, tracer, workload, and N measured operations (default 5000) after 2000
// unmeasured ones. Outside valgrind it just runs them (the marks are no-ops there).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

// Without the marks callgrind would count nothing: CMake builds this only where the header
// is (Debian's valgrind package).
#include <valgrind/callgrind.h>

#include "core/vfs.h"
#include "locking/task.h"
#include "locking/tracer.h"
#include "locking/validator.h"

namespace {

using lockfs::core::File;
using lockfs::core::Vfs;

void check(bool ok, int error, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "core_icount: %s failed: errno %d\n", what, -error);
  std::exit(1);
}

template <typename T>
T must(lockfs::Result<T>&& r, const char* what) {
  check(r.ok(), r.error(), what);
  return std::move(r).value();
}

void must(lockfs::Result<void>&& r, const char* what) { check(r.ok(), r.error(), what); }

constexpr uint64_t kFileBytes = 16u << 20;  // the read/write workloads' file
constexpr size_t kIo = 4096;

// One operation of `workload` (i: its sequence number). The client's side is what FUSE
// would send: the cycle is the requests of create, stat (answered from the kernel's
// cache), rename and unlink of one name, as `lockfs-ctl trace` shows them.
struct Workload {
  Vfs& vfs;
  lockfs::core::Ino dir;
  File* file;
  std::vector<char> buf = std::vector<char>(kIo, 'x');

  void run(const std::string& w, uint64_t i) {
    if (w == "lookup") {
      auto e = must(vfs.lookup(dir, "f"), "lookup");
      vfs.forget(e.ino, 1);
    } else if (w == "cycle") {
      const std::string a = "a" + std::to_string(i), b = "b" + std::to_string(i);
      (void)vfs.lookup(dir, a);  // negative
      auto c = must(vfs.create(dir, a, 0644, O_CREAT | O_EXCL | O_WRONLY), "create");
      must(vfs.flush(c.file, 1), "flush");
      must(vfs.release(c.file), "release");
      (void)vfs.lookup(dir, b);  // negative
      must(vfs.rename(dir, a, dir, b, 0), "rename");
      must(vfs.unlink(dir, b), "unlink");
      vfs.forget(c.entry.ino, 1);
    } else if (w == "write4k" || w == "read4k") {
      // A stride of 1021 pages (prime, so every page of the file comes round) rather than
      // the next page, which would be a sequential pattern.
      const uint64_t off = (i * 1021 % (kFileBytes / kIo)) * kIo;
      if (w == "write4k") {
        must(vfs.write(file, off, {buf.data(), kIo}), "write");
      } else {
        must(vfs.read(file, off, {buf.data(), kIo}), "read");
      }
    } else {
      std::fprintf(stderr, "core_icount: unknown workload %s\n", w.c_str());
      std::exit(2);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s off|strict off|on lookup|cycle|write4k|read4k [N]\n", argv[0]);
    return 2;
  }
  const bool strict = std::strcmp(argv[1], "strict") == 0;
  const bool trace = std::strcmp(argv[2], "on") == 0;
  const std::string workload = argv[3];
  const uint64_t n = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 5000;
  lockfs::locking::set_validate_mode(strict ? lockfs::locking::ValidateMode::kStrict
                                            : lockfs::locking::ValidateMode::kOff);
  if (trace) lockfs::locking::tracer_enable();

  lockfs::core::MountOptions opts;
  opts.size_bytes = 256ull << 20;
  opts.nr_inodes = 1u << 20;
  std::unique_ptr<Vfs> vfs = must(Vfs::mount(opts), "mount");
  // The directory and the file stay looked up, as a FUSE client's working directory does.
  auto dir = must(vfs->mkdir(lockfs::core::kRootIno, "d", 0755), "mkdir");
  auto f = must(vfs->create(dir.ino, "f", 0644, O_CREAT | O_RDWR), "create");
  Workload w{*vfs, dir.ino, f.file};
  // A task current for the run, as the daemon has one for each request (the thread's default
  // task is the fallback for threads that run none, not the path requests take).
  lockfs::locking::Task task(getpid(), getuid(), getgid());
  lockfs::locking::TaskScope as_task(task);
  for (uint64_t off = 0; off < kFileBytes; off += kIo) {
    must(vfs->write(f.file, off, {w.buf.data(), kIo}), "fill");
  }

  for (uint64_t i = 0; i < 2000; i++) w.run(workload, i);
  CALLGRIND_START_INSTRUMENTATION;
  for (uint64_t i = 0; i < n; i++) w.run(workload, 2000 + i);
  CALLGRIND_STOP_INSTRUMENTATION;

  must(vfs->release(f.file), "release");
  vfs->forget(f.entry.ino, 1);
  vfs->forget(dir.ino, 1);
  std::printf("%s %llu\n", workload.c_str(), static_cast<unsigned long long>(n));
  return 0;
}

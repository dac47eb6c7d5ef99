// Micro-benchmark of core/ alone (no FUSE, no kernel): lookup, create and unlink per second,
// and 4k random / 1 MiB sequential page cache writes, through lockfs::core::Vfs from 1 and 2
// threads, with the validator off or strict and the tracer off or on. Shows what the locking
// model and the page cache cost per operation before any FUSE round trip is added;
// scripts/bench measures the whole mount.
//
//   build/gcc/lockfs-core-bench [--benchmark_filter=Lookup] [--benchmark_min_time=0.2]
//
// Arguments in a benchmark's name: /validate(0 off, 1 strict)/trace(0 off, 1 on)/threads:N.
// All threads work in one shared directory, so 2 threads also measure i_rwsem contention.
#include <benchmark/benchmark.h>
#include <fcntl.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/vfs.h"
#include "locking/tracer.h"
#include "locking/validator.h"

namespace {

using lockfs::core::EntryOut;
using lockfs::core::Ino;
using lockfs::core::Vfs;

constexpr int kLookupFiles = 1024;  // names the lookup benchmark cycles through
constexpr int kBatch = 2048;        // files created/unlinked between untimed clean-ups

template <typename R>
auto must(R&& r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "core_bench: %s failed: errno %d\n", what, -r.error());
    std::abort();
  }
  return std::move(r.value());
}

void must_void(lockfs::Result<void> r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "core_bench: %s failed: errno %d\n", what, -r.error());
    std::abort();
  }
}

// One mount for the whole run, with a directory holding kLookupFiles files.
struct Fixture {
  std::unique_ptr<Vfs> vfs;
  Ino dir = 0;
  Ino scratch = 0;  // where create/unlink benchmarks work
};

Fixture& fixture() {
  static Fixture* f = [] {
    auto* fx = new Fixture;
    lockfs::core::MountOptions opts;
    opts.size_bytes = 256ull << 20;
    opts.nr_inodes = 1u << 20;
    fx->vfs = must(Vfs::mount(opts), "mount");
    EntryOut d = must(fx->vfs->mkdir(lockfs::core::kRootIno, "lookup", 0755), "mkdir");
    fx->dir = d.ino;
    for (int i = 0; i < kLookupFiles; i++) {
      auto c = must(fx->vfs->create(fx->dir, "f" + std::to_string(i), 0644, O_WRONLY),
                    "create");
      must_void(fx->vfs->release(c.file), "release");
      fx->vfs->forget(c.entry.ino, 1);
    }
    EntryOut s = must(fx->vfs->mkdir(lockfs::core::kRootIno, "scratch", 0755), "mkdir");
    fx->scratch = s.ino;
    return fx;
  }();
  return *f;
}

// Runs once before the threads of a benchmark start: the modes are process-wide.
void set_modes(const benchmark::State& state) {
  lockfs::locking::set_validate_mode(state.range(0) ? lockfs::locking::ValidateMode::kStrict
                                                    : lockfs::locking::ValidateMode::kOff);
  if (state.range(1)) {
    lockfs::locking::tracer_enable();
  } else {
    lockfs::locking::tracer_disable();
  }
  fixture();
}

void label(benchmark::State& state) {
  state.SetLabel(std::string(state.range(0) ? "validate=strict" : "validate=off") +
                 (state.range(1) ? ",trace=on" : ",trace=off"));
}

// lookup of an existing name + the forget the kernel would send later.
void BM_Lookup(benchmark::State& state) {
  Fixture& fx = fixture();
  std::vector<std::string> names;
  for (int i = 0; i < kLookupFiles; i++) names.push_back("f" + std::to_string(i));
  size_t i = static_cast<size_t>(state.thread_index()) * 7;
  for (auto _ : state) {
    EntryOut e = must(fx.vfs->lookup(fx.dir, names[i++ % names.size()]), "lookup");
    fx.vfs->forget(e.ino, 1);
  }
  state.SetItemsProcessed(state.iterations());
  label(state);
}

std::string scratch_name(const benchmark::State& state, int i) {
  return "t" + std::to_string(state.thread_index()) + "_" + std::to_string(i);
}

// create (O_CREAT|O_EXCL) + release + forget; unlinks each batch outside the timing.
void BM_Create(benchmark::State& state) {
  Fixture& fx = fixture();
  int n = 0;
  for (auto _ : state) {
    auto c = must(fx.vfs->create(fx.scratch, scratch_name(state, n++), 0644,
                                 O_WRONLY | O_CREAT | O_EXCL),
                  "create");
    must_void(fx.vfs->release(c.file), "release");
    fx.vfs->forget(c.entry.ino, 1);
    if (n == kBatch) {
      state.PauseTiming();
      for (int i = 0; i < n; i++) {
        must_void(fx.vfs->unlink(fx.scratch, scratch_name(state, i)), "unlink");
      }
      n = 0;
      state.ResumeTiming();
    }
  }
  for (int i = 0; i < n; i++) {
    must_void(fx.vfs->unlink(fx.scratch, scratch_name(state, i)), "unlink");
  }
  state.SetItemsProcessed(state.iterations());
  label(state);
}

// unlink of an existing file; creates each batch outside the timing.
void BM_Unlink(benchmark::State& state) {
  Fixture& fx = fixture();
  auto make_batch = [&] {
    for (int i = 0; i < kBatch; i++) {
      auto c = must(fx.vfs->create(fx.scratch, scratch_name(state, i), 0644, O_WRONLY),
                    "create");
      must_void(fx.vfs->release(c.file), "release");
      fx.vfs->forget(c.entry.ino, 1);
    }
  };
  int n = kBatch;
  for (auto _ : state) {
    if (n == kBatch) {
      state.PauseTiming();
      make_batch();
      n = 0;
      state.ResumeTiming();
    }
    must_void(fx.vfs->unlink(fx.scratch, scratch_name(state, n++)), "unlink");
  }
  if (n != kBatch) {
    for (int i = n; i < kBatch; i++) {
      must_void(fx.vfs->unlink(fx.scratch, scratch_name(state, i)), "unlink");
    }
  }
  state.SetItemsProcessed(state.iterations());
  label(state);
}

// Page cache writes through Vfs::write: each thread writes its own file of kDataPages pages,
// recreated (outside the timing) once as many writes as it has pages are done, so the run
// mixes first touches (new folio, window, memfd page) with overwrites, as fio's
// randwrite/write on a fresh file do.
constexpr uint64_t kDataPages = 4096;  // 16 MiB per thread

struct DataFile {
  Fixture& fx;
  std::string name;
  lockfs::core::File* file = nullptr;
  Ino ino = 0;
  void open() {
    auto c = must(fx.vfs->create(fx.scratch, name, 0644, O_RDWR | O_CREAT | O_EXCL), "create");
    file = c.file;
    ino = c.entry.ino;
  }
  void close() {
    must_void(fx.vfs->release(file), "release");
    fx.vfs->forget(ino, 1);
    must_void(fx.vfs->unlink(fx.scratch, name), "unlink");
  }
};

void data_bench(benchmark::State& state, size_t bs, bool random) {
  Fixture& fx = fixture();
  DataFile f{fx, "d" + std::to_string(state.thread_index())};
  const std::vector<char> buf(bs, 'x');
  const uint64_t slots = kDataPages * 4096 / bs;
  uint64_t rng = 0x9e3779b97f4a7c15ull * (state.thread_index() + 1), n = 0;
  f.open();
  for (auto _ : state) {
    if (n == slots) {
      state.PauseTiming();
      f.close();
      f.open();
      n = 0;
      state.ResumeTiming();
    }
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    const uint64_t slot = random ? (rng >> 33) % slots : n;
    ++n;
    must(fx.vfs->write(f.file, slot * bs, std::span<const char>(buf.data(), bs)), "write");
  }
  f.close();
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bs));
  state.SetItemsProcessed(state.iterations());
  label(state);
}

void BM_RandWrite4k(benchmark::State& state) { data_bench(state, 4096, true); }
void BM_SeqWrite1M(benchmark::State& state) { data_bench(state, 1 << 20, false); }

void modes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"validate", "trace"});
  for (int v : {0, 1}) {
    for (int t : {0, 1}) b->Args({v, t});
  }
  b->Setup(set_modes)->Threads(1)->Threads(2)->UseRealTime();
}

BENCHMARK(BM_Lookup)->Apply(modes);
BENCHMARK(BM_Create)->Apply(modes);
BENCHMARK(BM_Unlink)->Apply(modes);
BENCHMARK(BM_RandWrite4k)->Apply(modes);
BENCHMARK(BM_SeqWrite1M)->Apply(modes);

}  // namespace

BENCHMARK_MAIN();

// Uncontended acquire+release of RwSemaphore (validator off/on, tracer off/on) next to
// std::shared_mutex, then a ratio table. Run: build/<dir>/scripts/microbench/lockfs-locking-bench
// The threads:2 variants take one lock per thread, all of one class (per-class shared state
// such as lock_stat counters shows up there), and clock_gettime is the floor of tracer costs:
// the tracer stamps each acquire and each release.
#include <benchmark/benchmark.h>
#include <time.h>

#include <cstdio>
#include <map>
#include <shared_mutex>
#include <string>
#include <vector>

#include "locking/rwsem.h"
#include "locking/tracer.h"
#include "locking/validator.h"

namespace {

using lockfs::locking::LockClass;
using lockfs::locking::LockKind;
using lockfs::locking::RwSemaphore;
using lockfs::locking::ValidateMode;

LockClass g_bench_class("bench_rwsem", LockKind::kRwSem);

struct Config {
  const char* name;
  bool validator;
  bool tracer;
};
constexpr Config kConfigs[] = {
    {"plain", false, false},
    {"validator", true, false},
    {"tracer", false, true},
    {"validator+tracer", true, true},
};

// Switches the validator/tracer on for one benchmark run and back off after it. In
// multi-threaded runs only thread 0 does it: the benchmark loop starts and ends with a barrier.
class Instrumentation {
 public:
  Instrumentation(const Config& c, const benchmark::State& state)
      : owner_(state.thread_index() == 0) {
    if (!owner_) return;
    lockfs::locking::set_validate_mode(c.validator ? ValidateMode::kWarn : ValidateMode::kOff);
    if (c.tracer) lockfs::locking::tracer_enable(1 << 16);
  }
  ~Instrumentation() {
    if (!owner_) return;
    lockfs::locking::set_validate_mode(ValidateMode::kOff);
    lockfs::locking::tracer_disable();
    lockfs::locking::trace_reset();
    lockfs::locking::reset_validator();
  }
  Instrumentation(const Instrumentation&) = delete;
  Instrumentation& operator=(const Instrumentation&) = delete;

 private:
  const bool owner_;
};

void bm_clock_gettime(benchmark::State& state) {
  for (auto _ : state) {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    benchmark::DoNotOptimize(ts);
  }
}

void bm_shared_mutex_read(benchmark::State& state) {
  std::shared_mutex m;
  for (auto _ : state) {
    m.lock_shared();
    m.unlock_shared();
  }
}

void bm_shared_mutex_write(benchmark::State& state) {
  std::shared_mutex m;
  for (auto _ : state) {
    m.lock();
    m.unlock();
  }
}

void bm_rwsem_read(benchmark::State& state, Config c) {
  Instrumentation on(c, state);
  RwSemaphore sem(g_bench_class, 1);
  for (auto _ : state) {
    sem.down_read();
    sem.up_read();
  }
}

void bm_rwsem_write(benchmark::State& state, Config c) {
  Instrumentation on(c, state);
  RwSemaphore sem(g_bench_class, 1);
  for (auto _ : state) {
    sem.down_write();
    sem.up_write();
  }
}

// Keeps the console output and remembers CPU ns per iteration for the ratio table (CPU time,
// not wall time: on a shared 2-core machine wall time mostly measures the other tenants).
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.run_type == Run::RT_Iteration && !r.error_occurred) {
        ns_[r.benchmark_name()] = r.GetAdjustedCPUTime();  // default unit: ns
      }
    }
  }
  double ns(const std::string& name) const {
    auto it = ns_.find(name);
    return it == ns_.end() ? 0 : it->second;
  }

 private:
  std::map<std::string, double> ns_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::RegisterBenchmark("shared_mutex/read", bm_shared_mutex_read);
  benchmark::RegisterBenchmark("shared_mutex/write", bm_shared_mutex_write);
  benchmark::RegisterBenchmark("clock_gettime", bm_clock_gettime);
  for (const Config& c : kConfigs) {
    benchmark::RegisterBenchmark((std::string("rwsem/read/") + c.name).c_str(), bm_rwsem_read, c);
    benchmark::RegisterBenchmark((std::string("rwsem/write/") + c.name).c_str(), bm_rwsem_write, c);
  }
  for (const Config& c : kConfigs) {
    benchmark::RegisterBenchmark((std::string("rwsem/read/") + c.name).c_str(), bm_rwsem_read, c)
        ->Threads(2);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);

  std::printf("\nUncontended acquire+release, CPU ns per pair and ratio to std::shared_mutex\n");
  std::printf("%-22s %12s %8s %12s %8s\n", "rwsem config", "read ns", "ratio", "write ns", "ratio");
  const double base_r = reporter.ns("shared_mutex/read");
  const double base_w = reporter.ns("shared_mutex/write");
  std::printf("%-22s %12.2f %8.2f %12.2f %8.2f\n", "std::shared_mutex", base_r, 1.0, base_w, 1.0);
  for (const Config& c : kConfigs) {
    const double r = reporter.ns(std::string("rwsem/read/") + c.name);
    const double w = reporter.ns(std::string("rwsem/write/") + c.name);
    if (r == 0 && w == 0) continue;  // filtered out
    std::printf("%-22s %12.2f %8.2f %12.2f %8.2f\n", c.name, r, base_r > 0 ? r / base_r : 0, w,
                base_w > 0 ? w / base_w : 0);
  }
  benchmark::Shutdown();
  return 0;
}

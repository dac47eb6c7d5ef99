// The in-process workload driver behind lockfs-stress (and the tests): random namespace and
// data operations from many threads through core::Vfs, with the validator strict and the
// tracer on; afterwards the namespace checker, the violation count and lock_stat per class.
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "core/fsck.h"
#include "locking/result.h"

namespace lockfs::core {

struct StressOptions {
  int threads = 4;
  uint64_t ops = 20000;   // in total, split between the threads
  uint64_t seed = 1;
  std::string profile = "current";
  int hot_dirs = 4;       // directories most operations hit (contention is the point)
  int files_per_dir = 32;
  // Models ->lookup's own work (a directory block read on a disk filesystem): the directory's
  // i_rwsem is held this much longer by each lookup (MountOptions::lookup_latency_us). What
  // the profiles differ in is whether other lookups can share that time. 0: off.
  uint64_t lookup_hold_us = 50;
};

struct ClassStat {
  std::string name;
  uint64_t acquisitions = 0, contentions = 0, killed = 0;
  uint64_t wait_total_ns = 0, wait_max_ns = 0;
};

struct StressResult {
  uint64_t ops_run = 0;
  uint64_t unexpected_errors = 0;  // errnos the operation cannot legitimately return
  uint64_t violations = 0;         // validator violations during the run (must be 0)
  std::map<std::string, uint64_t> ops_by_kind;
  std::map<int, uint64_t> errnos;  // expected errnos seen (-ENOENT...), for the report
  std::vector<std::string> unexpected;  // first few unexpected errors, described
  FsckReport fsck;
  // Each worker also runs operations in a private directory against an exact model of it;
  // every result errno and, after the run, every entry is compared with the model.
  uint64_t model_ops = 0;
  uint64_t model_mismatches = 0;
  std::vector<std::string> model_errors;  // the first few mismatches, described
  std::vector<ClassStat> classes;  // lock_stat, most contended first
  double seconds = 0;

  const ClassStat* find(const std::string& cls) const;
  bool ok() const {
    return unexpected_errors == 0 && violations == 0 && fsck.ok() && model_mismatches == 0;
  }
};

// Runs the workload on a fresh mount. Turns the validator strict (violations are counted and
// reported, not fatal) and the tracer on for the run; restores neither afterwards.
// -EINVAL for a bad profile or option.
Result<StressResult> run_stress(const StressOptions& opts);

// Human-readable report: ops, violations, namespace check, lock contention per class with the
// directory i_rwsem figure spelled out.
void print_stress_report(std::ostream& os, const StressOptions& opts, const StressResult& r);

}  // namespace lockfs::core

// lockfs-stress: runs the random multi-threaded workload through core/ (validator strict,
// tracer on), checks the namespace, and prints ops, violations and lock contention per class.
//   lockfs-stress [--threads N] [--ops N] [--seed N] [--profile current|5.x|3.x]
//                 [--hot-dirs N] [--files N] [--lookup-hold-us N] [--compare]
// --compare runs the same seeded workload under 3.x (exclusive lookup) and current (shared
// lookup) and prints the directory i_rwsem contention of both side by side.
// Exit status: 0 when no violation, no unexpected error and a consistent namespace; 1 if not;
// 2 for bad usage. Compare profiles: run it with --profile=3.x and --profile=current.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "core/stress.h"

namespace {

void usage() {
  std::fprintf(stderr,
               "usage: lockfs-stress [--threads N] [--ops N] [--seed N] "
               "[--profile current|5.x|3.x] [--hot-dirs N] [--files N] [--lookup-hold-us N] "
               "[--compare]\n");
}

bool parse_u64(const std::string& s, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (errno != 0 || end == s.c_str() || *end != '\0') return false;
  *out = v;
  return true;
}

// Same workload, two profiles; the line that matters is the i_rwsem(dir) one.
int run_compare(lockfs::core::StressOptions opts) {
  bool ok = true;
  std::string summary;
  for (const char* profile : {"3.x", "current"}) {
    opts.profile = profile;
    auto r = lockfs::core::run_stress(opts);
    if (!r.ok()) {
      std::fprintf(stderr, "lockfs-stress: %s\n", std::strerror(-r.error()));
      return 2;
    }
    lockfs::core::print_stress_report(std::cout, opts, *r);
    std::cout << "\n";
    ok = ok && r->ok();
    const lockfs::core::ClassStat* d = r->find("i_rwsem(dir)");
    char line[200];
    std::snprintf(line, sizeof line,
                  "  %-8s i_rwsem(dir): %8llu contentions / %9llu acquisitions (%6.2f%%), "
                  "waited %9.3f ms\n",
                  profile, d ? (unsigned long long)d->contentions : 0ull,
                  d ? (unsigned long long)d->acquisitions : 0ull,
                  d && d->acquisitions ? 100.0 * d->contentions / d->acquisitions : 0.0,
                  d ? d->wait_total_ns / 1e6 : 0.0);
    summary += line;
  }
  std::cout << "profile comparison (same seed and workload):\n" << summary;
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  lockfs::core::StressOptions opts;
  bool compare = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    if (arg == "--compare") {
      compare = true;
      continue;
    }
    if (auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (arg != "--help" && arg != "-h") {
      if (i + 1 >= argc) {
        usage();
        return 2;
      }
      value = argv[++i];
    }
    uint64_t n = 0;
    if (arg == "--help" || arg == "-h") {
      usage();
      return 0;
    } else if (arg == "--profile") {
      opts.profile = value;
    } else if (!parse_u64(value, &n)) {
      std::fprintf(stderr, "lockfs-stress: %s needs a number, got '%s'\n", arg.c_str(),
                   value.c_str());
      return 2;
    } else if (arg == "--threads") {
      opts.threads = static_cast<int>(n);
    } else if (arg == "--ops") {
      opts.ops = n;
    } else if (arg == "--seed") {
      opts.seed = n;
    } else if (arg == "--hot-dirs") {
      opts.hot_dirs = static_cast<int>(n);
    } else if (arg == "--files") {
      opts.files_per_dir = static_cast<int>(n);
    } else if (arg == "--lookup-hold-us") {
      opts.lookup_hold_us = n;
    } else {
      std::fprintf(stderr, "lockfs-stress: unknown option %s\n", arg.c_str());
      usage();
      return 2;
    }
  }
  if (compare) return run_compare(opts);
  auto r = lockfs::core::run_stress(opts);
  if (!r.ok()) {
    std::fprintf(stderr, "lockfs-stress: %s\n", std::strerror(-r.error()));
    return 2;
  }
  lockfs::core::print_stress_report(std::cout, opts, *r);
  return r->ok() ? 0 : 1;
}

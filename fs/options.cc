// Option parsing with fuse_opt_parse, so lockfs's options mix freely with libfuse's in one -o.
#include "fs/options.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "locking/contract.h"

namespace lockfs::fs {
namespace {

// fuse_opt_parse stores "%s" templates as malloc'd strings at these offsets.
struct RawOptions {
  char* size = nullptr;
  char* nr_inodes = nullptr;
  char* contract = nullptr;
  char* validate = nullptr;
  char* trace = nullptr;
  char* trace_file = nullptr;
  char* log_level = nullptr;
  char* log_file = nullptr;
  char* entry_timeout = nullptr;
  char* attr_timeout = nullptr;
  int writeback = 0;
  int sync_read = 0;
  // Non-option arguments: [SOURCE] MOUNTPOINT.
  int nonopts = 0;
  std::string first, second;

  ~RawOptions() {
    for (char* p : {size, nr_inodes, contract, validate, trace, trace_file, log_level, log_file,
                    entry_timeout, attr_timeout})
      free(p);
  }
};

#define LOCKFS_OPT(t, field) {t, offsetof(RawOptions, field), 0}
const struct fuse_opt kOpts[] = {
    LOCKFS_OPT("size=%s", size),
    LOCKFS_OPT("nr_inodes=%s", nr_inodes),
    LOCKFS_OPT("contract=%s", contract),
    LOCKFS_OPT("validate=%s", validate),
    LOCKFS_OPT("trace=%s", trace),
    LOCKFS_OPT("trace_file=%s", trace_file),
    LOCKFS_OPT("log_level=%s", log_level),
    LOCKFS_OPT("log_file=%s", log_file),
    LOCKFS_OPT("entry_timeout=%s", entry_timeout),
    LOCKFS_OPT("attr_timeout=%s", attr_timeout),
    {"writeback", offsetof(RawOptions, writeback), 1},
    {"writeback_cache", offsetof(RawOptions, writeback), 1},
    {"sync_read", offsetof(RawOptions, sync_read), 1},
    FUSE_OPT_END,
};
#undef LOCKFS_OPT

int collect_nonopt(void* data, const char* arg, int key, struct fuse_args*) {
  if (key != FUSE_OPT_KEY_NONOPT) return 1;  // keep for libfuse
  auto* raw = static_cast<RawOptions*>(data);
  if (raw->nonopts == 0) {
    raw->first = arg;
  } else if (raw->nonopts == 1) {
    raw->second = arg;
  } else {
    fprintf(stderr, "lockfs: too many arguments: '%s' (usage: lockfs [SOURCE] MOUNTPOINT)\n", arg);
    return -1;
  }
  raw->nonopts++;
  return 0;  // dropped: the mount point is added back once we know which one it is
}

bool parse_seconds(const char* name, const char* text, double* out) {
  char* end = nullptr;
  errno = 0;
  double v = strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || v < 0 || v > 86400.0 * 365) {
    fprintf(stderr, "lockfs: bad %s='%s': want seconds >= 0 (e.g. 1 or 0.5)\n", name, text);
    return false;
  }
  *out = v;
  return true;
}

}  // namespace

Result<uint64_t> parse_size(std::string_view text, bool allow_percent) {
  std::string s(text);
  if (s.empty() || s[0] == '-' || s[0] == '+') return err(-EINVAL);
  char* end = nullptr;
  errno = 0;
  unsigned long long v = strtoull(s.c_str(), &end, 10);
  if (errno != 0 || end == s.c_str()) return err(-EINVAL);
  std::string suffix(end);
  unsigned __int128 bytes = v;
  if (suffix.empty()) {
  } else if (suffix.size() == 1 && strchr("kKmMgGtT", suffix[0]) != nullptr) {
    int shift = 0;
    switch (suffix[0] | 0x20) {
      case 'k': shift = 10; break;
      case 'm': shift = 20; break;
      case 'g': shift = 30; break;
      case 't': shift = 40; break;
    }
    bytes <<= shift;
  } else if (suffix == "%" && allow_percent) {
    if (v > 100) return err(-EINVAL);
    unsigned __int128 ram =
        static_cast<unsigned __int128>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
    bytes = ram * v / 100;
  } else {
    return err(-EINVAL);
  }
  if (bytes == 0 || bytes > UINT64_MAX / 2) return err(-EINVAL);
  return static_cast<uint64_t>(bytes);
}

void print_usage(const char* prog) {
  printf(
      "usage: %s [SOURCE] MOUNTPOINT [-o OPTION[,OPTION...]] [-f] [-d] [-s]\n"
      "\n"
      "lockfs: an in-memory scratch filesystem (like tmpfs) whose userspace VFS core takes,\n"
      "checks and records the locks Documentation/filesystems/locking.rst prescribes.\n"
      "SOURCE is accepted and ignored, so `mount -t fuse.lockfs lockfs MOUNTPOINT` and fstab\n"
      "lines work through mount.fuse3. Unmount with `fusermount3 -u MOUNTPOINT`.\n"
      "\n"
      "lockfs options (-o):\n"
      "    size=N[k|m|g|t|%%]     capacity for file data (default: half of RAM, like tmpfs)\n"
      "    nr_inodes=N[k|m|g]     maximum number of inodes (default: derived from size)\n"
      "    contract=PROFILE       locking rules to model: current (default), 5.x, 3.x\n"
      "    validate=MODE          lock validator: strict (abort on a violation; tests use it),\n"
      "                           warn (default: count, log and go on), off\n"
      "    trace=on|off|N         lock trace ring buffers; N = events per thread\n"
      "                           (default: on, 16384 events per thread)\n"
      "    trace_file=PATH        write the trace at unmount: .json -> Chrome/Perfetto,\n"
      "                           .jsonl -> JSON lines, anything else -> text\n"
      "    log_level=LEVEL        trace, debug, info (default), warn, error, critical, off\n"
      "    log_file=PATH          log to PATH (default: stderr with -f, syslog otherwise)\n"
      "    entry_timeout=SECONDS  kernel name cache timeout (default: 1)\n"
      "    attr_timeout=SECONDS   kernel attribute cache timeout (default: 1)\n"
      "    writeback              let the kernel cache writes (FUSE writeback cache)\n"
      "    sync_read              no async reads: every read is a synchronous request the\n"
      "                           kernel interrupts when its caller is killed (slower)\n"
      "\n"
      "Control a running mount with lockfs-ctl MOUNTPOINT trace|lockstat|violations|reset|\n"
      "contract|stats (only the mounting user or root).\n"
      "\n"
      "FUSE options:\n",
      prog);
  fuse_cmdline_help();
  fuse_lowlevel_help();
}

ParseResult parse_options(fuse_args* args, Options* out) {
  RawOptions raw;
  if (fuse_opt_parse(args, &raw, kOpts, collect_nonopt) == -1) return ParseResult::kExitError;
  // One argument: the mount point. Two: SOURCE (ignored, for mount.fuse3) then the mount point.
  const std::string& mnt = raw.nonopts == 2 ? raw.second : raw.first;
  if (raw.nonopts > 0 && fuse_opt_add_arg(args, mnt.c_str()) == -1) return ParseResult::kExitError;

  struct fuse_cmdline_opts c;
  memset(&c, 0, sizeof c);
  if (fuse_parse_cmdline(args, &c) != 0) return ParseResult::kExitError;
  if (c.show_help) {
    print_usage(args->argv[0]);
    free(c.mountpoint);
    return ParseResult::kExitOk;
  }
  if (c.show_version) {
    printf("lockfs (libfuse %s)\n", fuse_pkgversion());
    fuse_lowlevel_version();
    free(c.mountpoint);
    return ParseResult::kExitOk;
  }
  if (c.mountpoint == nullptr) {
    fprintf(stderr, "lockfs: no mount point given\n");
    fprintf(stderr, "usage: %s [SOURCE] MOUNTPOINT [-o options]; see %s --help\n",
            args->argv[0], args->argv[0]);
    return ParseResult::kExitError;
  }
  out->mountpoint = c.mountpoint;
  free(c.mountpoint);
  out->foreground = c.foreground != 0;
  out->debug = c.debug != 0;
  out->singlethread = c.singlethread != 0;
  out->clone_fd = c.clone_fd;
  out->max_threads = c.max_threads;
  out->max_idle_threads = c.max_idle_threads;

  if (raw.size) {
    auto v = parse_size(raw.size, true);
    if (!v.ok()) {
      fprintf(stderr, "lockfs: bad size='%s': want N, Nk, Nm, Ng, Nt or N%% (of RAM)\n", raw.size);
      return ParseResult::kExitError;
    }
    out->mount.size_bytes = *v;
  }
  if (raw.nr_inodes) {
    auto v = parse_size(raw.nr_inodes, false);
    if (!v.ok()) {
      fprintf(stderr, "lockfs: bad nr_inodes='%s': want a positive number (k/m/g allowed)\n",
              raw.nr_inodes);
      return ParseResult::kExitError;
    }
    out->mount.nr_inodes = *v;
  }
  if (raw.contract) {
    auto p = locking::contract::profile_by_name(raw.contract);
    if (!p.ok()) {
      fprintf(stderr, "lockfs: bad contract='%s': want current, 5.x or 3.x\n", raw.contract);
      return ParseResult::kExitError;
    }
    out->mount.profile = locking::contract::profile_name(*p);
  }
  if (raw.validate) {
    std::string v = raw.validate;
    if (v == "strict") {
      out->validate = locking::ValidateMode::kStrict;
    } else if (v == "warn") {
      out->validate = locking::ValidateMode::kWarn;
    } else if (v == "off") {
      out->validate = locking::ValidateMode::kOff;
    } else {
      fprintf(stderr, "lockfs: bad validate='%s': want strict, warn or off\n", raw.validate);
      return ParseResult::kExitError;
    }
  }
  if (raw.trace) {
    std::string t = raw.trace;
    if (t == "off" || t == "0") {
      out->trace = false;
    } else if (t == "on") {
      out->trace = true;
    } else {
      auto n = parse_size(t, false);
      if (!n.ok() || *n > (1u << 26)) {
        fprintf(stderr, "lockfs: bad trace='%s': want on, off or events per thread (<= 64M)\n",
                raw.trace);
        return ParseResult::kExitError;
      }
      out->trace = true;
      out->trace_ring = *n;
    }
  }
  if (raw.trace_file) out->trace_file = raw.trace_file;
  if (raw.log_level) out->log_level = raw.log_level;
  if (raw.log_file) out->log_file = raw.log_file;
  if (raw.entry_timeout && !parse_seconds("entry_timeout", raw.entry_timeout, &out->entry_timeout))
    return ParseResult::kExitError;
  if (raw.attr_timeout && !parse_seconds("attr_timeout", raw.attr_timeout, &out->attr_timeout))
    return ParseResult::kExitError;
  out->writeback = raw.writeback != 0;
  out->sync_read = raw.sync_read != 0;
  // The root belongs to whoever mounts, as a user's tmpfs-like scratch space should.
  out->mount.root_uid = getuid();
  out->mount.root_gid = getgid();
  return ParseResult::kRun;
}

}  // namespace lockfs::fs

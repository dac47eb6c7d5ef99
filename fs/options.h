// Command line of the lockfs daemon: `lockfs [SOURCE] MOUNTPOINT [-o opts] [-f] [-d] [-s]`.
// lockfs's own -o options are parsed here; the rest are left in `fuse_args` for libfuse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/vfs.h"
#include "fs/fuse.h"
#include "locking/validator.h"

namespace lockfs::fs {

struct Options {
  std::string mountpoint;          // as given (libfuse canonicalises it when mounting)
  bool foreground = false;
  bool debug = false;
  bool singlethread = false;
  int clone_fd = 0;
  unsigned max_threads = 10;
  unsigned max_idle_threads = 10;

  core::MountOptions mount;        // size=, nr_inodes=, contract=
  locking::ValidateMode validate = locking::ValidateMode::kWarn;
  bool trace = true;
  size_t trace_ring = 16384;       // events per thread
  std::string trace_file;          // final dump at unmount; format from the extension
  std::string log_level = "info";
  std::string log_file;
  double entry_timeout = 1.0;      // seconds the kernel may cache a name -> inode
  double attr_timeout = 1.0;       // seconds the kernel may cache attributes
  bool writeback = false;          // FUSE_CAP_WRITEBACK_CACHE
  bool sync_read = false;          // no FUSE_CAP_ASYNC_READ: reads are interruptible
};

enum class ParseResult { kRun, kExitOk, kExitError };

// Parses argv into `out`; `args` keeps what libfuse must see (standard -o options).
// Prints help/version for kExitOk and a one-line reason for kExitError.
ParseResult parse_options(fuse_args* args, Options* out);

void print_usage(const char* prog);

// "64m", "1G", "4096", "50%" (of physical RAM) -> bytes. -EINVAL when malformed or zero.
Result<uint64_t> parse_size(std::string_view text, bool allow_percent);

}  // namespace lockfs::fs

// lookup, forget, forget_multi: the kernel's dentry cache driving core's lookup counts.
//   lookup  Replies: entry | err.  Calls Vfs::lookup (one lookup count per entry sent).
//   forget  Replies: none.         Calls Vfs::forget (drops nlookup; may evict).
#include <spdlog/spdlog.h>

#include "fs/log.h"
#include "fs/ops/ops.h"

namespace lockfs::fs::ops {

Result<core::EntryOut> lookup(Request& r, fuse_ino_t parent, const char* name) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "lookup parent={} name={}", parent, name);
  return r.vfs().lookup(parent, name);
}

void forget(Request& r, fuse_ino_t ino, uint64_t nlookup) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "forget ino={} nlookup={}", ino, nlookup);
  r.vfs().forget(ino, nlookup);
}

void forget_multi(Request& r, size_t count, fuse_forget_data* forgets) {
  SPDLOG_LOGGER_DEBUG(fs_log(), "forget_multi count={}", count);
  for (size_t i = 0; i < count; i++) r.vfs().forget(forgets[i].ino, forgets[i].nlookup);
}

}  // namespace lockfs::fs::ops

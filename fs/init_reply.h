// Works around libfuse < 3.16, which never puts FUSE_PARALLEL_DIROPS in its INIT reply
// (fixed upstream by libfuse PR #861), so the kernel serialises lookup and readdir of a
// directory and the shared i_rwsem the contract prescribes is never really shared.
#pragma once

namespace lockfs::fs {

// Called from the init callback: the next INIT reply written to /dev/fuse gets
// FUSE_PARALLEL_DIROPS (libfuse writes it right after init returns). No-op with a libfuse
// that sends the flag itself.
void request_parallel_dirops_in_init_reply();

// True once an INIT reply was sent with FUSE_PARALLEL_DIROPS (by libfuse or by the fix-up).
bool parallel_dirops_sent();

}  // namespace lockfs::fs

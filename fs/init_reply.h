// Works around libfuse 3.14 (Debian's), whose INIT reply can only carry the flags it knows:
// it never sends FUSE_PARALLEL_DIROPS (fixed by libfuse PR #861 in 3.16), so the kernel
// serialises lookup and readdir of a directory and the shared i_rwsem the contract
// prescribes is never really shared; and it has no FUSE_HANDLE_KILLPRIV_V2, so the kernel
// asks for security.capability (a GETXATTR round trip) before every write.
#pragma once

#include <cstdint>

namespace lockfs::fs {

// fuse_init_out.flags bits (include/uapi/linux/fuse.h; checked in init_reply.cc).
inline constexpr uint32_t kInitParallelDirops = 1u << 18;    // FUSE_PARALLEL_DIROPS
inline constexpr uint32_t kInitHandleKillprivV2 = 1u << 28;  // FUSE_HANDLE_KILLPRIV_V2, 7.33

// Called from the init callback: the next INIT reply written to /dev/fuse gets `flags`
// (fuse_init_out.flags bits) ORed in; libfuse writes it right after init returns.
void add_init_reply_flags(uint32_t flags);

}  // namespace lockfs::fs

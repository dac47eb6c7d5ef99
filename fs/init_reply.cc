// The INIT-reply fix-up for libfuse 3.14 (see init_reply.h).
//
// libfuse sends every reply with writev(2) on the session fd: header, then the reply
// struct. The executable's own writev() interposes the C library's for libfuse's calls (the
// dynamic linker resolves libfuse's reference to the first definition, ours). It forwards
// every call unchanged through the raw system call, except the one INIT reply it was armed
// for, where it ORs the requested flags into a copy of fuse_init_out. The init callback only
// arms it for flags the kernel's protocol version knows and lockfs implements.
#include "fs/init_reply.h"

#include <linux/fuse.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace lockfs::fs {
static_assert(kInitParallelDirops == FUSE_PARALLEL_DIROPS);
static_assert(kInitHandleKillprivV2 == FUSE_HANDLE_KILLPRIV_V2);

namespace {
std::atomic<uint32_t> g_armed{0};

// Returns true and fills `patched` when `iov` is an INIT reply (then with `flags` added).
bool patch_init_reply(const struct iovec* iov, int iovcnt, uint32_t flags, fuse_init_out* patched) {
  if (iovcnt != 2 || iov[0].iov_len != sizeof(fuse_out_header)) return false;
  // Replies to old protocol minors are shorter; the flags field is at the same offset.
  const size_t len = iov[1].iov_len;
  if (len < offsetof(fuse_init_out, flags) + sizeof(uint32_t) || len > sizeof(fuse_init_out)) {
    return false;
  }
  const auto* hdr = static_cast<const fuse_out_header*>(iov[0].iov_base);
  if (hdr->error != 0 || hdr->len != sizeof(fuse_out_header) + len) return false;
  std::memset(patched, 0, sizeof *patched);
  std::memcpy(patched, iov[1].iov_base, len);
  // Only a reply to the armed INIT looks like this: major 7 and the max_write libfuse sets.
  if (patched->major != FUSE_KERNEL_VERSION || patched->max_write == 0) return false;
  patched->flags |= flags;
  return true;
}
}  // namespace

void add_init_reply_flags(uint32_t flags) { g_armed.fetch_or(flags, std::memory_order_acq_rel); }

}  // namespace lockfs::fs

extern "C" ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  using namespace lockfs::fs;
  if (const uint32_t flags = g_armed.load(std::memory_order_acquire); __builtin_expect(flags != 0, 0)) {
    fuse_init_out patched;
    if (patch_init_reply(iov, iovcnt, flags, &patched) && g_armed.exchange(0) != 0) {
      struct iovec fixed[2] = {iov[0], {&patched, iov[1].iov_len}};
      return syscall(SYS_writev, fd, fixed, 2);
    }
  }
  return syscall(SYS_writev, fd, iov, iovcnt);
}

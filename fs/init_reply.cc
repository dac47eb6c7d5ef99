// The INIT-reply fix-up for libfuse < 3.16 (see init_reply.h).
//
// libfuse 3.14 sends every reply with writev(2) on the session fd: header, then the reply
// struct. The executable's own writev() interposes the C library's for libfuse's calls (the
// dynamic linker resolves libfuse's reference to the first definition, ours). It forwards
// every call unchanged through the raw system call, except the one INIT reply it was armed
// for, where it sets FUSE_PARALLEL_DIROPS in a copy of fuse_init_out. The kernel offered the
// flag (libfuse reports it in conn->capable) and lockfs handles parallel lookups and
// readdirs: that is what core's i_rwsem shared mode exists for.
#include "fs/init_reply.h"

#include "fs/fuse.h"  // FUSE_VERSION

#include <linux/fuse.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace lockfs::fs {
namespace {
std::atomic<bool> g_armed{false};
std::atomic<bool> g_sent{false};
}  // namespace

#if FUSE_VERSION < FUSE_MAKE_VERSION(3, 16)
void request_parallel_dirops_in_init_reply() { g_armed.store(true, std::memory_order_release); }

// Returns true and fills `patched` when `iov` is the armed INIT reply.
static bool patch_init_reply(const struct iovec* iov, int iovcnt, fuse_init_out* patched) {
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
  patched->flags |= FUSE_PARALLEL_DIROPS;
  return true;
}
#else
void request_parallel_dirops_in_init_reply() {}
#endif

bool parallel_dirops_sent() { return g_sent.load(std::memory_order_acquire); }

}  // namespace lockfs::fs

extern "C" ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  using namespace lockfs::fs;
#if FUSE_VERSION < FUSE_MAKE_VERSION(3, 16)
  if (__builtin_expect(g_armed.load(std::memory_order_acquire), 0)) {
    fuse_init_out patched;
    if (patch_init_reply(iov, iovcnt, &patched) && g_armed.exchange(false)) {
      struct iovec fixed[2] = {iov[0], {&patched, iov[1].iov_len}};
      const ssize_t n = syscall(SYS_writev, fd, fixed, 2);
      if (n >= 0) g_sent.store(true, std::memory_order_release);
      return n;
    }
  }
#endif
  return syscall(SYS_writev, fd, iov, iovcnt);
}

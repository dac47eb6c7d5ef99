// Replies. Every function calls Request::finish() first: interrupt delivery stops before the
// request object is handed back to libfuse, and the op's result lands in the trace.
#include "fs/dispatch.h"

#include <spdlog/spdlog.h>

#include <cstring>

#include "fs/log.h"

namespace lockfs::fs {
namespace {

fuse_entry_param entry_param(const core::EntryOut& e, const Options& o) {
  fuse_entry_param p;
  memset(&p, 0, sizeof p);
  p.ino = e.ino;
  p.generation = e.generation;
  p.attr = e.attr;
  p.attr_timeout = o.attr_timeout;
  p.entry_timeout = o.entry_timeout;
  return p;
}

// Error replies share one path so the sign flip and the accounting are in one place.
template <typename T>
bool failed(Request& r, const Result<T>& res) {
  if (res.ok()) return false;
  reply_err(r, res.error());
  return true;
}

}  // namespace

void reply_err(Request& r, int neg_errno) noexcept {
  // A wait killed because the daemon is stopping, not because the caller was signalled:
  // the caller must not see EINTR (for locks the kernel turns it into a restart, which then
  // leaks as errno 512), but what a FUSE client sees when its server goes away.
  if (neg_errno == -EINTR && !r.interrupted() && r.daemon().shutting_down()) neg_errno = -ENOTCONN;
  r.finish(neg_errno);
  SPDLOG_LOGGER_DEBUG(fs_log(), "reply op={} err={}", r.task().op, neg_errno);
  fuse_reply_err(r.req(), -neg_errno);
}

void reply_err_raw(fuse_req_t req, int neg_errno) noexcept { fuse_reply_err(req, -neg_errno); }

void reply_none(Request& r) noexcept {
  r.finish(0);
  fuse_reply_none(r.req());
}

void reply(Request& r, Result<void>&& res) noexcept {
  if (failed(r, res)) return;
  r.finish(0);
  fuse_reply_err(r.req(), 0);
}

void reply(Request& r, Result<core::EntryOut>&& res) noexcept {
  if (failed(r, res)) return;
  r.finish(0);
  fuse_entry_param p = entry_param(*res, r.options());
  if (fuse_reply_entry(r.req(), &p) != 0) r.vfs().forget(res->ino, 1);
}

void reply_lookup(Request& r, Result<core::EntryOut>&& res) noexcept {
  if (res.ok() || res.error() != -ENOENT || r.options().entry_timeout <= 0) {
    reply(r, std::move(res));
    return;
  }
  r.finish(res.error());
  fuse_entry_param p;
  memset(&p, 0, sizeof p);
  p.entry_timeout = r.options().entry_timeout;
  fuse_reply_entry(r.req(), &p);
}

void reply(Request& r, Result<Attr>&& res) noexcept {
  if (failed(r, res)) return;
  r.finish(0);
  fuse_reply_attr(r.req(), &res->st, r.options().attr_timeout);
}

void reply(Request& r, fuse_file_info* fi, Result<OpenOut>&& res) noexcept {
  if (failed(r, res)) return;
  r.finish(0);
  fi->fh = reinterpret_cast<uint64_t>(res->file);
  // FOPEN_KEEP_CACHE: every change to a file's data reaches lockfs through this mount, so
  // the kernel's page cache of the file stays valid from one open to the next.
  if (!res->dir) fi->keep_cache = 1;
  if (fuse_reply_open(r.req(), fi) != 0) {
    // The kernel gave up on the open (interrupted): nobody will send release for it.
    auto rel = res->dir ? r.vfs().releasedir(res->file) : r.vfs().release(res->file);
    (void)rel;
  }
}

void reply(Request& r, fuse_file_info* fi, Result<core::Vfs::CreateOut>&& res) noexcept {
  if (failed(r, res)) return;
  r.finish(0);
  fuse_entry_param p = entry_param(res->entry, r.options());
  fi->fh = reinterpret_cast<uint64_t>(res->file);
  if (fuse_reply_create(r.req(), &p, fi) != 0) {
    auto rel = r.vfs().release(res->file);
    (void)rel;
    r.vfs().forget(res->entry.ino, 1);
  }
}

void reply(Request& r, Result<Bytes>&& res) noexcept {
  if (failed(r, res)) return;
  r.finish(0);
  if (fuse_reply_buf(r.req(), res->data.get(), res->len) != 0) {
    for (fuse_ino_t ino : res->lookups) r.vfs().forget(ino, 1);
  }
}

void reply(Request& r, Result<LinkTarget>&& res) noexcept {
  if (failed(r, res)) return;
  r.finish(0);
  fuse_reply_readlink(r.req(), res->target.c_str());
}

void reply(Request& r, Result<XattrOut>&& res) noexcept {
  if (failed(r, res)) return;
  r.finish(0);
  if (res->size_only) fuse_reply_xattr(r.req(), res->value.size());
  else fuse_reply_buf(r.req(), res->value.data(), res->value.size());
}

void reply(Request& r, Result<Written>&& res) noexcept {
  if (failed(r, res)) return;
  r.finish(0);
  fuse_reply_write(r.req(), res->n);
}

void reply(Request& r, Result<SeekOut>&& res) noexcept {
  if (failed(r, res)) return;
  r.finish(0);
  fuse_reply_lseek(r.req(), res->off);
}

void reply(Request& r, Result<LockOut>&& res) noexcept {
  if (failed(r, res)) return;
  r.finish(0);
  fuse_reply_lock(r.req(), &res->lk);
}

void reply(Request& r, Result<StatfsOut>&& res) noexcept {
  if (failed(r, res)) return;
  r.finish(0);
  fuse_reply_statfs(r.req(), &res->st);
}

void reply(Request& r, Result<IoctlOut>&& res) noexcept {
  if (failed(r, res)) return;
  r.finish(0);
  fuse_reply_ioctl(r.req(), res->result, res->out.empty() ? nullptr : res->out.data(),
                   res->out.size());
}

void reply(Request& r, Result<PollOut>&& res) noexcept {
  if (failed(r, res)) return;
  r.finish(0);
  fuse_reply_poll(r.req(), res->revents);
}

}  // namespace lockfs::fs

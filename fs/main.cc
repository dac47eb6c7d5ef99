// lockfs: the FUSE daemon. Parses options, sets up logging (the four loggers), the
// validator and the tracer, mounts core::Vfs behind the low-level FUSE API, serves the
// control socket, and at unmount kills waits still in flight and writes the final trace.
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/vfs.h"
#include "fs/ctl_protocol.h"
#include "fs/ctl_server.h"
#include "fs/daemon.h"
#include "fs/fuse.h"
#include "fs/log.h"
#include "fs/lowlevel.h"
#include "fs/options.h"
#include "locking/tracer.h"
#include "locking/validator.h"

using namespace lockfs;

namespace {

// Every regular file with data keeps its page cache in a memfd (core/pagecache), so the
// number of such files is bounded by the open-file limit: raise the soft limit to the hard
// one, as libfuse's passthrough_hp does. What is still out of reach is reported as ENOSPC.
void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max) return;
  lim.rlim_cur = lim.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
    spdlog::get("fs")->warn("cannot raise the open-file limit: {}", strerror(errno));
  }
}

int serve(fs::Daemon& d, fuse_args* args, const std::string& canonical) {
  const fs::Options& o = d.options();
  const fuse_lowlevel_ops& ops = fs::lowlevel_ops();
  fuse_session* se = fuse_session_new(args, &ops, sizeof ops, &d);
  if (se == nullptr) return 1;  // libfuse printed why (e.g. an unknown -o option)
  int ret = 1;
  // Listening before the mount appears: a script that runs lockfs-ctl as soon as it sees
  // the mount, or as soon as a backgrounding `lockfs MNT` returns, finds the socket.
  fs::CtlServer ctl(d);
  Result<std::string> path = ctl.listen(canonical);
  if (fuse_set_signal_handlers(se) == 0) {
    if (fuse_session_mount(se, canonical.c_str()) == 0) {
      // Mounted over another lockfs on the same mount point: lockfs-ctl now reaches us.
      if (!path.ok() && path.error() == -EADDRINUSE) path = ctl.listen(canonical, true);
      fuse_daemonize(o.foreground ? 1 : 0);
      d.session = se;
      fs::fs_log()->info("mounted on {} profile={} validate={} trace={} size={} nr_inodes={}",
                         canonical, o.mount.profile,
                         locking::validate_mode_name(o.validate),
                         o.trace ? std::to_string(o.trace_ring) : std::string("off"),
                         o.mount.size_bytes, o.mount.nr_inodes);
      ctl.start();  // after the fork in fuse_daemonize: threads do not survive it
      if (path.ok()) fs::fs_log()->info("control socket {}", *path);
      else fs::fs_log()->warn("no control socket: {}", strerror(-path.error()));

      int rc;
      if (o.singlethread) {
        rc = fuse_session_loop(se);
      } else {
        fuse_loop_config* cfg = fuse_loop_cfg_create();
        fuse_loop_cfg_set_clone_fd(cfg, static_cast<unsigned>(o.clone_fd));
        fuse_loop_cfg_set_max_threads(cfg, o.max_threads);
        // UINT_MAX: -o max_idle_threads not given; libfuse keeps its default.
        if (o.max_idle_threads != UINT_MAX) fuse_loop_cfg_set_idle_threads(cfg, o.max_idle_threads);
        rc = fuse_session_loop_mt(se, cfg);
        fuse_loop_cfg_destroy(cfg);
      }
      // Requests still in flight wait in core: lock waiters on threads of their own (the
      // workers are joined already), or killable waits the control thread found first.
      if (!d.shutting_down() && d.inflight() > 0) {
        fs::fs_log()->info("session ended: killing waits of {} in-flight requests", d.inflight());
      }
      d.shutdown();
      d.join_lock_waiters();  // killed by shutdown(): each answers its request and ends
      ctl.stop();
      // rc > 0: stopped by SIGINT/SIGTERM/SIGHUP, a requested clean stop.
      ret = rc < 0 ? 1 : 0;
      if (rc < 0) fs::fs_log()->error("session loop failed: {}", strerror(-rc));
      fuse_session_unmount(se);
    }
    fuse_remove_signal_handlers(se);
  }
  ctl.stop();  // a failed mount leaves no socket behind
  fuse_session_destroy(se);
  return ret;
}

}  // namespace

int main(int argc, char** argv) {
  fuse_args args = FUSE_ARGS_INIT(argc, argv);
  fs::Options opts;
  switch (fs::parse_options(&args, &opts)) {
    case fs::ParseResult::kRun: break;
    case fs::ParseResult::kExitOk: fuse_opt_free_args(&args); return 0;
    case fs::ParseResult::kExitError: fuse_opt_free_args(&args); return 1;
  }
  fs::LogConfig lc;
  lc.level = opts.debug && opts.log_level == "info" ? "debug" : opts.log_level;
  lc.file = opts.log_file;
  lc.foreground = opts.foreground;
  if (!fs::setup_logging(lc)) {
    fuse_opt_free_args(&args);
    return 1;
  }
  auto canonical = fs::ctl::canonical_path(opts.mountpoint);
  if (!canonical.ok()) {
    fprintf(stderr, "lockfs: bad mount point '%s': %s\n", opts.mountpoint.c_str(),
            strerror(-canonical.error()));
    fuse_opt_free_args(&args);
    return 1;
  }
  locking::set_validate_mode(opts.validate);
  if (opts.trace) locking::tracer_enable(opts.trace_ring);
  raise_fd_limit();

  auto vfs = core::Vfs::mount(opts.mount);
  if (!vfs.ok()) {
    fprintf(stderr, "lockfs: cannot create the filesystem: %s\n", strerror(-vfs.error()));
    fuse_opt_free_args(&args);
    return 1;
  }
  int ret;
  {
    fs::Daemon d(opts, std::move(*vfs));
    ret = serve(d, &args, *canonical);
    if (!opts.trace_file.empty() && opts.trace) {
      if (fs::dump_trace_file(opts.trace_file)) fs::fs_log()->info("trace written to {}", opts.trace_file);
      else fs::fs_log()->error("cannot write trace_file {}", opts.trace_file);
    }
    uint64_t v = locking::violation_count();
    if (d.session == nullptr) fs::fs_log()->info("not mounted");  // libfuse said why
    else if (v > 0) fs::fs_log()->warn("unmounted with {} lock violations", v);
    else if (locking::validator_ran_out_of_memory())
      fs::fs_log()->warn("unmounted; the lock validator ran out of memory and stopped checking");
    else fs::fs_log()->info("unmounted, no lock violations");
    d.destroy_vfs();  // kill_sb: evicts every inode while the loggers still exist
  }
  fuse_opt_free_args(&args);
  spdlog::shutdown();
  return ret;
}

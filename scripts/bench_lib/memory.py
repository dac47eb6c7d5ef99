"""Daemon memory of a fresh lockfs daemon before and after a load.

Two loads, each on its own fresh mount so the peaks do not mix: N empty files (bytes of
daemon memory per inode) and one file of M MiB written in 1 MiB writes (memory beyond the
file's bytes, as a share of them). The daemon's memory is its peak RSS (VmHWM) without the
shmem pages it has mapped (RssShmem), plus every page of the memfds it holds open: file data
lives in memfds, and pages written into a memfd with pwrite(2) are never in the daemon's RSS,
while pages touched through a mapping would otherwise count twice. A small warm-up of the
same kind runs before the base reading, so libfuse's worker threads and their request
buffers (a fixed cost, not a per-inode or per-byte one) are already counted in the base; for
the data load it starts every worker libfuse will have (see _start_every_worker).
"""
import os
import resource
import shutil
import subprocess
import time

from bench_lib.mounts import MountError, proc_status_kib
from bench_lib.workloads import WorkloadError


def memfd_kib(pid):
    """KiB allocated in the distinct memfds `pid` holds open."""
    seen, kib = set(), 0
    fd_dir = f"/proc/{pid}/fd"
    for name in os.listdir(fd_dir):
        path = os.path.join(fd_dir, name)
        try:
            if not os.readlink(path).startswith("/memfd:"):
                continue
            st = os.stat(path)
        except OSError:
            continue  # closed meanwhile
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            kib += st.st_blocks // 2
    return kib


def daemon_kib(pid):
    """Peak RSS less the shmem it maps, plus all memfd pages (see the module comment)."""
    return (proc_status_kib(pid, "VmHWM") - proc_status_kib(pid, "RssShmem")
            + memfd_kib(pid))


# More writers at once than libfuse has workers (max_threads, 10 by default).
WARM_WRITERS = 16


def _start_every_worker(ctx, fs):
    """The data load's fixed cost, in the base: every worker thread libfuse will start, each
    with its request buffer filled by a 1 MiB write. How many a 1 GiB write starts depends on
    how many writes the kernel's writeback sends at once (5 to 7 were seen, moving the
    figure by a few tenths of a percent), so as many writers as can run at once start them
    all here. Their files are then removed and the kernel made to forget them, so that their
    memfds are closed again before the base is read. Needs root (drop_caches)."""
    d = os.path.join(fs.root, "warmup")
    os.mkdir(d)
    procs = [subprocess.Popen([ctx.fsops_bin, "writefile", os.path.join(d, f"w{i}"), "4"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for i in range(WARM_WRITERS)]
    failed = [p.communicate(timeout=ctx.sizes.timeout)[1].strip() for p in procs]
    if any(p.returncode != 0 for p in procs):
        raise WorkloadError(f"warm-up writers failed: {[f for f in failed if f][:1]}")
    shutil.rmtree(d)
    for _ in range(100):
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w", encoding="ascii") as f:
            f.write("2")
        if memfd_kib(fs.pid) < 1024:
            return
        time.sleep(0.05)
    raise WorkloadError(f"the warm-up files kept {memfd_kib(fs.pid)} KiB in memfds: "
                        "the kernel never forgot them")


def _measure(make_fs, warmup, load):
    fs = make_fs()
    try:
        fs.mount()
        fs.check()
        try:
            warmup(fs)
            base = daemon_kib(fs.pid)
            units = load(fs)
        except (WorkloadError, OSError) as e:
            raise WorkloadError(f"{e}{fs.daemon_status()}") from e
        fs.check()
        peak = daemon_kib(fs.pid)
        return base, peak, units
    finally:
        fs.unmount()


def measure(ctx, make_fs):
    """Returns a dict of figures, or {"error": text}."""
    out = {}
    n, mib = ctx.sizes.mem_files, ctx.sizes.mem_mib
    try:
        def files(fs):
            d = os.path.join(fs.root, "files")
            os.mkdir(d)
            ctx.current_fs = fs
            ctx.fsops("mkfiles", d, n)
            return n
        def files_warmup(fs):
            d = os.path.join(fs.root, "warmup")
            os.mkdir(d)
            ctx.current_fs = fs
            ctx.fsops("mkfiles", d, 1000)
            ctx.fsops("rmfiles", d, 1000)
        try:
            base, peak, _ = _measure(make_fs, files_warmup, files)
        except WorkloadError as e:
            # Still give a per-inode figure: a daemon that keeps an fd per inode dies at
            # RLIMIT_NOFILE, so retry below it and say so.
            limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            out["files_error"] = f"{n} files: {e}"
            n = min(n // 2, limit * 3 // 4)
            base, peak, _ = _measure(make_fs, files_warmup, files)
        out["files"] = n
        out["files_base_kib"], out["files_peak_kib"] = base, peak
        out["bytes_per_inode"] = (peak - base) * 1024 / n

        def data(fs):
            ctx.current_fs = fs
            ctx.fsops("writefile", os.path.join(fs.root, "big"), mib)
            return mib
        def data_warmup(fs):
            ctx.current_fs = fs
            if os.geteuid() != 0:  # no drop_caches: a warm-up that leaves no file behind
                ctx.fsops("writefile", os.path.join(fs.root, "warmup"), 2)
                os.unlink(os.path.join(fs.root, "warmup"))
                return
            _start_every_worker(ctx, fs)
        base, peak, _ = _measure(make_fs, data_warmup, data)
        out["data_mib"] = mib
        out["data_base_kib"], out["data_peak_kib"] = base, peak
        out["data_overhead"] = ((peak - base) * 1024 - mib * 2**20) / (mib * 2**20)
    except (MountError, WorkloadError, OSError) as e:
        out["error"] = str(e)
    finally:
        ctx.current_fs = None
    return out


def lines(label, m):
    if "error" in m and "bytes_per_inode" not in m:
        return [f"  {label}: FAIL: {m['error']}"]
    out = [f"  {label}: FAIL: {m['files_error']}"] if "files_error" in m else []
    out += [f"  {label}: {m['files']} empty files: memory {m['files_base_kib']} -> "
           f"{m['files_peak_kib']} KiB = {m['bytes_per_inode']:.0f} bytes/inode "
           f"(target < 1024: {'met' if m['bytes_per_inode'] < 1024 else 'NOT MET'})"]
    if "data_overhead" in m:
        out.append(f"  {label}: {m['data_mib']} MiB written: memory {m['data_base_kib']} -> "
                   f"{m['data_peak_kib']} KiB = {m['data_overhead'] * 100:+.2f}% over the file "
                   f"bytes (target < 2%: {'met' if m['data_overhead'] < 0.02 else 'NOT MET'})")
    else:
        out.append(f"  {label}: data: FAIL: {m.get('error')}")
    return out

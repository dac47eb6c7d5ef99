"""The workloads scripts/bench runs on every filesystem, and their sizes.

A workload is a function (ctx, fs) -> {row key: rate}; every rate is "higher is better".
ROWS lists the rows in table order. `main` rows enter the geometric mean; the others are the
phases of a main row, shown to locate a slowdown. Set-up and clean-up are not timed.
The result also holds WORK_KEY: how many units of work (WORK_UNITS) the run did, set-up and
clean-up included, to divide the daemon's CPU time by.
"""
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass


WORK_KEY = "_work"
# The unit of WORK_KEY per workload.
# readdir's work is each entry made, listed and removed; untar's each file extracted and
# each file removed: an "op" on an entry or a file, not the entry or file itself.
WORK_UNITS = {"meta1": "op", "meta2s": "op", "meta2d": "op", "readdir": "entry op", "seq": "MiB",
              "randread": "op", "randwrite": "op", "mmapread": "op", "mmapwrite": "op",
              "untar": "file op", "build": "file"}


class WorkloadError(Exception):
    """The workload failed on this filesystem; the text is shown in the FAIL cell."""


@dataclass
class Sizes:
    meta_files: int       # files per process in the metadata workloads
    readdir_entries: int
    readdir_reps: int
    seq_mib: int
    rand_mib: int
    fio_seconds: int
    untar_files: int
    build_files: int      # small files per build process
    build_cc: int         # real `cc -c` runs per build process
    mem_files: int
    mem_mib: int
    reps: int
    timeout: int          # seconds for one workload on one filesystem
    # Runs of each metadata workload per repetition. They take a second or two and swing the
    # most (one filesystem's runs here differ by up to 300%), and their strict/off ratio is
    # the closest to its target, so they get more pairs for the median than the rest.
    meta_runs: int = 1
    # Runs of each random-I/O fio workload (FIO_WORKLOADS) per repetition, fio_seconds each:
    # two short runs make twice the pairs of one long one, each pair closer in time, for
    # about the same time.
    fio_runs: int = 1


QUICK = Sizes(meta_files=2000, readdir_entries=10000, readdir_reps=20, seq_mib=256, rand_mib=256,
              fio_seconds=2, untar_files=1500, build_files=150, build_cc=2, mem_files=100000,
              mem_mib=256, reps=1, timeout=60, meta_runs=3)
FULL = Sizes(meta_files=3000, readdir_entries=10000, readdir_reps=50, seq_mib=1024,
             rand_mib=256, fio_seconds=2, untar_files=4000, build_files=400, build_cc=4,
             mem_files=100000, mem_mib=1024, reps=5, timeout=240, meta_runs=3,
             fio_runs=2)
# Checks the harness itself in seconds; the figures mean nothing.
TINY = Sizes(meta_files=200, readdir_entries=1000, readdir_reps=2, seq_mib=8, rand_mib=8,
             fio_seconds=1, untar_files=200, build_files=20, build_cc=1, mem_files=2000,
             mem_mib=8, reps=1, timeout=30)

# (key, label, unit, main)
ROWS = []
for _w, _label in (("meta1", "metadata, 1 process"), ("meta2s", "metadata, 2 procs, 1 dir"),
                   ("meta2d", "metadata, 2 procs, 2 dirs")):
    ROWS.append((_w, _label, "ops/s", True))
    for _ph in ("create", "stat", "rename", "unlink"):
        ROWS.append((f"{_w}.{_ph}", f"  {_ph}", "ops/s", False))
ROWS += [
    ("readdir", "readdir 10k entries", "entries/s", True),
    ("seqwrite", "seq write 1 MiB", "MiB/s", True),
    ("seqread", "seq read 1 MiB", "MiB/s", True),
    ("randread", "rand read 4k, 2 jobs", "IOPS", True),
    ("randwrite", "rand write 4k, 2 jobs", "IOPS", True),
    ("mmapread", "mmap rand read 4k, 2 jobs", "IOPS", True),
    ("mmapwrite", "mmap rand write 4k, 2 jobs", "IOPS", True),
    ("untar", "untar source tree", "files/s", True),
    ("untar.rm", "  rm -rf of the tree", "files/s", False),
    ("build", "build-like, 2 procs", "files/s", True),
]


class Context:
    """What workloads share: sizes, tool paths, and the command runner."""

    def __init__(self, sizes, fsops, tarball, tar_files, cc):
        self.sizes, self.fsops_bin, self.tarball, self.tar_files, self.cc = (
            sizes, fsops, tarball, tar_files, cc)
        self.current_fs = None
        self.prepared = set()  # (fs name, what) already set up and kept across repetitions

    def run(self, argv, timeout=None):
        """Runs argv in its own process group; returns stdout or raises WorkloadError.

        On a timeout the group is killed; if it does not die (stuck in a FUSE request), the
        filesystem's daemon is killed too so the machine is not left with hung processes.
        """
        timeout = timeout or self.sizes.timeout
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            try:
                p.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                if self.current_fs is not None:
                    self.current_fs.kill_daemon(f"hung in {os.path.basename(argv[0])}")
                p.communicate()
            raise WorkloadError(f"timeout after {timeout} s: {os.path.basename(argv[0])}")
        if p.returncode != 0:
            msg = (err.strip() or out.strip()).splitlines()
            raise WorkloadError(f"{os.path.basename(argv[0])} exit {p.returncode}: "
                                f"{msg[-1] if msg else ''}"[:160])
        return out

    def fsops(self, *args):
        """Runs the C driver; returns {phase: (seconds, ops)}."""
        out = self.run([self.fsops_bin] + [str(a) for a in args])
        phases = {}
        for line in out.splitlines():
            name, secs, ops = line.split()
            phases[name] = (max(float(secs), 1e-9), int(ops))
        return phases


def _fresh_dir(path):
    if os.path.lexists(path):
        shutil.rmtree(path)
    os.mkdir(path)


def meta(nprocs, layout, key):
    def run(ctx, fs):
        d = os.path.join(fs.root, key)
        _fresh_dir(d)
        phases = ctx.fsops("meta", d, ctx.sizes.meta_files, nprocs, layout)
        os.rmdir(d)
        rows = {f"{key}.{ph}": ops / secs for ph, (secs, ops) in phases.items()}
        rows[key] = (sum(ops for _, ops in phases.values())
                     / sum(secs for secs, _ in phases.values()))
        rows[WORK_KEY] = sum(ops for _, ops in phases.values())
        return rows
    return run


def readdir(ctx, fs):
    # Made and removed each time: a FUSE daemon may pin an fd per known inode
    # (passthrough_ll does), and RLIMIT_NOFILE must not run out later in the run.
    d = os.path.join(fs.root, "readdir")
    _fresh_dir(d)
    n = ctx.sizes.readdir_entries
    ctx.fsops("mkfiles", d, n)
    secs, entries = ctx.fsops("readdir", d, ctx.sizes.readdir_reps)["readdir"]
    ctx.fsops("rmfiles", d, n)
    os.rmdir(d)
    return {"readdir": entries / secs, WORK_KEY: 2 * n + entries}  # made, listed, removed


def _fio(ctx, name, path, mib, extra):
    argv = ["fio", f"--name={name}", f"--filename={path}", f"--size={mib}M",
            "--fallocate=none", "--output-format=json"] + extra
    out = ctx.run(argv, timeout=ctx.sizes.timeout + ctx.sizes.fio_seconds)
    try:
        res = json.loads(out[out.index("{"):])
        job = res["jobs"][0]
    except (ValueError, KeyError, IndexError) as e:
        raise WorkloadError(f"fio output not understood: {e}") from e
    if job.get("error"):
        raise WorkloadError(f"fio error {job['error']}")
    return job


def seq(ctx, fs):
    f = os.path.join(fs.root, "seq.dat")
    if os.path.exists(f):
        os.unlink(f)
    mib = ctx.sizes.seq_mib
    common = ["--ioengine=psync", "--bs=1M", "--numjobs=1"]
    w = _fio(ctx, "seqwrite", f, mib, common + ["--rw=write", "--end_fsync=1"])
    r = _fio(ctx, "seqread", f, mib, common + ["--rw=read"])
    os.unlink(f)
    return {"seqwrite": w["write"]["bw_bytes"] / 2**20, "seqread": r["read"]["bw_bytes"] / 2**20,
            WORK_KEY: 2 * mib}


def _rand_file(ctx, fs):
    f = os.path.join(fs.root, "rand.dat")
    if (fs.name, "rand") not in ctx.prepared:
        ctx.fsops("writefile", f, ctx.sizes.rand_mib)
        ctx.prepared.add((fs.name, "rand"))
    return f


def rand(engine, rw, key):
    def run(ctx, fs):
        f = _rand_file(ctx, fs)
        job = _fio(ctx, key, f, ctx.sizes.rand_mib,
                   [f"--ioengine={engine}", f"--rw={rw}", "--bs=4k", "--numjobs=2",
                    "--group_reporting", "--time_based", f"--runtime={ctx.sizes.fio_seconds}",
                    "--randrepeat=1", "--norandommap"])
        side = "read" if "read" in rw else "write"
        # Time-based: the work done is what fio got through.
        ios = job[side].get("total_ios") or job[side]["iops"] * ctx.sizes.fio_seconds
        return {key: job[side]["iops"], WORK_KEY: ios}
    return run


def untar(ctx, fs):
    d = os.path.join(fs.root, "untar")
    _fresh_dir(d)
    t0 = time.monotonic()
    ctx.run(["tar", "-xf", ctx.tarball, "-C", d])
    t1 = time.monotonic()
    ctx.run(["rm", "-rf", d])
    t2 = time.monotonic()
    return {"untar": ctx.tar_files / (t1 - t0), "untar.rm": ctx.tar_files / (t2 - t1),
            WORK_KEY: 2 * ctx.tar_files}


def build(ctx, fs):
    d = os.path.join(fs.root, "build")
    _fresh_dir(d)
    secs, files = ctx.fsops("build", d, 2, ctx.sizes.build_files, ctx.sizes.build_cc,
                            ctx.cc)["build"]
    shutil.rmtree(d)
    return {"build": files / secs, WORK_KEY: files}


# Set-up a workload does once per filesystem, run before the daemon's CPU is read.
# The fio workloads on the random-I/O file: made once per filesystem, run twice per repetition.
FIO_WORKLOADS = ("randread", "randwrite", "mmapread", "mmapwrite")
PREPARE = {w: _rand_file for w in FIO_WORKLOADS}

# In the order they run within a repetition.
WORKLOADS = [
    ("meta1", meta(1, "shared", "meta1")),
    ("meta2s", meta(2, "shared", "meta2s")),
    ("meta2d", meta(2, "split", "meta2d")),
    ("readdir", readdir),
    ("seq", seq),
    ("randread", rand("psync", "randread", "randread")),
    ("randwrite", rand("psync", "randwrite", "randwrite")),
    ("mmapread", rand("mmap", "randread", "mmapread")),
    ("mmapwrite", rand("mmap", "randwrite", "mmapwrite")),
    ("untar", untar),
    ("build", build),
]


def runs_per_rep(sizes, workload):
    """How many times a repetition runs `workload` on each filesystem."""
    if workload.startswith("meta"):
        return sizes.meta_runs
    if workload in FIO_WORKLOADS:
        return sizes.fio_runs
    return 1


# Which rows a workload produces (for FAIL cells).
PRODUCES = {"seq": ["seqwrite", "seqread"], "untar": ["untar", "untar.rm"]}
for _name, _ in WORKLOADS:
    PRODUCES.setdefault(_name, [k for k, *_ in ROWS if k == _name or k.startswith(_name + ".")])

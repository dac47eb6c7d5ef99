"""The filesystems scripts/bench compares: mounting, checking and unmounting them.

Each Fs owns one mount point under the benchmark's scratch directory. FUSE daemons run in the
foreground (-f) as children of the benchmark, so their pid is known exactly (peak RSS, and
killing a hung daemon aborts its connection). Thread safety: single-threaded use only.
"""
import os
import re
import signal
import subprocess
import time


class MountError(Exception):
    """A filesystem could not be mounted or is no longer usable; the text says why."""


def _unescape(field):
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mountinfo():
    """Yields (mount point, filesystem type) for every mount this process can see."""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            yield _unescape(parts[4]), parts[sep + 1]


def mount_type(path):
    """The type of the mount on exactly `path` (the last one wins), or None."""
    found = None
    for mnt, fstype in mountinfo():
        if mnt == path:
            found = fstype
    return found


def mounts_under(prefix):
    prefix = prefix.rstrip("/") + "/"
    return [mnt for mnt, _ in mountinfo() if mnt.startswith(prefix)]


def _status(rc):
    if rc < 0:
        return f"was killed by {signal.Signals(-rc).name}"
    return f"exited with status {rc}"


def _tail(path, lines=6):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read().strip().splitlines()
        return " | ".join(text[-lines:])
    except OSError:
        return ""


class Fs:
    """One mounted filesystem under test. `root` is where workloads create their files."""

    def __init__(self, name, mnt, fstype):
        self.name = name
        self.mnt = mnt
        self.fstype = fstype  # what /proc/self/mountinfo must say for mnt
        self.root = mnt
        self.proc = None      # the FUSE daemon (subprocess.Popen), if any
        self.log = None
        self.broken = None    # reason the FS may not be used any more
        self.description = ""

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def mount(self):
        raise NotImplementedError

    def check(self):
        """Raises MountError unless the mount is there, of the right type, daemon alive."""
        if self.broken:
            raise MountError(self.broken)
        if self.proc is not None and self.proc.poll() is not None:
            self.broken = f"daemon {_status(self.proc.returncode)}: {_tail(self.log)}"
            raise MountError(self.broken)
        seen = mount_type(self.mnt)
        if seen != self.fstype:
            self.broken = f"{self.mnt} is mounted as {seen or 'nothing'}, want {self.fstype}"
            raise MountError(self.broken)

    def kill_daemon(self, why):
        """Last resort for a hung FUSE mount: killing the daemon aborts the connection."""
        self.broken = why
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def daemon_status(self):
        """' (daemon ...: log tail)' if the daemon has died, else ''. For failure texts."""
        if self.proc is None:
            return ""
        try:
            self.proc.wait(timeout=2)  # a crashing daemon may still be dumping core
        except subprocess.TimeoutExpired:
            return ""
        return f" [daemon {_status(self.proc.returncode)}: {_tail(self.log, 3)}]"

    def _start_daemon(self, argv):
        self.log = os.path.join(os.path.dirname(self.mnt), f"{self.name}.log")
        logf = open(self.log, "w", encoding="utf-8")
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            logf.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if mount_type(self.mnt) == self.fstype:
                return
            if self.proc.poll() is not None:
                raise MountError(f"`{' '.join(argv)}` {_status(self.proc.returncode)}: "
                                 f"{_tail(self.log)}")
            time.sleep(0.05)
        seen = mount_type(self.mnt)
        self.kill_daemon("did not mount")
        raise MountError(f"no {self.fstype} mount on {self.mnt} after 15 s "
                         f"(mountinfo says {seen or 'nothing'}): {_tail(self.log)}")

    def unmount(self):
        """Unmounts and reaps the daemon; lazily if busy. Never raises."""
        if self.proc is not None:
            if mount_type(self.mnt) is not None:
                for _ in range(5):
                    if subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True,
                                      check=False).returncode == 0:
                        break
                    time.sleep(0.3)
                else:
                    subprocess.run(["fusermount3", "-uz", self.mnt], capture_output=True,
                                   check=False)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        else:
            _umount(self.mnt)


def _umount(path):
    if mount_type(path) is None:
        return
    if subprocess.run(["umount", path], capture_output=True, check=False).returncode != 0:
        subprocess.run(["umount", "-l", path], capture_output=True, check=False)


def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", path],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise MountError(f"mount -t tmpfs {path}: {r.stderr.strip()}")


class Tmpfs(Fs):
    def __init__(self, name, mnt, size):
        super().__init__(name, mnt, "tmpfs")
        self.size = size
        self.description = f"mount -t tmpfs -o size={size}"

    def mount(self):
        mount_tmpfs(self.mnt, self.size)


class PassthroughLl(Fs):
    """libfuse's example passthrough_ll over a directory of its own tmpfs."""

    def __init__(self, name, mnt, binary, source, opts):
        super().__init__(name, mnt, "fuse.passthrough_ll")
        self.binary, self.source, self.opts = binary, source, opts
        self.description = f"passthrough_ll -f -o {self.all_opts()} (source on tmpfs)"

    def all_opts(self):
        return ",".join(o for o in [f"source={self.source}", self.opts] if o)

    def mount(self):
        os.makedirs(self.mnt, exist_ok=True)
        self._start_daemon([self.binary, "-f", "-o", self.all_opts(), self.mnt])


class Lockfs(Fs):
    def __init__(self, name, mnt, binary, opts):
        super().__init__(name, mnt, "fuse.lockfs")
        self.binary, self.opts = binary, opts
        self.description = f"lockfs lockfs MNT -f -o {opts}"

    def mount(self):
        if not self.binary or not os.access(self.binary, os.X_OK):
            raise MountError(f"no lockfs daemon at {self.binary or '(none)'} "
                             "(build it: scripts/build gcc lockfs)")
        os.makedirs(self.mnt, exist_ok=True)
        self._start_daemon([self.binary, "lockfs", self.mnt, "-f", "-o", self.opts])


def proc_status_kib(pid, field):
    """VmHWM/VmRSS etc. of `pid` in KiB."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise MountError(f"/proc/{pid}/status has no {field}")

#!/usr/bin/env python3
"""Syscall-level operations for the lockfs corpus, printing stable results.

Each command prints "<cmd>: OK" (plus values) or "<cmd>: <ERRNO NAME>" so golden outputs
compare the errno exactly (not a locale-dependent message). Exit status is 0 either way;
usage errors exit 2.

  rename [--noreplace|--exchange|--whiteout] OLD NEW   renameat2(2) via libc
  open PATH FLAGS [MODE]          FLAGS like O_CREAT|O_EXCL|O_WRONLY; prints the errno
  tmpfile DIR                     open(DIR, O_TMPFILE|O_RDWR), write, linkat to DIR/linked
  pwrite PATH OFF LEN SEED        writes LEN pattern bytes (from SEED) at OFF (creates PATH)
  verify PATH OFF LEN SEED        checks the pattern; prints OK or the first bad offset
  seekmap PATH                    SEEK_DATA/SEEK_HOLE walk: "data A-B" / "hole A-B" lines
  seek PATH OFF data|hole         one lseek; the offset or ENXIO
  copy SRC DST OFF_IN OFF_OUT LEN copy_file_range(2); prints bytes copied
  odirect-read PATH OFF LEN       O_DIRECT read (aligned buffer); prints bytes read
  odirect-write PATH OFF LEN SEED O_DIRECT write of the pattern
  setlk PATH TYPE START LEN       fcntl F_SETLK (TYPE r|w|u) in this process; prints result
  getlk PATH TYPE START LEN       fcntl F_GETLK; prints the conflicting lock or "unlocked"
  lockhold PATH TYPE START LEN SECS  F_SETLKW, print "locked", hold SECS, exit
  flock PATH sh|ex|un [nb]        flock(2)
  truncate PATH SIZE              truncate(2)
  chmod/chown/utimes...           see the code: "utimes PATH ATIME MTIME"
"""

import ctypes
import errno
import fcntl
import mmap
import os
import struct
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100


def ename(e):
    return errno.errorcode.get(e, str(e))


def report(cmd, fn):
    try:
        r = fn()
    except OSError as ex:
        print(f"{cmd}: {ename(ex.errno)}")
        return None
    print(f"{cmd}: OK" + ("" if r is None else f" {r}"))
    return r


def pattern(off, length, seed):
    # Byte i of the file holds (i * 131 + seed) mod 251: position-dependent, so a shifted or
    # misplaced block is caught, and not periodic in 4096.
    # Periodic in 251: build one period starting at `off`, then repeat it.
    period = bytes(((off + i) * 131 + seed) % 251 for i in range(251))
    return (period * (length // 251 + 1))[:length]


def cmd_rename(args):
    flags = 0
    while args and args[0].startswith("--"):
        flags |= {"--noreplace": 1, "--exchange": 2, "--whiteout": 4}[args.pop(0)]
    old, new = args
    def f():
        if libc.renameat2(AT_FDCWD, old.encode(), AT_FDCWD, new.encode(), flags) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
    report("rename", f)


def parse_flags(s):
    v = 0
    for name in s.split("|"):
        v |= getattr(os, name)
    return v


def cmd_open(args):
    path, flags = args[0], parse_flags(args[1])
    mode = int(args[2], 8) if len(args) > 2 else 0o644
    def f():
        os.close(os.open(path, flags, mode))
    report("open", f)


def cmd_tmpfile(args):
    d = args[0]
    def f():
        fd = os.open(d, os.O_TMPFILE | os.O_RDWR, 0o600)
        try:
            os.write(fd, b"tmpfile data\n")
            st = os.fstat(fd)
            nl = st.st_nlink
            # linkat(AT_FDCWD, "/proc/self/fd/N", ..., AT_SYMLINK_FOLLOW), as linkat(2) shows.
            if libc.linkat(AT_FDCWD, f"/proc/self/fd/{fd}".encode(), AT_FDCWD,
                           os.path.join(d, "linked").encode(), 0x400) != 0:
                e = ctypes.get_errno()
                raise OSError(e, os.strerror(e))
            return f"nlink_before={nl} nlink_after={os.fstat(fd).st_nlink}"
        finally:
            os.close(fd)
    report("tmpfile", f)


def cmd_pwrite(args):
    path, off, length, seed = args[0], int(args[1]), int(args[2]), int(args[3])
    def f():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            data = pattern(off, length, seed)
            done = 0
            while done < length:
                done += os.pwrite(fd, data[done:done + (1 << 20)], off + done)
            return None
        finally:
            os.close(fd)
    report("pwrite", f)


def cmd_verify(args):
    path, off, length, seed = args[0], int(args[1]), int(args[2]), int(args[3])
    def f():
        with open(path, "rb") as fh:
            fh.seek(off)
            got = fh.read(length)
        want = pattern(off, length, seed)
        if got == want:
            return None
        if len(got) != len(want):
            return f"short read {len(got)} of {len(want)}"
        bad = next(i for i in range(len(got)) if got[i] != want[i])
        return f"mismatch at {off + bad}"
    try:
        r = f()
    except OSError as ex:
        print(f"verify: {ename(ex.errno)}")
        return
    print("verify: OK" if r is None else f"verify: BAD {r}")


SEEK_DATA, SEEK_HOLE = 3, 4


def cmd_seekmap(args):
    path = args[0]
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        off = 0
        while off < size:
            try:
                d = os.lseek(fd, off, SEEK_DATA)
            except OSError as ex:
                if ex.errno != errno.ENXIO:
                    raise
                print(f"hole {off}-{size}")
                break
            if d > off:
                print(f"hole {off}-{d}")
            h = os.lseek(fd, d, SEEK_HOLE)
            print(f"data {d}-{h}")
            off = h
    finally:
        os.close(fd)


def cmd_seek(args):
    path, off, what = args[0], int(args[1]), args[2]
    fd = os.open(path, os.O_RDONLY)
    try:
        report(f"seek_{what}", lambda: os.lseek(fd, off, SEEK_DATA if what == "data" else SEEK_HOLE))
    finally:
        os.close(fd)


def cmd_copy(args):
    src, dst = args[0], args[1]
    off_in, off_out, length = int(args[2]), int(args[3]), int(args[4])
    def f():
        fi = os.open(src, os.O_RDONLY)
        fo = os.open(dst, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            total = 0
            while total < length:
                n = os.copy_file_range(fi, fo, length - total, off_in + total, off_out + total)
                if n == 0:
                    break
                total += n
            return total
        finally:
            os.close(fi)
            os.close(fo)
    report("copy_file_range", f)


def aligned_buf(length):
    return mmap.mmap(-1, max(length, 4096))


def cmd_odirect_read(args):
    path, off, length = args[0], int(args[1]), int(args[2])
    def f():
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
        try:
            return os.preadv(fd, [aligned_buf(length)], off)
        finally:
            os.close(fd)
    report("odirect_read", f)


def cmd_odirect_write(args):
    path, off, length, seed = args[0], int(args[1]), int(args[2]), int(args[3])
    def f():
        fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
        try:
            buf = aligned_buf(length)
            buf[:length] = pattern(off, length, seed)
            return os.pwritev(fd, [memoryview(buf)[:length]], off)
        finally:
            os.close(fd)
    report("odirect_write", f)


LOCK_TYPES = {"r": fcntl.F_RDLCK, "w": fcntl.F_WRLCK, "u": fcntl.F_UNLCK}


def flock_struct(t, start, length):
    return struct.pack("hhqqi", LOCK_TYPES[t], os.SEEK_SET, start, length, 0)


def cmd_setlk(args):
    path, t, start, length = args[0], args[1], int(args[2]), int(args[3])
    fd = os.open(path, os.O_RDWR)
    report("setlk", lambda: fcntl.fcntl(fd, fcntl.F_SETLK, flock_struct(t, start, length)) and None)
    os.close(fd)


def cmd_getlk(args):
    path, t, start, length = args[0], args[1], int(args[2]), int(args[3])
    fd = os.open(path, os.O_RDWR)
    r = fcntl.fcntl(fd, fcntl.F_GETLK, flock_struct(t, start, length))
    ltype, _, lstart, llen, pid = struct.unpack("hhqqi", r)
    if ltype == fcntl.F_UNLCK:
        print("getlk: unlocked")
    else:
        kind = "r" if ltype == fcntl.F_RDLCK else "w"
        print(f"getlk: {kind} {lstart} {llen} held_by_other_process={pid != os.getpid()}")
    os.close(fd)


def cmd_lockhold(args):
    path, t, start, length, secs = args[0], args[1], int(args[2]), int(args[3]), float(args[4])
    fd = os.open(path, os.O_RDWR)
    fcntl.fcntl(fd, fcntl.F_SETLKW, flock_struct(t, start, length))
    print("locked", flush=True)
    time.sleep(secs)
    os.close(fd)


def cmd_flock(args):
    path, how = args[0], args[1]
    op = {"sh": fcntl.LOCK_SH, "ex": fcntl.LOCK_EX, "un": fcntl.LOCK_UN}[how]
    if len(args) > 2 and args[2] == "nb":
        op |= fcntl.LOCK_NB
    fd = os.open(path, os.O_RDONLY)
    report("flock", lambda: fcntl.flock(fd, op))
    os.close(fd)


def cmd_truncate(args):
    report("truncate", lambda: os.truncate(args[0], int(args[1])))


def cmd_utimes(args):
    report("utimes", lambda: os.utime(args[0], ns=(int(args[1]) * 10**9, int(args[2]) * 10**9)))


def cmd_access(args):
    mode = {"r": os.R_OK, "w": os.W_OK, "x": os.X_OK, "f": os.F_OK}[args[1]]
    def f():
        if libc.access(args[0].encode(), mode) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
    report("access", f)


def simple(name, fn):
    return lambda args: report(name, lambda: fn(*args) and None)


COMMANDS = {
    "rename": cmd_rename, "open": cmd_open, "tmpfile": cmd_tmpfile, "pwrite": cmd_pwrite,
    "verify": cmd_verify, "seekmap": cmd_seekmap, "seek": cmd_seek, "copy": cmd_copy,
    "odirect-read": cmd_odirect_read, "odirect-write": cmd_odirect_write,
    "setlk": cmd_setlk, "getlk": cmd_getlk, "lockhold": cmd_lockhold, "flock": cmd_flock,
    "truncate": cmd_truncate, "utimes": cmd_utimes,
    "mkdir": simple("mkdir", os.mkdir), "rmdir": simple("rmdir", os.rmdir),
    "unlink": simple("unlink", os.unlink), "link": simple("link", os.link),
    "symlink": simple("symlink", os.symlink), "mkfifo": simple("mkfifo", os.mkfifo),
    "readlink": lambda a: report("readlink", lambda: os.readlink(a[0])),
    "access": lambda a: cmd_access(a),
}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()

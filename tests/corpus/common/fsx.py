#!/usr/bin/env python3
"""A small fsx: random writes, reads, truncates, punch holes, zero ranges, mapped writes and
copy_file_range on one file, checked after every step against an in-memory model.

  fsx.py FILE [--ops N] [--seed S] [--max-size BYTES] [--no-fallocate] [--no-mmap]

Prints one summary line on success ("fsx: N ops ok"), or the first mismatch with the op log
tail, and exits 1.
"""

import argparse
import ctypes
import mmap
import os
import random
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
PUNCH = 0x02 | 0x01   # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
ZERO = 0x10 | 0x01    # FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE


def main():
    p = argparse.ArgumentParser()
    p.add_argument("file")
    p.add_argument("--ops", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-size", type=int, default=1 << 20)
    p.add_argument("--no-fallocate", action="store_true")
    p.add_argument("--no-mmap", action="store_true")
    a = p.parse_args()
    rnd = random.Random(a.seed)
    fd = os.open(a.file, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    model = bytearray()
    log = []
    kinds = ["write", "write", "read", "truncate"]
    if not a.no_fallocate:
        kinds += ["punch", "zero"]
    if not a.no_mmap:
        kinds += ["mapwrite"]
    kinds += ["copy"]

    def fail(msg):
        print(f"fsx: {msg}")
        for line in log[-10:]:
            print("  " + line)
        sys.exit(1)

    for n in range(a.ops):
        kind = rnd.choice(kinds)
        off = rnd.randrange(a.max_size)
        length = rnd.randrange(1, 65537)
        if kind == "write":
            data = rnd.randbytes(min(length, a.max_size - off) or 1)
            os.pwrite(fd, data, off)
            if len(model) < off:
                model.extend(bytes(off - len(model)))
            model[off:off + len(data)] = data
        elif kind == "read":
            got = os.pread(fd, length, off)
            want = bytes(model[off:off + length])
            if got != want:
                log.append(f"{n}: read {off}+{length}")
                fail(f"read mismatch at op {n} (off {off} len {length})")
        elif kind == "truncate":
            size = rnd.randrange(a.max_size)
            os.ftruncate(fd, size)
            if size < len(model):
                del model[size:]
            else:
                model.extend(bytes(size - len(model)))
        elif kind in ("punch", "zero"):
            r = libc.fallocate(fd, PUNCH if kind == "punch" else ZERO, off, length)
            if r != 0:
                e = ctypes.get_errno()
                if e == 95:  # EOPNOTSUPP: this mode is not offered; stop using it
                    kinds = [k for k in kinds if k != kind]
                    continue
                fail(f"fallocate {kind} errno {e}")
            end = min(off + length, len(model))
            if off < end:  # both keep the size: only the part below EOF changes
                model[off:end] = bytes(end - off)
        elif kind == "mapwrite":
            if len(model) == 0:
                continue
            off = rnd.randrange(len(model))
            length = min(length, len(model) - off)
            data = rnd.randbytes(length)
            m = mmap.mmap(fd, len(model))
            m[off:off + length] = data
            m.flush()
            m.close()
            model[off:off + length] = data
        elif kind == "copy":
            if len(model) == 0:
                continue
            src = rnd.randrange(len(model))
            length = min(length, len(model) - src)
            dst = rnd.randrange(a.max_size)
            if abs(src - dst) < length:  # same-file overlap is EINVAL
                continue
            done = 0
            while done < length:
                c = os.copy_file_range(fd, fd, length - done, src + done, dst + done)
                if c == 0:
                    break
                done += c
            chunk = bytes(model[src:src + done])
            if len(model) < dst:
                model.extend(bytes(dst - len(model)))
            model[dst:dst + done] = chunk
        log.append(f"{n}: {kind} {off}+{length} size={len(model)}")
        st = os.fstat(fd)
        if st.st_size != len(model):
            fail(f"size {st.st_size} != model {len(model)} after op {n}")
    whole = os.pread(fd, len(model) + 1, 0)
    if whole != bytes(model):
        fail("final content differs from the model")
    os.close(fd)
    print(f"fsx: {a.ops} ops ok")


if __name__ == "__main__":
    main()

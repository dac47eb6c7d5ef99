#!/usr/bin/env python3
"""Questions about a lockfs trace (`lockfs-ctl MNT trace --format=jsonl`), answered in stable
words for golden outputs: no timestamps, thread ids or raw inode numbers unless asked.

  trace_query.py FILE COMMAND [options]

--op OP takes one op name or several separated by "|" (readdir|readdirplus).

Objects are named with --ino NUMBER=LABEL (repeatable); a lock is written CLASS@LABEL (or
CLASS alone: any object) where CLASS is a lock-class name ("i_rwsem(dir)", "folio_lock"); a
base name matches its variants ("i_rwsem" -> "i_rwsem(dir)", "i_rwsem(reg)"), "~text" any
class containing text.

  locks    --op OP [--class C]        the (class, subclass, mode) of every lock the op took on
                                      a named object, in first-acquire order, de-duplicated
  mode     --op OP CLASS@LABEL        "exclusive", "shared", "both" or "none"
  order    --op OP A B                "A before B" when the op's first acquire of A precedes B
                                      in every instance of the op that takes both
  nested   --op OP OUTER INNER        "yes" when every acquire of INNER in the op happened on a
                                      thread holding OUTER, "no" if one did not, "none" if never
  results  --op OP                    the distinct results of the op's ends: "0", "EINTR" ...
  killed                              "killed CLASS@LABEL op=OP" per killed wait
  balance                             "balanced" when every acquire was released on its thread
  count    --type TYPE                number of events of a type (acquire, violation, killed..)
  pids     --op OP                    the distinct requester pids of the op's events
  ops                                 the distinct op names seen, sorted
  classes                             the distinct lock-class names seen, sorted
"""

import argparse
import errno
import json
import re
import sys

KEYS = {
    "type": ("type", "event", "ev", "kind"),
    "cls": ("class", "class_name", "lock", "lock_class", "cls", "name"),
    "sub": ("subclass", "sub"),
    "mode": ("mode",),
    "obj": ("object", "ino", "obj"),
    "aux": ("aux", "index"),
    "op": ("op", "operation"),
    "tid": ("tid", "thread"),
    "res": ("result", "res", "rc", "ret"),
    "ts": ("ts_ns", "ts", "time_ns", "t"),
    "pid": ("pid",),
}
TYPES = {"acquire": "acquire", "acq": "acquire", "acquired": "acquire", "release": "release",
         "rel": "release", "released": "release", "killed": "killed", "kill": "killed",
         "tryfail": "tryfail", "trylockfail": "tryfail", "violation": "violation", "opbegin": "begin", "begin": "begin",
         "opend": "end", "end": "end"}


def norm_event(raw):
    e = {}
    for k, cands in KEYS.items():
        e[k] = next((raw[c] for c in cands if c in raw), None)
    t = re.sub("[^a-z]", "", str(e["type"]).lower())
    if t.startswith("k") and t[1:] in TYPES:
        t = t[1:]
    e["type"] = TYPES.get(t, t)
    m = str(e["mode"] or "").lower()
    e["mode"] = ("exclusive" if m.startswith(("ex", "w")) else
                 "shared" if m.startswith(("sh", "r")) else m)
    s = str(e["sub"] or "").lower()
    e["sub"] = "" if s in ("", "0", "normal", "knormal") else re.sub("^k", "", s)
    e["cls"] = str(e["cls"] or "")
    try:
        e["obj"] = int(e["obj"]) if e["obj"] is not None else None
    except (TypeError, ValueError):
        pass
    return e


def load(path):
    events = []
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line or not line.startswith("{"):
                continue
            events.append(norm_event(json.loads(line)))
    return events


class Names:
    def __init__(self, pairs):
        self.by_ino = {}
        for p in pairs or []:
            n, label = p.split("=", 1)
            self.by_ino[int(n)] = label

    def label(self, obj):
        return self.by_ino.get(obj)


def parse_lock(spec, names):
    cls, _, label = spec.partition("@")
    ino = None
    if label:
        inos = [i for i, l in names.by_ino.items() if l == label]
        if not inos:
            sys.exit(f"trace_query: unknown label {label} (give --ino N={label})")
        ino = inos[0]
    return cls, ino


def class_matches(want, name):
    """Exact class name; a base name also matches its "(...)" variants: i_rwsem ->
    i_rwsem(dir); a leading "~" asks for a substring match."""
    if want.startswith("~"):
        return want[1:] in name
    return name == want or (name.startswith(want + "(") and "(" not in want)


def matches(e, lock):
    cls, ino = lock
    return class_matches(cls, e["cls"]) and (ino is None or e["obj"] == ino)


def op_events(events, op, types=("acquire",)):
    return [e for e in events if e["type"] in types and (op is None or e["op"] in op)]


def instances(events, op):
    """Splits a thread's events into op instances (begin..end of `op`), per thread."""
    open_, done = {}, []
    for e in events:
        tid = e["tid"]
        if e["type"] == "begin" and e["op"] in op:
            open_[tid] = []
        elif e["type"] == "end" and e["op"] in op and tid in open_:
            done.append(open_.pop(tid))
        elif tid in open_:
            open_[tid].append(e)
    done.extend(open_.values())
    return done


def cmd_locks(ev, a, names):
    seen = []
    for e in op_events(ev, a.op):
        lbl = names.label(e["obj"])
        if lbl is None or (a.cls and not class_matches(a.cls, e["cls"])):
            continue
        item = f"{e['cls']}{'/' + e['sub'] if e['sub'] else ''}@{lbl} {e['mode']}"
        if item not in seen:
            seen.append(item)
    print("\n".join(seen) if seen else "none")


def cmd_mode(ev, a, names):
    lock = parse_lock(a.lock, names)
    modes = {e["mode"] for e in op_events(ev, a.op) if matches(e, lock)}
    print("none" if not modes else "both" if len(modes) > 1 else modes.pop())


def cmd_order(ev, a, names):
    la, lb = parse_lock(a.a, names), parse_lock(a.b, names)
    verdicts = set()
    for inst in instances(ev, a.op):
        acq = [e for e in inst if e["type"] == "acquire"]
        ia = next((i for i, e in enumerate(acq) if matches(e, la)), None)
        ib = next((i for i, e in enumerate(acq) if matches(e, lb)), None)
        if ia is not None and ib is not None:
            verdicts.add("before" if ia < ib else "after")
    if not verdicts:
        print("missing")
    elif verdicts == {"before"}:
        print(f"{a.a} before {a.b}")
    elif verdicts == {"after"}:
        print(f"{a.b} before {a.a}")
    else:
        print("inconsistent order")


def cmd_nested(ev, a, names):
    outer, inner = parse_lock(a.outer, names), parse_lock(a.inner, names)
    held = {}  # tid -> count of outer held
    verdicts = set()
    for e in ev:
        tid = e["tid"]
        if e["type"] == "acquire" and matches(e, outer):
            held[tid] = held.get(tid, 0) + 1
        elif e["type"] == "release" and matches(e, outer):
            held[tid] = max(0, held.get(tid, 0) - 1)
        if e["type"] == "acquire" and e["op"] in a.op and matches(e, inner):
            verdicts.add(held.get(tid, 0) > 0)
    print("none" if not verdicts else "yes" if verdicts == {True} else "no")


def ename(r):
    try:
        r = int(r)
    except (TypeError, ValueError):
        return str(r)
    return "0" if r == 0 else errno.errorcode.get(-r, str(r))


def cmd_results(ev, a, names):
    res = sorted({ename(e["res"]) for e in ev if e["type"] == "end" and e["op"] in a.op})
    print(" ".join(res) if res else "none")


def cmd_killed(ev, a, names):
    for e in ev:
        if e["type"] == "killed":
            lbl = names.label(e["obj"]) or "?"
            print(f"killed {e['cls']}@{lbl} op={e['op']}")


def cmd_balance(ev, a, names):
    held = {}
    for e in ev:
        key = (e["tid"], e["cls"], e["obj"], e["aux"])
        if e["type"] == "acquire":
            held[key] = held.get(key, 0) + 1
        elif e["type"] == "release" and held.get(key, 0) > 0:
            held[key] -= 1
    left = [k for k, n in held.items() if n > 0]
    if not left:
        print("balanced")
    else:
        for tid, cls, obj, aux in left:
            lbl = names.label(obj) or "?"
            print(f"still held: {cls}@{lbl}")


def cmd_count(ev, a, names):
    print(sum(1 for e in ev if e["type"] == a.type))


def cmd_pids(ev, a, names):
    print(" ".join(sorted({str(e["pid"]) for e in op_events(ev, a.op, ("acquire", "begin"))})))


def cmd_ops(ev, a, names):
    print("\n".join(sorted({e["op"] for e in ev if e["op"]})))


def cmd_classes(ev, a, names):
    print("\n".join(sorted({e["cls"] for e in ev if e["cls"]})))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("file")
    p.add_argument("command")
    p.add_argument("args", nargs="*")
    p.add_argument("--op")
    p.add_argument("--class", dest="cls")
    p.add_argument("--ino", action="append")
    p.add_argument("--type")
    a = p.parse_intermixed_args()
    names = Names(a.ino)
    if a.op is not None:  # "readdir|readdirplus": any of these ops
        a.op = set(a.op.split("|"))
    ev = load(a.file)
    pos = a.args
    if a.command == "mode":
        a.lock = pos[0]
    elif a.command == "order":
        a.a, a.b = pos
    elif a.command == "nested":
        a.outer, a.inner = pos
    cmds = {"locks": cmd_locks, "mode": cmd_mode, "order": cmd_order, "nested": cmd_nested,
            "results": cmd_results, "killed": cmd_killed, "balance": cmd_balance,
            "count": cmd_count, "ops": cmd_ops, "pids": cmd_pids, "classes": cmd_classes}
    if a.command not in cmds:
        sys.exit(f"trace_query: unknown command {a.command}")
    cmds[a.command](ev, a, names)


if __name__ == "__main__":
    main()

"""The table scripts/bench prints: absolute figures, ratios, geometric means, targets.

results[fs][row] is a list of rates, one per run (a repetition runs each workload once, the
metadata ones three times and, in a full run, the random-I/O fio ones twice), or a string
(why it failed). A figure is the median of its runs. Ratios are rate(lockfs) / rate(peer),
so above 1.0 means lockfs is faster. A ratio is the median of the per-run ratios: each run
of a workload goes over every filesystem back to back, so each ratio compares runs seconds
apart, and a slow minute of a shared machine (it happens: runs here differ by up to 300%)
moves both sides of it instead of one median. With one run, or when the two filesystems do
not have a figure for every run, it is the ratio of the medians.
"""
import math
import statistics

from bench_lib.workloads import PRODUCES, ROWS, WORK_UNITS, WORKLOADS

FS_COLUMNS = [("tmpfs", "tmpfs"), ("passthrough_ll", "pt_ll"), ("lockfs-off", "lockfs off"),
              ("lockfs-strict", "lockfs strict")]
RATIOS = [("lockfs-off", "passthrough_ll", "off/pt"), ("lockfs-off", "tmpfs", "off/tmpfs"),
          ("lockfs-strict", "passthrough_ll", "strict/pt"),
          ("lockfs-strict", "tmpfs", "strict/tmpfs"),
          ("lockfs-strict", "lockfs-off", "strict/off")]
TARGETS = {"off/pt geomean": 1.0, "off/pt min": 0.8, "strict/off min": 0.85}


def figure(results, fs, row):
    """(median rate, None) or (None, failure text) or (None, None) if not run. A None among
    the runs is one without a figure (the CPU table's)."""
    v = results.get(fs, {}).get(row)
    if isinstance(v, str):
        return None, v
    v = [x for x in v or [] if x is not None]
    if not v:
        return None, None
    return statistics.median(v), None


def spread(results, fs, row):
    v = results.get(fs, {}).get(row)
    v = [x for x in v if x is not None] if isinstance(v, list) else []
    if len(v) > 1 and min(v) > 0:
        return max(v) / min(v) - 1
    return 0.0


def human(x):
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e4:
        return f"{x / 1e3:.1f}k"
    if x >= 100:
        return f"{x:.0f}"
    return f"{x:.3g}"


def ratio(results, num, den, row):
    xs, ys = results.get(num, {}).get(row), results.get(den, {}).get(row)
    if isinstance(xs, list) and isinstance(ys, list) and len(xs) == len(ys):
        pairs = pair_ratios(results, num, den, row)
        # No pair: no ratio. Medians taken apart could come from different runs.
        return statistics.median(pairs) if pairs else None
    a, _ = figure(results, num, row)
    b, _ = figure(results, den, row)
    return a / b if a and b else None


def geomean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def table(results, fs_present):
    """Returns the table as a list of lines, plus {ratio label: (geomean, min, worst row)}."""
    cols = [(fs, label) for fs, label in FS_COLUMNS if fs in fs_present]
    ratios = [r for r in RATIOS if r[0] in fs_present and r[1] in fs_present]
    head = (f"{'workload':<28}{'unit':<10}" + "".join(f"{label:>14}" for _, label in cols)
            + "".join(f"{label:>13}" for _, _, label in ratios))
    lines = [head, "-" * len(head)]
    failures = []
    per_ratio = {label: [] for _, _, label in ratios}
    for key, label, unit, main in ROWS:
        if all(figure(results, fs, key) == (None, None) for fs, _ in cols):
            continue  # not selected (--only)
        cells = []
        for fs, _ in cols:
            val, err = figure(results, fs, key)
            if err:
                failures.append((fs, key, err))
                cells.append(f"{'FAIL':>14}")
            elif val is None:
                cells.append(f"{'-':>14}")
            else:
                cells.append(f"{human(val):>14}")
        rcells = []
        for num, den, rlabel in ratios:
            r = ratio(results, num, den, key)
            rcells.append(f"{(f'{r:.2f}' if r else '-'):>13}")
            if main and r:
                per_ratio[rlabel].append((r, key))
        lines.append(f"{label:<28}{unit:<10}" + "".join(cells) + "".join(rcells))
    lines.append("-" * len(head))
    summary = {}
    gcells, mcells = [], []
    for _, _, rlabel in ratios:
        vals = per_ratio[rlabel]
        g = geomean([r for r, _ in vals])
        worst = min(vals) if vals else None
        summary[rlabel] = (g, worst, len(vals))
        gcells.append(f"{(f'{g:.2f}' if g else '-'):>13}")
        mcells.append(f"{(f'{worst[0]:.2f}' if worst else '-'):>13}")
    pad = " " * (38 + 14 * len(cols))
    nmain = max((n for _, _, n in summary.values()), default=0)
    lines.append(f"{'geometric mean (' + str(nmain) + ' workloads)':<38}"
                 + " " * (14 * len(cols)) + "".join(gcells))
    lines.append(f"{'worst workload':<38}" + pad[38:] + "".join(mcells))
    if failures:
        lines.append("")
        lines.append("FAIL reasons:")
        grouped = {}
        for fs, key, err in failures:
            grouped.setdefault((fs, err), []).append(key)
        for (fs, err), keys in grouped.items():
            main_keys = [k for k in keys if "." not in k] or keys
            lines.append(f"  {fs} ({', '.join(main_keys)}): {err}")
    return lines, summary


def pair_ratios(results, num, den, row):
    """The per-run ratios num/den of `row` (runs where both have a figure)."""
    xs, ys = results.get(num, {}).get(row), results.get(den, {}).get(row)
    if not (isinstance(xs, list) and isinstance(ys, list) and len(xs) == len(ys)):
        return []
    return [x / y for x, y in zip(xs, ys) if x is not None and y is not None and y > 0]


def median_interval(values, level=0.95):
    """A distribution-free `level` interval for the median of `values` (order statistics,
    from the binomial sign test): (low, high), or None when there are too few values (fewer
    than 6 at 95%) to bound it at all."""
    v = sorted(values)
    n = len(v)
    k, tail = 0, 0.0
    for j in range(n):
        tail += math.comb(n, j) / 2 ** n
        if tail > (1 - level) / 2:
            break
        k = j + 1
    return (v[k - 1], v[n - k]) if k else None


def targets(summary, results=None):
    """Lines saying whether issue #7's targets are met. A "worst workload" target holds for
    every workload, so with `results` it is judged on each main row's 95% interval for the
    median of its per-run ratios: met when every interval clears the target, NOT MET when
    one lies wholly under it, inconclusive (naming the rows) when one straddles it or has
    too few runs to bound."""
    out = []

    def verdict(ok):
        return "met" if ok else "NOT MET"

    def every_row(num, den, target, worst):
        if results is None:
            return verdict(worst[0] >= target)
        under, unsure, judged = [], [], 0
        for key, _, _, main in ROWS:
            if not main:
                continue
            if key not in results.get(num, {}) and key not in results.get(den, {}):
                continue  # not run (--only)
            pairs = pair_ratios(results, num, den, key)
            if not pairs:  # failed on one side, or no run measured both: not judged
                unsure.append(f"{key} (no paired runs)")
                continue
            judged += 1
            iv = median_interval(pairs)
            if iv is None:
                unsure.append(f"{key} ({len(pairs)} runs)")
            elif iv[1] < target:
                under.append(f"{key} ({iv[0]:.2f}-{iv[1]:.2f})")
            elif iv[0] < target:
                unsure.append(f"{key} ({iv[0]:.2f}-{iv[1]:.2f})")
        if under:
            return "NOT MET -- 95% interval of the median under it: " + ", ".join(under)
        if not judged and not unsure:
            return "inconclusive -- no workload has paired runs to judge"
        if unsure:
            return ("inconclusive -- the median's 95% interval reaches below it, or too few "
                    "runs to bound it: " + ", ".join(unsure)
                    + "; more runs narrow it (--reps, or several --json runs with --pool)")
        return f"met (every workload's 95% interval of the median clears it; {judged} judged)"
    if "off/pt" in summary:
        g, worst, n = summary["off/pt"]
        if g:
            out.append(f"  off/pt geometric mean {g:.2f} (target >= 1.00): {verdict(g >= 1.0)}")
            out.append(f"  off/pt worst {worst[0]:.2f} on {worst[1]} (target >= 0.80): "
                       + every_row("lockfs-off", "passthrough_ll", 0.8, worst))
    if "strict/off" in summary:
        g, worst, n = summary["strict/off"]
        if g:
            out.append(f"  strict/off worst {worst[0]:.2f} on {worst[1]} (target >= 0.85, "
                       f"i.e. within 15%): " + every_row("lockfs-strict", "lockfs-off", 0.85, worst))
    return out


def noisy_rows(results, fs_present, limit=0.25, top=6):
    """Main rows whose runs differ by more than `limit` on some filesystem, worst
    first (phase rows are left out: their spread is mostly FUSE cache timeouts)."""
    out = []
    for key, _, _, main in ROWS:
        if not main:
            continue
        worst, fs = max(((spread(results, f, key), f) for f in fs_present), default=(0, ""))
        if worst > limit:
            out.append((worst, f"{key} on {fs} (+{worst * 100:.0f}%)"))
    return [text for _, text in sorted(out, reverse=True)[:top]]


# The daemon's CPU seconds per unit of work of workload `w`, per run, are kept in
# results[fs][cpu_key(w)] (FUSE filesystems only: tmpfs has no daemon).
def cpu_key(workload):
    return f"{workload}#cpu"


CPU_RATIOS = [("lockfs-off", "passthrough_ll", "off/pt"),
              ("lockfs-strict", "lockfs-off", "strict/off")]


def cpu_table(results, fs_present):
    """Lines of the daemon-CPU table: microseconds per unit for each FUSE daemon and the
    ratios, which here are cost(lockfs) / cost(peer): above 1.0 means lockfs spends more."""
    cols = [(fs, label) for fs, label in FS_COLUMNS if fs in fs_present and fs != "tmpfs"]
    ratios = [r for r in CPU_RATIOS if r[0] in fs_present and r[1] in fs_present]
    head = (f"{'workload':<28}{'unit':<12}" + "".join(f"{label:>14}" for _, label in cols)
            + "".join(f"{label:>13}" for _, _, label in ratios))
    lines = []
    per_ratio = {label: [] for _, _, label in ratios}
    for w, _ in WORKLOADS:
        key = cpu_key(w)
        if all(figure(results, fs, key)[0] is None for fs, _ in cols):
            continue
        cells = []
        for fs, _ in cols:
            val, _ = figure(results, fs, key)
            cells.append(f"{(f'{val * 1e6:.3g}' if val is not None else '-'):>14}")
        rcells = []
        for num, den, rlabel in ratios:
            r = ratio(results, num, den, key)
            rcells.append(f"{(f'{r:.2f}' if r else '-'):>13}")
            if r:
                per_ratio[rlabel].append(r)
        lines.append(f"{w:<28}{'us/' + WORK_UNITS.get(w, 'unit'):<12}" + "".join(cells)
                     + "".join(rcells))
    if not lines:
        return []
    gcells = [f"{(f'{geomean(per_ratio[l]):.2f}' if per_ratio[l] else '-'):>13}"
              for _, _, l in ratios]
    return ([head, "-" * len(head)] + lines + ["-" * len(head)]
            + [f"{'geometric mean':<40}" + " " * (14 * len(cols)) + "".join(gcells)])

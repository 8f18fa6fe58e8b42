"""How the parallel kernels scale with the thread count, against PyTorch on
the same threads and against a parallel copy of the same bytes.

    python -m bench.scaling [--threads 1,2,4,8,16] [--functions relu,gelu]
                            [--dtypes float32] [--sizes 20,24] [--json FILE] [--markdown FILE]

For each thread count (``numba.set_num_threads`` and ``torch.set_num_threads``
together), every activation's forward and backward, and each size, times
fastact (automatic dispatch: the parallel kernel at these sizes), PyTorch
when it is installed, and the bandwidth roof (the faster of a prange copy and
``np.copyto``, as in the report).  The first thread count listed is the
base of the speed-ups (normally 1).  It prints
fastact's speed-up over its own one-thread time, the ratio to PyTorch at each
thread count, and the copy's throughput, which shows where memory bandwidth
rather than arithmetic sets the limit.  On a 2-core machine only 1 and 2
threads exist; the interesting runs are on machines with more cores.
"""
import argparse
import json
import math
import statistics
import sys

import numba

from fastact import ACTIVATIONS

from ._cases import COPY_IMPLS, DIRECTIONS, Case, CopyCase, layout, parse_log2
from ._peers import build, build_copy, load_torch
from ._timing import time_call
from .report import fmt_time

DEFAULT_LOG2 = "20,24"


def thread_counts(limit=None):
    """1, 2, 4, ... up to the limit (Numba's maximum), and the limit itself."""
    limit = limit or numba.config.NUMBA_NUM_THREADS
    out, t = [], 1
    while t < limit:
        out.append(t)
        t *= 2
    return out + [limit]


def _set_threads(t, torch):
    numba.set_num_threads(t)
    if torch is not None:
        torch.set_num_threads(t)


def sweep(threads, functions=None, dtypes=("float32",), directions=DIRECTIONS, log2s=None, budget=0.05,
          progress=None, variant="alloc"):
    """[{function, direction, dtype, size, threads, impl, time, nbytes}]: seconds per call;
    impl is 'fastact', 'torch', 'copy-prange' or 'copy-copyto' (function 'copy').
    variant 'out' times the forwards writing into a preallocated array (no
    page faults on a new output; PyTorch is then not timed)."""
    log2s = parse_log2(DEFAULT_LOG2) if log2s is None else log2s
    if variant != "alloc":
        directions = ("forward",)
    torch = load_torch()
    impls = ("fastact", "torch") if torch is not None and variant == "alloc" else ("fastact",)
    cases = [Case(f, d, dt, layout(ACTIVATIONS[f].kind, 1 << k), impl, variant if impl == "fastact" else "alloc", k)
             for dt in dtypes for k in log2s for f in (functions or ACTIVATIONS) for d in directions
             for impl in impls]
    copies = [CopyCase(dt, 1 << k, impl, k) for dt in dtypes for k in log2s for impl in COPY_IMPLS]
    old = numba.get_num_threads()
    old_torch = torch.get_num_threads() if torch is not None else None
    rows, done, total = [], 0, len(threads) * (len(cases) + len(copies))
    try:
        for t in threads:
            _set_threads(t, torch)
            for case in copies:
                rows.append(dict(function="copy", direction="forward", dtype=case.dtype, size=case.size,
                                 threads=t, impl=f"copy-{case.impl}", nbytes=case.nbytes,
                                 time=time_call(build_copy(case), budget)))
                done += 1
                if progress:
                    progress(done, total)
            for case in cases:
                rows.append(dict(function=case.function, direction=case.direction, dtype=case.dtype,
                                 size=case.size, threads=t, impl=case.impl, nbytes=case.nbytes,
                                 time=time_call(build(case), budget)))
                done += 1
                if progress:
                    progress(done, total)
    finally:
        numba.set_num_threads(old)
        if torch is not None:
            torch.set_num_threads(old_torch)
    return rows


def _index(rows):
    return {(r["function"], r["direction"], r["dtype"], r["size"], r["impl"], r["threads"]): r for r in rows}


def _size_label(n):
    k = math.log2(n)
    return f"2^{k:.0f}" if k == int(k) else str(n)


def analyse(rows):
    """Per (dtype, size): the thread counts, fastact's speed-up over one thread
    and its ratio to PyTorch per activation and direction, the copy's GB/s, and
    medians over the activations."""
    idx = _index(rows)
    threads = sorted({r["threads"] for r in rows})
    out = []
    for dtype, size in sorted({(r["dtype"], r["size"]) for r in rows}, key=lambda k: (k[0], k[1])):
        series = []
        keys = sorted({(r["function"], r["direction"]) for r in rows
                       if r["dtype"] == dtype and r["size"] == size and r["impl"] == "fastact"},
                      key=lambda k: (list(ACTIVATIONS).index(k[0]), DIRECTIONS.index(k[1])))
        for f, d in keys:
            base = idx.get((f, d, dtype, size, "fastact", threads[0]))
            s = dict(function=f, direction=d, base=base["time"] if base else None, speedup={}, vs_torch={},
                     gbs={})
            for t in threads:
                r = idx.get((f, d, dtype, size, "fastact", t))
                if r is None:
                    continue
                if base:
                    s["speedup"][t] = base["time"] / r["time"]
                s["gbs"][t] = r["nbytes"] / r["time"] / 1e9
                tr = idx.get((f, d, dtype, size, "torch", t))
                if tr is not None:
                    s["vs_torch"][t] = tr["time"] / r["time"]
            series.append(s)
        copy = {}
        for t in threads:
            rates = [r["nbytes"] / r["time"] / 1e9 for impl in COPY_IMPLS
                     if (r := idx.get(("copy", "forward", dtype, size, f"copy-{impl}", t))) is not None]
            if rates:
                copy[t] = max(rates)

        def median(key, t):
            vals = [s[key][t] for s in series if t in s[key]]
            return statistics.median(vals) if vals else None

        out.append(dict(dtype=dtype, size=size, threads=threads, series=series, copy_gbs=copy,
                        median_speedup={t: median("speedup", t) for t in threads},
                        median_vs_torch={t: median("vs_torch", t) for t in threads}))
    return out


def _threads(t):
    return f"{t} thread{'s' if t > 1 else ''}"


def _x(v):
    return "-" if v is None else f"{v:.2f}x"


def _table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] * len(headers)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


PAGE_INTRO = """# Scaling with threads

Generated by `python -m bench.scaling` (see its `--help`); do not edit by hand.

How fastact's parallel kernels scale from one thread to all the cores of a
machine, against PyTorch on the same threads (`torch.set_num_threads`) and
against the bandwidth roof: the faster of a Numba prange copy (on the same
threads) and `np.copyto` (one thread) of the same number of elements.  The
inputs are those of the benchmark suite: PReLU on (n / 16, 16) with a
weight per channel, the softmax family on rows of 1024.  Each point is the
minimum over five batches of calls, so a busy machine shows as scatter
between neighbouring points; read the tables for trends.  GB/s counts the
arrays read and written (2 forward, 3 backward).  A size whose arrays fit
in the last-level cache measures the cache, not memory; and a new output
array of many megabytes costs page faults on every call, which fastact and
PyTorch pay alike (`--variant out` times the forwards without them).

"""


def _measurement_options(argv):
    """argv without the options that name output files."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--json", "--markdown"):
            skip = True
        elif arg != "--append" and not arg.startswith(("--json=", "--markdown=")):
            out.append(arg)
    return out


def _heading(variant, command):
    what = "forwards into out=" if variant == "out" else "a new array per call, as PyTorch returns one"
    return f"## {what}\n\nCommand: `{command}`\n"


def format_markdown(analysis, machine_lines=(), heading=None):
    """The analysis as Markdown: per dtype and size, one table of speed-ups
    over one thread and one of ratios to PyTorch."""
    lines = ([heading] if heading else []) + list(machine_lines)
    for a in analysis:
        ts = a["threads"]
        label = f"{a['dtype']}, {_size_label(a['size'])} elements"
        lines += ["", f"### {label}: speed-up over {_threads(ts[0])}", ""]
        head = ["activation", _threads(ts[0])] + [_threads(t) for t in ts[1:]] + [f"GB/s at {ts[-1]}"]
        body = [["copy roof", f"{a['copy_gbs'].get(ts[0], 0):.1f} GB/s"]
                + [_x(a["copy_gbs"][t] / a["copy_gbs"][ts[0]]) if t in a["copy_gbs"] and ts[0] in a["copy_gbs"]
                   else "-" for t in ts[1:]]
                + [f"{a['copy_gbs'].get(ts[-1], 0):.1f}"]]
        body.append(["median of the activations", ""] + [_x(a["median_speedup"][t]) for t in ts[1:]] + [""])
        for s in a["series"]:
            body.append([f"{s['function']}.{s['direction']}",
                         "-" if s["base"] is None else fmt_time(s["base"])]
                        + [_x(s["speedup"].get(t)) for t in ts[1:]]
                        + [f"{s['gbs'][ts[-1]]:.1f}" if ts[-1] in s["gbs"] else "-"])
        lines += _table(head, body)
        if any(s["vs_torch"] for s in a["series"]):
            lines += ["", f"### {label}: PyTorch time / fastact time, same threads", ""]
            head = ["activation"] + [_threads(t) for t in ts]
            body = [["median"] + [_x(a["median_vs_torch"][t]) for t in ts]]
            body += [[f"{s['function']}.{s['direction']}"] + [_x(s["vs_torch"].get(t)) for t in ts]
                     for s in a["series"]]
            lines += _table(head, body)
    return "\n".join(lines) + "\n"


def machine_lines(variant="alloc"):
    from . import report

    m = report.machine()
    return [f"- Machine: {m.get('cpu')} ({m.get('llvm_cpu')}), {m.get('cores')} cores, L3 {m.get('l3', '?')}",
            f"- Versions: fastact {m.get('fastact')}, numba {m.get('numba')}, numpy {m.get('numpy')}, "
            f"PyTorch {m.get('torch')}, Python {m.get('python')}; threading layer {m.get('threading_layer')}, "
            f"vector width {m.get('vector_width')}",
            "- Statistic: min over 5 batches of calls per point; fastact with automatic dispatch, "
            "which runs the parallel kernel at these sizes, "
            + ("returning a new array (as PyTorch does)" if variant == "alloc" else "forwards into out=")]


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", help="comma-separated thread counts (default: 1, 2, 4, ... up to Numba's maximum)")
    p.add_argument("--functions", help="comma-separated activations (default: all)")
    p.add_argument("--dtypes", default="float32")
    p.add_argument("--directions", default="forward,backward")
    p.add_argument("--sizes", default=DEFAULT_LOG2, help="log2 sizes, e.g. 20,24")
    p.add_argument("--variant", choices=("alloc", "out"), default="alloc",
                   help="out: forwards only, into a preallocated out= (default: a new array, as PyTorch)")
    p.add_argument("--budget", type=float, default=0.05, help="seconds of timing per point")
    p.add_argument("--json", metavar="FILE", help="also write the measurements as JSON")
    p.add_argument("--markdown", metavar="FILE", help="also write the tables as a Markdown page")
    p.add_argument("--append", action="store_true",
                   help="add the tables to the --markdown page as a section (without the page's title)")
    a = p.parse_args(argv)
    limit = numba.config.NUMBA_NUM_THREADS
    threads = [int(t) for t in a.threads.split(",")] if a.threads else thread_counts(limit)
    bad = [t for t in threads if not 1 <= t <= limit]
    if bad:
        p.error(f"thread counts must be in [1, {limit}] (NUMBA_NUM_THREADS), got {bad}")
    for spec, allowed in ((a.dtypes, ("float32", "float64")), (a.directions, DIRECTIONS)):
        if any(v not in allowed for v in spec.split(",")):
            p.error(f"choose from {', '.join(allowed)}, got {spec!r}")
    functions = a.functions.split(",") if a.functions else None
    unknown = [f for f in functions or () if f not in ACTIVATIONS]
    if unknown:
        p.error(f"unknown activations {unknown}")
    rows = sweep(sorted(set(threads)), functions, a.dtypes.split(","), a.directions.split(","),
                 parse_log2(a.sizes), a.budget,
                 progress=lambda i, n: print(f"\r{i}/{n}", end="", file=sys.stderr, flush=True), variant=a.variant)
    print(file=sys.stderr)
    command = "python -m bench.scaling " + " ".join(_measurement_options(argv if argv is not None else sys.argv[1:]))
    text = format_markdown(analyse(rows), machine_lines(a.variant), heading=_heading(a.variant, command))
    print(text)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(dict(rows=rows, machine=machine_lines(a.variant)), fh, indent=1)
    if a.markdown:
        with open(a.markdown, "a" if a.append else "w") as fh:
            fh.write(("\n" if a.append else PAGE_INTRO) + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

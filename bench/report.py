"""Benchmark report: runs the suite and writes docs/benchmarks.md.

    python -m bench.report              # full sweep, 2**4 .. 2**24, float32 and float64
    python -m bench.report --quick      # a few sizes, float32: a few minutes
    python -m bench.report --huge       # adds 2**27 float32 (DRAM bandwidth)
    python -m bench.report --functions relu,softmax --dtypes float32 --sizes 10-20:2
    python -m bench.report --save-json results.json   # keep it, with .fused/.train/.compile/.threshold/.retime.json
    python -m bench.report --from-json results.json   # re-analyse a saved run (and its siblings)

Runs ``pytest bench/bench_activations.py --benchmark-only --benchmark-enable
--benchmark-json=...`` in a subprocess, then prints, per activation, direction,
dtype and size: fastact's time, its throughput (GB/s of the arrays read and
written), its speed-up over PyTorch and over the NumPy reference (peer time /
fastact time: above 1 fastact is faster) and its share of the copy roof (the
throughput of a parallel copy of the same number of elements), followed by
the targets (met / not met, with the numbers), the serial/parallel crossover,
and import and compile costs (bench/compile_cost.py).  The cells below
PyTorch (and the small arrays' and softmax shapes' cells short of their
targets, relu's against np.maximum) are timed once more with fastact and
the peer taking turns (bench/retime.py; ``--no-retime`` skips it): a second
measurement of each loss, less open to a slow spell of the machine that
covers one side's rounds.

It then runs ``pytest bench/bench_fused.py --bench-full`` the same way (its
own JSON; ``--no-fused`` skips it) for the fused operations (glu, bias_act,
softmax_cross_entropy): fastact's time and its speed-up over the unfused
sequence of fastact calls, over PyTorch and over the NumPy reference; and it
times one Fashion-MNIST training epoch per implementation
(bench/train_speed.py, in a subprocess; ``--no-train`` skips it): fastact.nn
on the fastact and numpy backends and torch.nn.  Both have their targets.
The fused cells short of a target are timed again in turn as well, against
PyTorch or against the unfused calls.  It writes docs/benchmarks.md and
docs/img/bench_throughput*.png.

:func:`summary` returns a short text (median speed-ups over PyTorch and NumPy)
for the command line.
"""
import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "benchmarks.md")
IMG_DIR = os.path.join(ROOT, "docs", "img")

QUICK = dict(sizes="4,10,14,20", fused_sizes="14,22", dtypes="float32", max_time=0.05)
FULL = dict(max_time=0.1)
LARGE_LOG2 = 14  # "large arrays": the PyTorch targets' matrix
SMALL_LOG2 = (4, 10)  # "small arrays"
FUSED_LOG2 = 22  # the fused-against-unfused target's size ...
FUSED_CE_LABEL = "4096x1000"  # ... and the cross-entropy shape standing for it (0.98 * 2^22 elements)
FUSED_SPEEDUP = 1.5
SOFTMAX_SPEEDUP = 1.3  # the softmax shapes' target
TRAIN_SPEEDUP = 2.0
TRAIN_ROUNDS = 2


# ---------------------------------------------------------------------------
# Running and loading


def run_suite(json_path, *, quick=False, huge=False, sizes=None, functions=None, dtypes=None,
              directions=None, shapes=None, max_time=None, threads=None, log=None):
    """Run the benchmarks in a subprocess; pytest-benchmark writes json_path."""
    preset = QUICK if quick else FULL
    sizes = sizes or (preset.get("sizes") if quick else None)
    dtypes = dtypes or preset.get("dtypes")
    options = ["--huge"] if huge else []
    for opt, value in (("--bench-sizes", sizes), ("--bench-functions", functions), ("--bench-dtypes", dtypes),
                       ("--bench-directions", directions), ("--bench-shapes", shapes)):
        if value:
            options.append(f"{opt}={value}")
    return _run_pytest("bench/bench_activations.py", json_path, options, max_time or preset["max_time"],
                       threads, log)


def run_fused(json_path, *, quick=False, sizes=None, dtypes=None, directions=None, max_time=None, threads=None,
              log=None):
    """Run bench/bench_fused.py the same way (every cross-entropy shape; the
    sizes of its sweep among ``sizes``, by default all of them, 2^14 and 2^22
    when ``quick``)."""
    preset = QUICK if quick else FULL
    sizes = sizes or preset.get("fused_sizes")
    dtypes = dtypes or preset.get("dtypes")
    options = [f"{opt}={value}" for opt, value in (("--bench-sizes", sizes), ("--bench-dtypes", dtypes),
                                                   ("--bench-directions", directions)) if value]
    return _run_pytest("bench/bench_fused.py", json_path, options, max_time or preset["max_time"], threads, log)


def _threads_env(threads, names=("NUMBA_NUM_THREADS",)):
    """The environment giving a subprocess ``threads`` threads (each variable
    of names set), or None (inherit) when threads is not given."""
    return dict(os.environ, **{v: str(threads) for v in names}) if threads else None


def _run_logged(cmd, env, log):
    """cmd in a subprocess (in the repository root, with env), its output to
    the file log (or discarded); its exit status."""
    with open(log or os.devnull, "w") as fh:
        return subprocess.run(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT).returncode


def _log_tail(log, chars):
    """The last chars characters of the file log ("" without one)."""
    if not log:
        return ""
    with open(log) as fh:
        return fh.read()[-chars:]


def _run_pytest(bench_file, json_path, options, max_time, threads, log):
    """pytest-benchmark on bench_file with --bench-full and ``options``, in a
    subprocess that writes json_path (an error only when it wrote nothing)."""
    cmd = [sys.executable, "-m", "pytest", bench_file, "-q", "-p", "no:cacheprovider",
           "--benchmark-only", "--benchmark-enable", "--benchmark-disable-gc",
           f"--benchmark-json={json_path}", f"--benchmark-max-time={max_time}",
           "--benchmark-min-time=0.0005", "--benchmark-min-rounds=5", "--benchmark-columns=min,median,rounds"]
    cmd.append("--bench-full")  # every shape; --bench-sizes narrows the sweep
    cmd += options
    print("running:", " ".join(cmd[1:]), file=sys.stderr, flush=True)
    status = _run_logged(cmd, _threads_env(threads), log)
    if status != 0:
        tail = _log_tail(log, 4000)
        if not os.path.exists(json_path):
            raise RuntimeError(f"benchmark run failed (exit status {status})\n{tail}")
        print(f"warning: some benchmarks failed (exit status {status}); reporting the rest\n{tail}",
              file=sys.stderr)
    return json_path


def run_training(json_path, *, rounds=TRAIN_ROUNDS, profile=False, threads=None, log=None):
    """:func:`measure_training` in a subprocess (with ``threads``, NumPy's
    BLAS, Numba and PyTorch get that many threads), which writes json_path.
    A failed run is reported in the result (``error``), not raised."""
    code = f"from bench.report import measure_training; measure_training({rounds!r}, {profile!r}, {json_path!r})"
    print(f"timing {rounds} round(s) of Fashion-MNIST training epochs ...", file=sys.stderr, flush=True)
    env = _threads_env(threads, ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"))
    status = _run_logged([sys.executable, "-c", code], env, log)
    if status != 0 or not os.path.exists(json_path):
        return dict(error=f"the training run failed (exit status {status})\n{_log_tail(log, 2000)}".strip())
    return load_training(json_path)


def measure_training(rounds=TRAIN_ROUNDS, profile=False, json_path=None):
    """Seconds of one Fashion-MNIST epoch per implementation, the
    implementations taking turns for ``rounds`` rounds (bench/train_speed.py's
    ``interleaved``), as a dict (also written to json_path).  With
    ``profile``, one more epoch of each fastact.nn backend, not timed for the
    table, splits its steps into phases (microseconds per step).  When the
    dataset is missing, ``missing`` says where it was looked for and how to
    get it."""
    import numba

    from fastact.nn.datasets import DatasetNotFoundError, load_fashion_mnist

    from . import train_speed

    try:
        x, y, _, _ = load_fashion_mnist()
    except DatasetNotFoundError as exc:
        result = dict(missing=str(exc))
    else:
        impls = train_speed.default_impls()
        load_before = _load_average()
        times = train_speed.interleaved(rounds, impls, x, y)
        result = dict(samples=len(x), batch=train_speed.BATCH, rounds=rounds, times=times,
                      blas_threads=train_speed.threads(), numba_threads=numba.get_num_threads(),
                      load_before=load_before, load_after=_load_average())
        if profile:
            profiles = {}
            for impl in impls:
                if impl != "torch":
                    epoch = train_speed.fastact_epoch(impl, x, y, profile=True)
                    epoch()
                    profiles[impl] = epoch.profiles[-1]
            result["profiles"] = profiles
    if json_path:
        with open(json_path, "w") as fh:
            json.dump(result, fh, indent=1)
    return result


def load_training(path):
    with open(path) as fh:
        return json.load(fh)


def _load_average():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


COMPILE_SUFFIX = ".compile.json"
THRESHOLD_SUFFIX = ".threshold.json"
RETIME_SUFFIX = ".retime.json"


def save_json(path, obj):
    with open(path, "w") as fh:
        json.dump(obj, fh, indent=1)


def sibling(path, suffix):
    """The path of a run's other results: results.json -> results<suffix>."""
    root, ext = os.path.splitext(path)
    return (root if ext == ".json" else path) + suffix


def machine(bench_info=None):
    """fastact.info() and PyTorch's version and threads as the benchmark run
    recorded them (bench_info: its JSON's machine_info), plus the L3 size."""
    bench_info = bench_info or {}
    if "fastact" in bench_info:
        info = dict(bench_info["fastact"])
        t = bench_info.get("torch")
        info["torch"], info["torch_threads"] = (t["version"], t["threads"]) if t else ("not installed", "-")
    else:
        import fastact as fa

        from ._peers import load_torch

        info = dict(fa.info())
        t = load_torch()
        info["torch"], info["torch_threads"] = (t.__version__, t.get_num_threads()) if t else ("not installed", "-")
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index3/size") as fh:
            info["l3"] = fh.read().strip()
    except OSError:
        pass
    info["platform"] = platform.platform()
    return info


class Results:
    """Times keyed by (function, direction, dtype, label, impl, variant)."""

    def __init__(self, records, meta=None):
        self.records = records
        self.meta = meta or {}
        self._t = {}
        self._copy = {}
        for r in records:
            if r["function"] == "copy":
                key = (r["dtype"], r["size"])
                self._copy[key] = min(self._copy.get(key, math.inf), r["time"])
            else:
                self._t[(r["function"], r["direction"], r["dtype"], r["label"], r["impl"], r["variant"])] = r

    @classmethod
    def from_json(cls, path, stat="min", meta=None):
        with open(path) as fh:
            data = json.load(fh)
        records = [dict(b["extra_info"], time=b["stats"][stat]) for b in data["benchmarks"]]
        mi = data.get("machine_info", {})
        meta = dict(meta or {}, stat=stat, datetime=data.get("datetime"),
                    load_before=mi.get("load_before"), load_after=mi.get("load_after"))
        meta.setdefault("machine", machine(mi))
        return cls(records, meta)

    def record(self, function, direction, dtype, label, impl="fastact", variant="alloc"):
        return self._t.get((function, direction, dtype, label, impl, variant))

    def time(self, *key, **kw):
        r = self.record(*key, **kw)
        return None if r is None else r["time"]

    def ratio(self, function, direction, dtype, label, peer):
        """peer time / fastact time (automatic dispatch, new output array)."""
        t, p = self.time(function, direction, dtype, label), self.time(function, direction, dtype, label, peer)
        return None if t is None or p is None else p / t

    def gbps(self, record):
        return record["nbytes"] / record["time"] / 1e9

    def roof(self, dtype, size):
        """GB/s of the faster copy of `size` elements (read + write)."""
        import numpy as np

        t = self._copy.get((dtype, size))
        return None if t is None else 2 * size * np.dtype(dtype).itemsize / t / 1e9

    def roof_share(self, record):
        roof = self.roof(record["dtype"], record["size"])
        return None if roof is None else self.gbps(record) / roof

    def series(self):
        """Sorted (function, direction, dtype) present, in table order."""
        from fastact import ACTIVATIONS

        keys = {(k[0], k[1], k[2]) for k in self._t}
        order = {n: i for i, n in enumerate(ACTIVATIONS)}
        return sorted(keys, key=lambda k: (k[2], order.get(k[0], 99), k[1] != "forward"))

    def labels(self, function, direction, dtype):
        """Labels of the sweep (by size), then of the shapes."""
        recs = [r for k, r in self._t.items() if k[:3] == (function, direction, dtype) and k[4] == "fastact"
                and k[5] == "alloc"]
        sweep = sorted((r for r in recs if r.get("log2") is not None), key=lambda r: r["log2"])
        shapes = sorted((r for r in recs if r.get("log2") is None), key=lambda r: r["size"])
        return [r["label"] for r in sweep + shapes]

    def dtypes(self):
        return sorted({k[2] for k in self._t})


class FusedResults(Results):
    """The fused operations' times (bench/bench_fused.py), keyed as Results
    with the operation as the function: glu, bias_act(relu), ...,
    softmax_cross_entropy; the peers are fastact-unfused, torch and numpy."""

    def __init__(self, records, meta=None):
        super().__init__([dict(r, function=r["operation"], variant="alloc") for r in records], meta)

    def series(self):
        """Sorted (operation, direction, dtype) present: by dtype, then glu,
        bias_act (its activations in table order), softmax_cross_entropy."""
        from fastact import ACTIVATIONS

        from .bench_fused import OPERATIONS
        from .retime import _operation

        order = {n: i for i, n in enumerate(ACTIVATIONS)}

        def key(k):
            function, act = _operation(k[0])
            return k[2], OPERATIONS.index(function), order.get(act, -1), k[1] != "forward"
        return sorted({(k[0], k[1], k[2]) for k in self._t}, key=key)


# ---------------------------------------------------------------------------
# Formatting helpers


def fmt_time(t):
    if t is None:
        return "-"
    if t < 1e-6:
        return f"{t * 1e9:.0f} ns"
    if t < 1e-3:
        return f"{t * 1e6:.3g} us"
    if t < 1:
        return f"{t * 1e3:.3g} ms"
    return f"{t:.3g} s"


def fmt_x(r):
    return "-" if r is None else f"{r:.2f}x"


def fmt_pct(r):
    return "-" if r is None else f"{100 * r:.0f}%"


def table(headers, rows, markdown=False):
    cells = [[str(c) for c in row] for row in rows]
    if markdown:
        out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if i else ":---" for i in range(len(headers))) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in cells]
        return "\n".join(out)
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(f"{h:<{w}}" if i == 0 else f"{h:>{w}}" for i, (h, w) in enumerate(zip(headers, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(r, widths)))
              for r in cells]
    return "\n".join(lines)


def detail_rows(res, function, direction, dtype):
    """Per size: time, GB/s, vs PyTorch, vs NumPy, % of copy roof, parallel speed-up."""
    rows = []
    for label in res.labels(function, direction, dtype):
        rec = res.record(function, direction, dtype, label)
        ts = res.time(function, direction, dtype, label, "fastact-serial")
        tp = res.time(function, direction, dtype, label, "fastact-parallel")
        shape = "x".join(map(str, rec["shape"]))
        rows.append([label, shape, fmt_time(rec["time"]), f"{res.gbps(rec):.1f}",
                     fmt_x(res.ratio(function, direction, dtype, label, "torch")),
                     fmt_x(res.ratio(function, direction, dtype, label, "numpy")),
                     fmt_pct(res.roof_share(rec)),
                     fmt_x(ts / tp if ts and tp else None)])
    return rows


DETAIL_HEADERS = ["size", "shape", "fastact", "GB/s", "vs PyTorch", "vs NumPy", "% copy roof", "serial/parallel"]


def ratio_matrix(res, peer, dtype):
    """Rows function.direction, columns the sweep's sizes: speed-up over peer."""
    series = [s for s in res.series() if s[2] == dtype]
    sweep = sorted({r["log2"] for r in res.records if r.get("log2") is not None and r["function"] != "copy"
                    and r["dtype"] == dtype})
    rows = []
    for f, d, _ in series:
        rows.append([f"{f}.{d}"] + [fmt_x(res.ratio(f, d, dtype, f"2^{k}", peer)) for k in sweep])
    return ["activation"] + [f"2^{k}" for k in sweep], rows


def variant_rows(res):
    """fastact forwards writing a new array, out= and in place, against the copy roof."""
    rows = []
    for f, d, dtype in res.series():
        if d != "forward":
            continue
        for label in res.labels(f, d, dtype):
            recs = {v: res.record(f, d, dtype, label, "fastact", v) for v in ("alloc", "out", "inplace")}
            if recs["out"] is None and recs["inplace"] is None:
                continue
            roof = res.roof(dtype, recs["alloc"]["size"])
            row = [f"{f} {dtype} {label}", f"{roof:.1f}" if roof else "-"]
            for v in ("alloc", "out", "inplace"):
                r = recs[v]
                row += ["-", "-"] if r is None else [f"{res.gbps(r):.1f}", fmt_pct(res.roof_share(r))]
            rows.append(row)
    return ["forward", "copy GB/s", "new array GB/s", "%", "out= GB/s", "%", "in place GB/s", "%"], rows


# ---------------------------------------------------------------------------
# Targets


def _by_cell(retimed):
    """bench.retime's results keyed by their cell text."""
    return {r["cell"]: r for r in retimed or ()}


class Target:
    def __init__(self, name, checks, need=None, aggregate=None, note=None, retime=None):
        """checks: [(what, value, ok)]; aggregate: (text, ok) overriding all(ok);
        note: a sentence appended to the detail (it does not change the status);
        retime: (suffix, bar, what) when the checks are speed-ups whose failing
        cells bench.retime times again: their texts plus suffix are its cell
        texts, bar the speed-up the target asks for, what its wording ("below
        PyTorch")."""
        self.name = name
        self.checks = checks
        self.need = need
        self.aggregate = aggregate
        self.note = note
        self.retime = retime

    def retime_cells(self):
        """[(bench.retime's cell text, check)] of the failing checks ([] if
        the target is not re-timed)."""
        return [(c[0] + self.retime[0], c) for c in self.checks if not c[2]] if self.retime else []

    def note_retimed(self, retimed):
        """Set the note from bench.retime's results on the failing cells: how
        many of those timed again stay short, and the lowest."""
        again = _by_cell(retimed)
        timed = sorted((again[key]["ratio"], c[0]) for key, c in self.retime_cells() if key in again)
        if timed:
            bar, what = self.retime[1:]
            still = [(r, name) for r, name in timed if r < bar]
            self.note = (f"timed again in turn (python -m bench.retime): {len(still)} of the {len(timed)} so "
                         f"timed {what}" + (", lowest " + ", ".join(f"{n} {fmt_x(r)}" for r, n in still[:3])
                                            if still else ""))
        return self

    @property
    def status(self):
        if not self.checks and self.aggregate is None:
            return "not measured"
        ok = self.aggregate[1] if self.aggregate else all(c[2] for c in self.checks)
        return "met" if ok else "NOT met"

    def detail(self, limit=6):
        text = self._detail(limit)
        return f"{text}; {self.note}" if self.note and (self.checks or self.aggregate) else text

    def _detail(self, limit):
        if not self.checks and self.aggregate is None:
            return self.need or "no data in this run"
        if self.aggregate:
            return self.aggregate[0]
        bad = [c for c in self.checks if not c[2]]
        text = f"{len(self.checks) - len(bad)}/{len(self.checks)} pass"
        if bad:
            worst = sorted(bad, key=lambda c: c[1])[:limit]
            text += "; failing: " + ", ".join(f"{c[0]} {c[3] if len(c) > 3 else c[1]}" for c in worst)
            if len(bad) > limit:
                text += f", ... ({len(bad) - limit} more)"
        else:
            lo = min(self.checks, key=lambda c: c[1])
            text += f"; lowest: {lo[0]} {lo[3] if len(lo) > 3 else lo[1]}"
        return text


def _cells(res, pred):
    for f, d, dtype in res.series():
        for label in res.labels(f, d, dtype):
            rec = res.record(f, d, dtype, label)
            if pred(f, d, dtype, rec):
                yield f, d, dtype, label, rec


def large_torch_ratios(res):
    return [(f"{f}.{d} {dtype} {label}", r) for f, d, dtype, label, rec in
            _cells(res, lambda f, d, dt, rec: rec.get("log2") is not None and rec["log2"] >= LARGE_LOG2)
            if (r := res.ratio(f, d, dtype, label, "torch")) is not None]


BELOW_TORCH = ("", 1, "below PyTorch")  # Target.retime of the targets against PyTorch


def targets(res, retimed=None):
    """The activation targets; retimed (bench.retime's results on the cells
    short of a target against PyTorch) adds how many of them stay short when
    timed in turn."""
    out = []
    large = large_torch_ratios(res)
    out.append(Target(f"every activation, forward and backward, float32 and float64, sizes >= 2^{LARGE_LOG2}: "
                      f">= PyTorch", [(w, r, r >= 1, fmt_x(r)) for w, r in large], "needs torch and sizes >= 2^14",
                      retime=BELOW_TORCH))
    if large:
        med = statistics.median(r for _, r in large)
        agg = (f"median {med:.2f}x over {len(large)} cells", med >= 1.3)
    else:
        agg = None
    out.append(Target("median speed-up over PyTorch on that matrix >= 1.3x", [], "needs torch", agg))

    def small(f, d, dt, rec):
        return rec.get("log2") is not None and SMALL_LOG2[0] <= rec["log2"] <= SMALL_LOG2[1]

    from ._cases import ONE_LINER_IMPL
    from .retime import VS_NUMPY

    checks = []
    for f, d, dtype, label, rec in _cells(res, small):
        if (f, d) == ("relu", "forward"):
            t_np = res.time(f, d, dtype, label, ONE_LINER_IMPL)
            if t_np is not None:
                r = t_np / rec["time"]
                checks.append((f"{f}.{d} {dtype} {label}", r, r >= 1,
                               f"{fmt_time(rec['time'])} vs {fmt_time(t_np)}"))
    out.append(Target("small arrays (2^4..2^10): relu call time <= np.maximum(x, 0)", checks,
                      retime=(VS_NUMPY, 1, "slower than np.maximum(x, 0)")))
    checks = [(f"{f}.{d} {dtype} {label}", r, r > 1, fmt_x(r)) for f, d, dtype, label, rec in _cells(res, small)
              if (r := res.ratio(f, d, dtype, label, "torch")) is not None]
    out.append(Target("small arrays (2^4..2^10): every activation faster than PyTorch", checks, "needs torch",
                      retime=BELOW_TORCH))

    checks = []
    for f, d, dtype, label, rec in _cells(res, lambda f, d, dt, rec: d == "forward" and dt == "float32"
                                          and rec.get("log2") == 27):
        for v in ("out", "inplace"):
            r = res.record(f, d, dtype, label, "fastact", v)
            share = res.roof_share(r) if r else None
            if share is not None:
                checks.append((f"{f} {'in place' if v == 'inplace' else 'out='}", share, share >= 0.85,
                               fmt_pct(share)))
    out.append(Target("2^27 float32 forwards >= 85% of the copy roof, in place and out of place (out=)", checks,
                      "run with --huge"))

    checks = []
    for f, d, dtype, label, rec in _cells(res, lambda f, d, dt, rec: rec.get("log2") is None):
        r = res.ratio(f, d, dtype, label, "torch")
        if r is not None:
            checks.append((f"{f}.{d} {dtype} {label}", r, r >= SOFTMAX_SPEEDUP, fmt_x(r)))
    out.append(Target(f"softmax / log_softmax >= {SOFTMAX_SPEEDUP}x PyTorch on (32, 10), (256, 1000), (4096, 1000), "
                      "(64, 50257)", checks, "needs torch and the softmax shapes",
                      retime=("", SOFTMAX_SPEEDUP, f"below {SOFTMAX_SPEEDUP}x PyTorch")))

    checks = []
    for f, d, dtype, label, rec in _cells(res, lambda f, d, dt, rec: f in ("sigmoid", "tanh", "elu", "softmax")
                                          and rec.get("log2") == 20):
        r = res.ratio(f, d, dtype, label, "numpy")
        if r is not None:
            checks.append((f"{f}.{d} {dtype}", r, r >= 5, fmt_x(r)))
    out.append(Target(">= 5x the NumPy reference on sigmoid, tanh, elu, softmax at 2^20", checks,
                      "needs size 2^20"))
    return [t.note_retimed(retimed) for t in out]


def fused_targets(fres, retimed=None):
    """The fused operations' targets; fres is None when they were not run;
    retimed (bench.retime's results) adds a note on the cells timed again."""
    from .retime import UNFUSED

    checks_unfused, checks_torch = [], []
    if fres is not None:
        def at_target(f, d, dt, rec):
            return rec.get("log2") == FUSED_LOG2 or rec["label"] == FUSED_CE_LABEL

        for f, d, dtype, label, rec in _cells(fres, at_target):
            r = fres.ratio(f, d, dtype, label, "fastact-unfused")
            if r is not None:
                checks_unfused.append((f"{f}.{d} {dtype} {label}", r, r >= FUSED_SPEEDUP, fmt_x(r)))
        for f, d, dtype, label, rec in _cells(fres, lambda f, d, dt, rec: rec["size"] >= 1 << LARGE_LOG2):
            r = fres.ratio(f, d, dtype, label, "torch")
            if r is not None:
                checks_torch.append((f"{f}.{d} {dtype} {label}", r, r >= 1, fmt_x(r)))
    not_run = "not run (--no-fused)" if fres is None else None
    out = [
        Target(f"fused operations >= {FUSED_SPEEDUP}x the unfused sequence of fastact calls at 2^{FUSED_LOG2} "
               f"elements (softmax_cross_entropy: {FUSED_CE_LABEL})", checks_unfused,
               not_run or f"needs the fused run at 2^{FUSED_LOG2} (bench/bench_fused.py --bench-full)",
               retime=(UNFUSED, FUSED_SPEEDUP, f"below {FUSED_SPEEDUP}x the unfused calls")),
        Target(f"fused operations, sizes >= 2^{LARGE_LOG2}: >= PyTorch", checks_torch, not_run or "needs torch",
               retime=BELOW_TORCH),
    ]
    return [t.note_retimed(retimed) for t in out]


def retime_cells(target_list):
    """bench.retime's cell texts of every failing check of these targets,
    each once, in order."""
    return list(dict.fromkeys(key for t in target_list for key, _ in t.retime_cells()))


def retimed_rows(target_list, retimed):
    """Rows of the failing cells of these targets that were timed again in
    turn: cell (bench.retime's text), the speed-up its target asks for, the
    sweep's speed-up, the median in turn and its range; the furthest short
    of its target first.  (No cell fails two of the targets: the sweep
    sizes, the small sizes and the softmax shapes are apart, and the fused
    cells against the unfused calls carry their suffix.)"""
    again = _by_cell(retimed)
    rows = sorted((again[key]["ratio"] / t.retime[1], key, t.retime[1], c[1], again[key])
                  for t in target_list for key, c in t.retime_cells() if key in again)
    return [[key, fmt_x(bar), fmt_x(r), fmt_x(a["ratio"]), f"{a['lo']:.2f}-{a['hi']:.2f}"]
            for _, key, bar, r, a in rows]


def retimed_text(rows, retimed, cells, peer):
    """The paragraph before a table of retimed_rows: which cells (``cells``)
    and how they were timed against ``peer``."""
    again = _by_cell(retimed)
    pairs = max(len(again[row[0]]["fastact"]) for row in rows)
    return (f"Timed again in turn.  {cells}, timed once more after the sweep (`python -m bench.retime`): fastact "
            f"and {peer} alternate, {pairs} turns each, a turn the least time of the same number of back-to-back "
            f"calls for both; the ratio is the median over the turns of {peer}'s time / fastact's, the range its "
            "least and largest turn, the rows the furthest short of their target first.  A cell well above its "
            "target here was most likely slowed in the sweep by the machine rather than by its kernel (a slow "
            "spell can cover every round of one side); one short in both is a loss measured twice.")


RETIMED_HEADERS = ["cell", "target", "sweep speed-up", "in turn, median", "in turn, range"]


def training_target(training):
    """fastact.nn's fastact backend against torch.nn and the numpy backend,
    best epoch against best epoch; training is None when it was not run."""
    checks = []
    best = {k: min(v) for k, v in training["times"].items()} if training and "times" in training else {}
    if "fastact" in best:
        for impl, name in (("numpy", "numpy backend"), ("torch", "PyTorch")):
            if impl in best:
                r = best[impl] / best["fastact"]
                checks.append((name, r, r >= TRAIN_SPEEDUP,
                               f"{fmt_x(r)} ({best[impl]:.2f} s vs {best['fastact']:.2f} s)"))
            else:  # a target half measured is not met
                checks.append((name, 0.0, False, "not measured"))
    if training is None:
        need = "not run (--no-train)"
    elif "missing" in training:
        need = "Fashion-MNIST is not installed (see the training section)"
    else:
        need = "the training run failed (see the training section)"
    return Target(f"training (Fashion-MNIST, one epoch): fastact backend >= {TRAIN_SPEEDUP:g}x faster than PyTorch "
                  f"and than the numpy backend", checks, need)


def crossovers(res):
    """From the sweep: smallest size from which forced parallel beats forced serial at every larger size."""
    rows = []
    for f, d, dtype in res.series():
        pts = []
        for label in res.labels(f, d, dtype):
            rec = res.record(f, d, dtype, label)
            ts = res.time(f, d, dtype, label, "fastact-serial")
            tp = res.time(f, d, dtype, label, "fastact-parallel")
            if rec.get("log2") is not None and ts and tp:
                pts.append((rec["size"], ts, tp))
        cross = None
        for size, ts, tp in reversed(pts):
            if tp < ts:
                cross = size
            else:
                break
        if pts:
            rows.append([f"{f}.{d} {dtype}", "never" if cross is None else f"2^{int(math.log2(cross))}"])
    return ["activation", "parallel faster from"], rows


# ---------------------------------------------------------------------------
# Summary, text and Markdown


def summary(results=None, quick=True, **run_options):
    """A short text: median speed-up of fastact over PyTorch and over NumPy.

    results: a Results, the path of a pytest-benchmark JSON written by this
    suite, or None to measure a small matrix in this process (every
    activation, forward and backward, float32, 2^14 and 2^20; a few seconds).
    """
    if results is None:
        from ._cases import Selection
        from ._timing import measure

        sel = Selection.from_options(sizes=run_options.get("sizes", "14,20"), dtypes="float32",
                                     impls="fastact,numpy,torch", shapes="none")
        results = Results(measure(sel.cases(), budget=run_options.get("budget", 0.01)), dict(stat="min"))
    elif isinstance(results, (str, os.PathLike)):
        results = Results.from_json(results)
    large = large_torch_ratios(results)
    lines = []
    if large:
        med = statistics.median(r for _, r in large)
        lo = min(large, key=lambda c: c[1])
        hi = max(large, key=lambda c: c[1])
        lines.append(f"fastact vs PyTorch: median {med:.2f}x faster over {len(large)} cases "
                     f"(sizes >= 2^{LARGE_LOG2}; range {lo[1]:.2f}x {lo[0]} .. {hi[1]:.2f}x {hi[0]})")
    else:
        lines.append("fastact vs PyTorch: not measured (PyTorch not installed)")
    np_ratios = [(f"{f}.{d} {dt} {label}", r) for f, d, dt, label, rec in
                 _cells(results, lambda f, d, dt, rec: rec.get("log2") is not None and rec["log2"] >= LARGE_LOG2)
                 if (r := results.ratio(f, d, dt, label, "numpy")) is not None]
    if np_ratios:
        med = statistics.median(r for _, r in np_ratios)
        lines.append(f"fastact vs NumPy:   median {med:.2f}x faster over {len(np_ratios)} cases")
    import numba

    lines.append(f"({numba.get_num_threads()} threads; ratios are peer time / fastact time)")
    return "\n".join(lines)


FUSED_HEADERS = ["operation", "direction", "size", "fastact", "vs unfused", "vs PyTorch", "vs NumPy"]
FUSED_PEERS = ("fastact-unfused", "torch", "numpy")


def fused_rows(fres, dtype):
    """Per fused operation, direction and size (or cross-entropy shape): fastact's
    time and its speed-up over the unfused fastact sequence, PyTorch and NumPy."""
    rows = []
    for f, d, dt in fres.series():
        if dt == dtype:
            for label in fres.labels(f, d, dt):
                rows.append([f, d, label, fmt_time(fres.time(f, d, dt, label))] +
                            [fmt_x(fres.ratio(f, d, dt, label, peer)) for peer in FUSED_PEERS])
    return rows


TRAIN_NAMES = {"fastact": "fastact.nn, fastact backend", "numpy": "fastact.nn, numpy backend",
               "torch": "PyTorch torch.nn (CPU)"}


def training_text(training):
    """(lines of text, [(headers, rows)] tables) of the training section."""
    if "missing" in training:
        return ["Not measured: " + training["missing"]], []
    if "error" in training:
        return [training["error"]], []
    times = training["times"]
    best = {k: min(v) for k, v in times.items()}
    lines = [f"One epoch of {training['samples']} images at batch {training['batch']}: 784 -> Dense(128, relu) -> "
             f"Dense(10), softmax cross-entropy, Adam, float32.  The implementations take turns, one epoch each "
             f"per round, {training['rounds']} round(s); {training['blas_threads']} BLAS and PyTorch thread(s), "
             f"{training['numba_threads']} Numba thread(s); load average before / after: "
             f"{training.get('load_before')} / {training.get('load_after')}.  Speed-up: the implementation's "
             f"best epoch / the fastact backend's."]
    own = max(training.get("blas_threads") or 1, training.get("numba_threads") or 1)
    busy = _busy(training.get("load_before"), training.get("load_after"), own, os.cpu_count() or 1)
    if busy:
        lines.append(f"WARNING: {busy}: these epoch times are unreliable")
    rows = [[TRAIN_NAMES.get(impl, impl), f"{min(v):.2f}", f"{statistics.median(v):.2f}",
             fmt_x(best[impl] / best["fastact"]) if "fastact" in best else "-"] for impl, v in times.items()]
    tables = [(["implementation", "best s/epoch", "median s/epoch", "fastact speed-up"], rows)]
    profiles = training.get("profiles")
    if profiles:
        phases = list(next(iter(profiles.values())))
        rows = [[TRAIN_NAMES.get(impl, impl)] + [f"{p[k]:.0f}" for k in phases] + [f"{sum(p.values()):.0f}"]
                for impl, p in profiles.items()]
        tables.append((["microseconds per step"] + phases + ["total"], rows))
    return lines, tables


def _header_lines(meta):
    m = meta.get("machine", {})
    lines = [
        f"Machine: {m.get('cpu', '?')} ({m.get('llvm_cpu', '?')}), {m.get('cores', '?')} cores, "
        f"L3 {m.get('l3', '?')}, vector width {m.get('vector_width', '?')}; {m.get('platform', '')}",
        f"Versions: fastact {m.get('fastact')}, numba {m.get('numba')}, numpy {m.get('numpy')}, "
        f"PyTorch {m.get('torch')}, Python {m.get('python')}",
        f"Threads: fastact {m.get('threads')} ({m.get('threading_layer')} layer, parallel from "
        f"{m.get('parallel_threshold')} elements, the softmax family from "
        f"{m.get('softmax_parallel_threshold', '?')}, elementwise see the crossover table), "
        f"PyTorch {m.get('torch_threads', '-')}",
        f"Statistic: {meta.get('stat', 'min')} of each benchmark's rounds; load average before / after: "
        f"{meta.get('load_before')} / {meta.get('load_after')}; run {meta.get('datetime', '')}",
    ]
    busy = _busy(meta.get("load_before"), meta.get("load_after"), m.get("threads") or 1,
                 m.get("cores") or os.cpu_count() or 1)
    if busy:
        lines.append(f"WARNING: {busy}: parallel timings in particular are unreliable")
    return lines


def _busy(before, after, own_threads, cores):
    """Why the machine looks busy from the 1-minute load averages taken just
    before and just after a run, or None.  The run's own threads are still in
    the average after it, so that one is allowed own_threads more."""
    before = (before or [None])[0]
    after = (after or [None])[0]
    if before is not None and before > 0.5 * cores:
        return f"the machine was busy before the run (1-minute load average {before} on {cores} cores)"
    if after is not None and after > own_threads + 0.5 * cores:
        return (f"the machine was busy during the run (1-minute load average {after} after it, on {cores} cores, "
                f"{own_threads} of it the run's own threads)")
    return None


# ---------------------------------------------------------------------------
# Shortfalls: what the cells below PyTorch measure besides time

ACCURACY_LOG2 = 20  # the size the errors are measured at
ACCURACY_ULPS = 4  # "off by more than" this, for the share of elements
ROOF_SHARE = 0.85  # the 2^27 target


def _failing_torch_cells(res):
    """{(function, direction): [(dtype, label, ratio)]} of the cells from
    2^LARGE_LOG2 up (and the softmax shapes) where PyTorch is faster."""
    out = {}
    for f, d, dtype, label, rec in _cells(res, lambda f, d, dt, rec: rec["size"] >= 1 << LARGE_LOG2):
        r = res.ratio(f, d, dtype, label, "torch")
        if r is not None and r < 1:
            out.setdefault((f, d), []).append((dtype, label, r))
    return out


def run_retime(json_path, cells, threads=None, log=None):
    """bench.retime on ``cells`` in a subprocess (with ``threads`` as the
    sweep had them), which writes json_path; its results, or None when it
    failed (reported on stderr)."""
    print(f"timing the {len(cells)} cells short of a target again, in turn ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="fastact-retime-") as tmp:
        cells_path = os.path.join(tmp, "cells.json")
        save_json(cells_path, cells)
        cmd = [sys.executable, "-m", "bench.retime", "--cells-from", cells_path, "--json", json_path]
        status = _run_logged(cmd, _threads_env(threads), log)
    if status != 0 or not os.path.exists(json_path):
        print(f"warning: timing the cells again failed (exit status {status})\n{_log_tail(log, 2000)}",
              file=sys.stderr)
        return None
    with open(json_path) as fh:
        return json.load(fh)


def measure_accuracy(res):
    """For every (function, direction) with a cell below PyTorch: the error
    in float32 ulps of fastact's and of PyTorch's float32 results, against
    the NumPy reference evaluated in float64 on the same inputs (the
    benchmark's, at 2^ACCURACY_LOG2 elements).  A list of dicts, [] without
    PyTorch."""
    import numpy as np

    from fastact import ACTIVATIONS, reference
    from fastact.testing import backward_error_near_zeros, near_grad_zeros, ulp_error

    from . import _peers
    from ._cases import Case, layout

    if _peers.load_torch() is None:
        return []
    rows = []
    for f, d in _failing_torch_cells(res):
        entry = ACTIVATIONS[f]
        shape = layout(entry.kind, 1 << ACCURACY_LOG2)
        got = {}
        for impl in ("fastact", "torch"):
            case = Case(f, d, "float32", shape, impl, log2=ACCURACY_LOG2)
            got[impl] = _peers.as_numpy(_peers.build(case).fn())[0]
        w = _peers.work(Case(f, d, "float32", shape, "fastact", log2=ACCURACY_LOG2))
        up = {k: v.astype(np.float64) if isinstance(v, np.ndarray) else v for k, v in w.params.items()}
        args, kwargs = _peers._split(up)
        if d == "forward":
            want = getattr(reference, f)(w.x.astype(np.float64), *args, **kwargs)
        else:
            want = getattr(reference, entry.backward_name)(w.grad.astype(np.float64), w.v.astype(np.float64),
                                                           *args, **kwargs)
        want = _peers.as_numpy(want)[0]
        near = near_grad_zeros(entry, w.x) if d == "backward" else None
        row = dict(function=f, direction=d, shape=list(shape))
        for impl, v in got.items():
            e = ulp_error(v, want, np.float32)
            if near is not None:  # as docs/accuracy.md: against the size of the terms that cancel
                e[near] = backward_error_near_zeros(entry, kwargs, w.grad, v, want, np.float32, near)
            row[impl] = dict(max=float(e.max()), share=float(np.mean(e > ACCURACY_ULPS)))
        rows.append(row)
    return rows


def _fmt_ulps(u):
    return "inf" if u == math.inf else f"{u:.3g}"


def shortfall_tables(res, accuracy, retimed=None, target_list=None):
    """(text, [(headers, rows)]) for the section on the cells below PyTorch
    and the 2^27 roof target; target_list: targets(res), when the caller
    has them."""
    failing = _failing_torch_cells(res)
    tables = []
    text = []
    again = _by_cell(retimed)
    timed = retimed_rows(targets(res) if target_list is None else target_list, retimed)
    if timed:
        text.append(retimed_text(timed, retimed, f"Every cell short of a target against a peer: below PyTorch "
                                 f"from 2^{LARGE_LOG2} up and at 2^{SMALL_LOG2[0]}..2^{SMALL_LOG2[1]}, below "
                                 f"{SOFTMAX_SPEEDUP}x PyTorch on the softmax shapes, and relu's small arrays "
                                 "slower than np.maximum(x, 0) (the cells ending in \"vs numpy\")", "the peer"))
        tables.append((RETIMED_HEADERS, timed))
    if accuracy:
        text.append(f"Accuracy bought.  For every activation with a cell below PyTorch: the largest error of the "
                    f"float32 results, in float32 ulps against the NumPy reference evaluated in float64 on the "
                    f"same inputs (the benchmark's, 2^{ACCURACY_LOG2} elements; near the zeros of silu's, mish's "
                    f"and gelu's derivatives, in ulps of the terms that cancel, as in the accuracy pages), and "
                    f"the share of elements off by more than {ACCURACY_ULPS} ulp.  Where PyTorch's error is large "
                    f"and fastact's is not, the extra time buys that accuracy; where both are small, the cell "
                    f"is a plain loss (or noise: cells move by about 25% between runs).")
        rows = []
        for a in accuracy:
            name = f"{a['function']}.{a['direction']}"
            cells = failing.get((a["function"], a["direction"]), [])
            worst = ", ".join(f"{dt[5:]} {lbl} {fmt_x(r)}" for dt, lbl, r in sorted(cells, key=lambda c: c[2])[:3])
            count = f"{len(cells)}"
            if timed:
                still = sum(1 for dt, lbl, _ in cells if again.get(f"{name} {dt} {lbl}", {}).get("ratio", 1) < 1)
                count += f" ({still})"
            rows.append([name, count, worst,
                         _fmt_ulps(a["fastact"]["max"]), f"{100 * a['fastact']['share']:.2f}%",
                         _fmt_ulps(a["torch"]["max"]), f"{100 * a['torch']['share']:.2f}%"])
        tables.append((["activation", "cells below PyTorch" + (" (below in turn too)" if timed else ""),
                        "lowest (dtype, size, speed-up)", "fastact max ulp",
                        f"fastact > {ACCURACY_ULPS} ulp", "PyTorch max ulp", f"PyTorch > {ACCURACY_ULPS} ulp"],
                       rows))
    pairs = []
    for (f, d), cells in sorted(failing.items()):
        if d != "backward":
            continue
        for dtype, label, r in cells:
            t = [res.time(f, dd, dtype, label, impl) for dd in ("forward", "backward")
                 for impl in ("fastact", "torch")]
            if None not in t:
                pairs.append([f"{f}.backward", dtype, label, fmt_x(r), fmt_x((t[1] + t[3]) / (t[0] + t[2]))])
    if pairs:
        text.append("Forward and backward together.  A training step runs both; PyTorch's forward may save work "
                    "for its backward (log_sigmoid's buffer of exp(-|x|), which its backward reads instead of "
                    "evaluating an exp).  For each backward cell below PyTorch: the speed-up on the sum of the "
                    "forward's and the backward's times, from the same run.")
        tables.append((["backward", "dtype", "size", "backward speed-up", "forward + backward speed-up"], pairs))
    roof = res.roof("float32", 1 << 27)
    rows = []
    if roof is not None:
        for f, d, dtype, label, rec in _cells(res, lambda f, d, dt, rec: d == "forward" and dt == "float32"
                                              and rec.get("log2") == 27):
            shares = [res.roof_share(r) for v in ("out", "inplace")
                      if (r := res.record(f, d, dtype, label, "fastact", v)) is not None]
            if not shares or min(shares) >= ROOF_SHARE:
                continue
            best = max((res.gbps(r), r["label"]) for lbl in res.labels(f, d, dtype)
                       if (r := res.record(f, d, dtype, lbl)) is not None)
            bound = "yes" if best[0] < ROOF_SHARE * roof else "no"
            rows.append([f, fmt_pct(min(shares)), f"{best[0]:.1f} at {best[1]}", f"{ROOF_SHARE * roof:.1f}", bound])
    if rows:
        text.append(f"The 2^27 roof.  For each forward below {ROOF_SHARE:.0%} of the copy roof at 2^27 (float32): "
                    f"its highest throughput at any size of the sweep (new array), against {ROOF_SHARE:.0%} of the "
                    f"2^27 roof.  Where even its fastest size, in cache, stays below that, the kernel is bound by "
                    f"its arithmetic on this machine's cores, not by memory.")
        tables.append((["forward", "2^27 share of the roof (lower of out= and in place)", "highest GB/s (size)",
                        f"{ROOF_SHARE:.0%} of the 2^27 roof, GB/s", "compute-bound"], rows))
    return text, tables


def render(res, compile_res=None, threshold_res=None, markdown=False, plots=(), fused=None, training=None,
           accuracy=None, retimed=None):
    """The report as text (terminal) or Markdown (docs/benchmarks.md); fused
    (FusedResults) and training (:func:`measure_training`'s dict) add their
    sections, and their targets say "not measured" without them; retimed
    (:func:`run_retime`'s results) the cells short of a target timed in turn."""
    md = markdown
    out = []
    h = (lambda t, lvl=2: out.append(f"\n{'#' * lvl} {t}\n")) if md else (lambda t, lvl=2: out.append(f"\n== {t} =="))
    if md:
        out.append("# Benchmarks\n")
        out.append("Generated by `python -m bench.report` (also `fastact bench`); do not edit by hand.\n")
        out.append("Speed-ups are peer time / fastact time: above 1.00x fastact is faster. fastact runs with "
                   "automatic serial/parallel dispatch and returns a new array, as NumPy and PyTorch do. "
                   "GB/s counts the arrays read and written (2 arrays forward, 3 backward); the copy roof is "
                   "the faster of a Numba prange copy and `np.copyto` of the same number of elements.\n")
        out += [f"- {line}" for line in _header_lines(res.meta)]
        out.append("\nReproduce with `python -m bench.report` (`--quick` for a subset that runs in a few minutes, `--huge` to add "
                   "2^27 elements, `--threshold` for the serial/parallel sweep), or time the suite directly with "
                   "`pytest bench --benchmark-only --benchmark-enable --bench-full`.  The plain `pytest` run "
                   "executes every benchmark once, untimed, and checks it against the NumPy reference.")
    else:
        out += _header_lines(res.meta)
    for p in plots:
        if md:
            rel = os.path.relpath(p, os.path.dirname(DOC))
            out.append(f"\n![throughput against size]({rel})")

    h("Targets")
    act_targets, fus_targets = targets(res, retimed), fused_targets(fused, retimed)
    all_targets = act_targets + fus_targets + [training_target(training)]
    rows = [[t.status, t.name, t.detail()] for t in all_targets]
    if md:
        out.append(table(["status", "target", "measured"], rows, markdown=True))
    else:
        for status, name, detail in rows:
            out.append(f"[{status}] {name}\n    {detail}")

    texts, tables = shortfall_tables(res, accuracy, retimed, act_targets)
    if tables:
        h("Where the targets fall short: what else the cells measure")
        for i, (t, (hdr, rows)) in enumerate(zip(texts, tables)):
            out.append(("\n" * (i > 0) + t + "\n") if md else "\n" + textwrap.fill(t, 110))
            out.append(table(hdr, rows, markdown=md))

    for dtype in res.dtypes():
        for peer, title in (("torch", "PyTorch"), ("numpy", "NumPy reference")):
            hdr, rows = ratio_matrix(res, peer, dtype)
            if any(c != "-" for r in rows for c in r[1:]):
                h(f"Speed-up over {title}, {dtype}")
                out.append(table(hdr, rows, markdown=md))

    hdr, rows = variant_rows(res)
    if rows:
        h("New array, out= and in place, against the copy roof")
        out.append(table(hdr, rows, markdown=md))

    hdr, rows = crossovers(res)
    if rows and res.meta.get("machine", {}).get("threads", 2) > 1:
        h("Serial / parallel crossover (from the sweep)")
        out.append(table(hdr, rows, markdown=md))
    if threshold_res is not None:
        from .threshold import format_text

        h("Threshold sweep (python -m bench.threshold)")
        text = format_text(threshold_res["rows"], threshold_res["analysis"])
        out.append(f"```\n{text}\n```" if md else text)
    if compile_res is not None:
        from .compile_cost import format_text as cc_text

        h("Import and compile cost (python -m bench.compile_cost)")
        text = cc_text(compile_res)
        out.append(f"```\n{text}\n```" if md else text)

    if fused is not None:
        h("Fused operations")
        intro = ("fastact's fused calls (glu, bias_act, softmax_cross_entropy with reduction='mean', and their "
                 "backwards) against the unfused sequence of fastact calls (fa.<act>(x + b); a * fa.sigmoid(b) "
                 "for glu; fa.log_softmax, a NumPy gather and mean for the cross-entropy, and for its backward "
                 "fa.softmax, 1 subtracted at the labels, scaled by 1/rows), PyTorch and the NumPy reference "
                 "(cross-entropy only).  PyTorch's backwards of bias_act and the cross-entropy run autograd on a "
                 "graph built once (the forward is not timed).  Sizes are elements, "
                 "as rows of 1024 (glu: 1024 in, 512 out); the cross-entropy's are (rows, classes).  "
                 f"Load average before / after: {fused.meta.get('load_before')} / {fused.meta.get('load_after')}.")
        out.append(intro + "\n" if md else textwrap.fill(intro, 110))
        for dtype in fused.dtypes():
            out.append(f"\n### {dtype}\n" if md else f"\n{dtype}")
            out.append(table(FUSED_HEADERS, fused_rows(fused, dtype), markdown=md))
        rows = retimed_rows(fus_targets, retimed)
        if rows:
            text = retimed_text(rows, retimed, f"Every fused cell short of its target (below PyTorch, or below "
                                f"{FUSED_SPEEDUP}x the unfused calls at 2^{FUSED_LOG2} and {FUSED_CE_LABEL}: the "
                                "cells ending in \"vs unfused\")", "the peer")
            out.append(("\n### Timed again in turn\n\n" + text + "\n") if md else "\n" + textwrap.fill(text, 110))
            out.append(table(RETIMED_HEADERS, rows, markdown=md))
    if training is not None:
        h("Training (Fashion-MNIST, one epoch)")
        lines, tables = training_text(training)
        if md and "missing" in training:
            out.append(f"```\n{lines[0]}\n```")
        else:
            out.append("\n\n".join(lines) if md else "\n".join(textwrap.fill(line, 110) for line in lines))
        for hdr, rows in tables:
            out.append("")
            out.append(table(hdr, rows, markdown=md))

    h("Per activation and size")
    for f, d, dtype in res.series():
        rows = detail_rows(res, f, d, dtype)
        if md:
            out.append(f"\n<details><summary>{f}.{d} {dtype}</summary>\n")
            out.append(table(DETAIL_HEADERS, rows, markdown=True))
            out.append("\n</details>")
        else:
            out.append(f"\n{f}.{d} {dtype}")
            out.append(table(DETAIL_HEADERS, rows))
    out.append("")
    return "\n".join(out)


def plot(res, path, dtype, columns=4):
    """Throughput (GB/s) against size, one panel per activation: fastact,
    NumPy and PyTorch, forward (solid) and backward (dashed), and the copy roof."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    functions = list(dict.fromkeys(s[0] for s in res.series() if s[2] == dtype))
    if not functions:
        return None
    rows = -(-len(functions) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.5 * rows), sharex=True, squeeze=False)
    colors = {"fastact": "C0", "numpy": "C2", "torch": "C3"}
    for ax, f in zip(axes.flat, functions):
        sweep = [r for r in res.records if r["function"] == f and r["dtype"] == dtype
                 and r.get("log2") is not None and r["variant"] == "alloc"]
        for impl, color in colors.items():
            for d, ls in (("forward", "-"), ("backward", "--")):
                pts = sorted((r["log2"], res.gbps(r)) for r in sweep if r["impl"] == impl and r["direction"] == d)
                if pts:
                    ax.plot(*zip(*pts), color=color, ls=ls, marker=".", ms=3, lw=1.2,
                            label=f"{impl} {d}")
        sizes = sorted({(r["log2"], r["size"]) for r in sweep})
        roof = [(k, res.roof(dtype, n)) for k, n in sizes if res.roof(dtype, n)]
        if roof:
            ax.plot(*zip(*roof), color="0.6", ls=":", lw=1.5, label="copy roof")
        ax.set_yscale("log")
        ax.set_title(f, fontsize=9)
        ax.grid(True, which="major", alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(functions):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("GB/s", fontsize=8)
    for ax in axes[-1, :]:
        ax.set_xlabel("log2(elements)", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=7, fontsize=8, frameon=False)
    m = res.meta.get("machine", {})
    fig.suptitle(f"Throughput against size, {dtype}: {m.get('cpu', '')}, threads: {m.get('threads', '?')} "
                 f"(fastact and PyTorch)", fontsize=10)
    fig.tight_layout(rect=(0, 0.03, 1, 0.98))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------
# Command line


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--quick", action="store_true", help=f"sizes {QUICK['sizes']}, float32, short timings")
    p.add_argument("--huge", action="store_true", help="add 2^27 float32 (needs about 4 GB of memory)")
    p.add_argument("--sizes", help="log2 sizes, e.g. '4-24:2' or '4,10,20'")
    p.add_argument("--functions", help="comma-separated activations")
    p.add_argument("--dtypes", help="float32,float64")
    p.add_argument("--directions", help="forward,backward")
    p.add_argument("--shapes", help="softmax shapes, e.g. '32x10,4096x1000', or 'none'")
    p.add_argument("--threads", type=int, help="threads of fastact and PyTorch (NUMBA_NUM_THREADS; default: all cores; "
                                               "the training also gives NumPy's BLAS that many)")
    p.add_argument("--max-time", type=float, help="seconds per benchmark (pytest-benchmark --benchmark-max-time)")
    p.add_argument("--stat", default="min", choices=("min", "median", "mean"), help="statistic of the rounds")
    p.add_argument("--from-json", metavar="FILE",
                   help="analyse a saved pytest-benchmark JSON instead of running (with FILE's .fused.json, "
                        ".train.json, .compile.json, .threshold.json and .retime.json beside it, when there)")
    p.add_argument("--save-json", metavar="FILE",
                   help="keep the pytest-benchmark JSON (the fused run's, the training's, the compile costs and "
                        "the threshold sweep as FILE with the suffixes .fused.json, .train.json, .compile.json and "
                        ".threshold.json, and the cells timed again in turn as .retime.json)")
    p.add_argument("--no-fused", action="store_true", help="skip the fused operations (bench/bench_fused.py)")
    p.add_argument("--no-train", action="store_true", help="skip the Fashion-MNIST training epochs")
    p.add_argument("--train-rounds", type=int, default=TRAIN_ROUNDS, metavar="N",
                   help=f"training epochs per implementation, taking turns (default {TRAIN_ROUNDS})")
    p.add_argument("--train-threads", type=int, default=1, metavar="N",
                   help="threads of BLAS, Numba and PyTorch in the training epochs (default 1: at batch 32 "
                        "the products are small, and spare threads spinning on a busy machine cost more "
                        "than they give)")
    p.add_argument("--train-profile", action="store_true",
                   help="one more epoch per fastact.nn backend, split into phases (not in the timings)")
    p.add_argument("--threshold", action="store_true", help="also run the serial/parallel threshold sweep")
    p.add_argument("--threshold-from", metavar="FILE",
                   help="include a saved threshold sweep (python -m bench.threshold --json FILE)")
    p.add_argument("--no-compile-cost", action="store_true", help="skip bench/compile_cost.py")
    p.add_argument("--compile-cost-from", metavar="FILE",
                   help="include saved compile costs (python -m bench.compile_cost --json > FILE)")
    p.add_argument("--no-accuracy", action="store_true",
                   help="skip the errors of fastact's and PyTorch's results where PyTorch is faster")
    p.add_argument("--no-retime", action="store_true",
                   help="skip timing the cells short of a target again, in turn (python -m bench.retime): "
                        "those below PyTorch, the softmax shapes below 1.3x, relu's small arrays slower than "
                        "np.maximum, the fused cells short of theirs")
    p.add_argument("--no-docs", action="store_true", help="print only; do not write docs/benchmarks.md and plots")
    p.add_argument("--summary", action="store_true", help="print only the short summary")
    a = p.parse_args(argv)

    if a.train_rounds < 1:
        p.error("--train-rounds must be >= 1")
    meta = {}
    fused = training = None
    with tempfile.TemporaryDirectory(prefix="fastact-bench-") as tmp:
        if a.from_json:
            path = a.from_json
        else:
            path = a.save_json or os.path.join(tmp, "bench.json")
            run_suite(path, quick=a.quick, huge=a.huge, sizes=a.sizes, functions=a.functions, dtypes=a.dtypes,
                      directions=a.directions, shapes=a.shapes, max_time=a.max_time, threads=a.threads,
                      log=os.path.join(tmp, "pytest.log"))
        res = Results.from_json(path, a.stat, meta)
        if a.summary:
            print(summary(res))
            return 0
        fused_path, train_path = sibling(path, ".fused.json"), sibling(path, ".train.json")
        if not a.no_fused:
            if not a.from_json:
                try:
                    run_fused(fused_path, quick=a.quick, sizes=a.sizes, dtypes=a.dtypes, directions=a.directions,
                              max_time=a.max_time, threads=a.threads, log=os.path.join(tmp, "pytest-fused.log"))
                except RuntimeError as exc:  # keep the activations' results
                    print(f"warning: the fused benchmarks failed; reporting without them\n{exc}", file=sys.stderr)
            if os.path.exists(fused_path):
                fused = FusedResults.from_json(fused_path, a.stat)
        if not a.no_train:
            if not a.from_json:
                training = run_training(train_path, rounds=a.train_rounds, profile=a.train_profile,
                                        threads=a.train_threads, log=os.path.join(tmp, "train.log"))
            elif os.path.exists(train_path):
                training = load_training(train_path)
    # the compile costs and the threshold sweep are saved beside a run's JSON
    # too, and a re-analysis of it takes them from there
    compile_path = sibling(path, COMPILE_SUFFIX) if (a.save_json or a.from_json) else None
    threshold_path = sibling(path, THRESHOLD_SUFFIX) if (a.save_json or a.from_json) else None
    compile_res = threshold_res = None
    if a.compile_cost_from or (a.from_json and not a.no_compile_cost and os.path.exists(compile_path)):
        with open(a.compile_cost_from or compile_path) as fh:
            compile_res = json.load(fh)
    elif not a.no_compile_cost:
        from . import compile_cost

        print("measuring import and compile cost ...", file=sys.stderr, flush=True)
        compile_res = compile_cost.measure(a.functions.split(",") if a.functions else None)
        if a.save_json:
            save_json(compile_path, compile_res)
    if a.threshold_from or (a.from_json and os.path.exists(threshold_path)):
        with open(a.threshold_from or threshold_path) as fh:
            threshold_res = json.load(fh)
    elif a.threshold:
        from . import threshold

        print("running the threshold sweep ...", file=sys.stderr, flush=True)
        rows = threshold.sweep(a.functions.split(",") if a.functions else None)
        threshold_res = dict(rows=rows, analysis=threshold.analyse(rows))
        if a.save_json:
            save_json(threshold_path, threshold_res)
    plots = []
    if not a.no_docs:
        for dtype in res.dtypes():
            name = "bench_throughput.png" if dtype == "float32" else f"bench_throughput_{dtype}.png"
            if plot(res, os.path.join(IMG_DIR, name), dtype):
                plots.append(os.path.join(IMG_DIR, name))
    retimed = None
    retime_path = sibling(path, RETIME_SUFFIX)
    if a.save_json and not a.from_json and os.path.exists(retime_path):
        os.remove(retime_path)  # an earlier run's, which this run's analysis must not read back
    if a.from_json:
        if not a.no_retime and os.path.exists(retime_path):
            with open(retime_path) as fh:
                retimed = json.load(fh)
    elif not a.no_retime and (cells := retime_cells(targets(res) + (fused_targets(fused) if fused else []))):
        with tempfile.TemporaryDirectory(prefix="fastact-retime-") as tmp:
            retimed = run_retime(retime_path if a.save_json else os.path.join(tmp, "retime.json"), cells,
                                 a.threads, log=os.path.join(tmp, "retime.log"))
    accuracy = None
    if not a.no_accuracy:
        print("measuring the accuracy of the cells below PyTorch ...", file=sys.stderr, flush=True)
        accuracy = measure_accuracy(res)
    print(render(res, compile_res, threshold_res, fused=fused, training=training, accuracy=accuracy,
                 retimed=retimed))
    print("\n" + summary(res))
    if not a.no_docs:
        with open(DOC, "w") as fh:
            fh.write(render(res, compile_res, threshold_res, markdown=True, plots=plots, fused=fused,
                            training=training, accuracy=accuracy, retimed=retimed))
        print(f"\nwrote {os.path.relpath(DOC, ROOT)}" + "".join(f", {os.path.relpath(p, ROOT)}" for p in plots))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Serial against parallel kernels, per size: where the second thread starts to pay.

    python -m bench.threshold [--functions relu,elu] [--dtypes float32] [--sizes 8-20] [--json]

For every activation (forward and backward) and dtype, times fastact forced
serial and forced parallel (``fastact.config(mode=...)``) on sizes from 2**8
to 2**20 elements in steps of sqrt(2) (n = 2**k and 3 * 2**(k-1)), and prints

* the crossover per activation: the smallest size from which the parallel
  kernel is faster at every larger size measured;
* the threshold that minimizes the geometric-mean slowdown, over everything
  measured, of running serial below it and parallel from it, against the
  better of the two at each point -- the value for ``PARALLEL_THRESHOLD``
  in fastact/_jit.py (rounded to a power of two).
"""
import argparse
import json
import math
import sys

from fastact import ACTIVATIONS

from ._cases import DIRECTIONS, DTYPES, Case, layout, parse_log2
from ._timing import time_call

DEFAULT_LOG2 = "8-20"


def sizes_for(log2s):
    """2**k and 1.5 * 2**k for each k (the last k alone)."""
    out = []
    for i, k in enumerate(log2s):
        out.append(1 << k)
        if i + 1 < len(log2s) and k >= 1:
            out.append(3 << (k - 1))
    return out


def sweep(functions=None, dtypes=DTYPES, directions=DIRECTIONS, log2s=None, budget=0.02, progress=None):
    """[{function, direction, dtype, size, serial, parallel}] in seconds per call."""
    from ._peers import build

    log2s = parse_log2(DEFAULT_LOG2) if log2s is None else log2s
    rows = []
    todo = [(f, d, dt, n) for f in (functions or ACTIVATIONS) for d in directions for dt in dtypes
            for n in sizes_for(log2s)]
    for i, (f, d, dt, n) in enumerate(todo):
        shape = layout(ACTIVATIONS[f].kind, n)
        row = dict(function=f, direction=d, dtype=dt, size=math.prod(shape))
        for impl, key in (("fastact-serial", "serial"), ("fastact-parallel", "parallel")):
            row[key] = time_call(build(Case(f, d, dt, shape, impl)), budget)
        rows.append(row)
        if progress:
            progress(i + 1, len(todo))
    return rows


def _series(rows):
    series = {}
    for r in rows:
        series.setdefault((r["function"], r["direction"], r["dtype"]), []).append(r)
    return {k: sorted(v, key=lambda r: r["size"]) for k, v in series.items()}


def crossover(points):
    """Smallest size from which parallel beats serial at every larger size; None if it never does."""
    best = None
    for r in reversed(points):
        if r["parallel"] < r["serial"]:
            best = r["size"]
        else:
            break
    return best


def recommend(rows):
    """(threshold, geometric-mean slowdown) minimizing the slowdown of the
    serial-below / parallel-from rule against the per-point best."""
    sizes = sorted({r["size"] for r in rows})
    candidates = sizes + [sizes[-1] * 2]
    best = None
    for t in candidates:
        logs = [math.log((r["serial"] if r["size"] < t else r["parallel"]) / min(r["serial"], r["parallel"]))
                for r in rows]
        cost = math.exp(sum(logs) / len(logs))
        if best is None or cost < best[1] - 1e-12:
            best = (t, cost)
    return best


def slowdown(rows, threshold):
    logs = [math.log((r["serial"] if r["size"] < threshold else r["parallel"]) / min(r["serial"], r["parallel"]))
            for r in rows]
    return math.exp(sum(logs) / len(logs))


def analyse(rows):
    """Crossovers per series and the recommended threshold."""
    cross = {"/".join(k): crossover(v) for k, v in _series(rows).items()}
    t, cost = recommend(rows)
    p2 = 1 << round(math.log2(t))
    finite = sorted(c for c in cross.values() if c is not None)
    return dict(crossovers=cross, best=t, best_slowdown=cost, power_of_two=p2,
                power_of_two_slowdown=slowdown(rows, p2),
                median_crossover=finite[len(finite) // 2] if finite else None)


def _size(n):
    if n is None:
        return "never"
    k = math.log2(n)
    return f"2^{k:.0f}" if k == int(k) else f"{n} (2^{k:.1f})"


def format_text(rows, result=None):
    result = result or analyse(rows)
    lines = ["serial / parallel time per size (x > 1: the parallel kernel is faster)"]
    series = _series(rows)
    sizes = sorted({r["size"] for r in rows})
    head = f"{'activation':<30}" + "".join(f"{'2^' + format(math.log2(s), '.3g'):>7}" for s in sizes)
    lines.append(head + f"{'crossover':>16}")
    for key, pts in series.items():
        by = {r["size"]: r["serial"] / r["parallel"] for r in pts}
        cells = "".join(f"{by[s]:7.2f}" if s in by else f"{'':>7}" for s in sizes)
        lines.append(f"{' '.join(key):<30}{cells}{_size(result['crossovers']['/'.join(key)]):>16}")
    lines.append(f"median crossover: {_size(result['median_crossover'])}")
    lines.append(f"best threshold over all measured points: {_size(result['best'])} "
                 f"(geometric-mean slowdown {result['best_slowdown']:.3f}x against the better kernel); "
                 f"as a power of two: PARALLEL_THRESHOLD = 1 << {int(math.log2(result['power_of_two']))} "
                 f"(slowdown {result['power_of_two_slowdown']:.3f}x)")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.threshold", description=__doc__.split("\n\n")[0])
    p.add_argument("--functions", help="comma-separated activations (default: all)")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--directions", default="forward,backward")
    p.add_argument("--sizes", default=DEFAULT_LOG2, help="log2 range, e.g. 8-20")
    p.add_argument("--budget", type=float, default=0.02, help="seconds of timing per kernel and size")
    p.add_argument("--json", metavar="FILE", help="also write the measurements and analysis as JSON")
    a = p.parse_args(argv)
    functions = a.functions.split(",") if a.functions else None
    rows = sweep(functions, a.dtypes.split(","), a.directions.split(","), parse_log2(a.sizes), a.budget,
                 progress=lambda i, n: print(f"\r{i}/{n}", end="", file=sys.stderr, flush=True))
    print(file=sys.stderr)
    result = analyse(rows)
    print(format_text(rows, result))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(dict(rows=rows, analysis=result), fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Times fastact and a peer (PyTorch, the unfused fastact calls, np.maximum) again on chosen cells, in turn.

    python -m bench.retime "log_softmax.backward float32 2^20" "softmax.backward float64 256x1000"
    python -m bench.retime "bias_act(gelu).forward float32 2^22 vs unfused"
    python -m bench.retime --json out.json --cells-from cells.json

The sweep (bench/bench_activations.py) times each implementation over its own
rounds, one benchmark after the other.  On a shared machine a slow spell can
cover every round of one side and none of the other's (on this project's
2-core machine, hardsigmoid's float64 backward on 2^24 elements took 93-169
ms per call when each call followed a 3 s pause, against 20-48 ms back to
back).  This module takes the cells again with the two sides alternating:
PAIRS turns each, fastact first in even turns and the peer first in odd
ones; a turn is the least time of n back-to-back calls, n the same for both
sides and chosen so that a turn of the slower side takes about TURN_SECONDS
(1 to MAX_CALLS calls), with the garbage collector off as in the sweep.  A
cell's ratio is the median over the turns of the peer's time / fastact's
time in the same turn, so that a spell that slows one turn of either side
moves it little.  bench/report.py runs it on every cell short of a target
measured against a peer and shows both figures.

A cell is written as in the report: "function.direction dtype size", the
size a sweep size (2^k) or a softmax shape (RxC).  The fused operations of
bench/bench_fused.py are cells too, with their inputs and calls: glu and
bias_act(relu|gelu|silu) on 2^k elements (rows of 1024, k >= 10),
softmax_cross_entropy on a shape RxC; such a cell ending in " vs unfused"
is timed against the unfused sequence of fastact calls instead of PyTorch,
and "relu.forward <dtype> <size> vs numpy" against np.maximum(x, 0).
fastact runs with automatic dispatch on a new array, as in the sweep.  A
cell that fails (an unknown name, no memory for it) is left out of the
results with a message on stderr; the exit status is 1 only when every cell
failed.
"""
import argparse
import json
import statistics
import sys
import time
from typing import NamedTuple

from ._cases import NUMPY_ONE_LINERS, ONE_LINER_IMPL
from ._timing import gc_paused

PAIRS = 7
TURN_SECONDS = 0.02
MAX_CALLS = 200  # per turn, for the smallest cells


UNFUSED = " vs unfused"  # a fused cell timed against the unfused fastact calls
VS_NUMPY = " vs numpy"  # relu's forward timed against np.maximum(x, 0)
PEERS = {UNFUSED: "fastact-unfused", VS_NUMPY: ONE_LINER_IMPL}  # the suffixes; none: PyTorch


class Cell(NamedTuple):
    function: str  # an activation, or a fused operation: "glu", "bias_act(silu)", "softmax_cross_entropy"
    direction: str
    dtype: str
    shape: tuple
    log2: int = None  # the sweep size's exponent; None for a shape
    peer: str = "torch"  # or one of PEERS' values: "fastact-unfused" (fused operations), "numpy-ufunc" (relu)


def parse_cell(text):
    """'softmax.backward float64 256x1000' -> Cell(function, direction, dtype, shape, log2, peer)."""
    from fastact import ACTIVATIONS

    from . import bench_fused
    from ._cases import layout

    cell, peer = _split_peer(text)
    try:
        name, dtype, label = cell.split()
        function, direction = name.rsplit(".", 1)
    except ValueError:
        raise ValueError(f"unknown cell {text!r}") from None
    operation, act = _operation(function)
    fused = operation in bench_fused.OPERATIONS and (act in bench_fused.ACTS if operation == "bias_act" else not act)
    sweep = label.startswith("2^")
    if (function not in ACTIVATIONS and not fused) or direction not in ("forward", "backward") \
            or (peer == "fastact-unfused" and not fused) \
            or (peer == ONE_LINER_IMPL and (function, direction) not in NUMPY_ONE_LINERS):
        raise ValueError(f"unknown cell {text!r}")
    # the fused operations' sizes as bench_fused takes them: glu and bias_act
    # 2^k elements in rows of ROW, the cross-entropy a shape
    row_log2 = bench_fused.ROW.bit_length() - 1
    if fused and operation == "softmax_cross_entropy" and sweep:
        raise ValueError(f"{text!r}: {operation} takes a shape RxC")
    if fused and operation != "softmax_cross_entropy" and not (sweep and int(label[2:]) >= row_log2):
        raise ValueError(f"{text!r}: {operation} takes 2^k elements, k >= {row_log2}")
    if sweep:
        log2 = int(label[2:])
        n = 1 << log2
        shape = (n // bench_fused.ROW, bench_fused.ROW) if fused else layout(ACTIVATIONS[function].kind, n)
        return Cell(function, direction, dtype, shape, log2, peer)
    return Cell(function, direction, dtype, tuple(int(v) for v in label.split("x")), None, peer)


def _split_peer(text):
    """'glu.forward float32 2^20 vs unfused' -> ('glu.forward float32 2^20', 'fastact-unfused');
    a cell without one of PEERS' suffixes is PyTorch's."""
    cell = text.strip()
    for suffix, impl in PEERS.items():
        if cell.endswith(suffix):
            return cell[:-len(suffix)], impl
    return cell, "torch"


def _operation(function):
    """'bias_act(silu)' -> ('bias_act', 'silu'); 'glu' -> ('glu', '')."""
    operation, _, act = function.partition("(")
    return operation, act.rstrip(")")


def _calls(cell):
    """{impl: the zero-argument call} for fastact and the cell's peer."""
    from . import _peers, bench_fused
    from ._cases import Case

    impls = ("fastact", cell.peer)
    if cell.peer == "torch" and _peers.load_torch() is None:
        raise RuntimeError("PyTorch is not installed (pip install torch==2.13.0)")
    operation, act = _operation(cell.function)
    if operation == "glu":
        x, _, g = bench_fused._inputs(cell.log2, cell.dtype, halve=True)
        return {i: bench_fused._glu_call(i, cell.direction, x, g) for i in impls}
    if operation == "bias_act":
        x, b, g = bench_fused._inputs(cell.log2, cell.dtype)
        return {i: bench_fused._bias_call(i, cell.direction, act, x, b, g) for i in impls}
    if operation == "softmax_cross_entropy":
        x, labels, g = bench_fused._ce_inputs(cell.shape, cell.dtype)
        return {i: bench_fused._ce_call(i, cell.direction, x, labels, g) for i in impls}
    return {i: _peers.build(Case(cell.function, cell.direction, cell.dtype, tuple(cell.shape), i,
                                 log2=cell.log2)).fn for i in impls}


def _turn(fn, calls):
    best = float("inf")
    with gc_paused():
        for _ in range(calls):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
    return best


def retime_cell(cell, pairs=PAIRS, turn_seconds=TURN_SECONDS):
    """{fastact, <peer>: [seconds per turn], peer: the peer's name (torch,
    fastact-unfused or numpy-ufunc), calls: calls per turn, ratio: median of peer / fastact
    over the turns, lo, hi: the least and largest of those ratios}."""
    calls = _calls(cell)
    once = 0.0
    for fn in calls.values():
        fn()  # compiles fastact's kernels
        t0 = time.perf_counter()
        fn()
        once = max(once, time.perf_counter() - t0)
    n = max(1, min(MAX_CALLS, int(turn_seconds / max(once, 1e-9))))
    times = {k: [] for k in calls}
    for p in range(pairs):
        order = ("fastact", cell.peer) if p % 2 == 0 else (cell.peer, "fastact")
        for k in order:
            times[k].append(_turn(calls[k], n))
    ratios = [t / f for f, t in zip(times["fastact"], times[cell.peer])]
    return dict(times, peer=cell.peer, calls=n, ratio=statistics.median(ratios), lo=min(ratios), hi=max(ratios))


def retime(cells, pairs=PAIRS, turn_seconds=TURN_SECONDS, log=None):
    """retime_cell on each cell text: (results, failures), results a list of
    dicts with the cell's text added (``cell``), failures [(cell, message)]
    for the cells that raised (left out of the results)."""
    out, failed = [], []
    for i, text in enumerate(cells):
        try:
            r = retime_cell(parse_cell(text), pairs=pairs, turn_seconds=turn_seconds)
        except Exception as exc:  # one cell must not lose the others
            failed.append((text, f"{type(exc).__name__}: {exc}"))
            if log:
                print(f"[{i + 1}/{len(cells)}] {text}: failed ({failed[-1][1]})", file=log, flush=True)
            continue
        r["cell"] = text
        out.append(r)
        if log:
            print(f"[{i + 1}/{len(cells)}] {text}: {r['ratio']:.2f}x ({r['lo']:.2f}-{r['hi']:.2f})",
                  file=log, flush=True)
    return out, failed


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.retime", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("cells", nargs="*", help='cells such as "softmax.backward float64 256x1000"')
    p.add_argument("--cells-from", metavar="FILE", help="a JSON list of cell texts")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--pairs", type=int, default=PAIRS, help=f"turns of each side (default {PAIRS})")
    a = p.parse_args(argv)
    cells = list(a.cells)
    if a.cells_from:
        with open(a.cells_from) as fh:
            cells += json.load(fh)
    if not cells:
        p.error("no cells given")
    if a.pairs < 1:
        p.error("--pairs must be >= 1")
    from . import _peers

    if any(_split_peer(c)[1] == "torch" for c in cells) and _peers.load_torch() is None:
        print("PyTorch is not installed (pip install torch==2.13.0)", file=sys.stderr)
        return 1
    results, failed = retime(cells, pairs=a.pairs, log=sys.stderr)
    if a.json and results:
        with open(a.json, "w") as fh:
            json.dump(results, fh, indent=1)
    for r in results:
        print(f"{r['cell']:45s} {r['ratio']:.2f}x  (turns {r['lo']:.2f}-{r['hi']:.2f}, {r['calls']} calls each)")
    for cell, message in failed:
        print(f"{cell}: failed: {message}", file=sys.stderr)
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())

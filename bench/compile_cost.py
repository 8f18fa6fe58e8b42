"""Import and compile cost of fastact.

    python -m bench.compile_cost [--functions relu,softmax] [--dtype float32] [--json]

Measures, each in a fresh Python process:

* ``import numpy``, ``import numba`` and ``import fastact`` (best of a few runs);
* Numba's one-time set-up of its first compiled call in a process;
* per activation, the first forward and the first backward call on a small
  array (the serial kernel) and on one above the parallel threshold (the
  parallel kernel), with an empty on-disk cache (NUMBA_CACHE_DIR set to a new
  directory: every kernel compiles), then again in a second process with that
  cache warm (the kernels load from disk), and the steady-state call time.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from fastact import ACTIVATIONS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_IMPORT_CODE = """
import json, time
t0 = time.perf_counter(); import numpy
t1 = time.perf_counter(); import numba
t2 = time.perf_counter(); import fastact
t3 = time.perf_counter()
print(json.dumps(dict(numpy=t1 - t0, numba=t2 - t1, fastact=t3 - t2, total=t3 - t0)))
"""


def _run(args, env=None):
    out = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def import_cost(repeat=3):
    """Best-of-repeat import times (seconds) in fresh processes."""
    runs = [_run(["-c", _IMPORT_CODE]) for _ in range(repeat)]
    return {k: min(r[k] for r in runs) for k in runs[0]}


def numba_init():
    """Numba's one-time set-up on the first call of any compiled function
    (target registries; it imports SciPy when installed): seconds."""
    from numba.core.registry import cpu_target

    t0 = time.perf_counter()
    cpu_target.target_context.refresh()
    cpu_target.typing_context.refresh()
    return time.perf_counter() - t0


def _child(name, dtype):
    """Runs in the measured process: first calls of one activation."""
    import fastact as fa
    from fastact import _jit

    from ._cases import Case, layout
    from ._peers import build

    entry = ACTIVATIONS[name]
    small = 1 << 10
    large = max(1 << 16, 2 * _jit.PARALLEL_THRESHOLD)
    result = {"numba_init": numba_init()}  # charged to no activation
    for label, n in (("small", small), ("large", large)):
        shape = layout(entry.kind, n)
        for direction in ("forward", "backward"):
            call = build(Case(name, direction, dtype, shape, "fastact"))
            t0 = time.perf_counter()
            call.fn()
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            call.fn()
            result[f"{direction}_{label}"] = first
            result[f"{direction}_{label}_steady"] = time.perf_counter() - t0
    result["threading_layer"] = fa.threading_layer()
    print(json.dumps(result))


def compile_cost(functions=None, dtype="float32"):
    """{activation: {"cold": {...}, "warm": {...}}}, seconds of first calls."""
    out = {}
    for name in functions or ACTIVATIONS:
        with tempfile.TemporaryDirectory(prefix="fastact-cache-") as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            args = ["-m", "bench.compile_cost", "--child", name, "--dtype", dtype]
            out[name] = {"cold": _run(args, env), "warm": _run(args, env)}
    return out


def measure(functions=None, dtype="float32", import_repeat=3):
    return {"dtype": dtype, "import": import_cost(import_repeat), "functions": compile_cost(functions, dtype)}


def _ms(t):
    return f"{t * 1e3:.0f} ms" if t >= 0.01 else f"{t * 1e3:.2f} ms"


def format_text(res):
    imp = res["import"]
    init = min(r[k]["numba_init"] for r in res["functions"].values() for k in ("cold", "warm"))
    lines = [f"import: numpy {_ms(imp['numpy'])}, numba {_ms(imp['numba'])}, "
             f"fastact {_ms(imp['fastact'])} (total {_ms(imp['total'])}); "
             f"Numba's set-up on the first compiled call of a process: {_ms(init)}",
             f"first calls ({res['dtype']}): cold cache (compile) / warm cache (load from disk) / steady",
             f"{'activation':<14}{'forward, small':>28}{'forward, parallel':>28}"
             f"{'backward, small':>28}{'backward, parallel':>28}"]
    for name, r in res["functions"].items():
        cells = []
        for key in ("forward_small", "forward_large", "backward_small", "backward_large"):
            cells.append(f"{_ms(r['cold'][key])} / {_ms(r['warm'][key])} / {_ms(r['warm'][key + '_steady'])}")
        lines.append(f"{name:<14}" + "".join(f"{c:>28}" for c in cells))
    cold, warm = totals(res)
    lines.append(f"all first calls above: {cold:.1f} s with a cold cache, {warm:.2f} s with a warm one")
    return "\n".join(lines)


def totals(res):
    """Sum over activations of the cold and warm first-call costs (seconds)."""
    keys = ("forward_small", "forward_large", "backward_small", "backward_large")
    cold = sum(r["cold"][k] for r in res["functions"].values() for k in keys)
    warm = sum(r["warm"][k] for r in res["functions"].values() for k in keys)
    return cold, warm


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.compile_cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--functions", help="comma-separated activations (default: all)")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        _child(a.child, a.dtype)
        return 0
    functions = a.functions.split(",") if a.functions else None
    for f in functions or ():
        if f not in ACTIVATIONS:
            p.error(f"unknown activation {f!r}; choose from {list(ACTIVATIONS)}")
    res = measure(functions, a.dtype)
    print(json.dumps(res, indent=1) if a.json else format_text(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())

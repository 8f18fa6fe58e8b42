"""The fused operations: glu and bias_act (+ backwards) against PyTorch
(``F.glu``; ``F.<act>(x + b)``, bias add then activation, and autograd's
backward of it) and against the unfused fastact sequence ``fa.<act>(x + b)``
(for the backward: ``fa.<act>_backward(g, x + b)`` and a NumPy sum for the
bias gradient); softmax_cross_entropy (mean over the rows) and its backward
against PyTorch (``F.cross_entropy``; the backward is autograd's, on a graph
built once, so that only the backward is timed), the NumPy reference and the
unfused sequence (``fa.log_softmax`` then a NumPy gather and mean; for the
backward ``fa.softmax``, 1 subtracted at the labels, scaled by 1/rows).

Sizes 2**14 .. 2**22 elements as rows of 1024, and the cross-entropy on
(rows, classes) (32, 10), (256, 1000), (4096, 1000) and (64, 50257)
(``--bench-full`` or FASTACT_BENCH_FULL=1; the plain run times 2**14 and
(32, 10) once per case and checks the results against fastact.reference).
``--bench-sizes`` (the sweep's sizes among them), ``--bench-dtypes`` and
``--bench-directions`` narrow the run.  PyTorch cases are skipped when it is
not installed.  Every benchmark's extra_info names the operation, the
activation, direction, dtype, size and implementation, for bench/report.py.

    python -m pytest bench/bench_fused.py --benchmark-only --benchmark-enable --bench-full
"""
import os

import numpy as np
import pytest

import fastact as fa
from fastact import reference as ref

from . import _peers
from ._cases import parse_log2

ROW = 1024
OPERATIONS = ("glu", "bias_act", "softmax_cross_entropy")  # in the order the report lists them
FULL_LOG2 = (14, 16, 18, 20, 22)
SMOKE_LOG2 = (14,)
ACTS = ("relu", "gelu", "silu")
TORCH_ACTS = {"relu": "F.relu(z)", "gelu": "F.gelu(z)", "silu": "F.silu(z)"}
IMPLS = ("fastact", "fastact-unfused", "torch")
CE_SHAPES = ((32, 10), (256, 1000), (4096, 1000), (64, 50257))
SMOKE_CE_SHAPES = ((32, 10),)
CE_IMPLS = IMPLS + ("numpy",)


def _full(config):
    opt = config.getoption("--bench-full", default=None)
    return bool(opt) if opt is not None else os.environ.get("FASTACT_BENCH_FULL", "") not in ("", "0")


def _sizes(request):
    spec = request.config.getoption("--bench-sizes", default=None)
    if spec:
        return tuple(k for k in FULL_LOG2 if k in parse_log2(spec))
    return FULL_LOG2 if _full(request.config) else SMOKE_LOG2


def _skip_unselected(request, direction, dtype):
    """Skip a direction or dtype left out by --bench-directions / --bench-dtypes."""
    for option, value in (("--bench-directions", direction), ("--bench-dtypes", dtype)):
        spec = request.config.getoption(option, default=None)
        if spec and value not in [s.strip() for s in spec.split(",")]:
            pytest.skip(f"{value} not selected ({option})")


def info(function, direction, dtype, shape, impl, log2=None, activation=None):
    """The extra_info of a benchmark, which bench/report.py reads: the
    operation ("glu", "bias_act(relu)", ...), its parts, the size's label
    ("2^14", or the shape "32x10") and the implementation."""
    label = f"2^{log2}" if log2 is not None else "x".join(map(str, shape))
    return dict(operation=function if activation is None else f"{function}({activation})", function=function,
                activation=activation, direction=direction, dtype=dtype, shape=list(shape),
                size=int(np.prod(shape)), log2=log2, label=label, impl=impl)


def _record(benchmark, *args, **kwargs):
    """Set the benchmark's group and extra_info (:func:`info`)."""
    benchmark.extra_info.update(info(*args, **kwargs))
    e = benchmark.extra_info
    benchmark.group = f"{e['operation']} {e['direction']} {e['dtype']} {e['label']}"


def _inputs(log2, dtype, halve=False):
    n = 1 << log2
    rng = np.random.default_rng(20240611)
    x = (2 * rng.standard_normal((n // ROW, ROW))).astype(dtype)
    b = rng.standard_normal(ROW).astype(dtype)
    g = rng.standard_normal((n // ROW, ROW // 2 if halve else ROW)).astype(dtype)
    return x, b, g


def _torch_or_skip(impl):
    if impl == "torch" and _peers.load_torch() is None:
        pytest.skip("PyTorch is not installed")
    return _peers.torch


def _glu_call(impl, direction, x, g):
    if impl == "fastact":
        return (lambda: fa.glu(x)) if direction == "forward" else (lambda: fa.glu_backward(g, x))
    if impl == "fastact-unfused":  # the two halves through fastact's sigmoid
        a, bh = x[:, :ROW // 2], x[:, ROW // 2:]
        if direction == "forward":
            return lambda: a * fa.sigmoid(bh)
        return lambda: np.concatenate([g * fa.sigmoid(bh), g * a * fa.sigmoid_backward(np.ones_like(bh),
                                                                                     fa.sigmoid(bh))], axis=1)
    torch = _torch_or_skip(impl)
    F = _peers.F
    xt, gt = torch.from_numpy(x), torch.from_numpy(g)
    if direction == "forward":
        return lambda: F.glu(xt, dim=-1)
    return lambda: torch.ops.aten.glu_backward(gt, xt, -1)


def _bias_call(impl, direction, act, x, b, g):
    if impl == "fastact":
        if direction == "forward":
            return lambda: fa.bias_act(x, b, act)
        return lambda: fa.bias_act_backward(g, x, b, act)
    if impl == "fastact-unfused":
        f, fb = getattr(fa, act), getattr(fa, act + "_backward")
        uses_y = fa.ACTIVATIONS[act].backward_uses == "y"
        if direction == "forward":
            return lambda: f(x + b)
        def unfused_backward():
            z = x + b
            gx = fb(g, f(z) if uses_y else z)
            return gx, gx.sum(axis=0, dtype=np.float64)
        return unfused_backward
    torch = _torch_or_skip(impl)
    F = _peers.F
    xt, bt, gt = torch.from_numpy(x), torch.from_numpy(b), torch.from_numpy(g)
    fwd = eval(f"lambda z: {TORCH_ACTS[act]}", {"F": F})
    if direction == "forward":
        return lambda: fwd(xt + bt)
    # the graph is built once: only autograd's backward pass is timed (the
    # bias gradient is its sum over the rows, as fastact's)
    xr = xt.detach().requires_grad_(True)
    br = bt.detach().requires_grad_(True)
    y = fwd(xr + br)
    return lambda: torch.autograd.grad(y, (xr, br), gt, retain_graph=True)


def _ce_inputs(shape, dtype):
    """Logits ~ 2 N(0, 1), labels uniform over the classes, the mean's upstream gradient 1."""
    rng = np.random.default_rng(20240611)
    x = (2 * rng.standard_normal(shape)).astype(dtype)
    labels = rng.integers(0, shape[1], shape[0])
    return x, labels, np.asarray(1.0, dtype)


def _ce_call(impl, direction, x, labels, g):
    if impl in ("fastact", "numpy"):
        mod = fa if impl == "fastact" else ref
        if direction == "forward":
            return lambda: mod.softmax_cross_entropy(x, labels, reduction="mean")
        return lambda: mod.softmax_cross_entropy_backward(g, x, labels, reduction="mean")
    if impl == "fastact-unfused":
        rows = np.arange(len(labels))
        if direction == "forward":
            return lambda: -fa.log_softmax(x)[rows, labels].mean()
        scale = g / len(labels)
        def unfused_backward():
            p = fa.softmax(x)
            p[rows, labels] -= 1
            p *= scale
            return p
        return unfused_backward
    torch = _torch_or_skip(impl)
    F = _peers.F
    xt, lt = torch.from_numpy(x), torch.from_numpy(labels)
    if direction == "forward":
        return lambda: F.cross_entropy(xt, lt)
    xr = xt.detach().requires_grad_(True)
    loss = F.cross_entropy(xr, lt)
    return lambda: torch.autograd.grad(loss, xr, retain_graph=True)


def _as_numpy(r):
    items = r if isinstance(r, tuple) else (r,)
    return [np.asarray(v.detach().numpy() if hasattr(v, "detach") else v, np.float64) for v in items]


def _check(result, want, dtype):
    rtol = 2e-4 if dtype == "float32" else 1e-9
    for got, w in zip(_as_numpy(result), _as_numpy(want)):
        np.testing.assert_allclose(got, w, rtol=rtol, atol=rtol * max(1.0, float(np.max(np.abs(w)))))


@pytest.mark.parametrize("dtype", ("float32", "float64"))
@pytest.mark.parametrize("direction", ("forward", "backward"))
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("log2", FULL_LOG2, ids=lambda v: f"2^{v}")
def test_glu(benchmark, request, log2, impl, direction, dtype):
    if log2 not in _sizes(request):
        pytest.skip("size of the full sweep (--bench-full) or not selected (--bench-sizes)")
    _skip_unselected(request, direction, dtype)
    x, _, g = _inputs(log2, dtype, halve=True)
    call = _glu_call(impl, direction, x, g)
    _record(benchmark, "glu", direction, dtype, x.shape, impl, log2)
    result = call()
    if benchmark.disabled:
        _check(result, ref.glu(x) if direction == "forward" else ref.glu_backward(g, x), dtype)
    benchmark(call)


@pytest.mark.parametrize("dtype", ("float32", "float64"))
@pytest.mark.parametrize("direction", ("forward", "backward"))
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("log2", FULL_LOG2, ids=lambda v: f"2^{v}")
def test_bias_act(benchmark, request, log2, act, impl, direction, dtype):
    if log2 not in _sizes(request):
        pytest.skip("size of the full sweep (--bench-full) or not selected (--bench-sizes)")
    _skip_unselected(request, direction, dtype)
    x, b, g = _inputs(log2, dtype)
    call = _bias_call(impl, direction, act, x, b, g)
    _record(benchmark, "bias_act", direction, dtype, x.shape, impl, log2, act)
    result = call()
    if benchmark.disabled:
        want = ref.bias_act(x, b, act) if direction == "forward" else ref.bias_act_backward(g, x, b, act)
        _check(result, want, dtype)
    benchmark(call)


@pytest.mark.parametrize("dtype", ("float32", "float64"))
@pytest.mark.parametrize("direction", ("forward", "backward"))
@pytest.mark.parametrize("impl", CE_IMPLS)
@pytest.mark.parametrize("shape", CE_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_softmax_cross_entropy(benchmark, request, shape, impl, direction, dtype):
    if shape not in (CE_SHAPES if _full(request.config) else SMOKE_CE_SHAPES):
        pytest.skip("shape of the full sweep (--bench-full)")
    _skip_unselected(request, direction, dtype)
    x, labels, g = _ce_inputs(shape, dtype)
    call = _ce_call(impl, direction, x, labels, g)
    _record(benchmark, "softmax_cross_entropy", direction, dtype, shape, impl)
    result = call()
    if benchmark.disabled:
        if direction == "forward":
            want = ref.softmax_cross_entropy(x, labels, reduction="mean")
        else:
            want = ref.softmax_cross_entropy_backward(g, x, labels, reduction="mean")
        _check(result, want, dtype)
    benchmark(call)

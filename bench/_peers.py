"""The callables a benchmark times: fastact, the NumPy references
(``fastact.reference``) and PyTorch on CPU, for any :class:`~bench._cases.Case`.

Everything is derived from the activation's table entry: the public names
(``name``, ``name_backward``), the parameter defaults, what the backward
takes (``backward_uses``) and the PyTorch expression (``entry.torch``).
PyTorch's backward is timed with its ATen backward kernel where one exists
(``TORCH_BACKWARD``), so that only the kernel is timed, and with
``torch.autograd.grad`` otherwise.
"""
import functools
from contextlib import nullcontext
from dataclasses import dataclass

import numba
import numpy as np

import fastact as fa
from fastact import reference

from ._cases import FASTACT_MODES, NUMPY_ONE_LINERS, ONE_LINER_IMPL

torch = F = None  # imported on first use (load_torch): PyTorch is an optional peer
_torch_missing = False


def load_torch():
    """PyTorch, set to fastact's thread count, or None when it is not installed."""
    global torch, F, _torch_missing
    if torch is None and not _torch_missing:
        try:
            import torch as _torch
            import torch.nn.functional as _F
        except ImportError:
            _torch_missing = True
            return None
        _torch.set_num_threads(numba.get_num_threads())  # the same threads as fastact
        torch, F = _torch, _F
    return torch


def torch_version():
    t = load_torch()
    return None if t is None else t.__version__


# ---------------------------------------------------------------------------
# Inputs


@functools.lru_cache(maxsize=2)
def _random(shape, dtype):
    """x ~ 2 N(0, 1) (half of it negative) and an upstream gradient."""
    rng = np.random.default_rng(20240611)
    x = (2 * rng.standard_normal(shape)).astype(dtype)
    grad = rng.standard_normal(shape).astype(dtype)
    return x, grad


def param_values(entry, shape, dtype):
    """The table's default parameters (a required one, default None, takes its
    value from the entry's first test_params); PReLU's weight becomes one entry
    per channel (axis 1)."""
    values = {}
    for name, default in entry.params.items():
        if default is None:
            default = next(p[name] for p in entry.test_params if name in p)
        if entry.kind == "prelu" and name == "weight":
            channels = shape[1] if len(shape) > 1 else 1
            values[name] = np.full(channels, default, dtype)
        else:
            values[name] = default
    return values


def _split(params):
    """Array parameters are passed by position, scalars by keyword."""
    args = tuple(v for v in params.values() if isinstance(v, np.ndarray))
    kwargs = {k: v for k, v in params.items() if not isinstance(v, np.ndarray)}
    return args, kwargs


@dataclass
class Work:
    """The arrays of one case: x, the upstream gradient, the parameters and
    the backward's second input (x or the forward's output, per the table)."""
    x: np.ndarray
    grad: np.ndarray
    params: dict
    v: np.ndarray


def work(case):
    entry = case.entry
    x, grad = _random(case.shape, case.dtype)
    params = param_values(entry, case.shape, case.dtype)
    v = x
    if case.direction == "backward" and entry.backward_uses == "y":
        v = _reference_output(entry.name, case.shape, case.dtype)
    return Work(x, grad, params, v)


@functools.lru_cache(maxsize=2)
def _reference_output(name, shape, dtype):
    """The forward's output y on the default parameters (the backward's input
    when the table says backward_uses='y'), from the NumPy reference."""
    entry = fa.ACTIVATIONS[name]
    x, _ = _random(shape, dtype)
    args, kwargs = _split(param_values(entry, shape, dtype))
    return np.asarray(getattr(reference, name)(x, *args, **kwargs), dtype=dtype)


# ---------------------------------------------------------------------------
# The callables


@dataclass
class Call:
    fn: object  # zero-argument callable that does the timed work
    reset: object = None  # called before each run when fn modifies its input (in-place)
    mode: str = None  # fastact.config mode to time under


def bind(f, *args, **kwargs):
    """lambda: f(*args, **kwargs), with as little call overhead as a lambda has
    (every implementation is timed through one such frame)."""
    if kwargs:
        return lambda: f(*args, **kwargs)
    if len(args) == 1:
        (a,) = args
        return lambda: f(a)
    if len(args) == 2:
        a, b = args
        return lambda: f(a, b)
    return lambda: f(*args)


def _numpy_style(module, case, w):
    """fastact's or the reference's function on the case's arrays."""
    entry = case.entry
    args, kwargs = _split(w.params)
    if case.direction == "forward":
        return bind(getattr(module, entry.name), w.x, *args, **kwargs)
    return bind(getattr(module, entry.backward_name), w.grad, w.v, *args, **kwargs)


def _fastact(case, w):
    mode = FASTACT_MODES[case.impl]
    if case.variant == "alloc":
        return Call(_numpy_style(fa, case, w), mode=mode)
    entry = case.entry
    args, kwargs = _split(w.params)
    f = getattr(fa, entry.name)
    if case.variant == "out":
        return Call(bind(f, w.x, *args, out=np.empty_like(w.x), **kwargs), mode=mode)
    # in place: restore x before every run so that repeated application (the
    # negative half shrinking towards subnormals under leaky_relu, say) does
    # not change the work
    x = w.x.copy()
    return Call(bind(f, x, *args, out=x, **kwargs), reset=lambda: np.copyto(x, w.x), mode=mode)


# PyTorch's backward kernels, as expressions in aten, torch, g (the upstream
# gradient), x, y (the forward's output), buffer (log_sigmoid's saved buffer),
# noise (an empty tensor: RReLU's evaluation mode draws none) and the
# activation's parameters.  An activation without an entry is timed
# with torch.autograd.grad.
TORCH_BACKWARD = {
    "sigmoid": "aten.sigmoid_backward(g, y)",
    "tanh": "aten.tanh_backward(g, y)",
    "relu": "aten.threshold_backward(g, y, 0)",
    "leaky_relu": "aten.leaky_relu_backward(g, x, negative_slope, False)",
    "elu": "aten.elu_backward(g, alpha, 1, 1, False, x)",
    "selu": "aten.elu_backward(g, 1.6732632423543772, 1.0507009873554805, 1, False, x)",
    "celu": "aten.elu_backward(g, alpha, 1, 1 / alpha, False, x)",
    "prelu": "prelu_backward(g, x, weight)",
    "rrelu": "aten.rrelu_with_noise_backward(g, x, noise, lower, upper, False, False)",
    "silu": "aten.silu_backward(g, x)",
    "mish": "aten.mish_backward(g, x)",
    "softplus": "aten.softplus_backward(g, x, beta, threshold)",
    "relu6": "aten.hardtanh_backward(g, x, 0, 6)",
    "hardtanh": "aten.hardtanh_backward(g, x, min_val, max_val)",
    "hardsigmoid": "aten.hardsigmoid_backward(g, x)",
    "hardswish": "aten.hardswish_backward(g, x)",
    "logsigmoid": "aten.log_sigmoid_backward(g, x, buffer)",
    "threshold": "aten.threshold_backward(g, x, threshold)",
    "softmax": "aten._softmax_backward_data(g, y, -1, y.dtype)",
    "log_softmax": "aten._log_softmax_backward_data(g, y, -1, y.dtype)",
}


def _prelu_backward(g, x, weight):
    """What autograd runs for F.prelu: the ATen kernel, then the weight's
    gradient summed over every axis but the channel axis."""
    if weight.numel() > 1:
        w = weight.reshape([1, -1] + [1] * (x.dim() - 2))
        dims = [d for d in range(x.dim()) if d != 1]
    else:
        w, dims = weight, list(range(x.dim()))
    gx, gw = torch.ops.aten._prelu_kernel_backward(g, x, w)
    return gx, gw.sum(dims).reshape(weight.shape)


def _torch(case, w):
    if load_torch() is None:
        import pytest

        pytest.skip("PyTorch is not installed (pip install torch==2.13.0)")
    entry = case.entry
    ns = {"F": F, "torch": torch, "aten": torch.ops.aten, "prelu_backward": _prelu_backward,
          "x": torch.from_numpy(w.x)}
    ns.update({k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in w.params.items()})
    if case.direction == "forward":
        return Call(eval(f"lambda: {entry.torch}", ns))
    ns["g"] = torch.from_numpy(w.grad)
    ns["noise"] = torch.empty(0, dtype=ns["x"].dtype)
    expr = TORCH_BACKWARD.get(entry.name)
    if expr is not None:
        # the backward's y is the one fastact's backward is given (the
        # reference's forward output), so that both compute from the same input
        ns["y"] = torch.from_numpy(w.v) if entry.backward_uses == "y" else eval(entry.torch, ns)
        if "buffer" in expr:
            ns["buffer"] = torch.ops.aten.log_sigmoid_forward(ns["x"])[1]
        return Call(eval(f"lambda: {expr}", ns))
    # no ATen backward kernel (softsign is a composite): autograd on a graph built once
    xr = ns["x"].detach().clone().requires_grad_()
    y = eval(entry.torch, dict(ns, x=xr))
    return Call(lambda: torch.autograd.grad(y, xr, ns["g"], retain_graph=True))


def build(case):
    """The Call that times ``case``."""
    w = work(case)
    if case.impl in FASTACT_MODES:
        return _fastact(case, w)
    if case.impl == "numpy":
        return Call(_numpy_style(reference, case, w))
    if case.impl == ONE_LINER_IMPL:
        x = w.x
        return Call(eval(f"lambda: {NUMPY_ONE_LINERS[case.function, case.direction]}", {"np": np, "x": x}))
    if case.impl == "torch":
        return _torch(case, w)
    raise ValueError(f"unknown implementation {case.impl!r}")


def mode_context(call):
    """fastact.config(mode=...) for the forced serial / parallel runs.  The
    automatic mode runs outside any config() block, as a user's call would:
    an active block turns fastact's fast path off."""
    return fa.config(mode=call.mode) if call.mode and call.mode != "auto" else nullcontext()


def as_numpy(result):
    """A result as a tuple of NumPy arrays (torch tensors converted)."""
    items = result if isinstance(result, tuple) else (result,)
    return tuple(np.asarray(r.detach().numpy() if hasattr(r, "detach") else r) for r in items)


# ---------------------------------------------------------------------------
# The bandwidth roof


@numba.njit(nogil=True, cache=True)
def _copy_block(src, dst):
    for i in range(src.shape[0]):
        dst[i] = src[i]


@numba.njit(parallel=True, nogil=True, cache=True)
def parallel_copy(src, dst):
    """dst[:] = src[:], one contiguous block of elements per prange iteration,
    each copied by a serial loop on slices, as fastact's kernels do (an
    indexed loop inside the prange body does not vectorize and copies four
    to five times slower while the data is in cache)."""
    n = src.shape[0]
    block = 1 << 14
    for b in numba.prange((n + block - 1) // block):
        lo = b * block
        hi = min(lo + block, n)
        _copy_block(src[lo:hi], dst[lo:hi])


def build_copy(case):
    src, _ = _random((case.size,), case.dtype)
    dst = np.empty_like(src)
    if case.impl == "prange":
        return Call(bind(parallel_copy, src, dst))
    if case.impl == "copyto":
        return Call(bind(np.copyto, dst, src))
    raise ValueError(f"unknown copy {case.impl!r}")

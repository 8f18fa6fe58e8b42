"""The public, NumPy-compatible functions.

Every function validates all of its inputs before it touches ``out``, then
lays the data out for the kernels (flat or 2-D C-contiguous views, or a
contiguous copy when the input is strided, broadcast or of another dtype),
and runs the serial or the parallel kernel (``_jit.run``).

dtype rules: float32 and float64 are computed in their own precision;
float16 is computed in float32 and returned as float16; bool and integer
inputs give float64 (as ``np.exp`` does); anything else raises TypeError.
"""
import math
import numbers
import operator

import numpy as np

import numba

from . import _jit, _kernels, _softmax
from ._jit import run
from ._registry import ACTIVATIONS, ELEMENTWISE

_F32, _F64, _F16 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16)
_I64 = np.dtype(np.int64)
# input dtype -> (compute type, result dtype)
_DTYPES = {_F32: (np.float32, _F32), _F64: (np.float64, _F64), _F16: (np.float32, _F16)}
_NATIVE = (_F32, _F64)


def _dtypes(dt, fname):
    try:
        return _DTYPES[dt]
    except KeyError:
        pass
    if dt.kind in "biu":
        return np.float64, _F64
    raise TypeError(
        f"{fname}: unsupported dtype {dt}; expected float16, float32 or float64 "
        f"(bool and integer inputs are computed in float64)"
    )


def _asarray(x, fname, what="x"):
    if type(x) is np.ndarray:
        return x
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{fname}: {what} could not be converted to an array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{fname}: unsupported dtype {arr.dtype} for {what}; expected a real array")
    return arr


def _check_out(out, shape, dtype, fname, what="out"):
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{fname}: {what} must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"{fname}: {what} has shape {out.shape}, expected {shape}")
    if out.dtype != dtype:
        raise TypeError(f"{fname}: {what} has dtype {out.dtype}, expected {dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{fname}: {what} is read-only")


def _param(value, fname, pname):
    """A finite real hyperparameter, as a Python float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{fname}: {pname} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{fname}: {pname} must be finite, got {value!r}")
    return value


def _validate(fname, entry, params):
    message = entry.validate(params)
    if message:
        raise ValueError(f"{fname}: {message}")


def _dense_same(a, b):
    """True when a and b are laid out identically and densely, so that their
    flat views (ravel(order='K')) pair the same elements."""
    return a.strides == b.strides and (a.flags.c_contiguous or a.flags.f_contiguous)


def _outer_inner(shape, ax):
    """(product of the lengths before axis ax, product of those after it).
    math.prod of Python ints: exact, and a fraction of np.prod's call time."""
    return math.prod(shape[:ax]), math.prod(shape[ax + 1:])


def _aliased(a, b):
    """b shares memory with a in a way that elementwise in-place work can't handle."""
    if not np.may_share_memory(a, b):
        return False
    return not (a.__array_interface__["data"][0] == b.__array_interface__["data"][0] and a.strides == b.strides)


def _data(a):
    return a.__array_interface__["data"][0]


def _finish(res, out):
    if out is None and res.ndim == 0:
        return res[()]
    return res


def _result(arr_shape, rdt, like, out, fname):
    if out is None:
        return np.empty_like(like, dtype=rdt) if like is not None else np.empty(arr_shape, rdt)
    _check_out(out, arr_shape, rdt, fname)
    return out


# ---------------------------------------------------------------------------
# Elementwise drivers


def _map(k, srcs, T, res, params):
    """Run the _Kernel k over srcs (arrays already broadcast to res.shape)
    into res.  params: a tuple of T, or () for kernels without."""
    n = res.size
    if n == 0:
        return
    extra = (params,) if params else ()
    if all(s.dtype == T and s.shape == res.shape and _dense_same(s, res) for s in srcs) and res.dtype == T \
            and not any(_aliased(s, res) for s in srcs):
        flat = [s.ravel(order="K") for s in srcs]
        # in place: res is one of the inputs (same memory, same layout)
        target = next((i for i, s in enumerate(srcs) if _data(s) == _data(res)), None)
        if target is None:
            k.run(T, n, *flat, res.ravel(order="K"), *extra)
        else:
            k.run_inplace(T, n, target, *flat, *extra)
        return
    flat = [np.ascontiguousarray(np.broadcast_to(s, res.shape), dtype=T).reshape(-1) for s in srcs]
    tmp = np.empty(n, T)
    k.run(T, n, *flat, tmp, *extra)
    res[...] = tmp.reshape(res.shape)


class _Kernel:
    """The serial and parallel kernels of one scalar definition of
    ``_elementwise`` in one direction, per compute dtype, with the parallel
    threshold and, once the kernel has compiled, its direct entry point for
    1-D C-contiguous arrays.

    The public functions' fast path calls that entry point itself: it skips
    Numba's argument typing, which is most of the cost of a call on a small
    array.  It is taken only for exactly the arrays the entry point was
    compiled for (aligned, C-contiguous, float32 or float64 in native byte
    order, no out=) and below the threshold; everything else goes through
    _forward / _backward.  While any config() block is active the fast path is
    off (threshold 0), so that the block's mode is obeyed."""

    __slots__ = ("name", "which", "nparams", "e32", "e64", "p32", "p64", "i32", "i64", "t32", "t64", "_t32",
                 "_t64")

    def __init__(self, name, which, nparams):
        self.name, self.which, self.nparams = name, which, nparams
        self.e32 = self.e64 = self.p32 = self.p64 = self.i32 = self.i64 = None
        self._t32 = _jit.elementwise_threshold(_kernels.elementwise_heavy(name, np.float32)[which], 4)
        self._t64 = _jit.elementwise_threshold(_kernels.elementwise_heavy(name, np.float64)[which], 8)
        self.t32, self.t64 = self._t32, self._t64
        _jit.register_fast_path(self)

    def suspend(self):
        self.t32 = self.t64 = 0

    def resume(self):
        self.t32, self.t64 = self._t32, self._t64

    def kernels(self, T):
        k = _kernels.elementwise(self.name, T)
        return k[2 * self.which], k[2 * self.which + 1]

    def run_inplace(self, T, n, target, *args):
        """run(), writing over input ``target`` (args without an out).  The
        forward's serial kernel over x (i32, i64) becomes the fast path's
        entry point for out=x once it has run outside a config() block."""
        serial, parallel = _kernels.elementwise_inplace(self.name, T, self.which, target)
        _jit.run_at(self.threshold(T), serial, parallel, n, *args)
        if self.which == 0 and _jit._active == 0 and (self.i32 if T is np.float32 else self.i64) is None \
                and serial.signatures:
            entry = serial.compile(self._signature(T)[1:])
            if T is np.float32:
                self.i32 = entry
            else:
                self.i64 = entry

    def run_inplace_large(self, d, x, params=()):
        """The fast path's out=x call above the threshold: x 1-D C-contiguous."""
        T = np.float32 if d is _F32 else np.float64
        extra = (tuple([T(v) for v in params]),) if params else ()
        self.run_inplace(T, x.shape[0], 0, x, *extra)

    def threshold(self, T):
        return self._t32 if T is np.float32 else self._t64

    def run_large(self, d, *arrays, params=()):
        """The fast path's call above the threshold (or in a config() block):
        arrays 1-D C-contiguous of dtype d (float32 or float64).  Outside a
        config() block, once the parallel kernel has run and the threading
        layer is one that runs parallel regions from several threads, its
        entry point is called directly."""
        T = np.float32 if d is _F32 else np.float64
        extra = (tuple([T(v) for v in params]),) if params else ()
        pe = self.p32 if d is _F32 else self.p64
        if pe is not None and _jit._active == 0 and _jit._layer not in (None, "workqueue"):
            pe(*arrays, *extra)
            return
        self.run(T, arrays[0].shape[0], *arrays, *extra)
        if pe is None and _jit._active == 0 and _jit._settings.mode == "auto":
            parallel = self.kernels(T)[1]
            if parallel.signatures:
                entry = parallel.compile(self._signature(T))
                if T is np.float32:
                    self.p32 = entry
                else:
                    self.p64 = entry

    def run(self, T, n, *args):
        serial, parallel = self.kernels(T)
        _jit.run_at(self.threshold(T), serial, parallel, n, *args)
        if self.e32 is None if T is np.float32 else self.e64 is None:
            self._enable(T, serial)

    def _signature(self, T):
        """The kernels' signature for 1-D C-contiguous arrays of T."""
        arr = numba.types.Array(numba.from_dtype(np.dtype(T)), 1, "C")
        sig = (arr,) * (2 + self.which)
        if self.nparams:
            sig += (numba.types.UniTuple(numba.from_dtype(np.dtype(T)), self.nparams),)
        return sig

    def _enable(self, T, serial):
        """Compile (or load from the cache) the serial kernel for 1-D
        C-contiguous arrays and keep its entry point."""
        entry = serial.compile(self._signature(T))
        if T is np.float32:
            self.e32 = entry
        else:
            self.e64 = entry


_KERNELS = {}


def _kernel(name, which, nparams):
    k = _KERNELS.get((name, which))
    if k is None:
        k = _KERNELS[(name, which)] = _Kernel(name, which, nparams)
    return k


def _forward(k, fname, x, params, out):
    """The general path of an elementwise forward: k a _Kernel, params the
    validated hyperparameters (Python floats)."""
    arr = _asarray(x, fname)
    T, rdt = _dtypes(arr.dtype, fname)
    res = _result(arr.shape, rdt, arr, out, fname)
    _map(k, (arr,), T, res, tuple(T(p) for p in params))
    return _finish(res, out)


def _backward(k, fname, grad, v, params, out, vname):
    g = _asarray(grad, fname, "grad")
    v = _asarray(v, fname, vname)
    _dtypes(g.dtype, fname)
    _dtypes(v.dtype, fname)
    T, rdt = _dtypes(np.result_type(g.dtype, v.dtype), fname)
    try:
        shape = np.broadcast_shapes(g.shape, v.shape)
    except ValueError:
        raise ValueError(f"{fname}: grad of shape {g.shape} does not broadcast with {vname} of shape {v.shape}") from None
    like = v if v.shape == shape else (g if g.shape == shape else None)
    res = _result(shape, rdt, like, out, fname)
    _map(k, (g, v), T, res, tuple(T(p) for p in params))
    return _finish(res, out)


# ---------------------------------------------------------------------------
# The elementwise functions, generated from the table
#
# Each is compiled from source text so that its fast path is straight-line
# code with the table's parameters as plain arguments.  The generated
# forward, for an activation with parameters a and b, reads:
#
#     def NAME(x, /, a=.., b=.., *, out=None):
#         k = _cache.get((a, b)) if type(a) is float and type(b) is float else None
#         if k is None:                   # the _Kernel (variant) for these parameters
#             k, p = _prepare(a, b)       # validates; raises before anything is written
#         else:
#             p = (a, b)
#         if out is None and type(x) is _nd:
#             ... the fast path: k's entry point on a new array, when it applies
#         return _forward(k, 'NAME', x, p, out)

_FAST_FORWARD = """
    if type(x) is _nd and (out is None or type(out) is _nd):
        d = x.dtype
        if d is _F32:
            e, t = k.e32, k.t32
        elif d is _F64:
            e, t = k.e64, k.t64
        else:
            e = None
        if e is not None and x.ndim:
            f = x.flags
            if f.c_contiguous and f.aligned:
                if out is None:
                    if x.ndim == 1:
                        r = _empty(x.shape[0], d)
                        a, b = x, r
                    else:
                        r = _empty(x.shape, d)
                        a, b = x.reshape(-1), r.reshape(-1)
                elif out is x and f.writeable:
                    ie = k.i32 if d is _F32 else k.i64
                    if ie is not None:
                        a = x if x.ndim == 1 else x.reshape(-1)
                        if x.size < t:
                            ie(a{P})
                        else:
                            k.run_inplace_large(d, a{PT})
                        return x
                    r = None
                elif _out_ok(out, x, d) and not _may_share(x, out):
                    r = out
                    a, b = (x, r) if x.ndim == 1 else (x.reshape(-1), r.reshape(-1))
                else:
                    r = None
                if r is not None:
                    if x.size < t:
                        e(a, b{P})
                    else:
                        k.run_large(d, a, b{PT})
                    return r
"""

_FAST_BACKWARD = """
    if type({V}) is _nd and type(grad) is _nd and (out is None or type(out) is _nd):
        d = {V}.dtype
        if d is _F32:
            e, t = k.e32, k.t32
        elif d is _F64:
            e, t = k.e64, k.t64
        else:
            e = None
        if e is not None and grad.dtype is d and {V}.ndim and {V}.shape == grad.shape:
            f = {V}.flags
            h = grad.flags
            if f.c_contiguous and h.c_contiguous and f.aligned and h.aligned:
                if out is None:
                    if {V}.ndim == 1:
                        r = _empty({V}.shape[0], d)
                        a, b, c = grad, {V}, r
                    else:
                        r = _empty({V}.shape, d)
                        a, b, c = grad.reshape(-1), {V}.reshape(-1), r.reshape(-1)
                elif _out_ok(out, {V}, d) and not _may_share({V}, out) and not _may_share(grad, out):
                    r = out
                    a, b, c = (grad, {V}, r) if {V}.ndim == 1 else (grad.reshape(-1), {V}.reshape(-1), r.reshape(-1))
                else:
                    r = None
                if r is not None:
                    if {V}.size < t:
                        e(a, b, c{P})
                    else:
                        k.run_large(d, a, b, c{PT})
                    return r
"""


def _out_ok(out, like, d):
    """out can take the fast path's result for like: same shape, dtype d,
    C-contiguous, aligned and writeable (anything else goes to the general
    path, which says what is wrong)."""
    f = out.flags
    return out.dtype is d and out.shape == like.shape and f.c_contiguous and f.aligned and f.writeable


def _variant_kernels(entry):
    """{choice: kernel name} for the entry's variant parameter, or None."""
    if not entry.variants:
        return None
    (pname, choices), = entry.variants.items()
    return pname, choices


def _make_prepare(entry, fname, which, fparams):
    """prepare(*params) -> (kernel, validated float parameters), raising
    TypeError/ValueError naming fname and the parameter."""
    variant = _variant_kernels(entry)
    nfloat = len(fparams)
    if variant is None:
        kernel = _kernel(entry.name, which, nfloat)

    def prepare(*values):
        given = dict(zip(entry.params, values))
        if variant is not None:
            pname, choices = variant
            choice = given[pname]
            if not isinstance(choice, str) or choice not in choices:
                raise ValueError(f"{fname}: {pname} must be one of {sorted(choices)}, got {choice!r}")
            k = _kernel(choices[choice], which, nfloat)
        else:
            k = kernel
        floats = {p: _param(given[p], fname, p) for p in fparams}
        if entry.validate is not None:
            _validate(fname, entry, floats)
        return k, tuple(floats[p] for p in fparams)

    return prepare


def _make_elementwise(entry):
    name = entry.name
    pnames = list(entry.params)
    vnames = list(entry.variants)
    fparams = [p for p in pnames if p not in vnames]
    v = entry.backward_uses
    sig = "".join(f", {p}" if entry.params[p] is None else f", {p}={entry.params[p]!r}" for p in pnames)
    P = ", p" if fparams else ""
    PT = ", params=p" if fparams else ""
    ns = dict(_forward=_forward, _backward=_backward, _nd=np.ndarray, _F32=_F32, _F64=_F64, _empty=np.empty,
              _out_ok=_out_ok, _may_share=np.may_share_memory)
    funcs = []
    for which, fname in ((0, name), (1, entry.backward_name)):
        prepare = _make_prepare(entry, fname, which, fparams)
        ns[f"_prepare{which}"] = prepare
        if pnames:
            ns[f"_cache{which}"] = {}
            key = "(" + "".join(f"{p}, " for p in pnames) + ")"
            simple = " and ".join(f"type({p}) is {'str' if p in vnames else 'float'}" for p in pnames)
            ftuple = "(" + "".join(f"{p}, " for p in fparams) + ")"
            # The cache maps validated parameter values (Python floats and
            # strs only) to the kernel; the floats passed on are the caller's
            # own, so -0.0 stays -0.0 although it is a key equal to 0.0.
            head = (f"    k = _cache{which}.get({key}) if {simple} else None\n"
                    f"    if k is None:\n"
                    f"        k, p = _prepare{which}{key}\n"
                    f"        if {simple} and len(_cache{which}) < 256:\n"
                    f"            _cache{which}[{key}] = k\n"
                    f"    else:\n"
                    f"        p = {ftuple}\n")
        else:
            ns[f"_k{which}"] = prepare()[0]
            head = f"    k, p = _k{which}, ()\n"
        if which == 0:
            src = (f"def {fname}(x, /{sig}, *, out=None):\n{head}"
                   + _FAST_FORWARD.format(P=P, PT=PT)
                   + f"    return _forward(k, {fname!r}, x, p, out)\n")
        else:
            src = (f"def {fname}(grad, {v}, /{sig}, *, out=None):\n{head}"
                   + _FAST_BACKWARD.format(P=P, PT=PT, V=v)
                   + f"    return _backward(k, {fname!r}, grad, {v}, p, out, {v!r})\n")
        exec(compile(src, f"<fastact.{fname}>", "exec"), ns)
        funcs.append(ns[fname])
    fwd, bwd = funcs
    params_doc = "".join(
        f"    {p} : {'str' if p in vnames else 'float'}"
        + ("" if entry.params[p] is None else f", default {entry.params[p]!r}")
        + (f", one of {sorted(entry.variants[p])}" if p in vnames else "") + "\n"
        for p in pnames)
    fwd.__doc__ = (
        f"{entry.summary}\n\n    {entry.formula}\n\n"
        f"Parameters\n----------\n    x : array_like\n{params_doc}"
        f"    out : ndarray, optional\n        Where to write the result (may be x itself).\n\n"
        f"{entry.notes}\n"
    )
    what = "the forward's output y" if v == "y" else "the forward's input x"
    bwd.__doc__ = (
        f"Gradient of {name} with respect to its input, from grad (dL/dy) and {what}.\n\n"
        f"    {entry.derivative}\n\ngrad broadcasts against {v}; out= as in {name}.\n"
    )
    for f in (fwd, bwd):
        f.__module__ = "fastact"
    return fwd, bwd


_generated = {}
for _name in ELEMENTWISE:
    _f, _b = _make_elementwise(ACTIVATIONS[_name])
    _generated[_f.__name__] = _f
    _generated[_b.__name__] = _b
globals().update(_generated)


# ---------------------------------------------------------------------------
# RReLU


def _rrelu_bounds(lower, upper, fname):
    lower = _param(lower, fname, "lower")
    upper = _param(upper, fname, "upper")
    if lower > upper:
        raise ValueError(f"{fname}: lower ({lower}) must not exceed upper ({upper})")
    return lower, upper


def _midpoint(lower, upper):
    """(lower + upper) / 2 without overflow for finite bounds (the same value
    wherever lower + upper is finite and the halves are normal)."""
    return 0.5 * lower + 0.5 * upper


def _generator(rng, fname):
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (numbers.Integral, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    raise TypeError(f"{fname}: rng must be a numpy.random.Generator, a seed or None, got {type(rng).__name__}")


def rrelu(x, /, lower=1 / 8, upper=1 / 3, *, training=False, rng=None, out=None):
    """Randomized leaky ReLU.

    In evaluation (training=False) a leaky ReLU of slope (lower + upper) / 2.
    In training each element x <= 0 gets its own slope drawn from
    U(lower, upper) with ``rng`` (a numpy Generator or a seed), and the
    function returns ``(y, noise)``: noise holds the slope of every element
    (1 where x > 0), to be passed to ``rrelu_backward``.
    """
    if not training and out is None and type(x) is np.ndarray and (x.dtype is _F32 or x.dtype is _F64) \
            and type(lower) is float and type(upper) is float and math.isfinite(lower) \
            and math.isfinite(upper) and lower <= upper:
        # the common evaluation call: leaky_relu's fast path (which cannot
        # fail on such an x)
        return leaky_relu(x, _midpoint(lower, upper))  # noqa: F821 (generated from the table)
    fname = "rrelu"
    lower, upper = _rrelu_bounds(lower, upper, fname)
    if not training:
        return _forward(_kernel("leaky_relu", 0, 1), fname, x, (_midpoint(lower, upper),), out)
    arr = _asarray(x, fname)
    T, rdt = _dtypes(arr.dtype, fname)
    gen = _generator(rng, fname)
    res = _result(arr.shape, rdt, arr, out, fname)
    src = np.ascontiguousarray(arr, dtype=T).reshape(-1)
    noise = np.empty(src.size, T)
    gen.random(dtype=T, out=noise)
    direct = res.dtype == T and res.flags.c_contiguous and not _aliased(src, res.reshape(-1))
    dst = res.reshape(-1) if direct else np.empty(src.size, T)
    serial, parallel = _kernels.rrelu_train(T)
    if src.size:
        run(serial, parallel, src.size, src, noise, dst, T(lower), T(upper - lower))
    if not direct:
        res[...] = dst.reshape(res.shape)
    noise = noise.reshape(arr.shape)
    if rdt != T:
        noise = noise.astype(rdt)
    return _finish(res, out), (noise[()] if out is None and noise.ndim == 0 else noise)


def _rrelu_backward_fast(grad, x, noise, lower, upper):
    """rrelu_backward's common calls (float32 or float64 C-contiguous arrays
    of one shape and dtype, float bounds in order, no out=) without the
    general validation: grad * noise, or with noise=None the leaky ReLU
    gradient of slope (lower + upper) / 2.  None when they do not apply."""
    if type(grad) is not np.ndarray or type(x) is not np.ndarray or type(lower) is not float \
            or type(upper) is not float or not (math.isfinite(lower) and math.isfinite(upper) and lower <= upper):
        return None
    if noise is None:
        k, v, p = _kernel("leaky_relu", 1, 1), x, (_midpoint(lower, upper),)
    elif type(noise) is np.ndarray and noise.shape == x.shape:
        k, v, p = _kernel("product", 1, 0), noise, ()
    else:
        return None
    d = v.dtype
    if d is _F32:
        e, t = k.e32, k.t32
    elif d is _F64:
        e, t = k.e64, k.t64
    else:
        return None
    f, h = v.flags, grad.flags
    if e is None or grad.dtype is not d or not v.ndim or v.shape != grad.shape \
            or not (f.c_contiguous and h.c_contiguous and f.aligned and h.aligned):
        return None
    r = np.empty(v.shape, d)
    a, b, c = grad.reshape(-1), v.reshape(-1), r.reshape(-1)
    if v.size < t:
        e(a, b, c, *((p,) if p else ()))
    else:
        k.run_large(d, a, b, c, params=p)
    return r


def rrelu_backward(grad, x, noise=None, /, lower=1 / 8, upper=1 / 3, *, out=None):
    """Gradient of rrelu: grad * noise with the slopes drawn in training, or,
    with noise=None, the gradient of the evaluation form (slope (lower + upper) / 2)."""
    if out is None:
        r = _rrelu_backward_fast(grad, x, noise, lower, upper)
        if r is not None:
            return r
    fname = "rrelu_backward"
    lower, upper = _rrelu_bounds(lower, upper, fname)
    if noise is None:
        return _backward(_kernel("leaky_relu", 1, 1), fname, grad, x, (_midpoint(lower, upper),), out, "x")
    xa = _asarray(x, fname, "x")
    na = _asarray(noise, fname, "noise")
    if na.shape != xa.shape:
        raise ValueError(f"{fname}: noise has shape {na.shape}, expected the shape of x {xa.shape}")
    return _backward(_kernel("product", 1, 0), fname, grad, na, (), out, "noise")


# ---------------------------------------------------------------------------
# Axis handling and the row-wise drivers (softmax family)


def _axes(axis, ndim, fname):
    if isinstance(axis, tuple):
        items = axis
    else:
        items = (axis,)
    result = []
    for a in items:
        try:
            a = operator.index(a)
        except TypeError:
            raise TypeError(f"{fname}: axis must be an int or a tuple of ints, got {axis!r}") from None
        if not -ndim <= a < ndim:
            raise ValueError(f"{fname}: axis {a} is out of range for an array of {ndim} dimension(s)")
        result.append(a % ndim)
    if len(set(result)) != len(result):
        raise ValueError(f"{fname}: repeated axis in {axis!r}")
    return tuple(sorted(result))


def _as_rows(arr, axes):
    """(permutation that moves axes last, rows, row length)."""
    perm = [i for i in range(arr.ndim) if i not in axes] + list(axes)
    length = 1
    for a in axes:
        length *= arr.shape[a]
    rows = arr.size // length if length else 0
    return perm, rows, length


class _Switch:
    """A fast path's parallel threshold t, registered with _jit so that it is
    0 (the fast path off) while a config() block is active."""

    __slots__ = ("t", "_t")

    def __init__(self, threshold=_jit.PARALLEL_THRESHOLD):
        self.t = self._t = threshold
        _jit.register_fast_path(self)

    def suspend(self):
        self.t = 0

    def resume(self):
        self.t = self._t


def _run_rows(serial, parallel, size, *args):
    """run() for the softmax family's row kernels, with their threshold."""
    return _jit.run_at(_jit.ROWS_THRESHOLD, serial, parallel, size, *args)


class _Direct(_Switch):
    """A serial and a parallel kernel, run by size against ``threshold``,
    and, once they have run, the serial kernel's entry point compiled for
    ``types``: below the threshold a fast path calls it directly, without
    Numba's argument typing (as _Kernel does).  The caller passes arrays of
    exactly those types.  Off (threshold 0) while a config() block is
    active."""

    __slots__ = ("kernels", "entry", "_types")

    def __init__(self, kernels, types, threshold):
        self.kernels = kernels
        self._types = types
        self.entry = None
        super().__init__(threshold)

    def __call__(self, size, *arrays):
        if size < self.t and self.entry is not None:
            return self.entry(*arrays)
        result = _jit.run_at(self._t, *self.kernels, size, *arrays)
        if self.entry is None and size < self._t:
            self.entry = self.kernels[0].compile(self._types)
        return result


class _Rows(_Direct):
    """The _Direct of a softmax-family function for one dtype, on 2-D
    C-contiguous arrays, with a second entry point for 1-D ones (one row),
    compiled on the first such call below the threshold."""

    __slots__ = ("entry1", "_vector")

    def __init__(self, name, T):
        arr = numba.types.Array(numba.from_dtype(np.dtype(T)), 2, "C")
        nargs = 3 if name.endswith("_backward") else 2
        super().__init__(_softmax.rowwise(name, T), (arr,) * nargs, _jit.ROWS_THRESHOLD)
        self.entry1 = None
        self._vector = (name, T, (arr.copy(ndim=1),) * nargs)

    def vector_entry(self):
        name, T, types = self._vector
        self.entry1 = _softmax.vector(name, T).compile(types)
        return self.entry1


_ROWS = {_F32: {}, _F64: {}}  # dtype -> {name: _Rows}, those made so far


def _rows_of(name, dtype):
    """The _Rows of a softmax-family function for float32 or float64 data."""
    table = _ROWS[dtype]
    fast = table.get(name)
    if fast is None:
        fast = table[name] = _Rows(name, _DTYPES[dtype][0])
    return fast


def _rows_fast(name, x, axis, g, out):
    """The softmax family's most common call, kept short: x (and g for a
    backward) C-contiguous float32 or float64 arrays of one shape and dtype,
    reduced over the last axis, no mask, out= absent or an array of the same
    shape, dtype and layout that is x or g or shares no memory with them.
    None when it does not apply (the general path then checks everything).
    Below the threshold, 1-D arrays go straight to the serial kernel's entry
    point for vectors from the first call (a reshape is 0.15 us; the whole
    call on 16 elements 1.2-1.5 us), the others (viewed as 2-D) to its entry
    point for 2-D arrays once a first call through run_at has compiled it."""
    if type(x) is not np.ndarray:
        return None
    d = x.dtype
    table = _ROWS.get(d)
    if table is None or type(axis) is not int:
        return None
    nd = x.ndim
    if not nd or (axis != -1 and axis != nd - 1):
        return None
    fast = table.get(name)
    if fast is None:
        fast = _rows_of(name, d)
    f = x.flags
    if not (f.c_contiguous and f.aligned):
        return None
    shape = x.shape
    if g is not None:
        if type(g) is not np.ndarray or g.dtype is not d or g.shape != shape:
            return None
        f = g.flags
        if not (f.c_contiguous and f.aligned):
            return None
    if out is None:
        res = np.empty(shape, d)
    else:
        if type(out) is not np.ndarray or out.dtype is not d or out.shape != shape:
            return None
        f = out.flags
        if not (f.c_contiguous and f.aligned and f.writeable):
            return None
        # each input the same array as out or apart from it
        if _aliased(x, out) or (g is not None and _aliased(g, out)):
            return None
        res = out
    n = x.size
    if not n:
        return res
    if nd == 1 and n < fast.t:
        e = fast.entry1 or fast.vector_entry()
        if g is None:
            e(x, res)
        else:
            e(g, x, res)
        return res
    res2 = res
    if nd != 2:
        rows = n // shape[-1]
        x, res2 = x.reshape(rows, -1), res.reshape(rows, -1)
        g = None if g is None else g.reshape(rows, -1)
    # _Direct's own fast path, written out: a Python call less (about 0.1 us
    # of a 2.5 us call on (32, 10))
    e = fast.entry
    if e is not None and n < fast.t:
        if g is None:
            e(x, res2)
        else:
            e(g, x, res2)
    elif g is None:
        fast(n, x, res2)
    else:
        fast(n, g, x, res2)
    return res


def _mask_rows(where, shape, perm, rows, length, fname):
    """The where= mask broadcast to shape, laid out as the rows of the data."""
    mask = np.asarray(where)
    if mask.dtype != np.bool_:
        raise TypeError(f"{fname}: where must be a boolean array, got dtype {mask.dtype}")
    try:
        mask = np.broadcast_to(mask, shape)
    except ValueError:
        raise ValueError(f"{fname}: where of shape {mask.shape} does not broadcast to {shape}") from None
    return np.ascontiguousarray(mask.reshape(shape or (1,)).transpose(perm)).reshape(rows, length)


def _rowwise(name, fname, srcs, axis, out, vnames, where=None):
    """Run the softmax-family kernel ``name`` of fastact._softmax along axis
    (an int or a tuple of ints) over srcs: (x,) or (grad, y)."""
    a = srcs[-1]
    # fast path: C-contiguous float32/float64 arrays of one shape, reduced over
    # the last axis, no out=, no mask
    if out is None and where is None and type(a) is np.ndarray and a.ndim and a.dtype in _NATIVE \
            and a.flags.c_contiguous and a.flags.aligned and type(axis) is int \
            and (axis == -1 or axis == a.ndim - 1) \
            and all(type(b) is np.ndarray and b.dtype == a.dtype and b.shape == a.shape
                    and b.flags.c_contiguous and b.flags.aligned for b in srcs):
        fast = _rows_of(name, a.dtype)
        res = np.empty(a.shape, a.dtype)
        length = a.shape[-1]
        if a.size:
            rows = a.size // length
            if len(srcs) == 1:
                fast(a.size, a.reshape(rows, length), res.reshape(rows, length))
            else:
                fast(a.size, srcs[0].reshape(rows, length), a.reshape(rows, length), res.reshape(rows, length))
        return res
    arrs = [_asarray(s, fname, n) for s, n in zip(srcs, vnames)]
    for a in arrs:
        _dtypes(a.dtype, fname)
    T, rdt = _dtypes(np.result_type(*[a.dtype for a in arrs]), fname)
    if len(arrs) == 2 and arrs[0].shape != arrs[1].shape:
        try:
            shape = np.broadcast_shapes(arrs[0].shape, arrs[1].shape)
        except ValueError:
            raise ValueError(f"{fname}: grad of shape {arrs[0].shape} does not broadcast with "
                             f"{vnames[1]} of shape {arrs[1].shape}") from None
        arrs = [np.broadcast_to(a, shape) for a in arrs]
    shape = arrs[-1].shape
    zero_d = len(shape) == 0
    axes = _axes(axis, max(len(shape), 1), fname)
    views = [a.reshape(1) if zero_d else a for a in arrs]
    perm, rows, length = _as_rows(views[-1], axes)
    if where is not None:
        mask = _mask_rows(where, shape, perm, rows, length, fname)
        name += "_masked"
    res = _result(shape, rdt, None, out, fname)
    if res.size == 0:
        return res
    rv = res.reshape(1) if zero_d else res
    moved = [v.transpose(perm) for v in views]
    rmoved = rv.transpose(perm)
    serial, parallel = _softmax.rowwise(name, T)
    extra = (mask,) if where is not None else ()
    if all(m.dtype == T and m.flags.c_contiguous for m in moved) and rmoved.flags.c_contiguous \
            and res.dtype == T and not any(_aliased(v, rv) for v in views):
        flat = [m.reshape(rows, length) for m in moved]
        _run_rows(serial, parallel, res.size, *flat, *extra, rmoved.reshape(rows, length))
    else:
        flat = [np.ascontiguousarray(m, dtype=T).reshape(rows, length) for m in moved]
        tmp = np.empty((rows, length), T)
        _run_rows(serial, parallel, res.size, *flat, *extra, tmp)
        rmoved[...] = tmp.reshape(rmoved.shape)
    return _finish(res, out)


def softmax(x, /, axis=-1, *, where=None, out=None):
    """exp(x - max) / sum(exp(x - max)) along axis (an int or a tuple of ints).

    The maximum is subtracted first, so no input overflows; a slice of all
    -inf gives NaN, as in PyTorch.  where: a boolean mask broadcastable to x;
    only the elements where it is True take part, the others get 0, and a
    slice with no element left gives 0 (not NaN).
    """
    if where is None:
        r = _rows_fast("softmax", x, axis, None, out)
        if r is not None:
            return r
    return _rowwise("softmax", "softmax", (x,), axis, out, ("x",), where)


def softmin(x, /, axis=-1, *, where=None, out=None):
    """softmax(-x) along axis; where= as in softmax."""
    if where is None:
        r = _rows_fast("softmin", x, axis, None, out)
        if r is not None:
            return r
    return _rowwise("softmin", "softmin", (x,), axis, out, ("x",), where)


def log_softmax(x, /, axis=-1, *, out=None):
    """x - max - log(sum(exp(x - max))) along axis, without forming softmax."""
    r = _rows_fast("log_softmax", x, axis, None, out)
    if r is not None:
        return r
    return _rowwise("log_softmax", "log_softmax", (x,), axis, out, ("x",))


def softmax_backward(grad, y, /, axis=-1, *, out=None):
    """Gradient of softmax from grad and the forward's output y:
    y * (grad - sum(grad * y)) along axis.  Also right for a masked softmax
    (y is 0 where the mask was False, and so is the gradient)."""
    r = _rows_fast("softmax_backward", y, axis, grad, out)
    if r is not None:
        return r
    return _rowwise("softmax_backward", "softmax_backward", (grad, y), axis, out, ("grad", "y"))


def softmin_backward(grad, y, /, axis=-1, *, out=None):
    """Gradient of softmin from grad and the forward's output y:
    -y * (grad - sum(grad * y)) along axis."""
    r = _rows_fast("softmin_backward", y, axis, grad, out)
    if r is not None:
        return r
    return _rowwise("softmin_backward", "softmin_backward", (grad, y), axis, out, ("grad", "y"))


def log_softmax_backward(grad, y, /, axis=-1, *, out=None):
    """Gradient of log_softmax from grad and the forward's output y:
    grad - exp(y) * sum(grad) along axis."""
    r = _rows_fast("log_softmax_backward", y, axis, grad, out)
    if r is not None:
        return r
    return _rowwise("log_softmax_backward", "log_softmax_backward", (grad, y), axis, out, ("grad", "y"))


# ---------------------------------------------------------------------------
# Softmax cross-entropy (fused)

_REDUCTIONS = ("mean", "sum", "none")


def _ce_inputs(fname, logits, labels, axis, reduction):
    x = _asarray(logits, fname, "logits")
    T, rdt = _dtypes(x.dtype, fname)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fname}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if x.ndim == 0:
        raise ValueError(f"{fname}: logits must have at least one dimension (the classes)")
    (ax,) = _axes(axis, x.ndim, fname) if not isinstance(axis, tuple) else (None,)
    if ax is None:
        raise TypeError(f"{fname}: axis must be an int, got {axis!r}")
    lab = np.asarray(labels)
    if lab.dtype.kind not in "iu":
        raise TypeError(f"{fname}: labels must be integers, got dtype {lab.dtype}")
    want = x.shape[:ax] + x.shape[ax + 1:]
    if lab.shape != want:
        raise ValueError(f"{fname}: labels have shape {lab.shape}, expected {want} (logits {x.shape} "
                         f"without axis {axis})")
    classes = x.shape[ax]
    lab = np.ascontiguousarray(lab, dtype=np.int64).reshape(-1)
    if lab.size:
        lo, hi = _kernels.int_range(lab)
        if lo < 0 or hi >= classes:
            raise ValueError(f"{fname}: labels must lie in [0, {classes - 1}], got values from {lo} to {hi}")
    if ax == x.ndim - 1 and x.dtype == T and x.flags.c_contiguous:
        rows = x.reshape(-1, classes) if classes else None
    else:
        moved = np.moveaxis(x, ax, -1)
        rows = np.ascontiguousarray(moved, dtype=T).reshape(-1, classes) if classes else None
    return x, T, rdt, ax, rows, lab, want


_CE = {}  # dtype -> the cross-entropy's (forward, backward) _Direct, once made


def _ce_direct(T):
    """The cross-entropy's fast paths' kernels for compute dtype T: (rows,
    int64 labels, float64 loss) and (rows, labels, float64 scale, out)."""
    pair = _CE.get(T)
    if pair is None:
        ty = numba.types
        x, f64 = ty.Array(numba.from_dtype(np.dtype(T)), 2, "C"), ty.Array(ty.float64, 1, "C")
        lab = ty.Array(ty.int64, 1, "C")
        fwd, bwd = _softmax.cross_entropy(T)
        pair = _CE[T] = (_Direct(fwd, (x, lab, f64), _jit.PARALLEL_THRESHOLD),
                         _Direct(bwd, (x, lab, f64, x), _jit.PARALLEL_THRESHOLD))
    return pair


def _ce_fast(logits, labels, axis, reduction):
    """(rows, labels, T) for the cross-entropy's most common call, kept short:
    2-D C-contiguous float32/float64 logits with the classes last, 1-D
    contiguous int64 labels in range, reduction "mean" or "sum"; else None
    (the general path then checks everything and says what is wrong)."""
    if type(logits) is not np.ndarray or type(labels) is not np.ndarray or type(axis) is not int \
            or (reduction != "mean" and reduction != "sum"):
        return None
    d = logits.dtype
    if (d is not _F32 and d is not _F64) or logits.ndim != 2 or (axis != -1 and axis != 1):
        return None
    rows, classes = logits.shape
    if labels.dtype is not _I64 or labels.shape != (rows,) or not rows or not classes:
        return None
    f, g = logits.flags, labels.flags
    if not (f.c_contiguous and f.aligned and g.c_contiguous and g.aligned):
        return None
    lo, hi = _kernels.int_range(labels)
    if lo < 0 or hi >= classes:
        return None
    return logits, labels, _DTYPES[d][0]


def softmax_cross_entropy(logits, labels, /, axis=-1, *, reduction="mean"):
    """Cross-entropy of softmax(logits) against integer class labels, in one
    pass per row: log(sum(exp(x))) - x[label], with the maximum subtracted.

    labels has the shape of logits without ``axis``; reduction is "mean"
    (default), "sum" or "none" (one loss per sample, shaped like labels).
    Out-of-range labels raise ValueError.  The loss is accumulated in float64
    and returned in the logits' result dtype.
    """
    fast = _ce_fast(logits, labels, axis, reduction)
    if fast is not None:
        rows, lab, T = fast
        loss = np.empty(lab.shape[0], np.float64)
        fwd = _ce_direct(T)[0]
        e = fwd.entry  # (_Direct's fast path written out, as in _rows_fast)
        total = e(rows, lab, loss) if e is not None and rows.size < fwd.t else fwd(rows.size, rows, lab, loss)
        return rows.dtype.type(total / lab.shape[0] if reduction == "mean" else total)
    fname = "softmax_cross_entropy"
    x, T, rdt, ax, rows, lab, shape = _ce_inputs(fname, logits, labels, axis, reduction)
    loss = np.zeros(lab.size, np.float64)
    total = 0.0  # the losses' sum (the kernel's, compensated in row order)
    if rows is not None and rows.size:
        (serial, parallel), _ = _softmax.cross_entropy(T)
        total = run(serial, parallel, rows.size, rows, lab, loss)
    elif lab.size:
        loss[:] = total = np.nan  # no classes: log(0) - undefined
    if reduction == "none":
        return loss.reshape(shape).astype(rdt)
    if reduction == "mean":
        total = total / lab.size if lab.size else np.nan
    return rdt.type(total)


def softmax_cross_entropy_backward(grad, logits, labels, /, axis=-1, *, reduction="mean", out=None):
    """Gradient of softmax_cross_entropy with respect to the logits:
    grad * (softmax(logits) - onehot(labels)), divided by the number of
    samples for reduction="mean".  grad is a scalar for "mean" and "sum", an
    array shaped like labels for "none"."""
    if out is None and (type(grad) is float or type(grad) is int and abs(grad) < 2 ** 53):
        fast = _ce_fast(logits, labels, axis, reduction)
        if fast is not None:
            rows, lab, T = fast
            scale = np.empty(lab.shape[0])
            scale.fill(grad / lab.shape[0] if reduction == "mean" else grad)
            res = np.empty(rows.shape, rows.dtype)
            _ce_direct(T)[1](rows.size, rows, lab, scale, res)
            return res
    fname = "softmax_cross_entropy_backward"
    x, T, rdt, ax, rows, lab, shape = _ce_inputs(fname, logits, labels, axis, reduction)
    g = np.asarray(grad)
    if g.dtype.kind not in "biuf":
        raise TypeError(f"{fname}: unsupported dtype {g.dtype} for grad")
    if reduction == "none":
        try:
            scale = np.ascontiguousarray(np.broadcast_to(g, shape), dtype=np.float64).reshape(-1)
        except ValueError:
            raise ValueError(f"{fname}: grad of shape {g.shape} does not broadcast to {shape}") from None
    else:
        if g.size != 1:
            raise ValueError(f"{fname}: grad must be a scalar for reduction={reduction!r}, got shape {g.shape}")
        value = float(g.reshape(())) / (lab.size if reduction == "mean" and lab.size else 1)
        scale = np.empty(lab.size)
        scale.fill(value)
    res = _result(x.shape, rdt, None, out, fname)
    if rows is None or not rows.size:
        return res
    _, (serial, parallel) = _softmax.cross_entropy(T)
    moved_res = res if ax == res.ndim - 1 else np.moveaxis(res, ax, -1)
    if moved_res.flags.c_contiguous and res.dtype == T and (out is None or not _aliased(x, res)):
        run(serial, parallel, rows.size, rows, lab, scale, moved_res.reshape(rows.shape))
    else:
        tmp = np.empty(rows.shape, T)
        run(serial, parallel, rows.size, rows, lab, scale, tmp)
        moved_res[...] = tmp.reshape(moved_res.shape)
    return res


# ---------------------------------------------------------------------------
# PReLU


def _prelu_layout(arr, weight, axis, fname):
    """Validated weight (compute dtype, 1-D) and (outer, C, inner)."""
    w = _asarray(weight, fname, "weight")
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{fname}: unsupported dtype {w.dtype} for weight; expected a real array")
    if w.size == 0:
        raise ValueError(f"{fname}: weight is empty; expected 1 entry or one per channel")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{fname}: weight must be finite")
    if w.size == 1:
        return w, (1, 1, arr.size)
    if arr.ndim < 2:
        raise ValueError(
            f"{fname}: weight has {w.size} entries, but a {arr.ndim}-d input has no channel axis; "
            f"pass a single weight"
        )
    (ax,) = _axes(axis, arr.ndim, fname)
    C = arr.shape[ax]
    if w.size != C:
        raise ValueError(f"{fname}: weight has {w.size} entries; expected 1 or {C} (the size of axis {axis})")
    outer, inner = _outer_inner(arr.shape, ax)
    return w, (outer, C, inner)


def _prelu_2d(n_out, C, inner):
    """('cols', (outer, C)) or ('rows', (outer * C, inner)); weight size 1 as rows of BLOCK."""
    if C == 1:
        return "rows", None
    if inner == 1:
        return "cols", (n_out, C)
    return "rows", (n_out * C, inner)


def _split_single(flat):
    """A flat array as (rows of BLOCK, remainder) 2-D views, for weight size 1."""
    b = _kernels.BLOCK
    n = flat.shape[0] // b * b
    parts = []
    if n:
        parts.append((0, n, flat[:n].reshape(-1, b)))
    if n < flat.shape[0]:
        parts.append((n, flat.shape[0], flat[n:].reshape(1, -1)))
    return parts


def _prelu_forward(T, n, outer, C, inner, src, wT, dst, inplace=None):
    """Run PReLU's forward kernel: flat src, dst of n elements.  inplace:
    whether dst is src (None: compare their data pointers)."""
    k = _kernels.prelu(T)
    kind, shape2 = _prelu_2d(outer, C, inner)
    if inplace is None:
        inplace = _data(src) == _data(dst)  # then kernels that write over x (see _map)
    if shape2 is None:
        for (lo, hi, view), (_, _, oview) in zip(_split_single(src), _split_single(dst)):
            if inplace:
                run(*k["fwd_rows_ip"], hi - lo, view, wT)
            else:
                run(*k["fwd_rows"], hi - lo, view, wT, oview)
    elif kind == "cols" and inplace:
        run(*k["fwd_cols_ip"], n, src.reshape(shape2), wT)
    elif kind == "cols":
        run(*k["fwd_cols"], n, src.reshape(shape2), wT, dst.reshape(shape2))
    elif inplace:
        run(*k["fwd_rows_ip"], n, src.reshape(shape2), wT)
    else:
        run(*k["fwd_rows"], n, src.reshape(shape2), wT, dst.reshape(shape2))


def _prelu_backward(T, n, outer, C, inner, g, x, wT, dst):
    """Run PReLU's backward kernel on flat g, x, dst; returns the weight
    gradient's sums (float64, one per weight)."""
    k = _kernels.prelu(T)
    kind, shape2 = _prelu_2d(outer, C, inner)
    if shape2 is None:
        parts = []
        for (lo, hi, gv), (_, _, xv), (_, _, ov) in zip(*(_split_single(a) for a in (g, x, dst))):
            part = np.empty(gv.shape[0], np.float64)
            run(*k["bwd_rows"], hi - lo, gv, xv, wT, ov, part)
            parts.append(part)
        return np.concatenate(parts).sum()
    if kind == "rows":
        part = np.empty(shape2[0], np.float64)
        run(*k["bwd_rows"], n, g.reshape(shape2), x.reshape(shape2), wT, dst.reshape(shape2), part)
        return part.reshape(outer, C).sum(axis=0)
    nb = -(-outer // _kernels.PRELU_BLOCK)
    part = np.empty((nb, C), np.float64)
    run(*k["bwd_cols"], n, g.reshape(shape2), x.reshape(shape2), wT, dst.reshape(shape2), part)
    return part.sum(axis=0)


def _prelu_fast(x, weight, axis):
    """(outer, C, inner) when x and weight take PReLU's fast path: C-contiguous
    float32/float64 x of 2 or more dimensions, a C-contiguous weight of x's
    dtype with one entry per channel of axis 1, finite; else None."""
    if type(x) is not np.ndarray or type(weight) is not np.ndarray or type(axis) is not int or axis != 1:
        return None
    d = x.dtype
    if (d is not _F32 and d is not _F64) or weight.dtype is not d or x.ndim < 2 or weight.ndim != 1:
        return None
    C = x.shape[1]
    if weight.shape[0] != C or C < 2 or not x.size or not x.flags.c_contiguous or not weight.flags.c_contiguous:
        return None
    if not _kernels.all_finite(weight):
        return None  # the general path says what is wrong
    outer = x.shape[0]
    return outer, C, x.size // (outer * C)


def _c_aligned(a):
    f = a.flags
    return f.c_contiguous and f.aligned


class _PreluEntry(_Switch):
    """Direct entry points of PReLU's kernels, as _Kernel's for the
    elementwise functions; off while a config() block is active.

    f32, f64: the dense-layer case, (N, C) C-contiguous x with one weight per
    column: (forward, backward, all_finite) of the serial cols kernels.
    p32, p64: [forward, backward] of the parallel cols kernels, each set once
    that kernel has run through the general path (then the threading layer
    is known: the workqueue layer, which cannot run two parallel regions at
    once, never takes them).
    one32, one64: a single weight's backward on at most one BLOCK of
    elements, the rows kernel on one row, as the general path also runs them
    (so both give the same grad_weight bit for bit)."""

    __slots__ = ("f32", "f64", "p32", "p64", "one32", "one64")

    def __init__(self):
        self.f32 = self.f64 = self.one32 = self.one64 = None
        self.p32, self.p64 = [None, None], [None, None]
        super().__init__()

    def _arrays(self, T):
        return tuple(numba.types.Array(numba.from_dtype(np.dtype(T)), nd, "C") for nd in (1, 2))

    def _cols_signatures(self, T):
        a1, a2 = self._arrays(T)
        return (a2, a1, a2), (a2, a2, a1, a2, numba.types.Array(numba.float64, 2, "C"))

    def enable(self, T):
        a1, _ = self._arrays(T)
        k = _kernels.prelu(T)
        fwd, bwd = self._cols_signatures(T)
        entries = (k["fwd_cols"][0].compile(fwd), k["bwd_cols"][0].compile(bwd), _kernels.all_finite.compile((a1,)))
        setattr(self, "f32" if T is np.float32 else "f64", entries)

    def enable_parallel(self, T, which):
        """After the general path ran a cols kernel (which: 0 forward, 1
        backward) at a parallel size, outside any config() block."""
        slots = self.p32 if T is np.float32 else self.p64
        if slots[which] is not None or _jit._active or _jit._layer in (None, "workqueue"):
            return
        kernel = _kernels.prelu(T)["bwd_cols" if which else "fwd_cols"][1]
        if kernel.signatures:
            slots[which] = kernel.compile(self._cols_signatures(T)[which])

    def enable_one(self, T):
        a1, a2 = self._arrays(T)
        part = numba.types.Array(numba.float64, 1, "C")
        entry = _kernels.prelu(T)["bwd_rows"][0].compile((a2, a2, a1, a2, part))
        setattr(self, "one32" if T is np.float32 else "one64", entry)


_prelu_entry = _PreluEntry()


def _prelu_cols_entry(x, weight, axis, which):
    """The entry point of the cols kernel (which: 0 forward, 1 backward),
    serial or parallel by size, when prelu(x, weight) is the dense-layer
    case (x and weight ndarrays): (N, C) C-contiguous aligned float32 or
    float64 x, a finite weight of x's dtype per column (C > 1), axis 1; else
    None."""
    d = x.dtype
    e = _prelu_entry.f32 if d is _F32 else _prelu_entry.f64 if d is _F64 else None
    if e is None or x.ndim != 2 or weight.dtype is not d or type(axis) is not int or axis != 1 \
            or weight.ndim != 1 or weight.shape[0] != x.shape[1] or x.shape[1] < 2 \
            or not _c_aligned(x) or not _c_aligned(weight):
        return None
    if x.size < _prelu_entry.t:
        k = e[which]
    elif _jit._active == 0:
        k = (_prelu_entry.p32 if d is _F32 else _prelu_entry.p64)[which]
    else:
        return None
    return k if k is not None and e[2](weight) else None


# PReLU with a single weight (PyTorch's default, nn.PReLU()) is leaky_relu
# with that weight as the slope: the same formula, x if x > 0 else w x.  Its
# forward takes leaky_relu's fast path, and its backward up to one BLOCK
# calls the rows kernel's entry point on one row.  Measured on a 256-element
# float32 array: the general path took about 15 us forward and 25 us backward
# validating and laying it out, torch.nn.functional.prelu 2 us forward.


def _prelu_slope(x, weight):
    """The single weight as a Python float when prelu(x, weight) can take
    the fast path: x a non-empty C-contiguous float32 or float64 ndarray of
    one dimension or more, weight one finite entry of x's dtype, aligned;
    else None."""
    d = x.dtype
    if (d is not _F32 and d is not _F64) or weight.dtype is not d or weight.size != 1 or not x.ndim \
            or not x.size:
        return None
    f = x.flags
    if not (f.c_contiguous and f.aligned and weight.flags.aligned):
        return None
    w = weight.item()  # a Python float, exact: weight has x's dtype
    return w if math.isfinite(w) else None


def _prelu_one_backward(grad, x, weight):
    """prelu_backward's fast path for a single weight, or None where it does
    not apply (see _prelu_slope; grad like x)."""
    if grad.dtype is not x.dtype or grad.shape != x.shape or not _c_aligned(grad) \
            or _prelu_slope(x, weight) is None:
        return None
    d = x.dtype
    T = np.float32 if d is _F32 else np.float64
    n = x.size
    r = np.empty(x.shape, d)
    e = _prelu_entry.one32 if d is _F32 else _prelu_entry.one64
    if e is not None and n <= _kernels.BLOCK and n < _prelu_entry.t:
        part = np.empty(1, np.float64)
        e(grad.reshape(1, n), x.reshape(1, n), weight.reshape(1), r.reshape(1, n), part)
        gw = part.astype(d)  # rounded once, as in the general path
    else:
        gw = np.array([_prelu_backward(T, n, 1, 1, n, grad.reshape(-1), x.reshape(-1), weight.reshape(-1),
                                       r.reshape(-1))]).astype(d)
        if e is None and n <= _kernels.BLOCK and _jit._active == 0:
            _prelu_entry.enable_one(T)
    return r, (gw if weight.ndim == 1 else gw.reshape(weight.shape)[()])


def prelu(x, weight, /, *, axis=1, out=None):
    """Parametric ReLU: x for x > 0, weight[c] * x for x <= 0.

    weight has one entry, or one per channel along ``axis`` (PyTorch's
    convention: channel axis 1; a 1-D input has no channel axis and takes a
    single weight).
    """
    # (an out that is not valid goes to the general path, whose errors name prelu)
    if type(x) is np.ndarray and type(weight) is np.ndarray \
            and (out is None or type(out) is np.ndarray and _out_ok(out, x, x.dtype)):
        if weight.size == 1:
            slope = _prelu_slope(x, weight)
            if slope is not None:
                return leaky_relu(x, slope, out=out)
        elif out is None or not (np.may_share_memory(x, out) or np.may_share_memory(weight, out)):
            k = _prelu_cols_entry(x, weight, axis, 0)
            if k is not None:
                r = np.empty(x.shape, x.dtype) if out is None else out
                k(x, weight, r)
                return r
    if out is None:
        layout = _prelu_fast(x, weight, axis)
        if layout is not None:
            T = _DTYPES[x.dtype][0]
            res = np.empty(x.shape, x.dtype)
            _prelu_forward(T, x.size, *layout, x.reshape(-1), weight, res.reshape(-1), False)
            if (_prelu_entry.f32 if T is np.float32 else _prelu_entry.f64) is None:
                _prelu_entry.enable(T)
            if x.ndim == 2 and x.size >= _prelu_entry.t:
                _prelu_entry.enable_parallel(T, 0)
            return res
    fname = "prelu"
    arr = _asarray(x, fname)
    T, rdt = _dtypes(arr.dtype, fname)
    w, (outer, C, inner) = _prelu_layout(arr, weight, axis, fname)
    res = _result(arr.shape, rdt, None, out, fname)
    if arr.size == 0:
        return _finish(res, out)
    wT = np.ascontiguousarray(w, dtype=T).reshape(-1)
    direct = arr.dtype == T and arr.flags.c_contiguous and res.flags.c_contiguous and res.dtype == T \
        and not _aliased(arr, res)
    src = arr.reshape(-1) if direct else np.ascontiguousarray(arr, dtype=T).reshape(-1)
    dst = res.reshape(-1) if direct else np.empty(arr.size, T)
    _prelu_forward(T, arr.size, outer, C, inner, src, wT, dst)
    if not direct:
        res[...] = dst.reshape(arr.shape)
    return _finish(res, out)


def prelu_backward(grad, x, weight, /, *, axis=1, out=None):
    """(grad_x, grad_weight) of prelu.  grad_weight has weight's shape and sums
    x * grad over x <= 0 and over every axis but the channel axis (in float64,
    rounded once).  out: an array for grad_x, or a tuple (grad_x, grad_weight)."""
    if out is None and type(grad) is np.ndarray and type(x) is np.ndarray and grad.dtype is x.dtype \
            and grad.shape == x.shape and grad.flags.c_contiguous:
        if type(weight) is np.ndarray and weight.size == 1:
            res = _prelu_one_backward(grad, x, weight)
            if res is not None:
                return res
        k = _prelu_cols_entry(x, weight, axis, 1) if type(weight) is np.ndarray and _c_aligned(grad) else None
        if k is not None:
            r = np.empty(x.shape, x.dtype)
            part = np.empty((-(-x.shape[0] // _kernels.PRELU_BLOCK), x.shape[1]), np.float64)
            k(grad, x, weight, r, part)
            return r, part.sum(axis=0).astype(x.dtype)
        layout = _prelu_fast(x, weight, axis)
        if layout is not None:
            T = _DTYPES[x.dtype][0]
            res = np.empty(x.shape, x.dtype)
            total = _prelu_backward(T, x.size, *layout, grad.reshape(-1), x.reshape(-1), weight, res.reshape(-1))
            if x.ndim == 2 and x.size >= _prelu_entry.t:
                _prelu_entry.enable_parallel(T, 1)
            return res, total.astype(x.dtype)
    fname = "prelu_backward"
    xa = _asarray(x, fname)
    g = _asarray(grad, fname, "grad")
    _dtypes(xa.dtype, fname)
    _dtypes(g.dtype, fname)
    T, rdt = _dtypes(np.result_type(xa.dtype, g.dtype), fname)
    w, (outer, C, inner) = _prelu_layout(xa, weight, axis, fname)
    if g.shape != xa.shape:
        try:
            g = np.broadcast_to(g, xa.shape)
        except ValueError:
            raise ValueError(f"{fname}: grad of shape {g.shape} does not broadcast to x's shape {xa.shape}") from None
    if isinstance(out, tuple) and len(out) != 2:
        raise ValueError(f"{fname}: out must be an array or a tuple (grad_x, grad_weight)")
    out_x, out_w = (out if isinstance(out, tuple) else (out, None))
    gw_shape = np.shape(weight)
    if out_x is not None:
        _check_out(out_x, xa.shape, rdt, fname, "out (grad_x)")
    if out_w is not None:
        _check_out(out_w, gw_shape, rdt, fname, "out (grad_weight)")
    res = out_x if out_x is not None else np.empty(xa.shape, rdt)
    gw = out_w if out_w is not None else np.empty(gw_shape, rdt)
    if xa.size == 0:
        gw[...] = 0
        return _finish(res, out_x), _finish(gw, out_w)
    wT = np.ascontiguousarray(w, dtype=T).reshape(-1)
    srcs = []
    for a in (g, xa):
        if _aliased(a, res):  # out overlaps this input: read from a copy
            a = np.array(a, dtype=T, order="C")
        srcs.append(np.ascontiguousarray(a, dtype=T).reshape(-1))
    direct = res.flags.c_contiguous and res.dtype == T
    dst = res.reshape(-1) if direct else np.empty(xa.size, T)
    total = _prelu_backward(T, xa.size, outer, C, inner, srcs[0], srcs[1], wT, dst)
    if not direct:
        res[...] = dst.reshape(xa.shape)
    gw[...] = np.reshape(total, gw_shape)
    return _finish(res, out_x), _finish(gw, out_w)


__all__ = sorted(
    [n for n in _generated]
    + ["rrelu", "rrelu_backward", "softmax", "log_softmax", "softmax_backward",
       "log_softmax_backward", "softmin", "softmin_backward", "prelu", "prelu_backward", "softmax_cross_entropy",
       "softmax_cross_entropy_backward"]
)

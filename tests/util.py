"""Shared helpers of the core test suite (tests/test_core_*.py).

Everything here is driven by ``fastact.ACTIVATIONS``: ``OPS`` holds one
``Op`` per table entry (and per ``test_params`` set in ``OPS_ALL``), ``FNS``
one ``Fn`` per public function (every forward and every backward).  A new
activation added to the table is picked up by every test automatically.

The kind-specific glue (prelu passes its weight positionally, the softmax
family takes an axis, prelu_backward returns a pair) lives in ``Op``; there
is no per-name code.

Input data comes from ONE generator, ``values`` (backed by ``sweep``, the
wide sample of the whole floating-point range), and ONE layout generator,
``in_layout``.
"""
import contextlib
import functools
import math
import warnings

import mpmath
import numpy as np
import pytest

import fastact as fa
from fastact import reference as ref
from fastact._kernels import BLOCK
from fastact._registry import ACTIVATIONS, REQUIRED
from fastact._softmax import LONG_BLOCK, LONG_ROW
from fastact.testing import EXACT_BITS, HP, from_hp, to_hp, ulp_error  # noqa: F401

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
FLOATS = (F16, F32, F64)
LD = np.longdouble
# The accuracy requirement, in ulp of the result dtype.
ULP_BOUND = {F32: 4.0, F64: 8.0}
# Tolerance when comparing with the reference computed in the same dtype (two
# independent computations, each a few ulp from the exact result).
RTOL = {F16: 2e-3, F32: 2e-6, F64: 1e-14}

SHAPES = [(), (7,), (5, 6), (2, 3, 4, 5), (0,), (3, 0, 2)]
LAYOUTS = ("contiguous", "strided", "fortran", "reversed", "swapped")
# An odd size spanning several parallel blocks, above the parallel threshold.
BIG = 5 * BLOCK + 13

SENTINEL = -7.25  # exactly representable in every float dtype



def rule(dtype):
    """(compute dtype, result dtype) of an input dtype, as the issue states:
    float32/float64 as is, float16 computed in float32 and returned float16,
    bool and integers in float64."""
    dt = np.dtype(dtype)
    if dt == F16:
        return F32, F16
    if dt in (F32, F64):
        return dt, dt
    if dt.kind in "biu":
        return F64, F64
    raise TypeError(dt)


# ---------------------------------------------------------------------------
# Operations from the table


class Op:
    """One entry of ACTIVATIONS with one parameter set (and, for the kinds
    that have one, an axis).  Calls fastact and fastact.reference the same way."""

    def __init__(self, entry, params=None, axis=None):
        self.entry = entry
        self.name = entry.name
        self.kind = entry.kind
        self.params = dict(entry.params if params is None else params)
        self.axis = axis
        self.uses = entry.backward_uses

    def with_(self, params=None, axis=None):
        return Op(self.entry, {**self.params, **(params or {})}, self.axis if axis is None else axis)

    @property
    def id(self):
        parts = [f"{k}={v}" for k, v in self.params.items() if self.entry.params.get(k) != v
                 and (self.entry.params.get(k) is not REQUIRED or self.params != param_sets(self.entry)[0])]
        if self.axis is not None:
            parts.append(f"axis={self.axis}")
        return self.name + ("[" + ",".join(parts) + "]" if parts else "")

    __repr__ = lambda self: f"Op({self.id})"  # noqa: E731

    # prelu's weight is positional-only; every other parameter is a keyword
    def _args(self):
        return (self.params["weight"],) if self.kind == "prelu" else ()

    def _kwargs(self):
        kw = {} if self.kind == "prelu" else dict(self.params)
        if self.axis is not None:
            kw["axis"] = self.axis
        return kw

    def forward(self, x, out=None):
        return getattr(fa, self.name)(x, *self._args(), **self._kwargs(), out=out)

    def backward(self, g, v, out=None):
        """Raw result of the backward (prelu_backward's is a pair)."""
        return getattr(fa, self.entry.backward_name)(g, v, *self._args(), **self._kwargs(), out=out)

    def grad_x(self, raw):
        return raw[0] if self.kind == "prelu" else raw

    def ref_forward(self, x):
        with np.errstate(all="ignore"):
            return getattr(ref, self.name)(x, *self._args(), **self._kwargs())

    def ref_backward(self, g, v):
        with np.errstate(all="ignore"):
            r = getattr(ref, self.entry.backward_name)(g, v, *self._args(), **self._kwargs())
        return r[0] if self.kind == "prelu" else r

    # The softmax kind's orientation, read off the reference: sign is +1
    # when the largest input gets the largest output (softmax, log_softmax)
    # and -1 when the smallest does (softmin); logspace when it returns
    # log-probabilities.
    @property
    def sign(self):
        y = np.asarray(getattr(ref, self.name)(np.array([0.0, 1.0])))
        return 1.0 if y[1] > y[0] else -1.0

    @property
    def logspace(self):
        return bool(np.asarray(getattr(ref, self.name)(np.array([0.0, 0.0])))[0] < 0)

    def backward_input(self, x):
        """What the backward takes besides grad: x itself, or the forward's
        output y (the reference's, rounded to x's dtype)."""
        if self.uses == "x":
            return x
        ct, _ = rule(x.dtype)
        return np.asarray(self.ref_forward(x.astype(ct))).astype(x.dtype)

    def exact_forward(self, x):
        """The forward in high precision from the same float inputs: the
        reference in long double, or mpmath for the entries of MP_EXACT."""
        if self.name in MP_EXACT:
            return mp_exact(MP_EXACT[self.name][0], self.params, x)
        return np.asarray(self.ref_forward(np.asarray(x).astype(LD)), dtype=LD)

    def exact_backward(self, g, v):
        """The backward in high precision from the SAME float inputs.  The
        softmax family's backward formulas cancel, so they are evaluated in
        mpmath with EXACT_BITS: enough for a sum of float64 products from the
        smallest subnormal to the largest finite value to be exact; the
        entries of MP_EXACT in mpmath from their formulas; the others in long
        double."""
        if self.name in MP_EXACT:
            g, v = np.broadcast_arrays(np.asarray(g), np.asarray(v))
            return np.asarray(g, LD) * mp_exact(MP_EXACT[self.name][1], self.params, v)
        if self.kind == "softmax":
            with mpmath.workprec(EXACT_BITS):
                return from_hp(self.ref_backward(to_hp(g), to_hp(v)))
        return np.asarray(self.ref_backward(g.astype(LD), v.astype(LD)), dtype=LD)


def param_sets(entry):
    """The defaults (unless a parameter is required: no default) and every
    test_params set of a table entry."""
    sets = [dict(entry.params)] + [{**entry.params, **tp} for tp in entry.test_params]
    return [p for p in sets if not any(v is REQUIRED for v in p.values())]


def check_params(entry, p):
    """The table's own validation of a parameter set: None or a message."""
    return entry.validate(p) if entry.validate is not None else None


OPS = [Op(e, param_sets(e)[0]) for e in ACTIVATIONS.values()]
OPS_ALL = [Op(e, p) for e in ACTIVATIONS.values() for p in param_sets(e)]
KINDS = sorted({op.kind for op in OPS})


class Fn:
    """One public function: the forward or the backward of an Op."""

    def __init__(self, op, direction):
        assert direction in ("forward", "backward")
        self.op = op
        self.direction = direction
        self.backward = direction == "backward"
        self.name = op.entry.backward_name if self.backward else op.name
        self.nargs = 2 if self.backward else 1

    @property
    def id(self):
        return self.op.id.replace(self.op.name, self.name, 1)

    __repr__ = lambda self: f"Fn({self.id})"  # noqa: E731

    def inputs(self, shape, dtype, rng, spread="moderate"):
        """Input arrays (x,) or (grad, x-or-y) of a shape and dtype."""
        x = values(shape, dtype, rng, spread)
        if not self.backward:
            return (x,)
        g = grads(shape, dtype, rng, "accuracy" if spread == "wide" else "moderate")
        return (g, self.op.backward_input(x))

    def __call__(self, *arrays, out=None):
        if self.backward:
            return self.op.backward(*arrays, out=out)
        return self.op.forward(*arrays, out=out)

    def result(self, raw):
        """The array result of a raw return value."""
        return self.op.grad_x(raw) if self.backward else raw

    def out_dtype(self, *arrays):
        return rule(np.result_type(*[np.asarray(a).dtype for a in arrays]))[1]

    def expected(self, *arrays):
        """The reference, computed in the dtype the issue prescribes and
        returned in the result dtype."""
        ct, rdt = rule(np.result_type(*[np.asarray(a).dtype for a in arrays]))
        args = [np.asarray(a).astype(ct) for a in arrays]
        r = self.op.ref_backward(*args) if self.backward else self.op.ref_forward(*args)
        with np.errstate(all="ignore"):
            return np.asarray(r).astype(rdt)

    def exact(self, *arrays):
        """High-precision value from the same float inputs."""
        if self.backward:
            return self.op.exact_backward(*arrays)
        return self.op.exact_forward(arrays[0])

    def accuracy_inputs(self, dtype, rng):
        """List of input tuples covering the whole range of dtype."""
        if self.op.kind != "softmax":
            x = sweep(dtype).copy()
            return [self._with_grad(x, rng)]
        # rows: extremes shuffled together, moderate rows, wide-exponent rows, long rows
        s = sweep(dtype).copy()
        s = s[np.isfinite(s)]
        rng.shuffle(s)
        n = s.size // 8 * 8
        lim = 80.0 if dtype == F32 else 700.0
        xs = [
            s[:n].reshape(-1, 8),
            rng.uniform(-30, 30, (300, 17)).astype(dtype),
            rng.uniform(-lim, lim, (300, 5)).astype(dtype),
            rng.uniform(-5, 5, (4, 1000)).astype(dtype),
            values((200, 6), dtype, rng, "wide"),
            # a row long enough to be taken in blocks, with a partial last block
            rng.uniform(-30, 30, (1, LONG_ROW + LONG_BLOCK // 2 + 7)).astype(dtype),
        ]
        return [self._with_grad(x, rng) for x in xs]

    def _with_grad(self, x, rng):
        if not self.backward:
            return (x,)
        return (grads(x.shape, x.dtype, rng, "accuracy"), self.op.backward_input(x))


FNS = [Fn(op, d) for op in OPS for d in ("forward", "backward")]
FNS_ALL = [Fn(op, d) for op in OPS_ALL for d in ("forward", "backward")]


def params(items):
    """pytest.param list with readable ids."""
    return [pytest.param(i, id=i.id) for i in items]


# ---------------------------------------------------------------------------
# THE data generator


def special_values(dtype):
    """Special and threshold values of a float dtype, with their neighbours."""
    dt = np.dtype(dtype)
    fi = np.finfo(dt)
    base = [0.0, 1.0, 0.5, 2.0, 1e-3, 0.1, 0.25, 3.0, 10.0, 20.0, 40.0, 88.72, 88.73, 89.0, 103.9, 104.0,
            709.78, 709.79, 745.0, 746.0, 0.34657359027997264, 0.6931471805599453,
            float(fi.eps), float(fi.tiny), float(fi.smallest_subnormal), float(fi.max)]
    with np.errstate(all="ignore"):
        b = np.array(base, F64).astype(dt)
        b = b[np.isfinite(b)]
        b = np.concatenate([b, np.nextafter(b, dt.type(np.inf)), np.nextafter(b, dt.type(0))])
        b = np.concatenate([b, -b, np.array([np.inf, -np.inf, np.nan, -0.0], dt)])
    return b.astype(dt)


@functools.lru_cache(maxsize=None)
def sweep(dtype, n_log=1500, n_random=2500, n_uniform=600, n_dense=16384):
    """The wide sample of a float dtype: log-spaced and log-uniform random
    magnitudes from the smallest subnormal to the largest finite value, both
    signs; uniform samples around 0, and n_dense of them in [-10, 10], where
    the activations bend and their formulas cancel; special values.
    Read-only, cached."""
    dt = np.dtype(dtype)
    fi = np.finfo(dt)
    rng = np.random.default_rng(1234 + dt.itemsize)
    lo = math.log10(float(fi.smallest_subnormal))
    hi = math.log10(float(fi.max))
    with np.errstate(all="ignore"):
        mags = np.concatenate([np.logspace(lo, hi, n_log), 10.0 ** rng.uniform(lo, hi, n_random)])
        parts = [mags, -mags]
        for scale in (1e-3, 1.0, 5.0, 30.0, 120.0):
            parts.append(rng.uniform(-scale, scale, n_uniform))
        parts.append(rng.uniform(-10.0, 10.0, n_dense))
        x = np.concatenate(parts).astype(dt)
    x = np.concatenate([x[np.isfinite(x)], special_values(dt)])
    x.flags.writeable = False
    return x


def values(shape, dtype, rng, spread="moderate"):
    """Input values of a shape and dtype.

    spread: "moderate" (uniform in [-6, 6], some +-0.0 exactly), "wide"
    (drawn from ``sweep``: any magnitude, inf, NaN, subnormals) or
    "finite-wide" (the same without inf/NaN).
    """
    dt = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    if dt.kind == "b":
        return np.asarray(rng.random(shape) < 0.5)
    if dt.kind in "iu":
        return np.asarray(rng.integers(0 if dt.kind == "u" else -5, 6, size=shape).astype(dt))
    if spread == "moderate":
        v = rng.uniform(-6, 6, n)
        k = n // 8
        if k:
            idx = rng.choice(n, 2 * k, replace=False)
            v[idx[:k]] = 0.0
            v[idx[k:]] = -0.0
    elif spread in ("wide", "finite-wide"):
        s = sweep(dt)
        if spread == "finite-wide":
            s = s[np.isfinite(s)]
        v = rng.choice(s, n)
    else:
        raise ValueError(spread)
    return np.asarray(v.astype(dt).reshape(shape))


def grads(shape, dtype, rng, spread="moderate"):
    """Upstream gradients: uniform in [-2, 2] ("moderate") or magnitudes
    log-uniform in [1/4, 4] with random signs ("accuracy")."""
    dt = np.dtype(dtype)
    if dt.kind in "biu":
        return values(shape, dt, rng)
    n = int(np.prod(shape, dtype=np.int64))
    if spread == "moderate":
        v = rng.uniform(-2, 2, n)
    else:
        v = 2.0 ** rng.uniform(-2, 2, n) * rng.choice([-1.0, 1.0], n)
    return np.asarray(v.astype(dt).reshape(shape))


def in_layout(a, layout):
    """An array equal to a (same shape, dtype, values) in a memory layout:
    contiguous, strided (every other element of a bigger buffer), fortran,
    reversed (negative strides), swapped (last two axes transposed in memory:
    neither C nor Fortran order for 3+ dimensions)."""
    a = np.asarray(a)
    if layout == "contiguous":
        r = np.array(a, order="C", copy=True)
    elif layout == "strided":
        buf = np.full(tuple(2 * s + 1 for s in a.shape), SENTINEL, a.dtype)
        r = buf[tuple(slice(1, None, 2) for _ in a.shape)] if a.ndim else buf[...]
        r[...] = a
    elif layout == "fortran":
        r = np.array(a, order="F", copy=True)
    elif layout == "reversed":
        r = np.flip(np.flip(a).copy()) if a.ndim else a.copy()
    elif layout == "swapped":
        if a.ndim < 2:
            r = a.copy()
        else:
            r = np.swapaxes(np.swapaxes(a, -1, -2).copy(), -1, -2)
    else:
        raise ValueError(layout)
    assert r.shape == a.shape and r.dtype == a.dtype
    assert np.array_equal(r, a, equal_nan=True)
    return r


def away_from_kinks(shape, rng, kinks, margin, lo=-3.0, hi=3.0):
    """Uniform float64 samples in [lo, hi] at least ``margin`` away from
    every kink (a point, or a (lo, hi) interval)."""
    n = int(np.prod(shape, dtype=np.int64))
    out = []
    while len(out) < n:
        c = rng.uniform(lo, hi, 4 * n + 4)
        ok = np.ones(c.size, bool)
        for k in kinks:
            if np.ndim(k) == 0:
                ok &= np.abs(c - k) > margin
            else:
                ok &= (c < k[0] - margin) | (c > k[1] + margin)
        out.extend(c[ok].tolist())
    return np.array(out[:n]).reshape(shape)


# ---------------------------------------------------------------------------
# Assertions


def assert_bitwise(a, b, what=""):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != {b.dtype}"
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    ua = a.view(f"u{a.dtype.itemsize}")
    ub = b.view(f"u{b.dtype.itemsize}")
    diff = ua != ub
    if np.any(diff):
        i = np.argwhere(diff)[0]
        raise AssertionError(f"{what}: {int(diff.sum())} of {a.size} elements differ bitwise; "
                             f"first at {tuple(i)}: {a[tuple(i)]!r} vs {b[tuple(i)]!r}")


def assert_close(got, want, what="", scale=None):
    """got equals want (the reference in the same dtype): same dtype and
    shape, NaN and inf in the same places, the rest within RTOL (relative to
    each value, or to ``scale``, by default the largest value, for values
    near 0)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, expected {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    rtol = RTOL[got.dtype]
    w = want.astype(F64)
    fin = np.isfinite(w)
    if scale is None:
        scale = float(np.max(np.abs(w[fin]))) if fin.any() else 0.0
    np.testing.assert_allclose(got.astype(F64), w, rtol=rtol, atol=rtol * scale, equal_nan=True, err_msg=what)


def assert_ulp(got, exact, dtype, bound, inputs=(), what=""):
    """ulp error of got against the high-precision exact, at most bound."""
    got = np.asarray(got)
    exact = np.asarray(exact)
    assert got.dtype == np.dtype(dtype), f"{what}: dtype {got.dtype}, expected {dtype}"
    assert got.shape == exact.shape, f"{what}: shape {got.shape} vs {exact.shape}"
    err = ulp_error(got, exact, dtype)
    bad = err > bound
    if np.any(bad):
        w = np.unravel_index(int(np.argmax(err)), err.shape)
        ins = ", ".join(f"{np.asarray(a)[w]!r}" for a in inputs)
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {err.size} results exceed {bound} ulp; worst {float(err[w]):.4g} ulp "
            f"at index {tuple(int(i) for i in w)}: inputs ({ins}) got {got[w]!r}, exact {exact[w]!r}")
    return float(err.max()) if err.size else 0.0


def nan_positions_equal(got, want, what=""):
    got, want = np.asarray(got), np.asarray(want)
    gn, wn = np.isnan(got), np.isnan(want)
    if not np.array_equal(gn, wn):
        i = tuple(np.argwhere(gn != wn)[0])
        raise AssertionError(f"{what}: NaN positions differ; first at {i}: got {got[i]!r}, expected {want[i]!r}")


@contextlib.contextmanager
def no_fp_warnings():
    """Like running under ``python -W error``: any warning (NumPy's
    floating-point warnings under its default error state included) becomes
    an exception."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(divide="warn", over="warn", invalid="warn", under="ignore"):
            yield


def sentinel(shape, dtype):
    return np.full(shape, SENTINEL, dtype)


def unchanged(out):
    return bool(np.all(out == SENTINEL))


def numeric_vjp(f, x, g, h=1e-6):
    """d/dx of sum(g * f(x)) by central differences, one element at a time."""
    x = np.asarray(x, F64)
    res = np.empty_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        res[i] = (np.sum(g * f(xp)) - np.sum(g * f(xm))) / (xp[i] - xm[i])
    return res


# ---------------------------------------------------------------------------
# Exact values from mpmath formulas, for the entries whose tails long double
# cannot evaluate from the reference: gelu's tanh form in float64 has
# exp(2 s) with |2 s| up to 745, whose relative error is the absolute error
# of 2 s (a few ulp of long double times 745 is about an ulp of float64).
# The reference itself is checked against these in test_gelu.py.

MP_BITS = 160


def _gelu_none(x):
    return x / 2 * mpmath.erfc(-x / mpmath.sqrt(2))


def _gelu_none_d(x):
    return mpmath.erfc(-x / mpmath.sqrt(2)) / 2 + x * mpmath.exp(-x * x / 2) / mpmath.sqrt(2 * mpmath.pi)


def _tanh_sig(x):
    k, a = mpmath.mpf(ref.GELU_TANH_K), mpmath.mpf(ref.GELU_TANH_A)
    return 1 / (1 + mpmath.exp(-2 * k * (x + a * x ** 3))), k, a


def _gelu_tanh(x):
    return x * _tanh_sig(x)[0]


def _gelu_tanh_d(x):
    s, k, a = _tanh_sig(x)
    return s + 2 * x * s * (1 - s) * k * (1 + 3 * a * x * x)


def _gelu_pick(none, tanh, limits):
    def f(x, params):
        if abs(x) > 1e4:  # the limits (mpmath's erfc does not take 1e300)
            return mpmath.mpf(limits[x > 0](x))
        return (tanh if params.get("approximate") == "tanh" else none)(x)
    return f


# name -> (forward(x, params), derivative(x, params)), x an mpf
MP_EXACT = {
    "gelu": (_gelu_pick(_gelu_none, _gelu_tanh, (lambda x: 0, lambda x: x)),
             _gelu_pick(_gelu_none_d, _gelu_tanh_d, (lambda x: 0, lambda x: 1))),
}


def mp_exact(f, params, x):
    """f evaluated in mpmath at MP_BITS on every element of x, as long double
    (hi + lo, so that nothing is lost to the conversion)."""
    x = np.asarray(x)
    out = np.empty(x.shape, LD)
    with mpmath.workprec(MP_BITS):
        for idx, v in np.ndenumerate(x):
            v = float(v)
            if math.isnan(v):
                out[idx] = np.nan
                continue
            r = f(mpmath.mpf(v), params)
            out[idx] = mpf_to_ld(r)
    return out


def mpf_to_ld(r):
    """An mpf as the nearest long double (64 significand bits), also where it
    is subnormal or below float64's range."""
    if not mpmath.isfinite(r):
        return LD(float(r))
    if r == 0:
        return LD(0.0)
    m, e = mpmath.frexp(r)  # 0.5 <= |m| < 1
    hi = float(m)
    return np.ldexp(LD(hi) + LD(float(m - hi)), max(int(e), -20000))

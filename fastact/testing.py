"""Helpers for checking fastact against its references: ulp error against a
higher-precision result.  Used by the test suite and by the docs' accuracy
tables (tools/gen_docs.py)."""
import math

import numpy as np

try:  # for the exact (high-precision) evaluation only; a test extra
    import mpmath
except ImportError:  # pragma: no cover
    mpmath = None

# np.longdouble is 80-bit extended on x86-64 Linux: 64 significand bits, 11
# more than float64, enough to measure float64 errors to about 1/1000 ulp.
HIGH = np.longdouble


def ulp_error(got, exact, dtype):
    """|got - exact| in units in the last place of ``dtype`` at ``exact``.

    ``exact`` is a higher-precision array (longdouble).  The ulp of a value is
    the spacing of ``dtype`` at that value rounded to ``dtype`` (the subnormal
    spacing below the normal range).  NaN against NaN and equal infinities
    count 0; NaN against a number or inf against a finite value count inf.
    """
    dtype = np.dtype(dtype)
    got = np.asarray(got)
    exact = np.asarray(exact, dtype=HIGH)
    got, exact = np.broadcast_arrays(got, exact)
    with np.errstate(all="ignore"):
        rounded = exact.astype(dtype)
        spacing = np.spacing(np.abs(rounded)).astype(HIGH)
        tiny = HIGH(np.finfo(dtype).smallest_subnormal)
        spacing = np.where(np.isfinite(spacing), np.maximum(spacing, tiny), HIGH(np.finfo(dtype).max) * HIGH(2.0) ** -np.finfo(dtype).nmant)
        err = np.abs(got.astype(HIGH) - exact) / spacing
        # both NaN, or the same infinity (also when exact overflows dtype)
        same = (np.isnan(got) & np.isnan(exact)) | (np.isinf(got) & (got == rounded))
        err = np.where(same, HIGH(0), err)
        err = np.where(np.isnan(err), HIGH(np.inf), err)
    return err.astype(np.float64)


# Within this distance of a table entry's grad_zeros (inputs where its
# derivative crosses zero through cancellation) a backward's error is
# measured in ulps of |grad| times the largest |derivative| within twice the
# distance: the size of the terms that cancel.
GRAD_ZERO_RADIUS = 0.5


def near_grad_zeros(entry, x):
    """Mask of the inputs x within GRAD_ZERO_RADIUS of the entry's
    grad_zeros, or None where there are none (or the backward takes y)."""
    if not entry.grad_zeros or entry.backward_uses != "x":
        return None
    xf = np.asarray(x, np.float64)
    near = np.zeros(xf.shape, bool)
    for z in entry.grad_zeros:
        near |= np.abs(xf - z) <= GRAD_ZERO_RADIUS
    return near if near.any() else None


def derivative_scale(entry, params, z):
    """The largest |derivative| of the entry's activation (reference, at
    params) within 2 GRAD_ZERO_RADIUS of z."""
    from . import reference

    x = np.linspace(z - 2 * GRAD_ZERO_RADIUS, z + 2 * GRAD_ZERO_RADIUS, 401).astype(HIGH)
    with np.errstate(all="ignore"):
        d = getattr(reference, entry.backward_name)(np.ones_like(x), x, **params)
    return float(np.max(np.abs(np.asarray(d, np.float64))))


def backward_error_near_zeros(entry, params, grad, got, exact, dtype, near):
    """The ulp error of a backward where ``near`` (near_grad_zeros): in
    ulps of |grad| times the derivative's size there."""
    scale = np.abs(np.asarray(grad)[near].astype(HIGH)) * HIGH(max(derivative_scale(entry, params, z)
                                                                   for z in entry.grad_zeros))
    allowed = np.spacing(scale.astype(dtype)).astype(HIGH)
    return (np.abs(np.asarray(got)[near].astype(HIGH) - np.asarray(exact, HIGH)[near]) / allowed).astype(np.float64)


def max_ulp(got, exact, dtype):
    """Largest ulp error and the index where it occurs."""
    err = ulp_error(got, exact, dtype)
    if err.size == 0:
        return 0.0, None
    i = int(np.argmax(err))
    return float(err.reshape(-1)[i]), i


# ---------------------------------------------------------------------------
# High precision (mpmath) numbers that NumPy object arrays can compute with,
# so that the references can be evaluated exactly from the same inputs:
#
#     with mpmath.workprec(EXACT_BITS):
#         exact = from_hp(reference.softmax_backward(to_hp(g), to_hp(y)))

# mpmath precision at which sums of products of float64 values are exact
# (exponents from 2**-2148 to 2**2048, plus carries)
EXACT_BITS = 4300



class HP:
    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v if isinstance(v, mpmath.mpf) else mpmath.mpf(float(v))

    @staticmethod
    def _o(o):
        return o.v if isinstance(o, HP) else mpmath.mpf(float(o))

    def __add__(self, o):
        return HP(self.v + HP._o(o))

    def __radd__(self, o):
        return HP(HP._o(o) + self.v)

    def __sub__(self, o):
        return HP(self.v - HP._o(o))

    def __rsub__(self, o):
        return HP(HP._o(o) - self.v)

    def __mul__(self, o):
        return HP(self.v * HP._o(o))

    def __rmul__(self, o):
        return HP(HP._o(o) * self.v)

    def __truediv__(self, o):
        return HP(self.v / HP._o(o))

    def __rtruediv__(self, o):
        return HP(HP._o(o) / self.v)

    def __neg__(self):
        return HP(-self.v)

    def __pos__(self):
        return self

    def __abs__(self):
        return HP(abs(self.v))

    def __lt__(self, o):
        return self.v < HP._o(o)

    def __le__(self, o):
        return self.v <= HP._o(o)

    def __gt__(self, o):
        return self.v > HP._o(o)

    def __ge__(self, o):
        return self.v >= HP._o(o)

    def __float__(self):
        return float(self.v)

    # Transcendental functions need only a relative accuracy far beyond
    # float64's (400 bits), not the exactness of the sums: computing them at
    # EXACT_BITS would take minutes.
    def _fn(self, f):
        with mpmath.workprec(min(mpmath.mp.prec, 400)):
            return HP(f(self.v))

    def exp(self):
        return self._fn(mpmath.exp)

    def expm1(self):
        return self._fn(mpmath.expm1)

    def log(self):
        return self._fn(mpmath.log)

    def log1p(self):
        return self._fn(mpmath.log1p)

    def tanh(self):
        return self._fn(mpmath.tanh)


def to_hp(a):
    a = np.asarray(a)
    flat = [HP(float(v)) for v in a.reshape(-1)]
    r = np.empty(a.size, object)
    r[:] = flat
    return r.reshape(a.shape)


def from_hp(a):
    """Object array of HP (or numbers) -> long double, as hi + lo."""
    a = np.asarray(a, dtype=object)
    out = np.empty(a.shape, HIGH)
    for idx, h in np.ndenumerate(a):
        v = h.v if isinstance(h, HP) else mpmath.mpf(float(h))
        hi = float(v)
        if math.isfinite(hi):
            out[idx] = HIGH(hi) + HIGH(float(v - hi))
        else:
            out[idx] = HIGH(hi)
    return out

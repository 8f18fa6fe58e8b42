"""Accuracy and floating-point semantics.

ulp error of every forward and backward against the reference evaluated in
higher precision from the same inputs (long double; 320-bit mpmath for the
softmax family's backward, whose formulas cancel), over the wide sample of
the whole range: float32 <= 4 ulp, float64 <= 8 ulp.  NaN propagation,
infinities, large and tiny arguments, and the scalar math functions of
fastact._math directly.
"""
import functools

import mpmath
import numpy as np
import pytest
from numba import njit

import fastact as fa
from fastact._math import MATH
from fastact.testing import GRAD_ZERO_RADIUS, near_grad_zeros, ulp_error
from util import (F32, F64, FLOATS, FNS_ALL, LD, Fn, MP_EXACT, OPS_ALL, ULP_BOUND, assert_ulp, mp_exact, mpf_to_ld,
                  nan_positions_equal, no_fp_warnings, params, rule, sweep, values)


# Within GRAD_ZERO_RADIUS of one of an entry's grad_zeros (inputs where the
# derivative crosses zero through cancellation), the table says the backward's
# error is small against its terms, not relative to the result: there the
# error is measured in ulp of |grad| * (the largest |derivative| within twice
# that distance: a proxy for the size of the terms that cancel).


@functools.lru_cache(maxsize=None)
def _derivative_scale(fn, z):
    """max |f'| on [z - 2r, z + 2r], from the high-precision reference."""
    x = np.linspace(z - 2 * GRAD_ZERO_RADIUS, z + 2 * GRAD_ZERO_RADIUS, 401)
    return float(np.max(np.abs(fn.exact(np.ones_like(x), x))))


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("fn", params(FNS_ALL))
def test_ulp_accuracy_whole_range(fn, dtype, rng):
    zeros = fn.op.entry.grad_zeros if fn.backward else ()
    if zeros:
        assert fn.op.uses == "x", "grad_zeros are inputs x: the backward must take x"
    failures = []
    for inputs in fn.accuracy_inputs(dtype, rng):
        got = fn.result(fn(*inputs))
        exact = fn.exact(*inputs)
        near = near_grad_zeros(fn.op.entry, inputs[1]) if zeros else None
        near = np.zeros(got.shape, bool) if near is None else near
        far = ~near
        try:
            assert_ulp(got[far], exact[far], dtype, ULP_BOUND[dtype], [a[far] for a in inputs], f"{fn.id} {dtype}")
        except AssertionError as exc:
            failures.append(str(exc))
        if near.any():
            g = inputs[0][near].astype(F64)
            scale = np.abs(g) * max(_derivative_scale(fn, z) for z in zeros)
            allowed = ULP_BOUND[dtype] * np.spacing(scale.astype(dtype)).astype(LD)
            err = np.abs(got[near].astype(LD) - exact[near])
            i = int(np.argmax(err / allowed))
            if not np.all(err <= allowed):
                failures.append(
                    f"{fn.id} {dtype} near its grad_zeros {zeros}: {int((err > allowed).sum())} errors too big; "
                    f"worst {float(err[i]):.3g} > {float(allowed[i]):.3g} at x={inputs[1][near][i]!r}, "
                    f"grad={g[i]!r}: got {got[near][i]!r}, exact {exact[near][i]!r}")
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------------------
# NaN and infinities


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("fn", params([f for f in FNS_ALL if not f.backward]))
def test_nan_propagates_through_every_forward(fn, dtype, rng):
    x = values((6, 7), dtype, rng)
    nan_at = rng.random((6, 7)) < 0.2
    nan_at[0, 0] = True
    x[nan_at] = np.nan
    with no_fp_warnings():
        y = fn(x)
    assert np.all(np.isnan(y[nan_at])), f"{fn.name}: NaN did not propagate"
    nan_positions_equal(y, fn.expected(x), fn.name)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("fn", params([f for f in FNS_ALL if f.backward]))
def test_nan_in_backward_follows_reference(fn, dtype, rng):
    for k in range(2):
        g, v = fn.inputs((6, 7), dtype, rng)
        args = [g, v]
        args[k] = args[k].copy()
        args[k][rng.random((6, 7)) < 0.2] = np.nan
        with no_fp_warnings():
            r = fn.result(fn(*args))
        nan_positions_equal(r, fn.expected(*args), f"{fn.name} with NaN in argument {k}")


SPECIALS = [np.inf, -np.inf, 0.0, -0.0]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("fn", params([f for f in FNS_ALL if f.op.kind != "softmax"]))
def test_infinities_and_zeros_elementwise(fn, dtype, rng):
    """+-inf and +-0 give the exact limits (the reference evaluated in long
    double, rounded), with no warning and, in a forward, no NaN."""
    x = np.array(SPECIALS * 2, dtype)
    if fn.backward:
        g = np.array([1.5] * 4 + [-0.5] * 4, dtype)
        args = (g, fn.op.backward_input(x))
    else:
        args = (x,)
    with no_fp_warnings():
        r = fn.result(fn(*args))
    assert r.dtype == dtype
    if not fn.backward:
        assert not np.any(np.isnan(r)), f"{fn.name}{x} = {r}"
    ct, _ = rule(dtype)
    exact = fn.exact(*[a.astype(ct) for a in args])
    err = ulp_error(r, exact, dtype)
    assert np.all(err <= 1), f"{fn.name}{args}: got {r}, exact {exact}"


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("op", params([o for o in OPS_ALL if o.name == "gelu"]))
def test_gelu_backward_extreme_gradients(op, dtype):
    """grad = +-inf, near the largest finite value, or +-0: the product with
    gelu' (finite and nonzero on the points) is the exact one rounded, an
    infinity where it overflows, and a zero of the product's sign; never a
    NaN from the kernel's split of the product.  Next to gelu's zero
    (grad_zeros) the error is measured against grad times the derivative's
    scale there, as in test_ulp_accuracy_whole_range."""
    dtype = np.dtype(dtype)
    x = np.concatenate([np.linspace(-9.5, 8.0, 351), [-0.7517915, -0.75179154, 0.7517915, -1e-30, 1e-30]]).astype(dtype)
    fn = Fn(op, "backward")
    big = np.finfo(dtype).max
    for gv in (np.inf, -np.inf, big, -big, big / 8, 1e38, -0.0, 0.0):
        g = np.full(x.shape, gv, dtype)
        with no_fp_warnings():
            got = fn.result(fn(g, x))
        exact = fn.exact(g, x)
        err = ulp_error(got, exact, dtype)
        near = near_grad_zeros(op.entry, x)
        near = np.zeros(x.shape, bool) if near is None else near
        near &= np.isfinite(g) & (g != 0)
        scale = np.abs(g[near].astype(F64)) * max(_derivative_scale(fn, z) for z in op.entry.grad_zeros)
        with np.errstate(all="ignore"):
            err[near] = np.abs(got[near].astype(LD) - exact[near]) / np.spacing(scale.astype(dtype)).astype(LD)
        bad = ~(err <= ULP_BOUND[dtype])
        assert not bad.any(), f"{op.id} grad={gv}: x={x[bad][:4]} got {got[bad][:4]}, exact {exact[bad][:4]}"
        if gv == 0:
            assert np.array_equal(np.signbit(got), np.signbit(exact)), f"{op.id} grad={gv}: zero signs"


# The explicit limits.
LIMITS = {
    "sigmoid": lambda p: {-np.inf: 0.0, np.inf: 1.0},
    "tanh": lambda p: {-np.inf: -1.0, np.inf: 1.0},
    "elu": lambda p: {-np.inf: -p["alpha"], np.inf: np.inf},
    "relu": lambda p: {-np.inf: 0.0, np.inf: np.inf},
    "gelu": lambda p: {-np.inf: 0.0, np.inf: np.inf},
}


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("op", params([o for o in OPS_ALL if o.name in LIMITS]))
def test_explicit_limits(op, dtype):
    for xv, want in LIMITS[op.name](op.params).items():
        with no_fp_warnings():
            got = op.forward(dtype.type(xv))
        assert got == dtype.type(want), f"{op.id}({xv}) = {got!r}, expected {want}"
    with no_fp_warnings():
        assert np.isnan(op.forward(dtype.type(np.nan)))


# Values checked against mpmath (the examples: sigmoid for large |x|,
# tanh and elu near 0).  (name, params, x, exact as an mpmath function)
MP_SPOTS = [
    ("sigmoid", {}, -100.0, lambda x: 1 / (1 + mpmath.exp(-x))),
    ("sigmoid", {}, -700.0, lambda x: 1 / (1 + mpmath.exp(-x))),
    ("sigmoid", {}, -740.0, lambda x: 1 / (1 + mpmath.exp(-x))),
    ("sigmoid", {}, -87.0, lambda x: 1 / (1 + mpmath.exp(-x))),
    ("sigmoid", {}, -103.0, lambda x: 1 / (1 + mpmath.exp(-x))),
    ("sigmoid", {}, 40.0, lambda x: 1 / (1 + mpmath.exp(-x))),
    ("tanh", {}, 1e-10, mpmath.tanh),
    ("tanh", {}, -3e-300, mpmath.tanh),
    ("tanh", {}, 1e-30, mpmath.tanh),
    ("tanh", {}, 2e-4, mpmath.tanh),
    ("tanh", {}, -0.3, mpmath.tanh),
    ("tanh", {}, 1e-42, mpmath.tanh),
    ("elu", {"alpha": 1.0}, -1e-10, lambda x: mpmath.expm1(x)),
    ("elu", {"alpha": 1.0}, -3e-300, lambda x: mpmath.expm1(x)),
    ("elu", {"alpha": 1.0}, -2e-4, lambda x: mpmath.expm1(x)),
    ("elu", {"alpha": 0.5}, -1e-20, lambda x: 0.5 * mpmath.expm1(x)),
    ("elu", {"alpha": 1.0}, -1e-42, lambda x: mpmath.expm1(x)),
    # gelu's tail: tiny, then subnormal results (float32 from -13, float64 from -37.5)
    ("gelu", {}, -5.0, lambda x: x / 2 * mpmath.erfc(-x / mpmath.sqrt(2))),
    ("gelu", {}, -12.5, lambda x: x / 2 * mpmath.erfc(-x / mpmath.sqrt(2))),
    ("gelu", {}, -13.75, lambda x: x / 2 * mpmath.erfc(-x / mpmath.sqrt(2))),
    ("gelu", {}, -30.0, lambda x: x / 2 * mpmath.erfc(-x / mpmath.sqrt(2))),
    ("gelu", {}, -37.9, lambda x: x / 2 * mpmath.erfc(-x / mpmath.sqrt(2))),
    ("gelu", {}, 1e-30, lambda x: x / 2 * mpmath.erfc(-x / mpmath.sqrt(2))),
]


# each spot in the dtypes that can represent its input
SPOT_CASES = [(s, dt) for s in MP_SPOTS for dt in (F32, F64) if dt.type(s[2]) != 0]


@pytest.mark.parametrize("spot, dtype", SPOT_CASES, ids=[f"{s[0]}({s[2]})-{dt}" for s, dt in SPOT_CASES])
def test_against_mpmath(spot, dtype):
    name, p, xv, exact_fn = spot
    x = dtype.type(xv)
    with mpmath.workprec(200):
        exact = exact_fn(mpmath.mpf(float(x)))
        hi = float(exact)
        ex = LD(hi) + LD(float(exact - hi))
    with no_fp_warnings():
        got = getattr(fa, name)(x, **p)
    assert type(got) is dtype.type
    err = float(ulp_error(np.asarray(got), np.asarray(ex), dtype))
    assert err <= ULP_BOUND[dtype], f"{name}({xv}) in {dtype}: {got!r}, exact {exact}, {err:.3g} ulp"
    if dtype == F64 and abs(hi) >= 1e-300:
        assert abs(float(got) - hi) <= 1e-14 * abs(hi), f"{name}({xv}): relative error too big"


def test_sigmoid_minus_100_is_not_zero():
    """The issue's example."""
    y = fa.sigmoid(np.array([-100.0]))
    assert abs(y[0] - 3.720075976020836e-44) <= 1e-14 * 3.72e-44


# ---------------------------------------------------------------------------
# The scalar math functions (fastact._math) directly


@functools.lru_cache(maxsize=None)
def _loop(fname, dtype):
    f = getattr(MATH[np.dtype(dtype).type], fname)

    @njit
    def loop(x, out):
        for i in range(x.shape[0]):
            out[i] = f(x[i])

    return loop


def _math(fname, x):
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    _loop(fname, x.dtype)(x, out)
    return out


MATH_FUNCS = ["exp", "expm1", "log1p", "tanh"]


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("fname", MATH_FUNCS)
def test_math_ulp_whole_range(fname, dtype, rng):
    x = sweep(dtype).copy()
    if fname == "log1p":  # also the whole (-1, 0) and the region near -1
        x = np.concatenate([x, (-1 + np.geomspace(1e-300, 1, 2000)).astype(dtype), -np.geomspace(1e-8, 1, 500).astype(dtype)])
    got = _math(fname, x)
    with np.errstate(all="ignore"):
        exact = getattr(np, fname)(x.astype(LD))
    assert_ulp(got, exact, dtype, ULP_BOUND[dtype], (x,), f"MATH[{dtype}].{fname}")


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_math_log1p_exp_neg(dtype, rng):
    """log1p(exp(-a)) for a >= 0 (softplus and logsigmoid): within 2 ulp
    (measured 1.75 over every float32 a in [0, 104], 1.71 on 7.6 million
    float64 a), densest about its two seams: exp(-a) = sqrt(2) - 1, where it
    takes a factor 2 out, and exp(-a) = 1/2, below which (t - 1) / 2 is
    rounded; and its special values."""
    seams = [-np.log(np.sqrt(2) - 1), np.log(2)]
    a = np.concatenate([np.abs(sweep(dtype)), rng.uniform(0, 4, 20000)] +
                       [s + np.linspace(-1e-3, 1e-3, 2001) for s in seams]).astype(dtype)
    a = a[np.isfinite(a)]
    got = _math("log1p_exp_neg", a)
    exact = np.log1p(np.exp(-a.astype(LD)))
    assert_ulp(got, exact, dtype, 2.0, (a,), f"MATH[{dtype}].log1p_exp_neg")
    # between the seams (exp(-a) in [sqrt(2) - 1, 1/2)) the rounding error of
    # (t - 1) / 2 is put back: within 1.5 ulp there (measured 1.39 / 1.36;
    # left out, 1.77 / 1.74).  Every float32 there, 2^20 float64.
    if dtype == F32:
        a = np.arange(*np.array(seams[::-1], F32).view(np.uint32) + [0, 1], dtype=np.uint32).view(F32)
    else:
        a = rng.uniform(seams[1], seams[0], 1 << 20)
    exact = np.log1p(np.exp(-a.astype(LD)))
    assert_ulp(_math("log1p_exp_neg", a), exact, dtype, 1.5, (a,), f"MATH[{dtype}].log1p_exp_neg")
    fi = np.finfo(dtype)
    special = np.array([0.0, -0.0, np.inf, np.nan, fi.max, 1000.0], dtype)
    got = _math("log1p_exp_neg", special)
    assert got[0] == got[1] == dtype.type(np.log(2)) and got[2] == got[4] == got[5] == 0 and np.isnan(got[3])
    # exp(-a) subnormal: the result is exp(-a) itself, within one subnormal
    # spacing (rounded once, it is within half of one; flushed to zero, off
    # by up to the smallest normal number)
    lo, hi = (88.0, 103.9) if dtype == F32 else (708.5, 744.4)
    deep = np.linspace(lo, hi, 4001).astype(dtype)
    got = _math("log1p_exp_neg", deep)
    tiny = np.finfo(dtype).smallest_subnormal
    assert np.all(np.abs(got.astype(LD) - np.exp(-deep.astype(LD))) <= tiny) and np.all(got > 0)


def _special_cases(dtype):
    dt = np.dtype(dtype)
    fi = np.finfo(dt)
    sub = dt.type(fi.smallest_subnormal)
    big_sub = dt.type(fi.tiny) / dt.type(2)
    inf, nan = dt.type(np.inf), dt.type(np.nan)
    if dt == F32:
        over = [(np.float32(88.72), "finite"), (np.float32(88.73), inf)]
        under = [(np.float32(-104.0), 0.0), (np.float32(-110.0), 0.0), (np.float32(-103.0), "positive")]
    else:
        over = [(709.78, "finite"), (709.79, inf)]
        under = [(-746.0, 0.0), (-800.0, 0.0), (-745.0, "positive")]
    return {
        "exp": [(inf, inf), (-inf, 0.0), (nan, nan), (0.0, 1.0), (-0.0, 1.0), (sub, 1.0), (-sub, 1.0),
                (fi.max, inf), (-fi.max, 0.0)] + over + under,
        "expm1": [(inf, inf), (-inf, -1.0), (nan, nan), (0.0, "+0"), (-0.0, "-0"), (sub, sub), (-sub, -sub),
                  (big_sub, big_sub), (-big_sub, -big_sub), (fi.max, inf), (-fi.max, -1.0), (-1000.0, -1.0)] + over[1:],
        "log1p": [(inf, inf), (-inf, nan), (nan, nan), (0.0, "+0"), (-0.0, "-0"), (sub, sub), (-sub, -sub),
                  (big_sub, big_sub), (-1.0, -inf), (-1.5, nan), (-2.0, nan), (-fi.max, nan), (fi.max, "finite")],
        "tanh": [(inf, 1.0), (-inf, -1.0), (nan, nan), (0.0, "+0"), (-0.0, "-0"), (sub, sub), (-sub, -sub),
                 (big_sub, big_sub), (fi.max, 1.0), (-fi.max, -1.0), (100.0, 1.0), (-100.0, -1.0)],
    }


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("fname", MATH_FUNCS)
def test_math_special_cases(fname, dtype):
    cases = _special_cases(dtype)[fname]
    x = np.array([c[0] for c in cases], dtype)
    got = _math(fname, x)
    for xi, gi, (_, want) in zip(x, got, cases):
        what = f"MATH[{dtype}].{fname}({xi!r}) = {gi!r}, expected {want}"
        if want == "finite":
            assert np.isfinite(gi), what
        elif want == "positive":
            assert gi > 0, what
        elif want in ("+0", "-0"):
            assert gi == 0 and np.signbit(gi) == (want == "-0"), what
        elif np.isnan(want):
            assert np.isnan(gi), what
        else:
            assert gi == dtype.type(want) and np.signbit(gi) == np.signbit(dtype.type(want)), what



# erf and erfc (fastact._math) against mpmath: the sweep of the whole range and
# a dense grid over the range where they are neither 0, 1 nor 2

def _mp_values(f, x):
    out = np.empty(x.shape, LD)
    with mpmath.workprec(160):
        for i, v in enumerate(x.astype(np.float64)):
            if np.isnan(v):
                out[i] = np.nan
                continue
            v = max(min(v, 1e4), -1e4)  # mpmath's erfc does not take 1e300; the value is 0 or 2 there
            out[i] = mpf_to_ld(f(mpmath.mpf(v)))
    return out


# measured worst cases: erf 0.9 / 1.0 ulp, erfc 3.2 / 3.1 ulp (float32 / float64)
ERF_BOUND = {"erf": 1.5, "erfc": 4.0}


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("fname", ["erf", "erfc"])
def test_math_erf_erfc_against_mpmath(fname, dtype):
    lim = 11.0 if dtype == F32 else 28.0
    x = np.concatenate([sweep(dtype), np.linspace(-6, lim, 6001).astype(dtype),
                        np.geomspace(1e-6, 6, 2001).astype(dtype) * dtype.type(-1)])
    got = _math(fname, x)
    exact = _mp_values(getattr(mpmath, fname), x)
    assert_ulp(got, exact, dtype, ERF_BOUND[fname], (x,), f"MATH[{dtype}].{fname}")


def test_math_ncdf_s_against_mpmath(rng):
    """float64 gelu's S(u) = Phi(-u) exp(u**2 / 2), one polynomial in
    4 / (u + 4) with its argument's roundings put back: within 1.5 ulp over
    [0, 40] (measured 1.3), densest where w - 1/2 is rounded (u > 12) and
    where S falls fastest (u < 2)."""
    u = np.concatenate([np.linspace(0, 40, 8001), rng.uniform(12, 40, 4000), rng.uniform(0, 2, 2000),
                        [0.0, 4.0, 12.0, 40.0, np.nextafter(4.0, 0), np.nextafter(12.0, 50)]])
    got = _math("ncdf_s", u)
    exact = _mp_values(lambda v: mpmath.erfc(v / mpmath.sqrt(2)) / 2 * mpmath.exp(v * v / 2), u)
    assert_ulp(got, exact, F64, 1.5, (u,), "MATH[float64].ncdf_s")


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_math_erf_erfc_special_values(dtype):
    fi = np.finfo(dtype)
    inf, nan, sub = dtype.type(np.inf), dtype.type(np.nan), dtype.type(fi.smallest_subnormal)
    x = np.array([inf, -inf, nan, 0.0, -0.0, sub, -sub, fi.max, -fi.max], dtype)
    erf = _math("erf", x)
    erfc = _math("erfc", x)
    np.testing.assert_array_equal(erf[[0, 1, 7, 8]], [1, -1, 1, -1])
    np.testing.assert_array_equal(erfc[[0, 1, 3, 4, 7, 8]], [0, 2, 1, 1, 0, 2])
    assert np.isnan(erf[2]) and np.isnan(erfc[2])
    assert erf[3] == 0 and not np.signbit(erf[3]) and erf[4] == 0 and np.signbit(erf[4])
    assert erf[5] > 0 and erf[6] < 0  # 2/sqrt(pi) times the smallest subnormal
    # subnormal results of erfc keep their relative precision down to a few bits
    z = np.array([9.5, 10.0] if dtype == F32 else [26.6, 27.0], dtype)
    got = _math("erfc", z)
    assert np.all(got > 0) and np.all(got < fi.tiny)
    assert_ulp(got, _mp_values(mpmath.erfc, z), dtype, 1.0, (z,), "erfc subnormal")


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_reference_in_long_double_matches_mpmath(approximate):
    """The reference (the same-dtype oracle of the other tests) is itself
    accurate: in long double, within a small fraction of a float64 ulp of
    mpmath for the exact form; the tanh form's tail loses about an ulp in
    long double (exp(2 s) with |2 s| up to 745), so the accuracy tests use
    mpmath for gelu (tests/util.py MP_EXACT)."""
    from fastact import reference as ref

    x = np.concatenate([sweep(F64), np.linspace(-40, 8, 4001)])
    p = {"approximate": approximate}
    fwd, der = MP_EXACT["gelu"]
    for what, got, exact in (
            ("gelu", ref.gelu(x.astype(LD), approximate), mp_exact(fwd, p, x)),
            ("gelu_backward", ref.gelu_backward(np.ones(x.size, LD), x.astype(LD), approximate), mp_exact(der, p, x))):
        bound = 0.02 if approximate == "none" else 2.0
        near = np.abs(x + 0.752) < 0.5  # the derivative's zero: relative error grows
        keep = ~near if what == "gelu_backward" else np.ones(x.size, bool)
        assert_ulp(got[keep].astype(F64), exact[keep], F64, 1e9, (), "")  # same NaN/inf places
        err = np.abs(got[keep] - exact[keep]) / np.spacing(np.abs(exact[keep].astype(F64))).astype(LD)
        err = np.where(np.isfinite(exact[keep]) & (exact[keep] != 0), err, 0)
        assert float(np.nanmax(err)) <= bound, f"reference {what}({approximate}): {float(np.nanmax(err)):.3g} ulp"

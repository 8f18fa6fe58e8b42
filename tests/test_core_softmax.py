"""The softmax family (kind "softmax"): axes (ints, negative, tuples),
subtraction of the maximum, rows of -inf, empty reductions, argument
validation."""
import inspect

import numpy as np
import pytest

import fastact as fa
from fastact import reference as ref
from util import (F16, F32, F64, FLOATS, LD, OPS, ULP_BOUND, Fn, assert_close, assert_ulp, no_fp_warnings, params,
                  sentinel, unchanged, values)

SOFTMAX = [o for o in OPS if o.kind == "softmax"]
FNS = [Fn(o, d) for o in SOFTMAX for d in ("forward", "backward")]
AXES = [0, 1, 2, 3, -1, -2, -4, (0,), (2,), (0, 2), (1, -1), (3, 0), (0, 1, 2, 3), (-3, -1), ()]


@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("fn", params(FNS))
def test_axes_match_reference(fn, dtype, axis, rng):
    f = Fn(fn.op.with_(axis=axis), fn.direction)
    arrays = f.inputs((2, 3, 4, 5), dtype, rng)
    got = f.result(f(*arrays))
    assert_close(got, f.expected(*arrays), f"{f.name} axis={axis}")
    if dtype != F16 and not f.backward:
        assert_ulp(got, f.exact(*arrays), dtype, ULP_BOUND[dtype], arrays, f"{f.name} axis={axis}")


@pytest.mark.parametrize("op", params(SOFTMAX))
def test_axis_tuple_equals_reshaped_rows(op, rng):
    """Normalizing over (1, 2) is normalizing the flattened (1, 2) block."""
    x = values((3, 4, 5), F64, rng)
    a = op.with_(axis=(1, 2)).forward(x)
    b = op.with_(axis=-1).forward(x.reshape(3, 20)).reshape(3, 4, 5)
    np.testing.assert_allclose(a, b, rtol=1e-15, atol=1e-300)
    c = op.with_(axis=(0, 2)).forward(x)
    d = np.moveaxis(op.with_(axis=-1).forward(np.moveaxis(x, 1, 0).reshape(4, 15)).reshape(4, 3, 5), 0, 1)
    np.testing.assert_allclose(c, d, rtol=1e-15, atol=1e-300)


def test_softmax_sums_to_one_and_log_softmax_is_its_log(rng):
    from fastact import log_softmax, softmax
    for dt in (F32, F64):
        x = values((50, 33), dt, rng) * dt.type(5)
        s = softmax(x)
        np.testing.assert_allclose(s.sum(axis=-1), 1, rtol=20 * np.finfo(dt).eps)
        eps = float(np.finfo(dt).eps)
        with np.errstate(divide="ignore"):
            np.testing.assert_allclose(log_softmax(x).astype(F64), np.log(s.astype(F64)), rtol=10 * eps, atol=20 * eps)


HUGE = {
    F32: [[3e38, 3e38, -3e38], [3.4e38, 3.4e38, 0.0], [1e30, 1e30, 0.0], [-3e38, -3e38, -3e38], [88.0, 89.0, 90.0],
          [200.0, 100.0, 0.0], [-1e30, 1.0, 1e30], [1e-45, -1e-45, 0.0]],
    F64: [[1e308, 1e308, -1e308], [1.7e308, 1.7e308, 0.0], [1e30, 1e30, 0.0], [-1e308, -1e308, -1e308],
          [709.0, 710.0, 711.0], [1000.0, 500.0, 0.0], [-1e300, 1.0, 1e300], [5e-324, -5e-324, 0.0],
          [1e300, np.nextafter(1e300, 0), 0.0]],
}


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("fn", params([f for f in FNS if not f.backward]))
def test_huge_inputs_subtract_the_max(fn, dtype):
    x = np.array(HUGE[dtype], dtype) * dtype.type(fn.op.sign)
    with no_fp_warnings():
        y = fn(x)
    assert not np.any(np.isnan(y)), y
    assert_ulp(y, fn.exact(x), dtype, ULP_BOUND[dtype], (x,), fn.name)
    # two equal maxima share the mass
    sm = np.exp(y[2].astype(LD)) if fn.op.logspace else y[2]
    np.testing.assert_allclose(sm.astype(F64), [0.5, 0.5, 0.0], rtol=4 * float(np.finfo(dtype).eps), atol=1e-300)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("fn", params([f for f in FNS if not f.backward]))
def test_minus_inf(fn, dtype, rng):
    """A row of all -inf gives NaN (as PyTorch); -inf among finite values
    gives probability 0 (log-probability -inf), with no warning."""
    low = -np.inf * fn.op.sign  # the extreme that gets probability 0 (+inf for softmin)
    x = values((4, 6), dtype, rng)
    x[1] = low
    x[2, :3] = low
    with no_fp_warnings():
        y = fn(x)
    assert np.all(np.isnan(y[1])), f"{fn.name}: a row of {low} gave {y[1]}"
    assert not np.any(np.isnan(y[[0, 2, 3]]))
    want0 = -np.inf if fn.op.logspace else 0.0
    assert np.all(y[2, :3] == want0)
    assert_close(y[[0, 2, 3]], fn.expected(x)[[0, 2, 3]])
    # a single such element alone in its row: NaN too
    with no_fp_warnings():
        z = fn(np.array([[low]], dtype))
    assert np.isnan(z[0, 0])


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("fn", params([f for f in FNS if f.backward]))
def test_infinite_gradients_as_the_formula_gives_them(fn, dtype, rng):
    """A gradient row with +inf or -inf makes its sum infinite: the
    elements get what the formula gives in IEEE arithmetic (the reference's
    NaN and infinity pattern: g - exp(y) inf is -inf for a finite g, NaN for
    g = inf), on short, plain and long rows, serial and parallel (a float32
    log_softmax_backward row once came out all NaN: the sum's error term was
    inf - inf).  Long rows one at a time, so that the parallel call splits
    the row (from LONG_PAR_ROWS rows on it splits the rows)."""
    from fastact import _softmax
    for n in (2, 10, 31, 40, 300, _softmax.LONG_ROW + 3):
        x = values((4, n), dtype, rng)
        y = fn.op.forward(x)
        g = values((4, n), dtype, rng)
        g[0, 1] = np.inf
        g[1, 0] = -np.inf
        g[2, 0] = g[2, n - 1] = np.inf  # two of them
        with np.errstate(all="ignore"):
            want = fn.expected(g, y)
        for mode in ("serial", "parallel"):
            with fa.config(mode=mode), np.errstate(all="ignore"):
                if n < _softmax.LONG_ROW:
                    got = fn(g, y)
                else:
                    got = np.concatenate([fn(g[k:k + 1], y[k:k + 1]) for k in range(4)])
            for k in range(3):
                msg = f"n={n} row {k} {mode}"
                assert np.array_equal(np.isnan(got[k]), np.isnan(want[k])), msg
                assert np.array_equal(np.isposinf(got[k]), np.isposinf(want[k])), msg
                assert np.array_equal(np.isneginf(got[k]), np.isneginf(want[k])), msg
            assert np.all(np.isfinite(got[3]))


@pytest.mark.parametrize("shape_axis", [((0, 5), -1), ((0, 5), 0), ((5, 0), -1), ((5, 0), 0), ((5, 0), (0, 1)),
                                        ((2, 0, 3), 1), ((2, 0, 3), (0, 2)), ((0,), 0)], ids=str)
@pytest.mark.parametrize("fn", params(FNS))
def test_empty_reductions(fn, shape_axis):
    shape, axis = shape_axis
    f = Fn(fn.op.with_(axis=axis), fn.direction)
    for dt in FLOATS:
        args = [np.empty(shape, dt)] * f.nargs
        with no_fp_warnings():
            r = f.result(f(*args))
        assert type(r) is np.ndarray and r.shape == shape and r.dtype == dt
        out = np.empty(shape, dt)
        with no_fp_warnings():
            assert f.result(f(*args, out=out)) is out


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("fn", params(FNS))
def test_zero_d_and_one_element_rows(fn, dtype):
    """A 0-d input is a row of one: softmax 1, log_softmax 0."""
    for axis in (None, 0, -1):
        f = Fn(fn.op.with_(axis=axis), fn.direction) if axis is not None else fn
        args = [dtype.type(2.5)] * f.nargs
        r = f.result(f(*args))
        assert isinstance(r, np.generic) and r.dtype == dtype
        assert_close(np.asarray(r), f.expected(*[np.asarray(a) for a in args]))
    x = np.array([[3.0], [-1e30], [0.0]], dtype)
    args = [x] * fn.nargs
    assert_close(fn.result(fn(*args)), fn.expected(*args))


BAD_AXES = [((3, 4), 2, ValueError), ((3, 4), -3, ValueError), ((3, 4), (0, 0), ValueError),
            ((3, 4), (1, -1), ValueError), ((3, 4), (0, 2), ValueError), ((3, 4), 1.0, TypeError),
            ((3, 4), "1", TypeError), ((3, 4), [0], TypeError), ((), 1, ValueError),
            ((5,), 1, ValueError)]


@pytest.mark.parametrize("case", BAD_AXES, ids=lambda c: f"{c[0]}-axis={c[1]!r}")
@pytest.mark.parametrize("fn", params(FNS))
def test_bad_axis_raises_and_writes_nothing(fn, case, rng):
    shape, axis, exc_type = case
    f = Fn(fn.op.with_(axis=axis), fn.direction)
    arrays = fn.inputs(shape, F64, rng)
    out = sentinel(shape, F64)
    with pytest.raises(exc_type) as exc:
        f(*arrays, out=out)
    assert f.name in str(exc.value) and "axis" in str(exc.value), str(exc.value)
    assert unchanged(out)


# ---------------------------------------------------------------------------
# where= (softmax and softmin): a mask of the elements that take part

MASKABLE = [o for o in SOFTMAX if "where" in inspect.signature(getattr(fa, o.name)).parameters]


def _mask(shape, rng, p=0.7):
    m = rng.random(shape) < p
    return m


def test_maskable_functions_are_the_expected_ones():
    assert sorted(o.name for o in MASKABLE) == ["softmax", "softmin"]


@pytest.mark.parametrize("axis", [-1, 0, 1, (0, 2), (1, -1)], ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("op", params(MASKABLE))
def test_where_matches_reference(op, dtype, axis, rng):
    x = values((3, 4, 5), dtype, rng)
    mask = _mask((3, 4, 5), rng)
    mask[1] = False  # slices with nothing left, along every axis tried
    y = getattr(fa, op.name)(x, axis, where=mask)
    ct = F32 if dtype == F16 else dtype
    want = getattr(ref, op.name)(x.astype(ct), axis, where=mask).astype(dtype)
    assert y.dtype == dtype
    assert np.all(y[~mask] == 0), "masked-out elements must be exactly 0"
    assert not np.any(np.isnan(y)), "a slice with every element masked out gives 0, not NaN"
    assert_close(y, want, f"{op.name} axis={axis} where=")


@pytest.mark.parametrize("op", params(MASKABLE))
def test_where_broadcasts_and_sums_to_one(op, rng):
    x = values((6, 9), F64, rng)
    row_mask = rng.random(9) < 0.5
    row_mask[0] = True
    y = getattr(fa, op.name)(x, where=row_mask)  # (9,) broadcast over the rows
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-14)
    assert np.all(y[:, ~row_mask] == 0)
    # the mask's result equals the function on the kept columns alone
    kept = getattr(fa, op.name)(np.ascontiguousarray(x[:, row_mask]))
    np.testing.assert_allclose(y[:, row_mask], kept, rtol=1e-15, atol=1e-300)
    # all True: the unmasked function, bitwise
    np.testing.assert_array_equal(getattr(fa, op.name)(x, where=np.ones(9, bool)), getattr(fa, op.name)(x))


@pytest.mark.parametrize("op", params(MASKABLE))
def test_where_all_masked_rows_are_zero_without_warnings(op):
    x = np.array([[1.0, 2.0, 3.0], [-np.inf, 0.0, 5.0], [np.nan, 1.0, 2.0]])
    mask = np.array([[False] * 3, [False, True, True], [False, True, True]])
    with no_fp_warnings():
        y = getattr(fa, op.name)(x, where=mask)
    assert np.all(y[0] == 0)
    assert y[1, 0] == 0 and y[2, 0] == 0, "a masked-out -inf or NaN takes no part"
    np.testing.assert_allclose(y[1:, 1:].sum(axis=-1), 1.0, rtol=1e-15)


@pytest.mark.parametrize("op", params(MASKABLE))
def test_where_gradient_matches_finite_differences(op, rng):
    """softmax_backward (softmin_backward) from the masked forward's output is
    the gradient of the masked forward: 0 on the masked-out elements."""
    from util import numeric_vjp
    x = rng.uniform(-2, 2, (3, 7))
    mask = _mask((3, 7), rng)
    mask[:, 0] = True
    g = rng.uniform(-1, 1, (3, 7))
    f = getattr(fa, op.name)
    y = f(x, where=mask)
    got = getattr(fa, op.entry.backward_name)(g, y)
    num = numeric_vjp(lambda z: f(z, where=mask), x, g)
    np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-8)
    assert np.all(got[~mask] == 0)


@pytest.mark.parametrize("op", params(MASKABLE))
def test_where_serial_equals_parallel(op, rng):
    x = values((300, 257), F32, rng)
    mask = _mask((300, 257), rng)
    f = getattr(fa, op.name)
    with fa.config(mode="serial"):
        a = f(x, where=mask)
    with fa.config(mode="parallel"):
        b = f(x, where=mask)
    np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.mark.parametrize("bad, exc_type", [(np.ones((3, 4), np.int64), TypeError), (np.ones((3, 4)), TypeError),
                                           (np.ones((2, 4), bool), ValueError), (np.ones((3,), bool), ValueError),
                                           ("yes", TypeError)], ids=["int", "float", "shape", "shape1", "str"])
@pytest.mark.parametrize("op", params(MASKABLE))
def test_bad_where_raises_and_writes_nothing(op, bad, exc_type, rng):
    x = values((3, 4), F64, rng)
    out = sentinel((3, 4), F64)
    with pytest.raises(exc_type) as exc:
        getattr(fa, op.name)(x, where=bad, out=out)
    assert op.name in str(exc.value) and "where" in str(exc.value), str(exc.value)
    assert unchanged(out)


def test_log_softmax_backward_float32_near_zero_log_probability():
    """y near 0 (a dominant logit): g - exp(y) sum(g) with exp(y) = 1 + expm1(y)
    keeps the tiny result that 1 - ... would round away."""
    x = np.array([[40.0, 0.0, 0.0]], F32)
    y = fa.log_softmax(x)
    g = np.array([[1.0, 0.0, 0.0]], F32)
    got = fa.log_softmax_backward(g, y)
    import mpmath
    from fastact.testing import ulp_error
    with mpmath.workprec(200):
        s = sum(mpmath.mpf(float(v)) for v in g[0])
        for i in range(3):
            want = mpmath.mpf(float(g[0, i])) - mpmath.exp(mpmath.mpf(float(y[0, i]))) * s
            assert ulp_error(np.asarray(got[0, i]), np.longdouble(float(want)), F32) <= 4, (i, got, want)
    assert got[0, 0] > 0


def _lsm_backward_exact(g, y):
    """g - exp(y) sum(g) per row, in 200-bit arithmetic, as long double."""
    import mpmath
    out = np.empty(g.shape, LD)
    with mpmath.workprec(200):
        for r in range(g.shape[0]):
            if not np.all(np.isfinite(g[r])):  # IEEE arithmetic says what comes out
                with np.errstate(invalid="ignore"):
                    out[r] = g[r].astype(LD) - np.exp(y[r].astype(LD)) * g[r].astype(LD).sum()
                continue
            s = mpmath.fsum(mpmath.mpf(float(v)) for v in g[r])
            for i in range(g.shape[1]):
                gi, yi = float(g[r, i]), float(y[r, i])
                if np.isnan(gi) or np.isnan(yi):
                    out[r, i] = np.nan
                    continue
                e = mpmath.mpf(0) if yi == -np.inf else mpmath.exp(mpmath.mpf(yi))
                v = mpmath.mpf(gi) - e * s
                out[r, i] = np.longdouble(mpmath.nstr(v, 40)) if mpmath.isfinite(v) else float(v)
    return out


@pytest.mark.parametrize("dtype", [F32, F64])
def test_log_softmax_backward_fast_path_and_its_fallbacks(dtype):
    """log_softmax_backward computes g - exp(y) sum(g) in the data's dtype
    with exp(y) carried in two parts, and redoes exactly (float32: in
    float64; float64: with exp(y) in double-double) the elements that come
    closer to cancelling than the fast path's margin and those whose y is
    above its range (below it, the result is g), and the rows whose sum(g)
    is huge.  Every such case stays within the ulp bound, with out= the
    gradient, y or a new array alike."""
    from fastact import _softmax
    from fastact.testing import ulp_error
    T = np.dtype(dtype).type
    P = _softmax.LSMB[T]
    k_margin = -int(np.log2(P["margin"]))
    rng = np.random.default_rng(11)
    n = _softmax.LSMB_MIN_ROW + 2 * _softmax.LSMB_BLOCK + 5  # long enough for the fast path
    x = rng.standard_normal((12, n)) * 4
    y = fa.log_softmax(x.astype(dtype))
    g = rng.standard_normal((12, n)).astype(dtype)
    e = np.exp(y.astype(LD))
    # rows 0-3: some elements set to cancel against exp(y) sum(g) by 2**-k of
    # it, around the margin and below it (the sum barely moves: the element
    # is recomputed from the new sum).  (float64: not far below, where the
    # exact path's exp(y), within about 2**-61, is not exact enough for 8 ulp)
    far = 7 if dtype == F32 else 2
    for r, k in enumerate((k_margin - 2, k_margin, k_margin + 1, k_margin + far)):
        idx = rng.choice(n, 4, replace=False)
        for i in idx:
            s = g[r].astype(LD).sum() - LD(g[r, i])
            # g_i = e_i (s + g_i) (1 + 2**-k)  =>  g_i = e_i s (1 + d) / (1 - e_i (1 + d))
            d = np.longdouble(2.0) ** -k
            g[r, i] = T(e[r, i] * s * (1 + d) / (1 - e[r, i] * (1 + d)))
    # row 4: a negative-log-likelihood gradient (one nonzero entry)
    g[4] = 0
    g[4, 7] = -0.25
    # row 5: log-probabilities below the fast path's range, and -inf
    lo = P["y_lo"]
    y[5, :9] = [lo - 3, lo - 13, -np.inf, -np.inf, lo - 1, lo - 0.5, lo - 33, lo - 63, lo + 0.1]
    g[5, 2] = 0.0
    g[5, 6] = 0.0
    # row 6: log-probabilities above 1 (not a log_softmax output, still valid input)
    y[6, :4] = [1.5, 3.0, 20.0, 0.99]
    # row 7: a huge sum(g) (the exact path takes the row)
    g[7] = T(2 * P["sum_max"] / n)
    # row 8: sum(g) = 0 exactly, zeros in g
    g[8] = 0
    g[8, :4] = [1.0, -1.0, 2.0, -2.0]
    # rows 9 and 11: NaN in y, -inf in y; inf in g, NaN in g
    y[9, 5], y[9, 140] = np.nan, -np.inf
    g[11, 70], g[11, 3] = np.inf, np.nan
    # row 10: tiny gradients (products near the subnormal range)
    g[10] *= T(1e-36 if dtype == F32 else 1e-300)
    want = _lsm_backward_exact(g, y)
    with no_fp_warnings():
        got = fa.log_softmax_backward(g, y)
        ok = ~np.isnan(want)
        np.testing.assert_array_equal(np.isnan(got), ~ok)
        err = ulp_error(got[ok], want[ok], dtype)
        assert err.max() <= ULP_BOUND[dtype], (float(err.max()), np.argwhere(ok)[np.argmax(err)])
        for which in ("g", "y"):
            gg, yy = g.copy(), y.copy()
            dst = gg if which == "g" else yy
            res = fa.log_softmax_backward(gg, yy, out=dst)
            assert res is dst
            np.testing.assert_array_equal(res, got, err_msg=f"out={which}")


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("s", [1.0, -3.7, 1e-20, 5e30])
def test_log_softmax_backward_fast_path_margin(s, dtype):
    """The fast path's element function: where it gives a result (not NaN)
    that result is within 2 ulp (float64: 2.5, its worst case), it gives none where the result is below
    half its margin of exp(y) sum(g) (the cancellation the margin excludes),
    and it does give one wherever the result is above twice the margin of
    that product and not tiny.  sum(g) = s_hi (1 + q), q below an ulp."""
    from numba import njit
    from fastact import _softmax
    from fastact.testing import ulp_error
    T = np.dtype(dtype).type
    P = _softmax.LSMB[T]
    f = _softmax._lsm_backward(T, False)
    small = T(P["small"])

    @njit
    def run(g, y, s_hi, q, out):
        for i in range(g.shape[0]):
            out[i] = f(g[i], y[i], s_hi, q, abs(s_hi) * small)

    rng = np.random.default_rng(3)
    m = 100_000 if dtype == F32 else 40_000
    s_hi = T(s)
    q = T(0.37 * np.finfo(dtype).eps)
    s_ld = LD(s_hi) * (1 + LD(q))
    y = rng.uniform(P["y_lo"], P["y_hi"], m).astype(dtype)
    y[: m // 4] = rng.uniform(-2, 0, m // 4)
    product = np.exp(y.astype(LD)) * s_ld
    g = (product * (1 + rng.choice([-1.0, 1.0], m) * 2.0 ** rng.uniform(-12, 3, m))).astype(dtype)
    got = np.empty(m, dtype)
    with no_fp_warnings():
        run(g, y, s_hi, q, got)
        exact = g.astype(LD) - product
    if dtype == F64:  # long double's 64 bits would blur the last ulp under cancellation
        import mpmath
        with mpmath.workprec(160):
            sm = mpmath.mpf(float(s_hi)) * (1 + mpmath.mpf(float(q)))
            exact = np.array([LD(mpmath.nstr(mpmath.mpf(float(gi)) - mpmath.exp(mpmath.mpf(float(yi))) * sm, 30))
                              for gi, yi in zip(g, y)])
    given = ~np.isnan(got)
    rel = np.abs(exact / product)
    tiny = np.abs(exact) < 8 * P["d_min"]
    assert ulp_error(got[given], exact[given], dtype).max() <= (2 if dtype == F32 else 2.5)
    assert not np.any(given & (rel < P["margin"] / 2) & ~tiny)
    assert np.all(given | (rel <= 2 * P["margin"]) | tiny)
    assert given.mean() > 0.2  # (and so the first check had something to check)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_log_softmax_backward_cancelling_sum(dtype):
    """Rows whose sum(g) cancels (large terms of both signs): the row
    kernel's and the long-row kernel's sums come as an unnormalized pair
    whose high part may be 0 or far from the sum; the results stay within
    the ulp bound of g - exp(y) sum(g), serial and parallel."""
    from fastact import _softmax
    from fastact.testing import ulp_error
    rng = np.random.default_rng(5)
    big = 1e16 if dtype == F64 else 1e8
    for n in (20, 300, _softmax.LONG_ROW + 5):
        x = rng.standard_normal((4, n)) * 3
        y = fa.log_softmax(x.astype(dtype))
        g = np.zeros((4, n), dtype)
        g[0, :3] = [big, 1.0, -big]  # the sum is exactly 1, the running sum 0
        g[1] = rng.standard_normal(n) * rng.choice([1.0, 1e4], n)
        g[1, -1] = -(g[1, :-1].astype(LD).sum()) + LD(1e-3)  # the sum near 1e-3
        g[2, ::2] = big
        g[2, 1::2] = -big
        g[2, 7] += 3  # (big + 3 rounds: the sum is what g holds)
        g[3] = rng.standard_normal(n)
        g[3, 0], g[3, -1] = 1e11, -1e11  # (the double-double sums are exact to about 2**-100 of sum(|g|))
        want = _lsm_backward_exact(g, y)
        for mode in ("serial", "parallel"):
            with fa.config(mode=mode):
                got = fa.log_softmax_backward(g, y)
            err = ulp_error(got, want, dtype)
            assert err.max() <= ULP_BOUND[dtype], (n, mode, float(err.max()), np.unravel_index(np.argmax(err), err.shape))


def test_softmax_backward_float32_huge_gradients_do_not_overflow():
    """g near the largest float32: the fast path's intermediate overflows, the
    row is redone in float64 and the finite result comes out."""
    for g, y in (([3e38, 3e38], [1.0, 1.0]), ([3e38, -3e38], [1e-10, 1 - 1e-10])):
        g, y = np.array([g], F32), np.array([y], F32)
        got = fa.softmax_backward(g, y)
        want = ref.softmax_backward(g.astype(F64), y.astype(F64))
        assert np.all(np.isfinite(got)) or not np.all(np.isfinite(want.astype(F32)))
        assert_close(got, want.astype(F32))


ROW_FNS = ["softmax", "softmin", "log_softmax", "softmax_backward", "softmin_backward", "log_softmax_backward"]


@pytest.mark.parametrize("name", ROW_FNS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_row_fast_path_agrees_and_obeys_config(name, dtype, monkeypatch):
    """The short path for C-contiguous arrays over the last axis gives the
    general path's results bitwise (in place too), falls back for other
    layouts and axes, and is off in a config() block (mode='parallel' runs
    the parallel kernel even on a small array).  Vectors take an entry point
    of their own from the first call, and give a matrix row's bits."""
    from fastact import _api, _jit, _softmax
    rng = np.random.default_rng(5)
    f = getattr(fa, name)
    bwd = name.endswith("_backward")
    # 17: the short kernels' length, 40: the row kernels'
    for shape in [(17,), (40,), (3, 17), (3, 40), (2, 3, 17)]:
        x = rng.standard_normal(shape).astype(dtype)
        g = rng.standard_normal(shape).astype(dtype)
        args = (g, fa.softmax(x)) if bwd else (x,)
        first, fast = f(*args), f(*args)  # (2-D: the first call compiles the entry point)
        assert fast.dtype == dtype and fast.shape == shape
        if len(shape) == 1:
            assert _api._ROWS[np.dtype(dtype)][name].entry1 is not None
        np.testing.assert_array_equal(fast, first)
        np.testing.assert_array_equal(fast, f(*args, out=np.empty_like(x)))
        # strided views of the same values: the general path
        strided = [np.repeat(a, 2, axis=-1)[..., ::2] for a in args]
        np.testing.assert_array_equal(fast, f(*strided))
        for k in range(len(args)):  # in place: out=x, or out=g and out=y
            copies = [a.copy() for a in args]
            np.testing.assert_array_equal(f(*copies, out=copies[k]), fast)
        if len(shape) > 1:  # another axis: the general path, same as moving the axis last
            moved = [np.ascontiguousarray(np.swapaxes(a, 0, -1)) for a in args]
            np.testing.assert_array_equal(f(*args, axis=0), np.swapaxes(f(*moved), 0, -1))
        else:  # a vector gives the bits of the same row in a matrix
            np.testing.assert_array_equal(fast, f(*(a.reshape(1, -1) for a in args))[0])
    calls = []
    parallel = _softmax.rowwise(name, dtype)[1]
    real = _jit.run_at

    def spy(threshold, s, p, size, *arrays):
        assert p is parallel
        calls.append("run_at")

        def recorded(*a):  # what run_at() calls when it takes the parallel kernel
            calls.append("parallel")
            return p(*a)

        return real(threshold, s, recorded, size, *arrays)

    monkeypatch.setattr(_jit, "run_at", spy)
    for shape in [(3, 17), (17,), (40,)]:  # 2-D and 1-D arrays: entry points of their own
        calls.clear()
        x = rng.standard_normal(shape).astype(dtype)
        args = (x, fa.softmax(x)) if bwd else (x,)
        direct = f(*args)
        assert calls == [], "outside config() the short path calls the serial entry point directly"
        with fa.config(mode="serial"):
            np.testing.assert_array_equal(f(*args), direct)
        assert calls == ["run_at"]
        with fa.config(mode="parallel"):
            np.testing.assert_array_equal(f(*args), direct)
        assert calls == ["run_at", "run_at", "parallel"]


@pytest.mark.parametrize("n", [0, 1, 7, 31, 32, 33, 100, 511, 512, 513, 2000])
def test_double_double_sums_are_exact_to_about_2_100(n):
    """The float64 rows' double-double sums (dd_sum, dd_dot, which use fewer
    lanes on short rows and none below 32 elements) agree with the exact
    rational sum to 2**-100 of the sum of magnitudes, on terms built to
    cancel: each value comes with its negative plus a tiny remainder."""
    from fractions import Fraction

    from fastact import _softmax

    rng = np.random.default_rng(n)
    half = rng.uniform(-1, 1, (n + 1) // 2) * 2.0 ** rng.integers(-30, 30, (n + 1) // 2)
    a = np.concatenate([half, -half[: n // 2] * (1 + 2.0 ** -40)])[:n]
    rng.shuffle(a)
    b = rng.uniform(0.5, 2, n)
    acc = np.empty((2, _softmax.LANES))
    for name, got, terms in (("dd_sum", _softmax.dd_sum(a, acc), a),
                             ("dd_dot", _softmax.dd_dot(a, b, acc), [Fraction(u) * Fraction(v) for u, v in zip(a, b)])):
        exact = sum((Fraction(t) for t in terms), Fraction(0))
        err = abs(Fraction(got[0]) + Fraction(got[1]) - exact)
        scale = sum((abs(Fraction(t)) for t in terms), Fraction(0))
        assert err <= scale * Fraction(2) ** -100, f"{name} n={n}: error {float(err):.3g} of {float(scale):.3g}"


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("fn", params(FNS))
def test_long_rows_in_blocks(fn, dtype, rng):
    """Rows of LONG_ROW elements or more are taken in blocks (in parallel
    within the row when there are few rows, across rows otherwise): every
    mode and thread count gives the same bits, each row is the row computed
    alone, and the results stay within the ulp bound, through the float32
    backwards' fallbacks too (elements of g set to cancel against the row's
    sum, so that softmax_backward redoes those elements from a double-double
    sum and log_softmax_backward its blocks in float64)."""
    import numba

    from fastact import _softmax
    length = _softmax.LONG_ROW + _softmax.LONG_BLOCK // 2 + 7
    rows = _softmax.LONG_PAR_ROWS + 1
    arrays = list(fn.inputs((rows, length), dtype, rng))
    if fn.backward:
        g, v = arrays
        if fn.op.name == "log_softmax":
            s = g.astype(LD).sum(axis=1)
            g[:2, 100] = (np.exp(v[:2, 100].astype(LD)) * s[:2]).astype(dtype)  # cancels
        else:
            y = v.astype(LD)
            g[:2, 100] = ((g[:2].astype(LD) * y[:2]).sum(axis=1)).astype(dtype)  # g_i - sum(g y) cancels
    sets = {}
    for shape in [(1, length), (2, length), (rows, length)]:
        part = [a[:shape[0]] for a in arrays]
        for mode, threads in [("serial", 1), ("parallel", 1), ("parallel", numba.config.NUMBA_NUM_THREADS)]:
            with fa.config(mode=mode, threads=threads):
                got = fn.result(fn(*part))
            for r in range(shape[0]):
                sets.setdefault(r, []).append(got[r])
    for r, results in sets.items():
        for other in results[1:]:
            np.testing.assert_array_equal(other.view(np.uint8), results[0].view(np.uint8), err_msg=f"row {r}")
    # the high-precision oracle costs seconds per long row: two rows suffice
    exact = fn.exact(*[a[:2] for a in arrays])
    got = fn.result(fn(*arrays))[:2]
    assert_ulp(got, exact, dtype, ULP_BOUND[dtype], [a[:2] for a in arrays], f"{fn.id} {dtype} long rows")


def _assert_in_place_same_bits(op, g, y, label):
    """op.backward with out the gradient, or y, gives the bits of a new
    array, serial and parallel; and those are within the ulp bound."""
    dtype = g.dtype
    bits = np.uint32 if dtype == F32 else np.uint64
    for mode in ("serial", "parallel"):
        with fa.config(mode=mode):
            want = op.backward(g, y)
            for target in ("g", "y"):
                a, b = g.copy(), y.copy()
                got = op.backward(a, b, out=a if target == "g" else b)
                np.testing.assert_array_equal(got.view(bits), want.view(bits), err_msg=f"{mode}, out={target}")
    assert_ulp(op.grad_x(want), Fn(op, "backward").exact(g, y), dtype, ULP_BOUND[dtype], (g, y), label)


@pytest.mark.parametrize("case", ["flagged", "confident"])
@pytest.mark.parametrize("length", [300, 20000], ids=str)
@pytest.mark.parametrize("name", ["softmax", "softmin"])
def test_softmax_backward_in_place_gives_the_same_bits(name, length, case, rng):
    """float32 softmax_backward redoes in float64 the elements its fast path
    flags: after writing them into a new array, or while writing them when
    out is the gradient or y (the inputs would be gone).  Both give the same
    bits, in short rows and in rows taken in blocks, serial and parallel,
    also where the flagged element is a confident row's y_k near 1."""
    op = next(o for o in SOFTMAX if o.name == name)
    sign = 1 if name == "softmax" else -1
    x = rng.standard_normal((3, length)) * 2
    if case == "confident":
        x[:, 0] = 40.0
    y = op.forward((sign * x).astype(F32))
    g = rng.standard_normal((3, length)).astype(F32)
    k = 0 if case == "confident" else 100
    # g_k = sum(g y) (rounded): g_k - sum(g y) cancels, the element is flagged
    g[:, k] = (g.astype(LD) * y.astype(LD)).sum(axis=1).astype(F32)
    _assert_in_place_same_bits(op, g, y, f"{name}_backward float32 {case}")


@pytest.mark.parametrize("length", [300, 5000], ids=str)
@pytest.mark.parametrize("name", ["softmax", "softmin"])
def test_softmax_backward_float64_confident_in_place(name, length, rng):
    """float64 softmax_backward's row kernel (rows shorter than LONG_ROW)
    counts the y above 1/2 while it writes, and recomputes a confident row's
    y_k afterwards from g and y; with out the gradient or y they would be
    gone by then, so that case recomputes it first.  Both give the same
    bits, and y_k's element is within the bound (the row's sum cancels
    against g_k)."""
    op = next(o for o in SOFTMAX if o.name == name)
    sign = 1 if name == "softmax" else -1
    x = rng.uniform(-740.0, -38.0, (3, length))
    x[:, 0] = 0.0
    y = op.forward(sign * x)
    assert np.all(y[:, 0] > 0.5), y[:, 0]
    g = rng.standard_normal((3, length))
    g[:, 0] = (g.astype(LD) * y.astype(LD)).sum(axis=1).astype(F64)
    _assert_in_place_same_bits(op, g, y, f"{name}_backward float64 confident in place")


@pytest.mark.parametrize("length", [7, 300, 20000], ids=str)
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("name", ["softmax", "softmin"])
def test_softmax_backward_confident_rows(name, dtype, length, rng):
    """A confident softmax has one y_k near 1 (often 1.0) and the others
    below its ulp, so that g_k - sum(g y) is about minus the sum of the
    other terms, which a double-double sum dominated by g_k y_k resolves only
    to its own rounding: with the other terms cancelling among themselves
    (here in pairs of equal y and nearly opposite g), that is thousands of
    ulp.  That element is computed as y_k (g_k (1 - y_k) - sum of the
    others), within the ulp bound, in rows short, long enough for lanes, and
    taken in blocks."""
    op = next(o for o in SOFTMAX if o.name == name)
    fn = Fn(op, "backward")
    sign = 1 if name == "softmax" else -1
    # the others' logits spread down to where their exponentials underflow
    lo, hi = (-100.0, -18.0) if dtype == F32 else (-740.0, -38.0)
    half = (length - 1) // 2
    x = rng.uniform(lo, hi, (3, length))
    x[:, 1 + half:1 + 2 * half] = x[:, 1:1 + half]
    x[:, 0] = 0.0  # the confident class, first: then the sums add the others to it
    y = op.forward((sign * x).astype(dtype))
    assert np.all(y[:, 0] > 0.5), y[:, 0]
    g = rng.standard_normal((3, length)).astype(dtype)
    g[:, 1 + half:1 + 2 * half] = -g[:, 1:1 + half] * np.dtype(dtype).type(1 - 2.0 ** -10)
    got = op.grad_x(op.backward(g, y))
    assert_ulp(got, fn.exact(g, y), dtype, ULP_BOUND[dtype], (g, y), f"{name}_backward {dtype} confident")


@pytest.mark.parametrize("length", [300, 20], ids=["row", "short"])
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("fname", ["log_softmax", "softmax_cross_entropy"])
def test_log_sum_on_both_sides_of_the_confident_case(fname, dtype, length, rng):
    """log(sum(exp(x - max))) is log1p of the terms other than the
    maximum's, r: the plain sum less 1 where r is large enough for the
    sum's error (float32 data: n 2**-26, float64: 2**-40), else the terms
    equal to the maximum's summed apart (the sum less 1 would lose r's
    digits).  Rows whose other terms sum to 2**-60 .. 2**8 of the maximum's,
    on both sides of either switch, stay within the ulp bound (log_softmax)
    or its loss within 4 eps of the dtype, relative, of the exact one
    (softmax_cross_entropy, per row).  Short rows (SHORT_ROWS) always sum
    the other terms apart, in the short kernels: they are checked too."""
    import mpmath
    ratios = [2.0 ** -60, 2.0 ** -42, 2.0 ** -38, 2.0 ** -20, 2.0 ** -18, 2.0 ** -16, 0.25, 0.999, 1.0, 1.001,
              1.5, 4.0, 2.0 ** 8]
    x = np.empty((len(ratios), length), np.float64)
    for r, ratio in enumerate(ratios):
        # the other terms all equal: (length - 1) exp(-d) = ratio
        d = -np.log(ratio / (length - 1))
        x[r] = -d + rng.uniform(-1e-3, 1e-3, length)
        x[r, 7] = 0.0
    x = x.astype(dtype)
    mpmath.mp.prec = 200
    lse = np.array([float(mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(float(v))) for v in row)))
                    for row in x], np.float64)
    if fname == "log_softmax":
        got = fa.log_softmax(x)
        exact = np.array([[mpmath.mpf(float(v)) - mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(float(u)))
                                                                         for u in row)) for v in row] for row in x])
        want = np.vectorize(lambda v: np.longdouble(mpmath.nstr(v, 40)))(exact)
        assert_ulp(got, want, dtype, ULP_BOUND[dtype], (x,), f"log_softmax {dtype}")
    else:
        labels = np.full(len(ratios), 7)
        loss = fa.softmax_cross_entropy(x, labels, reduction="none")
        np.testing.assert_allclose(loss.astype(np.float64), lse - x[:, 7].astype(np.float64),
                                   rtol=4 * np.finfo(dtype).eps, atol=0)


@pytest.mark.parametrize("length", [300, 1024, 1025, 4000], ids=str)
@pytest.mark.parametrize("name", ["softmax", "softmin"])
def test_softmax_backward_float32_near_the_fast_path_margin(name, length, rng):
    """float32 softmax_backward's fast path flags the elements whose g_i -
    sum(g y) is below its margin of sum(|g y|) (about 2**-17 for rows of up
    to PLAIN_ROW, whose dot product is one sum; 2**-18 by blocks past it) and
    redoes them in float64.  Elements placed at 1.5 2**-k of sum(|g y|) from
    the sum, k = 12 .. 30 and a few far below (all placed together: the sum
    moves with them), fall on both sides of either margin, and stay within
    the ulp bound whichever way they go (with no element flagged, those far
    below the margin would be thousands of ulp off)."""
    op = next(o for o in SOFTMAX if o.name == name)
    sign = 1 if name == "softmax" else -1
    x = rng.standard_normal((4, length)) * 2
    y = op.forward((sign * x).astype(F32))
    g = rng.standard_normal((4, length)).astype(F32)
    ks = np.array(list(range(12, 31)) + [34, 38, 44])
    placed = []
    for r in range(4):
        idx = rng.choice(length, len(ks), replace=False)
        gl, yl = g[r].astype(LD), y[r].astype(LD)
        a = np.abs(gl * yl).sum()
        t = rng.choice([-1.0, 1.0], len(ks)).astype(LD) * LD(1.5) * LD(2.0) ** -ks.astype(LD) * a
        rest = np.ones(length, bool)
        rest[idx] = False
        # g_i = s + t_i for i in idx, s = sum(g y): s (1 - sum y_idx) = sum over the rest + sum t y_idx
        s = ((gl * yl)[rest].sum() + (t * yl[idx]).sum()) / (1 - yl[idx].sum())
        g[r, idx] = (s + t).astype(F32)
        gl = g[r].astype(LD)
        placed.append(np.abs(gl[idx] - (gl * yl).sum()) / np.abs(gl * yl).sum())
    placed = np.concatenate(placed)
    for lo, hi in ((2.0 ** -17, 2.0 ** -16), (2.0 ** -18, 2.0 ** -17), (0, 2.0 ** -19)):
        assert np.any((placed > lo) & (placed < hi)), (lo, hi)
    got = op.grad_x(op.backward(g, y))
    assert_ulp(got, Fn(op, "backward").exact(g, y), F32, ULP_BOUND[F32], (g, y),
               f"{name}_backward float32 length {length}")


@pytest.mark.parametrize("length", [2, 300, 20000], ids=str)
def test_softmax_backward_float32_difference_near_the_largest_float(length):
    """g = +-3e38 with sum(g y) = 2.4e38 (finite): g - sum(g y) in float32
    overflows for the second element, whose exact result (-5.4e37 y) is
    finite.  The fast path takes no row with a sum that large; the result is
    the float64 one, with out a new array or the gradient itself."""
    g = np.zeros((1, length), F32)
    g[0, :2] = [3e38, -3e38]
    y = np.zeros((1, length), F32)
    y[0, :2] = [0.9, 0.1]
    want = (y.astype(np.float64) * (g.astype(np.float64) - (g.astype(np.float64) * y).sum())).astype(F32)
    assert np.all(np.isfinite(want))
    for mode in ("serial", "parallel"):
        with fa.config(mode=mode), no_fp_warnings():
            got = fa.softmax_backward(g, y)
            np.testing.assert_array_equal(got, want, err_msg=mode)
            gg = g.copy()
            np.testing.assert_array_equal(fa.softmax_backward(gg, y, out=gg), want, err_msg=f"{mode} out=g")


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("name", ["softmax", "softmin", "log_softmax", "cross_entropy", "log_softmax_backward"])
def test_short_rows_give_each_row_the_same_bits(name, dtype, rng):
    """Rows of up to SHORT_ROWS elements go through the short-row kernels (a
    chunk of rows at a time, the forwards' transposed; fewer than SHORT_FEW
    rows row by row): a row gets the same bits (NaNs aside, whose sign may differ), serial
    and parallel (over several ranges), in place, called alone or among 2, 3
    or SHORT_FEW rows, and over several chunks, at every length up to the
    threshold, on rows with -inf, +inf, NaN, huge and tiny values.  Against
    the row kernels, which sum in another order, the results are within 2
    ulp, and the losses' totals agree (the accuracy against exact values is
    tested apart).  The backward's rows: y = log_softmax of those rows, and
    g with infinities, a NaN and the largest float."""
    from fastact import _softmax
    from fastact._kernels import row_chunk
    T = np.dtype(dtype).type
    ce = name == "cross_entropy"
    bwd = name.endswith("_backward")
    tpl = "ce_short" if ce else _softmax.SHORT[_softmax.ROWS[name][0]]
    limit = _softmax.SHORT_ROWS[tpl][T is np.float64]
    (serial, parallel), _ = _softmax.cross_entropy(T) if ce else (_softmax.rowwise(name, T), None)
    (plain, _), _ = _softmax.cross_entropy(T, short=False) if ce else (_softmax.rowwise(name, T, short=False), None)
    # the drivers take the short kernel up to the limit, the plain ones never
    assert serial.py_func.__globals__["SHORT_ROW"] == limit > 0
    assert plain.py_func.__globals__["SHORT_ROW"] == 0
    short = serial.py_func.__globals__["ce_short_rows" if ce else "short_rows"]
    for n in sorted({1, 2, 3, 7, 10, 16, limit - 1, limit}):
        # ten chunks, the last one short: the parallel call splits them in ranges
        rows = _softmax.SHORT_CHUNK // n * 9 + 3
        per_range = max(1, row_chunk(rows, n) // (_softmax.SHORT_CHUNK // n)) * (_softmax.SHORT_CHUNK // n)
        assert rows > 2 * per_range
        x = (rng.standard_normal((rows, n)) * rng.choice([1e-3, 1, 30, 1e4], (rows, 1))).astype(dtype)
        x[1, 0] = -np.inf
        x[2] = -np.inf
        x[3, n // 2] = np.nan
        x[4, n - 1] = np.inf
        x[5, 0] = np.finfo(dtype).max
        x[6] = 0.0
        x[6, 0] = -0.0
        labels = rng.integers(0, n, rows)
        if bwd:
            with no_fp_warnings():
                y = fa.log_softmax(x)
            g = (rng.standard_normal((rows, n)) * rng.choice([1e-3, 1, 1e4], (rows, 1))).astype(dtype)
            g[8, 0] = np.inf
            g[9, n - 1] = -np.inf
            g[10, n // 2] = np.nan
            g[11, 0] = np.finfo(dtype).max
            g[12] = np.finfo(dtype).max / 4

        def run(kernel, lo=0, hi=rows, out=None):
            if ce:
                got = np.empty(hi - lo)
                return got, kernel(x[lo:hi], labels[lo:hi], got)
            got = np.empty((hi - lo, n), dtype) if out is None else out
            if bwd:
                kernel(g[lo:hi], y[lo:hi], got)
            else:
                kernel(x[lo:hi], got)
            return got, None

        def by(k):  # calls of k rows
            parts = [run(serial, lo, min(lo + k, rows)) for lo in range(0, rows, k)]
            return np.concatenate([p[0] for p in parts])

        with no_fp_warnings():
            want, want_total = run(plain)
            first, total = run(serial)
            results = [run(parallel)[0], run(short)[0], by(1), by(2), by(3), by(_softmax.SHORT_FEW)]
            if ce:
                assert np.array_equal(run(parallel)[1], total, equal_nan=True), f"n={n}"
                # (a NaN row makes those totals NaN: the finite rows' totals too)
                totals = [k(x[7:], labels[7:], np.empty(rows - 7)) for k in (serial, parallel, plain)]
                assert np.isfinite(totals[0]) and totals[0] == totals[1], f"n={n}"
                np.testing.assert_allclose(totals[0], totals[2], rtol=1e-13)
            elif bwd:
                for kernel in (serial, parallel):
                    for k in range(2):  # out=g, out=y
                        gi, yi = g.copy(), y.copy()
                        kernel(gi, yi, (gi, yi)[k])
                        results.append((gi, yi)[k])
            else:
                for kernel in (serial, parallel):
                    inplace = x.copy()
                    kernel(inplace, inplace)
                    results.append(inplace)
        for got in results:
            np.testing.assert_array_equal(got, first, err_msg=f"n={n}")
            finite = np.isfinite(first)
            assert np.array_equal(np.signbit(got[finite]), np.signbit(first[finite])), f"n={n}"
        assert np.array_equal(np.isnan(first), np.isnan(want)), f"n={n}"
        for inf in (np.inf, -np.inf):
            assert np.array_equal(first == inf, want == inf), f"n={n}"
        finite = np.isfinite(want)
        if ce:  # the loss is float64; the row kernel's log of the sum is off by up to about n 2**-53
            np.testing.assert_allclose(first[finite], want[finite], rtol=1e-13, atol=2.0 ** -46, err_msg=f"n={n}")
        else:
            # (the spacing at the largest float is taken as the one below it)
            scale = np.spacing(np.minimum(np.abs(want[finite]), np.nextafter(np.finfo(dtype).max, 0)))
            assert np.all(np.abs(first[finite].astype(np.float64) - want[finite]) <= 2 * scale.astype(np.float64)), \
                f"n={n}"


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("name", ["softmax", "softmin"])
def test_all_true_mask_gives_the_unmasked_bits(name, dtype, rng):
    """where= all True gives the unmasked function's bits, on short rows
    (where the masked row kernel sums each row in one chain, as the short
    kernel does), on calls of a few rows and of many, and past the limit."""
    from fastact import _softmax
    limit = _softmax.SHORT_ROWS["softmax_short"][dtype == F64]
    f = getattr(fa, name)
    for n in (1, 5, 15, 16, 17, 24, limit, limit + 1, 40, 100):
        for rows in (1, 3, 40):
            x = (rng.standard_normal((rows, n)) * rng.choice([0.1, 10, 100], (rows, 1))).astype(dtype)
            np.testing.assert_array_equal(f(x, where=np.ones(n, bool)), f(x), err_msg=f"{rows}x{n}")


@pytest.mark.parametrize("name", ["softmax", "softmin", "log_softmax", "cross_entropy", "log_softmax_backward"])
def test_short_rows_serial_and_parallel_give_the_same_nan_bits(name):
    """The parallel drivers hand short rows to the short kernel in whole
    chunks of its own, as the serial call takes them: the vector code of the
    loops over a chunk's rows and their scalar remainder may give NaNs of
    different signs, so a row must meet the same code in both (rows of
    [nan, inf]: 8193 rows, the last one past a chunk boundary)."""
    x = np.tile(np.array([[np.nan, np.inf]]), (8193, 1))
    labels = np.zeros(8193, np.int64)
    got = []
    for mode in ("serial", "parallel"):
        with fa.config(mode=mode), np.errstate(all="ignore"):
            got.append(fa.softmax_cross_entropy(x, labels, reduction="none") if name == "cross_entropy"
                       else fa.log_softmax_backward(x, x) if name == "log_softmax_backward"
                       else getattr(fa, name)(x))
    assert got[0].tobytes() == got[1].tobytes()

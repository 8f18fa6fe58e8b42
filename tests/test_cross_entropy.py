"""softmax_cross_entropy and its backward: against the reference, finite
differences, exact values where the formulas cancel or underflow, axes,
reductions, dtypes and bad inputs."""
import mpmath
import numpy as np
import pytest

import fastact as fa
from fastact import reference as ref
from fastact.testing import ulp_error
from util import F16, F32, F64, assert_close, numeric_vjp, sentinel, unchanged

REDUCTIONS = ("mean", "sum", "none")


def _case(shape, axis, dtype, rng, spread=4.0):
    x = rng.uniform(-spread, spread, shape).astype(dtype)
    ax = axis % len(shape)
    lshape = shape[:ax] + shape[ax + 1:]
    labels = rng.integers(0, shape[ax], lshape)
    return x, labels


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape_axis", [((7, 5), -1), ((7, 5), 0), ((3, 4, 6), 1), ((9,), 0)], ids=str)
@pytest.mark.parametrize("dtype", [F16, F32, F64], ids=str)
def test_matches_reference(dtype, shape_axis, reduction, rng):
    shape, axis = shape_axis
    x, labels = _case(shape, axis, dtype, rng)
    ct = F32 if dtype == F16 else dtype
    loss = fa.softmax_cross_entropy(x, labels, axis, reduction=reduction)
    want = np.asarray(ref.softmax_cross_entropy(x.astype(ct), labels, axis, reduction)).astype(dtype)
    assert np.asarray(loss).dtype == dtype
    assert_close(np.asarray(loss), want, f"loss {reduction}")
    grad = np.asarray(1.5, dtype) if reduction != "none" else rng.uniform(0.5, 2, labels.shape).astype(dtype)
    gx = fa.softmax_cross_entropy_backward(grad, x, labels, axis, reduction=reduction)
    wantg = ref.softmax_cross_entropy_backward(grad.astype(ct), x.astype(ct), labels, axis, reduction)
    assert gx.dtype == dtype and gx.shape == x.shape
    assert_close(gx, np.asarray(wantg).astype(dtype), f"grad {reduction}")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_backward_is_the_gradient(reduction, rng):
    x, labels = _case((4, 6), -1, F64, rng)
    w = rng.uniform(0.5, 2, 4) if reduction == "none" else np.asarray(0.7)

    def f(z):
        return np.asarray(fa.softmax_cross_entropy(z, labels, reduction=reduction))

    num = numeric_vjp(f, x, w)
    got = fa.softmax_cross_entropy_backward(w, x, labels, reduction=reduction)
    np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-9)


def _exact_grad(x, labels, scale):
    """scale * (softmax(row) - onehot(label)) in mpmath, per row."""
    out = np.empty(x.shape, np.longdouble)
    with mpmath.workprec(300):
        for r in range(x.shape[0]):
            row = [mpmath.mpf(float(v)) for v in x[r]]
            m = max(row)
            e = [mpmath.exp(v - m) for v in row]
            s = sum(e)
            for j, ej in enumerate(e):
                p = ej / s
                v = mpmath.mpf(float(scale)) * (p - (1 if j == labels[r] else 0))
                out[r, j] = np.longdouble(float(v)) + np.longdouble(float(v - mpmath.mpf(float(v))))
    return out


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_backward_accurate_where_it_cancels_or_underflows(dtype, rng):
    """The label's entry p - 1 with p near 1, and a tiny upstream gradient
    (reduction='sum') whose product with the probabilities is far below 1."""
    bound = 4 if dtype == F32 else 8
    x = np.array([[10.0, 0.0, 0.0], [30.0, -5.0, 1.0], [0.0] * 3, [60.0, 0.0, 1.0]], dtype)
    labels = np.array([0, 0, 1, 0])
    for scale in (1.0, 1e-30 if dtype == F32 else 1e-290, 3.0):
        got = fa.softmax_cross_entropy_backward(np.asarray(scale, dtype), x, labels, reduction="sum")
        err = ulp_error(got, _exact_grad(x, labels, scale), dtype)
        assert err.max() <= bound, (scale, got, err)


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_loss_accurate(dtype, rng):
    x = np.concatenate([rng.normal(0, 3, (20, 7)), rng.normal(0, 100, (20, 7)),
                        [[1e3, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1e-30]]]).astype(dtype)
    labels = rng.integers(0, 7, x.shape[0])
    labels[-2] = 0
    got = fa.softmax_cross_entropy(x, labels, reduction="none")
    with mpmath.workprec(300):
        exact = []
        for r in range(x.shape[0]):
            row = [mpmath.mpf(float(v)) for v in x[r]]
            exact.append(float(mpmath.log(sum(mpmath.exp(v) for v in row)) - row[labels[r]]))
    assert ulp_error(got, np.array(exact, np.longdouble), dtype).max() <= (4 if dtype == F32 else 8)


@pytest.mark.parametrize("parallel", [False, True])
def test_serial_equals_parallel(parallel, rng):
    x, labels = _case((3000, 37), -1, F32, rng)
    with fa.config(mode="serial"):
        a = fa.softmax_cross_entropy(x, labels, reduction="none")
        ga = fa.softmax_cross_entropy_backward(np.asarray(1.0, F32), x, labels)
    with fa.config(mode="parallel" if parallel else "serial"):
        b = fa.softmax_cross_entropy(x, labels, reduction="none")
        gb = fa.softmax_cross_entropy_backward(np.asarray(1.0, F32), x, labels)
    np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))
    np.testing.assert_array_equal(ga.view(np.uint32), gb.view(np.uint32))


BAD = [
    (lambda x, l: fa.softmax_cross_entropy(x, l + 5), ValueError, "labels must lie in"),
    (lambda x, l: fa.softmax_cross_entropy(x, l - 5), ValueError, "labels must lie in"),
    (lambda x, l: fa.softmax_cross_entropy(x, l.astype(float)), TypeError, "labels must be integers"),
    (lambda x, l: fa.softmax_cross_entropy(x, l[:2]), ValueError, "labels have shape"),
    (lambda x, l: fa.softmax_cross_entropy(x, l, reduction="avg"), ValueError, "reduction"),
    (lambda x, l: fa.softmax_cross_entropy(x, l, axis=2), ValueError, "axis"),
    (lambda x, l: fa.softmax_cross_entropy(x.astype(complex), l), TypeError, "complex"),
    (lambda x, l: fa.softmax_cross_entropy(np.float64(1.0), l), ValueError, "at least one dimension"),
    (lambda x, l: fa.softmax_cross_entropy_backward(np.ones(3), x, l), ValueError, "scalar"),
    (lambda x, l: fa.softmax_cross_entropy_backward(np.ones(3), x, l, reduction="none"), ValueError, "broadcast"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_inputs(i, rng):
    call, exc, words = BAD[i]
    x, labels = _case((4, 5), -1, F64, rng)
    with pytest.raises(exc) as info:
        call(x, labels)
    assert "softmax_cross_entropy" in str(info.value) and words in str(info.value), str(info.value)


def test_backward_out_validated_before_writing(rng):
    x, labels = _case((4, 5), -1, F64, rng)
    out = sentinel((4, 5), F64)
    with pytest.raises(ValueError):
        fa.softmax_cross_entropy_backward(1.0, x, labels + 10, out=out)
    assert unchanged(out)
    with pytest.raises(ValueError):
        fa.softmax_cross_entropy_backward(1.0, x, labels, out=sentinel((4, 4), F64))
    r = fa.softmax_cross_entropy_backward(1.0, x, labels, out=out)
    assert r is out
    assert_close(out, ref.softmax_cross_entropy_backward(1.0, x, labels))


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_fast_path_agrees_with_the_general_path(dtype, rng):
    """The short path for (rows, classes) logits with int64 labels gives
    bitwise the general path's results (taken here with int32 labels, a
    0-d grad array and out=), and out-of-range labels still raise."""
    for shape in ((32, 10), (5, 1), (300, 257)):
        x, labels = _case(shape, -1, dtype, rng)
        labels = labels.astype(np.int64)
        for reduction in ("mean", "sum"):
            fast = fa.softmax_cross_entropy(x, labels, reduction=reduction)
            slow = fa.softmax_cross_entropy(x, labels.astype(np.int32), reduction=reduction)
            assert type(fast) is type(slow) and fast.dtype == dtype
            assert fast.tobytes() == slow.tobytes(), (shape, reduction, fast, slow)
            for grad in (1.0, 3):
                fast = fa.softmax_cross_entropy_backward(grad, x, labels, reduction=reduction)
                slow = fa.softmax_cross_entropy_backward(np.asarray(grad, dtype), x, labels.astype(np.int32),
                                                         reduction=reduction, out=np.empty_like(x))
                assert fast.dtype == dtype and fast.tobytes() == slow.tobytes(), (shape, reduction, grad)
        bad = labels.copy()
        bad[-1] = shape[1]
        with pytest.raises(ValueError, match="labels must lie in"):
            fa.softmax_cross_entropy(x, bad)
        with pytest.raises(ValueError, match="labels must lie in"):
            fa.softmax_cross_entropy_backward(1.0, x, bad)


def test_fast_path_obeys_config(monkeypatch, rng):
    """The short path's direct call of the serial kernel is off in a config()
    block: mode='parallel' runs the parallel kernels even on (32, 10)."""
    from fastact import _jit, _softmax
    x, labels = _case((32, 10), -1, F32, rng)
    labels = labels.astype(np.int64)
    (_, fwd), (_, bwd) = _softmax.cross_entropy(np.float32)
    calls = []
    real = _jit.run_at

    def spy(threshold, s, p, size, *arrays):
        calls.append("run_at")

        def recorded(*a):
            calls.append("forward" if p is fwd else "backward" if p is bwd else "other")
            return p(*a)

        return real(threshold, s, recorded, size, *arrays)

    loss = fa.softmax_cross_entropy(x, labels)  # compiles the direct entry points
    grad = fa.softmax_cross_entropy_backward(1.0, x, labels)
    monkeypatch.setattr(_jit, "run_at", spy)
    assert fa.softmax_cross_entropy(x, labels) == loss
    np.testing.assert_array_equal(fa.softmax_cross_entropy_backward(1.0, x, labels), grad)
    assert calls == [], "outside config() the fast paths call the serial entry point directly"
    with fa.config(mode="parallel"):
        assert fa.softmax_cross_entropy(x, labels) == loss
        np.testing.assert_array_equal(fa.softmax_cross_entropy_backward(1.0, x, labels), grad)
    assert calls == ["run_at", "forward", "run_at", "backward"]


def test_sum_over_rows_is_compensated(rng):
    """reduction='sum' (and 'mean') adds the rows' losses with a running
    error term (TwoSum): here, as for most sums of positive terms, the exact
    sum rounded once (its error is at most about 1 ulp)."""
    import math
    x, labels = _case((5000, 7), -1, F64, rng)
    each = fa.softmax_cross_entropy(x, labels, reduction="none")
    assert fa.softmax_cross_entropy(x, labels, reduction="sum") == math.fsum(each)

"""Backward functions: against central finite differences of the forward
(float64, away from the table's kinks), the gradient conventions at the
kinks, PReLU's weight gradient and RReLU in training."""
import numpy as np
import pytest

import fastact as fa
from fastact import reference as ref
from util import (BIG, F16, F32, F64, FLOATS, LAYOUTS, OPS_ALL, Fn, assert_bitwise, assert_close, away_from_kinks,
                  in_layout, params, rule, sentinel, unchanged, values)

H = 1e-6


@pytest.mark.parametrize("shape", [(4, 5), (17,)], ids=str)
@pytest.mark.parametrize("op", params(OPS_ALL))
def test_backward_matches_finite_differences(op, shape, rng):
    """d/dx sum(g * forward(x)) by central differences, x at least 50 h
    away from every kink of the table entry."""
    x = away_from_kinks(shape, rng, op.entry.kinks, margin=50 * H, lo=-7.0, hi=7.0)
    g = rng.uniform(-2, 2, shape)
    v = x if op.uses == "x" else op.forward(x)
    got = op.grad_x(op.backward(g, v))
    num = _numeric(op.forward, x, g)
    np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-7, err_msg=f"{op.id}_backward vs finite differences")


def _numeric(f, x, g):
    res = np.empty_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += H
        xm[i] -= H
        res[i] = (np.sum(g * f(xp)) - np.sum(g * f(xm))) / (xp[i] - xm[i])
    return res


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("op", params(OPS_ALL))
def test_backward_matches_reference_backward(op, dtype, rng):
    """For every parameter set of the table, with grad broadcast too."""
    fn = Fn(op, "backward")
    g, v = fn.inputs((6, 9), dtype, rng)
    assert_close(fn.result(fn(g, v)), fn.expected(g, v), op.id)
    # a grad that broadcasts against x/y (a scalar, a row)
    for gb in (g[0], g[:1, :1], np.asarray(g[0, 0])):
        want = fn.expected(np.broadcast_to(gb, v.shape).copy(), v)
        # a constant grad makes the softmax family's gradient cancel to ~0:
        # errors are measured against the size of grad
        scale = max(float(np.max(np.abs(want))), float(np.max(np.abs(gb))))
        assert_close(fn.result(fn(gb, v)), want, f"{op.id} with grad of shape {gb.shape}", scale=scale)


@pytest.mark.parametrize("op", params([o for o in OPS_ALL if o.entry.kinks]))
def test_gradient_at_kinks_matches_reference(op):
    """At each kink of the table (and at +-0.0), the gradient follows the
    reference's (PyTorch's) convention, in both dtypes."""
    pts = sorted(set(float(k) for k in op.entry.kinks if np.ndim(k) == 0) | {0.0})
    for dt in (F32, F64):
        x = np.array(pts + [-0.0], dt)
        fn = Fn(op, "backward")
        g = np.full(x.shape, 1.5, dt)
        v = op.backward_input(x)
        assert_close(fn.result(fn(g, v)), fn.expected(g, v), f"{op.id} at its kinks {pts}")


# The explicit conventions at 0 (PyTorch's): derivative at x = 0
TORCH_AT_ZERO = {
    "relu": lambda p: 0.0,
    "leaky_relu": lambda p: p["negative_slope"],
    "elu": lambda p: p["alpha"],
    "prelu": lambda p: p["weight"],
    "rrelu": lambda p: (p["lower"] + p["upper"]) / 2,
}


@pytest.mark.parametrize("op", params([o for o in OPS_ALL if o.name in TORCH_AT_ZERO]))
def test_gradient_at_zero_is_pytorchs(op):
    want = TORCH_AT_ZERO[op.name](op.params)
    for dt in (F32, F64):
        for zero in (0.0, -0.0):
            x = np.array([zero, zero], dt)
            v = x if op.uses == "x" else op.forward(x)
            got = op.grad_x(op.backward(np.ones(2, dt), v))
            assert np.all(got == dt.type(want)), f"{op.id}'({zero}) = {got[0]!r}, expected {want}"


# ---------------------------------------------------------------------------
# PReLU: per-channel weights, the weight gradient


PRELU = [o for o in OPS_ALL if o.kind == "prelu"]
PRELU_CASES = [((2, 3, 4), 1), ((2, 3, 4), -1), ((2, 3, 4), 0), ((5, 3), 1), ((5, 3), -2), ((2, 3, 2, 2), 1),
               ((4, 3, 5), 2), ((7,), None), ((3, 4), None)]


def _channel_weight(op, shape, axis, dtype=F64):
    w0 = op.params["weight"]
    if axis is None:
        return np.array([w0], dtype)
    C = shape[axis]
    return (w0 * (1 + 0.3 * np.arange(C))).astype(dtype)


@pytest.mark.parametrize("case", PRELU_CASES, ids=str)
@pytest.mark.parametrize("op", params(PRELU))
def test_prelu_weight_gradient_finite_differences(op, case, rng):
    shape, axis = case
    kw = {} if axis is None else {"axis": axis}
    w = _channel_weight(op, shape, axis)
    x = away_from_kinks(shape, rng, op.entry.kinks, margin=50 * H)
    g = rng.uniform(-2, 2, shape)
    gx, gw = fa.prelu_backward(g, x, w, **kw)
    assert gw.shape == w.shape and gw.dtype == F64 and gx.shape == shape

    def loss_w(wv):
        return np.sum(g * fa.prelu(x, wv, **kw))

    num_w = np.empty_like(w)
    for c in range(w.size):
        wp, wm = w.copy(), w.copy()
        wp[c] += H
        wm[c] -= H
        num_w[c] = (loss_w(wp) - loss_w(wm)) / (wp[c] - wm[c])
    np.testing.assert_allclose(gw, num_w, rtol=1e-7, atol=1e-8, err_msg="grad_weight vs finite differences")
    np.testing.assert_allclose(gx, _numeric(lambda xv: fa.prelu(xv, w, **kw), x, g), rtol=1e-6, atol=1e-7)
    rx, rw = ref.prelu_backward(g, x, w, **({"axis": axis} if axis is not None else {}))
    assert_close(gx, rx)
    assert_close(gw, rw)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("case", PRELU_CASES, ids=str)
@pytest.mark.parametrize("op", params(PRELU))
def test_prelu_per_channel_matches_reference(op, case, dtype, rng):
    shape, axis = case
    kw = {} if axis is None else {"axis": axis}
    rkw = {} if axis is None else {"axis": axis}
    ct, _ = rule(dtype)
    w = _channel_weight(op, shape, axis)
    x = values(shape, dtype, rng)
    g = values(shape, dtype, rng)
    want_y = ref.prelu(x.astype(ct), w, **rkw).astype(dtype)
    want_gx, want_gw = (a.astype(dtype) for a in ref.prelu_backward(g.astype(ct), x.astype(ct), w, **rkw))
    for layout in LAYOUTS:
        xl, gl = in_layout(x, layout), in_layout(g, layout)
        assert_close(fa.prelu(xl, w, **kw), want_y, f"prelu {layout}")
        gx, gw = fa.prelu_backward(gl, xl, w, **kw)
        assert_close(gx, want_gx, f"prelu_backward grad_x {layout}")
        np.testing.assert_allclose(gw.astype(F64), want_gw.astype(F64), rtol=2e-3 if dtype == F16 else 1e-5,
                                   atol=1e-3 if dtype == F16 else 1e-9, err_msg=f"grad_weight {layout}")
        assert gw.dtype == dtype
    # weight as a list and as a float32 array give the same result
    assert_close(fa.prelu(x, w.tolist(), **kw), want_y)


@pytest.mark.parametrize("wshape", [(), (1,), (1, 1)], ids=str)
def test_prelu_grad_weight_has_the_weights_shape(wshape, rng):
    x = values((3, 4, 5), F64, rng)
    g = values((3, 4, 5), F64, rng)
    w = np.full(wshape, 0.3)
    gx, gw = fa.prelu_backward(g, x, w)
    assert gw.shape == wshape
    np.testing.assert_allclose(gw, np.full(wshape, np.sum(np.where(x > 0, 0, x * g))), rtol=1e-12)


def test_prelu_backward_out_tuple(rng):
    x = values((4, 3, 5), F64, rng)
    g = values((4, 3, 5), F64, rng)
    w = np.array([0.1, 0.2, 0.3])
    ox, ow = sentinel(x.shape, F64), sentinel((3,), F64)
    rx, rw = fa.prelu_backward(g, x, w, out=(ox, ow))
    assert rx is ox and rw is ow
    wx, ww = ref.prelu_backward(g, x, w)
    assert_close(ox, wx)
    assert_close(ow, ww)
    # a bad second member: nothing written to either
    for bad_w in (sentinel((4,), F64), sentinel((3,), F32), [0.0] * 3):
        ox, ow = sentinel(x.shape, F64), sentinel((3,), F64)
        with pytest.raises((TypeError, ValueError)) as exc:
            fa.prelu_backward(g, x, w, out=(ox, bad_w))
        assert "prelu_backward" in str(exc.value)
        assert unchanged(ox)
    with pytest.raises(ValueError):
        fa.prelu_backward(g, x, w, out=(ox,))


PRELU_BAD = [
    # (x shape, weight, kwargs, exception)
    ((2, 3, 4), np.ones(2), {}, ValueError),  # fits no channel count
    ((2, 3, 4), np.ones(4), {}, ValueError),  # fits another axis, not axis 1
    ((2, 3, 4), np.ones(3), {"axis": 2}, ValueError),
    ((2, 3, 4), np.ones(3), {"axis": 3}, ValueError),  # axis out of range
    ((2, 3, 4), np.ones(3), {"axis": -4}, ValueError),
    ((7,), np.ones(7), {}, ValueError),  # a 1-d input has no channel axis
    ((2, 3), np.ones(0), {}, ValueError),  # empty weight
    ((2, 3), np.array([0.1, np.nan, 0.2]), {}, ValueError),
    ((2, 3), np.array([0.1, np.inf, 0.2]), {}, ValueError),
    ((2, 3), np.array([-np.inf]), {}, ValueError),
    ((2, 3), np.array([1 + 1j, 1, 1]), {}, TypeError),
    ((2, 3), np.array(["a", "b", "c"]), {}, TypeError),
    ((2, 3), np.array([0.1, 0.2, 0.3], dtype=object), {}, TypeError),
    ((2, 3), np.ones(3), {"axis": 1.0}, TypeError),
]


@pytest.mark.parametrize("case", PRELU_BAD, ids=lambda c: f"{c[0]}-{np.asarray(c[1]).dtype}{np.shape(c[1])}-{c[2]}")
def test_prelu_bad_weight_or_axis_writes_nothing(case, rng):
    shape, w, kw, exc_type = case
    x = values(shape, F64, rng)
    g = values(shape, F64, rng)
    out = sentinel(shape, F64)
    with pytest.raises(exc_type) as exc:
        fa.prelu(x, w, out=out, **kw)
    assert "prelu" in str(exc.value)
    assert unchanged(out)
    out_x, out_w = sentinel(shape, F64), sentinel(np.shape(w), F64)
    with pytest.raises(exc_type) as exc:
        fa.prelu_backward(g, x, w, out=(out_x, out_w), **kw)
    assert "prelu_backward" in str(exc.value)
    assert unchanged(out_x) and unchanged(out_w)


# ---------------------------------------------------------------------------
# RReLU


RRELU = [o for o in OPS_ALL if o.kind == "rrelu"]


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("op", params(RRELU))
def test_rrelu_training_noise(op, dtype, rng):
    lo, up = op.params["lower"], op.params["upper"]
    x = values((BIG,), dtype, rng)
    y, noise = fa.rrelu(x, lo, up, training=True, rng=np.random.default_rng(7))
    assert y.dtype == dtype and noise.dtype == dtype and noise.shape == x.shape
    neg = ~(x > 0)
    assert np.all(noise[~neg] == 1), "noise must be 1 where x > 0"
    n = noise[neg]
    assert np.all((n >= dtype.type(lo)) & (n <= dtype.type(up))), (
        f"noise outside [{lo}, {up}]: min {n.min()!r} max {n.max()!r}")
    # uniform: mean and spread of U(lower, upper), not constant
    k = n.size
    sd = (up - lo) / np.sqrt(12)
    assert abs(n.astype(F64).mean() - (lo + up) / 2) < 6 * sd / np.sqrt(k)
    assert abs(n.astype(F64).std() - sd) < 0.05 * sd
    assert_bitwise(y, x * noise, "training forward must be x * noise")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("op", params(RRELU))
def test_rrelu_training_reproducible_from_seed(op, dtype, rng):
    lo, up = op.params["lower"], op.params["upper"]
    x = values((3, 1001), dtype, rng)
    a = fa.rrelu(x, lo, up, training=True, rng=123)
    b = fa.rrelu(x, lo, up, training=True, rng=np.random.default_rng(123))
    c = fa.rrelu(x, lo, up, training=True, rng=np.random.SeedSequence(123))
    d = fa.rrelu(x, lo, up, training=True, rng=124)
    for r in (b, c):
        assert_bitwise(a[0], r[0])
        assert_bitwise(a[1], r[1])
    assert not np.array_equal(a[1], d[1])
    # a Generator advances: two draws differ
    gen = np.random.default_rng(5)
    e, f = fa.rrelu(x, lo, up, training=True, rng=gen), fa.rrelu(x, lo, up, training=True, rng=gen)
    assert not np.array_equal(e[1], f[1])
    # serial and parallel draw the same
    xb = values((BIG,), dtype, rng)
    with fa.config(mode="serial"):
        s = fa.rrelu(xb, lo, up, training=True, rng=9)
    with fa.config(mode="parallel"):
        p = fa.rrelu(xb, lo, up, training=True, rng=9)
    assert_bitwise(s[0], p[0])
    assert_bitwise(s[1], p[1])


def test_rrelu_training_float16(rng):
    x = values((4000,), F16, rng)
    y, noise = fa.rrelu(x, 0.125, 0.375, training=True, rng=1)
    assert y.dtype == F16 and noise.dtype == F16
    neg = ~(x > 0)
    assert np.all(noise[~neg] == 1)
    assert np.all((noise[neg] >= 0.125) & (noise[neg] <= 0.375))
    np.testing.assert_allclose(y.astype(F64), (x.astype(F64) * noise.astype(F64)), rtol=2e-3, atol=1e-7)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("op", params(RRELU))
def test_rrelu_backward_with_noise_is_grad_times_noise(op, dtype, rng):
    lo, up = op.params["lower"], op.params["upper"]
    x = values((BIG,), dtype, rng)
    g = values((BIG,), dtype, rng)
    _, noise = fa.rrelu(x, lo, up, training=True, rng=3)
    for mode in ("serial", "parallel"):
        with fa.config(mode=mode):
            dx = fa.rrelu_backward(g, x, noise, lo, up)
        assert dx.dtype == dtype
        assert_bitwise(dx, g * noise, f"rrelu_backward with noise ({mode})")
    assert_bitwise(ref.rrelu_backward(g, x, noise, lo, up), g * noise)
    with pytest.raises(ValueError) as exc:
        fa.rrelu_backward(g, x, noise[:-1], lo, up)
    assert "rrelu_backward" in str(exc.value)


@pytest.mark.parametrize("op", params(RRELU))
def test_rrelu_eval_slope_is_mean(op, rng):
    lo, up = op.params["lower"], op.params["upper"]
    slope = (lo + up) / 2
    x = np.array([-4.0, -1.0, -0.5, 0.0, 2.0])
    np.testing.assert_array_equal(fa.rrelu(x, lo, up), np.where(x > 0, x, x * slope))
    np.testing.assert_array_equal(fa.rrelu(x, lo, up, training=False), fa.leaky_relu(x, slope))
    np.testing.assert_array_equal(fa.rrelu_backward(np.ones(5), x, None, lo, up), np.where(x > 0, 1.0, slope))


def test_rrelu_training_scalar_and_out(rng):
    y, noise = fa.rrelu(-2.0, training=True, rng=0)
    assert isinstance(y, np.generic) and isinstance(noise, np.generic)
    assert 1 / 8 <= noise <= 1 / 3 and y == -2.0 * noise
    x = values((5, 6), F32, rng)
    out = sentinel((5, 6), F32)
    r, noise = fa.rrelu(x, training=True, rng=1, out=out)
    assert r is out
    assert_bitwise(out, x * noise)
    # in place
    x2 = x.copy()
    r, noise = fa.rrelu(x2, training=True, rng=1, out=x2)
    assert r is x2
    assert_bitwise(x2, x * noise)
    # a strided out
    buf = sentinel((5, 12), F32)
    r, noise = fa.rrelu(x, training=True, rng=1, out=buf[:, ::2])
    assert_bitwise(buf[:, ::2], x * noise)
    assert unchanged(buf[:, 1::2])


RRELU_BAD = [
    ({"lower": 0.4, "upper": 0.2}, ValueError),
    ({"lower": np.nan, "upper": 0.2}, ValueError),
    ({"lower": 0.1, "upper": np.nan}, ValueError),
    ({"lower": -np.inf, "upper": 0.2}, ValueError),
    ({"lower": 0.1, "upper": np.inf}, ValueError),
    ({"lower": "0.1", "upper": 0.2}, TypeError),
]


@pytest.mark.parametrize("case", RRELU_BAD, ids=lambda c: str(c[0]))
@pytest.mark.parametrize("call", ["eval", "train", "backward", "backward-noise"])
def test_rrelu_bad_bounds_write_nothing(case, call, rng):
    bounds, exc_type = case
    x = values((4, 5), F64, rng)
    noise = np.full((4, 5), 0.2)
    out = sentinel((4, 5), F64)
    with pytest.raises(exc_type) as exc:
        if call == "eval":
            fa.rrelu(x, **bounds, out=out)
        elif call == "train":
            fa.rrelu(x, **bounds, training=True, rng=0, out=out)
        elif call == "backward":
            fa.rrelu_backward(x, x, **bounds, out=out)
        else:
            fa.rrelu_backward(x, x, noise, **bounds, out=out)
    msg = str(exc.value)
    assert "rrelu" in msg and ("lower" in msg or "upper" in msg), msg
    assert unchanged(out)


def test_rrelu_bad_rng_writes_nothing(rng):
    x = values((4, 5), F64, rng)
    out = sentinel((4, 5), F64)
    with pytest.raises(TypeError) as exc:
        fa.rrelu(x, training=True, rng="seed", out=out)
    assert "rrelu" in str(exc.value) and "rng" in str(exc.value)
    assert unchanged(out)

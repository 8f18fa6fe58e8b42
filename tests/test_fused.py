"""glu and bias_act (fastact._fused): against the reference compositions,
finite differences, serial == parallel bitwise, dtypes, layouts, out= and
bad inputs."""
import numpy as np
import pytest

import fastact as fa
from fastact import reference as ref
from fastact._registry import ACTIVATIONS, ELEMENTWISE
from util import (BIG, F16, F32, F64, LAYOUTS, assert_bitwise, assert_close, in_layout, param_sets, rule,
                  sentinel, unchanged)

# every elementwise activation with every parameter set of the table
ACTS = [(e.name, p) for e in ACTIVATIONS.values() if e.kind == "elementwise" for p in param_sets(e)]
ACT_IDS = [n + "".join(f"-{k}={v}" for k, v in p.items()) for n, p in ACTS]


def _bias_for(x, axis, rng, dtype=None):
    return rng.uniform(-1, 1, x.shape[axis]).astype(dtype or x.dtype)


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("act, p", ACTS, ids=ACT_IDS)
def test_bias_act_matches_reference(act, p, dtype, rng):
    # (5, 600), (40, 600), (7, 300): rows long enough for the heavy
    # activations' row-at-a-time loops (_fused.BIAS_ROW_MIN, BIAS_ROW_MIN_B),
    # in one block of the bias gradient or several
    for shape, axis in (((6, 9), -1), ((3, 5, 4), 1), ((4, 7), 0), ((10,), 0), ((5, 600), -1), ((40, 600), -1),
                        ((7, 300), -1)):
        x = rng.uniform(-6, 6, shape).astype(dtype)
        b = _bias_for(x, axis, rng)
        g = rng.uniform(-2, 2, shape).astype(dtype)
        y = fa.bias_act(x, b, act, axis=axis, **p)
        assert_close(y, ref.bias_act(x, b, act, axis=axis, **p).astype(dtype), f"bias_act {act} {shape} {axis}")
        gx, gb = fa.bias_act_backward(g, x, b, act, axis=axis, **p)
        rx, rb = ref.bias_act_backward(g, x, b, act, axis=axis, **p)
        assert_close(gx, np.asarray(rx).astype(dtype), f"bias_act_backward {act} grad_x")
        assert gb.shape == b.shape and gb.dtype == dtype
        # grad_bias sums the rounded grad_x in float64: compare with that sum
        other = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
        want = np.sum(gx.astype(F64), axis=other)
        np.testing.assert_allclose(gb.astype(F64), want, rtol=RT[dtype], atol=RT[dtype] * np.abs(gx).sum())


RT = {F32: 2e-6, F64: 1e-14}


@pytest.mark.parametrize("act, p", [a for a in ACTS if a[0] in ("gelu", "silu", "leaky_relu", "sigmoid", "softplus")],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_bias_act_backward_finite_differences(act, p, rng):
    x = rng.uniform(-3, 3, (4, 5))
    x[np.abs(x) < 1e-3] = 0.5  # away from leaky_relu's kink
    b = rng.uniform(-0.1, 0.1, 5)
    g = rng.uniform(-2, 2, (4, 5))
    gx, gb = fa.bias_act_backward(g, x, b, act, **p)
    h = 1e-6
    nx = np.empty_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        nx[i] = np.sum(g * (fa.bias_act(xp, b, act, **p) - fa.bias_act(xm, b, act, **p))) / (2 * h)
    nb = np.empty_like(b)
    for j in range(b.size):
        bp, bm = b.copy(), b.copy()
        bp[j] += h
        bm[j] -= h
        nb[j] = np.sum(g * (fa.bias_act(x, bp, act, **p) - fa.bias_act(x, bm, act, **p))) / (2 * h)
    np.testing.assert_allclose(gx, nx, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gb, nb, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("shape, axis", [((BIG // 7, 7), -1), ((3, 7, BIG // 21), 1), ((BIG,), 0),
                                         ((2 * 256 + 37, 64), 1), ((BIG // 600, 600), -1),
                                         ((64 * 1024 + 77, 8), -1)], ids=str)
@pytest.mark.parametrize("act, p", [("relu", {}), ("gelu", {}), ("leaky_relu", {"negative_slope": 0.2}),
                                    ("sigmoid", {}), ("silu", {})], ids=lambda v: v if isinstance(v, str) else "")
def test_bias_act_serial_equals_parallel_bitwise(act, p, shape, axis, dtype, rng):
    x = rng.uniform(-8, 8, shape).astype(dtype)
    b = _bias_for(x, axis, rng)
    g = rng.uniform(-2, 2, shape).astype(dtype)
    res = {}
    for mode, threads in (("serial", None), ("parallel", None), ("parallel", 1)):
        with fa.config(mode=mode, threads=threads):
            res[(mode, threads)] = (fa.bias_act(x, b, act, axis=axis, **p),
                                    *fa.bias_act_backward(g, x, b, act, axis=axis, **p))
    for k, r in res.items():
        for a, s, what in zip(r, res[("serial", None)], ("y", "grad_x", "grad_bias")):
            assert_bitwise(a, s, f"bias_act {act} {what}: {k} vs serial")
    # and right: every row counted once in the blocks of the bias gradient
    _, gx, gb = res[("serial", None)]
    assert_close(gx, np.asarray(ref.bias_act_backward(g, x, b, act, axis=axis, **p)[0]).astype(dtype))
    other = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    want = np.sum(gx.astype(F64), axis=other)
    np.testing.assert_allclose(gb.astype(F64), want, rtol=RT[dtype], atol=RT[dtype] * np.abs(gx).sum())


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("shape, axis", [((BIG // 7 * 2, 14), -1), ((3, 8, BIG // 24), 1), ((2 * BIG,), 0)], ids=str)
def test_glu_serial_equals_parallel_bitwise(shape, axis, dtype, rng):
    x = rng.uniform(-8, 8, shape).astype(dtype)
    half = list(shape)
    half[axis] //= 2
    g = rng.uniform(-2, 2, half).astype(dtype)
    with fa.config(mode="serial"):
        s = (fa.glu(x, axis=axis), fa.glu_backward(g, x, axis=axis))
    with fa.config(mode="parallel"):
        p = (fa.glu(x, axis=axis), fa.glu_backward(g, x, axis=axis))
    for a, b, what in zip(p, s, ("glu", "glu_backward")):
        assert_bitwise(a, b, f"{what} parallel vs serial")


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("shape, axis", [((6, 8), -1), ((4, 6, 3), 1), ((8, 3), 0), ((10,), 0), ((2, 3, 4), -1)],
                         ids=str)
def test_glu_matches_reference(shape, axis, dtype, rng):
    x = rng.uniform(-30, 30, shape).astype(dtype)
    y = fa.glu(x, axis=axis)
    assert_close(y, ref.glu(x, axis=axis).astype(dtype), "glu")
    g = rng.uniform(-2, 2, y.shape).astype(dtype)
    assert_close(fa.glu_backward(g, x, axis=axis), ref.glu_backward(g, x, axis=axis).astype(dtype), "glu_backward")


def test_glu_backward_finite_differences(rng):
    x = rng.uniform(-4, 4, (3, 6))
    g = rng.uniform(-2, 2, (3, 3))
    got = fa.glu_backward(g, x)
    h = 1e-6
    num = np.empty_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        num[i] = np.sum(g * (fa.glu(xp) - fa.glu(xm))) / (2 * h)
    np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-8)


def test_glu_values_and_tails():
    x = np.array([[1.0, -2.0, 0.0, 800.0], [3.0, 4.0, -800.0, np.nan]])
    y = fa.glu(x)
    s = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    np.testing.assert_allclose(y[0], [1.0 * s(0.0), -2.0 * 1.0])
    assert y[1, 0] == 3.0 * 0.0 and np.isnan(y[1, 1])
    assert abs(fa.glu(np.array([2.0, -100.0]))[0] - 7.440151952041672e-44) <= 1e-15 * 7.44e-44  # not 0


@pytest.mark.parametrize("dt", [F16, F32, F64, np.dtype(np.int32), np.dtype(bool)], ids=str)
def test_dtypes(dt, rng):
    x = (rng.uniform(-3, 3, (4, 6)) * (1 if dt.kind == "f" else 3)).astype(dt)
    b = (np.arange(6) % 2).astype(dt)
    ct, rdt = rule(dt)
    y = fa.glu(x)
    assert y.dtype == rdt
    assert_close(y, ref.glu(x.astype(ct)).astype(rdt))
    z = fa.bias_act(x, b, "silu")
    assert z.dtype == rdt
    assert_close(z, ref.bias_act(x.astype(ct), b.astype(ct), "silu").astype(rdt))
    gx, gb = fa.bias_act_backward(np.ones(x.shape, dt), x, b, "silu")
    assert gx.dtype == rdt and gb.dtype == rdt
    # a float16 input with a float32 bias computes and returns float32
    assert fa.bias_act(x.astype(F16), b.astype(F32), "relu").dtype == F32


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts_and_out(layout, rng):
    x0 = rng.uniform(-3, 3, (4, 5, 6))
    b = rng.uniform(-1, 1, 5)
    x = in_layout(x0, layout)
    want = ref.bias_act(x0, b, "gelu", axis=1)
    assert_close(fa.bias_act(x, b, "gelu", axis=1), want)
    out = in_layout(np.zeros_like(x0), layout)
    r = fa.bias_act(x, b, "gelu", axis=1, out=out)
    assert r is out
    assert_close(out, want)
    g = in_layout(rng.uniform(-1, 1, (4, 5, 3)), layout)
    assert_close(fa.glu(x, axis=-1), ref.glu(x0, axis=-1))
    assert_close(fa.glu_backward(g, x, axis=-1), ref.glu_backward(np.asarray(g), x0, axis=-1))


def test_in_place(rng):
    x = rng.uniform(-3, 3, (6, 4))
    b = rng.uniform(-1, 1, 4)
    want = ref.bias_act(x, b, "tanh")
    r = fa.bias_act(x, b, "tanh", out=x)
    assert r is x
    assert_close(x, want)
    x = rng.uniform(-3, 3, (6, 4))
    g = rng.uniform(-1, 1, (6, 4))
    wx, wb = ref.bias_act_backward(g, x, b, "tanh")
    gx, gb = fa.bias_act_backward(g, x, b, "tanh", out=g)
    assert gx is g
    assert_close(gx, wx)


def test_empty_arrays():
    assert fa.glu(np.zeros((0, 4))).shape == (0, 2)
    assert fa.bias_act(np.zeros((0, 3)), np.zeros(3), "relu").shape == (0, 3)
    gx, gb = fa.bias_act_backward(np.zeros((0, 3)), np.zeros((0, 3)), np.ones(3), "relu")
    assert gx.shape == (0, 3) and np.array_equal(gb, np.zeros(3))


BAD = [
    (lambda: fa.glu(np.zeros((2, 3))), ValueError, "even"),
    (lambda: fa.glu(np.zeros((2, 4)), axis=2), ValueError, "axis"),
    (lambda: fa.glu(np.zeros((2, 4)), axis=1.0), TypeError, "axis"),
    (lambda: fa.glu(np.array(1.0)), ValueError, "dimension"),
    (lambda: fa.glu(np.array(["a", "b"])), TypeError, "glu"),
    (lambda: fa.glu_backward(np.zeros((2, 3)), np.zeros((2, 4))), ValueError, "grad"),
    (lambda: fa.bias_act(np.zeros((2, 3)), np.zeros(3), "softmax"), ValueError, "elementwise"),
    (lambda: fa.bias_act(np.zeros((2, 3)), np.zeros(3), "nope"), ValueError, "nope"),
    (lambda: fa.bias_act(np.zeros((2, 3)), np.zeros(3), 3), TypeError, "activation"),
    (lambda: fa.bias_act(np.zeros((2, 3)), np.zeros(2), "relu"), ValueError, "bias"),
    (lambda: fa.bias_act(np.zeros((2, 3)), np.zeros((1, 3)), "relu"), ValueError, "bias"),
    (lambda: fa.bias_act(np.zeros((2, 3)), np.zeros(3), "relu", alpha=1.0), TypeError, "alpha"),
    (lambda: fa.bias_act(np.zeros((2, 3)), np.zeros(3), "elu", alpha="x"), TypeError, "alpha"),
    (lambda: fa.bias_act(np.zeros((2, 3)), np.zeros(3), "celu", alpha=0.0), ValueError, "alpha"),
    (lambda: fa.bias_act(np.zeros((2, 3)), np.zeros(3), "threshold"), TypeError, "threshold"),
    (lambda: fa.bias_act(np.zeros((2, 3)), np.zeros(3), "gelu", approximate="fast"), ValueError, "approximate"),
    (lambda: fa.bias_act(np.zeros((2, 3)), np.zeros(3), "relu", axis=5), ValueError, "axis"),
    (lambda: fa.bias_act_backward(np.zeros((2, 2)), np.zeros((2, 3)), np.zeros(3), "relu"), ValueError, "grad"),
    (lambda: fa.bias_act_backward(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros(3), "relu", out=(1, 2, 3)),
     ValueError, "out"),
]


@pytest.mark.parametrize("call, exc, word", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_inputs(call, exc, word):
    with pytest.raises(exc) as e:
        call()
    msg = str(e.value)
    assert word in msg and ("glu" in msg or "bias_act" in msg), msg


def test_nothing_written_before_validation():
    x = np.ones((2, 3))
    out = sentinel((2, 3), F64)
    for call in (lambda: fa.bias_act(x, np.zeros(2), "relu", out=out),
                 lambda: fa.bias_act(x, np.zeros(3), "celu", alpha=0.0, out=out),
                 lambda: fa.bias_act(x, np.zeros(3), "relu", out=np.zeros((2, 3), F32)),
                 lambda: fa.bias_act_backward(x, x, np.zeros(3), "relu",
                                              out=(out, np.zeros(4)))):
        with pytest.raises((TypeError, ValueError)):
            call()
        assert unchanged(out)
    out2 = sentinel((2, 1), F64)
    with pytest.raises(ValueError):
        fa.glu(np.ones((2, 2)), out=out2[:, :0])
    assert unchanged(out2)


def test_every_elementwise_activation_is_accepted():
    assert {n for n, _ in ACTS} == set(ELEMENTWISE)
    for name in ("bias_act", "bias_act_backward", "glu", "glu_backward"):
        assert name in fa.__all__ and callable(getattr(fa, name))


def test_glu_backward_in_place(rng):
    """out=x: each element's two reads happen before its stores."""
    x = rng.uniform(-3, 3, (5, 8))
    g = rng.uniform(-1, 1, (5, 4))
    want = ref.glu_backward(g, x)
    r = fa.glu_backward(g, x, out=x)
    assert r is x
    assert_close(x, want)
    np.testing.assert_allclose(fa.glu_backward(np.array([[1.0]]), np.array([[1.0, 0.0]])), [[0.5, 0.25]])


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_glu_tails_are_accurate(dtype):
    """a * sigmoid(b) and its gradients for b far out in the tails, where
    sigmoid(b) or 1 - sigmoid(b) is subnormal but the result is not."""
    import mpmath
    from fastact.testing import ulp_error
    big = 1e30 if dtype == F32 else 1e300
    bs = [-100.0, -90.0, 95.0, -700.0, 720.0] if dtype == F64 else [-100.0, -90.0, 95.0, -60.0, 60.0]
    x = np.array([[big, b] for b in bs], dtype)
    g = np.ones((len(bs), 1), dtype)
    y = fa.glu(x)
    gx = fa.glu_backward(g, x)
    with mpmath.workprec(200):
        for i, b in enumerate(bs):
            a, bb = mpmath.mpf(float(x[i, 0])), mpmath.mpf(float(x[i, 1]))
            e = mpmath.exp(-bb)
            s = 1 / (1 + e)
            # 1 - s written as e / (1 + e): at b = 720 it is below 2^-1000,
            # which 1 - s loses at any working precision short of that
            for got, want in ((y[i, 0], a * s), (gx[i, 0], s), (gx[i, 1], a * s * (e / (1 + e)))):
                exact = np.longdouble(float(want))
                assert ulp_error(np.asarray(got), exact, dtype) <= (4 if dtype == F32 else 8), (b, got, want)


@pytest.mark.parametrize("act", ["tanh", "gelu", "silu", "relu"])
@pytest.mark.parametrize("shape_axis", [((70, 300), -1), ((3, 40, 50), 1), ((9, 700), -1)],
                         ids=["cols", "rows", "long-cols"])
def test_backward_in_place_over_grad_or_x(act, shape_axis, rng):
    """bias_act_backward with out= the gradient or x itself, for activations
    whose kernels stage z = x + bias before the activation's derivative (and
    bias_act with out=x)."""
    shape, axis = shape_axis
    b = rng.uniform(-1, 1, shape[axis])
    x = rng.uniform(-3, 3, shape)
    g = rng.uniform(-1, 1, shape)
    wx, wb = ref.bias_act_backward(g, x, b, act, axis=axis)
    x2 = x.copy()
    assert fa.bias_act(x2, b, act, axis=axis, out=x2) is x2
    assert_close(x2, ref.bias_act(x, b, act, axis=axis))
    for target in ("grad", "x"):
        g2, x2 = g.copy(), x.copy()
        out = g2 if target == "grad" else x2
        gx, gb = fa.bias_act_backward(g2, x2, b, act, axis=axis, out=out)
        assert gx is out
        assert_close(gx, wx)
        assert_close(gb, wb)


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_glu_ulp_sweep(dtype):
    """glu and both of its gradients within the core bounds (4 ulp float32, 8
    float64) of a long-double evaluation, over a spread of magnitudes of a
    and gates b across the whole range where sigmoid(b) is not 0 or 1."""
    from fastact.testing import ulp_error
    rng = np.random.default_rng(11)
    n = 1 << 16
    a = (rng.standard_normal(n) * np.exp2(rng.integers(-20, 20, n))).astype(dtype)
    lim = 110 if dtype == F32 else 740
    b = rng.uniform(-lim, lim, n).astype(dtype)
    b[: n // 2] = (4 * rng.standard_normal(n // 2)).astype(dtype)
    g = rng.standard_normal((n, 1)).astype(dtype)
    x = np.stack([a, b], axis=1)
    L = np.longdouble
    al, bl, gl = a.astype(L), b.astype(L), g[:, 0].astype(L)
    e = np.exp(-np.abs(bl))
    s = np.where(bl >= 0, 1 / (1 + e), e / (1 + e))
    oms = np.where(bl >= 0, e / (1 + e), 1 / (1 + e))
    y = fa.glu(x)[:, 0]
    gx = fa.glu_backward(g, x)
    bound = 4 if dtype == F32 else 8
    with np.errstate(all="ignore"):
        for name, got, want in (("glu", y, al * s), ("grad a", gx[:, 0], gl * s),
                                ("grad b", gx[:, 1], gl * al * s * oms)):
            err = ulp_error(got, want, dtype)
            assert float(np.max(err)) <= bound, (name, float(np.max(err)))


def test_bias_act_fast_path_keeps_its_dtype(rng):
    """The fast path (plain float32 arrays along the last axis) gives the
    general path's results bitwise, also after a call whose grad or bias
    promoted the computation to float64 (whose kernels it must not take)."""
    x = rng.uniform(-3, 3, (64, 24)).astype(F32)
    b = rng.uniform(-1, 1, 24).astype(F32)
    g = rng.uniform(-1, 1, (64, 24)).astype(F32)
    for act, kw in (("leaky_relu", {}), ("gelu", {}), ("relu", {})):
        fa.bias_act_backward(g.astype(F64), x, b, act, **kw)  # computed in float64
        fa.bias_act(x, b.astype(F64), act, **kw)
        for _ in range(2):  # the first call may enable the fast path
            y = fa.bias_act(x, b, act, **kw)
            gx, gb = fa.bias_act_backward(g, x, b, act, **kw)
            assert y.dtype == F32 and gx.dtype == F32 and gb.dtype == F32
            assert_bitwise(y, fa.bias_act(x, b, act, out=np.empty_like(x), **kw))
            gx2, gb2 = fa.bias_act_backward(g, x, b, act, out=(np.empty_like(x), np.empty_like(b)), **kw)
            assert_bitwise(gx, gx2)
            assert_bitwise(gb, gb2)


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("act", ["relu", "silu", "gelu"])
def test_bias_act_backward_single_row_in_pieces(act, dtype, rng):
    # one row longer than _fused.ONE_ROW_PIECE goes through the backward in
    # pieces; its bias gradient is its grad_x, bit for bit
    from fastact._fused import ONE_ROW_PIECE

    n = 2 * ONE_ROW_PIECE + 3
    for shape in ((n,), (1, n)):
        x = rng.uniform(-6, 6, shape).astype(dtype)
        b = rng.uniform(-1, 1, n).astype(dtype)
        g = rng.uniform(-2, 2, shape).astype(dtype)
        gx, gb = fa.bias_act_backward(g, x, b, act)
        assert_close(gx, np.asarray(ref.bias_act_backward(g, x, b, act)[0]).astype(dtype), f"{act} {shape}")
        assert_bitwise(gb, gx.reshape(n), f"{act} {shape}: grad_bias is the row's grad_x")
        ox, ob = np.full(shape, np.nan, dtype), np.full(n, np.nan, dtype)
        rx, rb = fa.bias_act_backward(g, x, b, act, out=(ox, ob))
        assert rx is ox and rb is ob
        assert_bitwise(ox, gx, f"{act} {shape} out=")
        assert_bitwise(ob, gb, f"{act} {shape} out=")

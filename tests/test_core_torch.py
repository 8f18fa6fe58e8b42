"""fastact against PyTorch, through each table entry's ``torch`` expression:
the gradient at the kinks (the issue: "gradients at kinks follow
PyTorch"), and forward and backward on finite values and NaN.  (At +-inf
fastact gives the mathematical limits, where PyTorch can give NaN, e.g.
silu(-inf); those are tested against the reference in test_core_accuracy.)

Needs PyTorch (an optional peer dependency); without it these tests are
skipped.
"""
import numpy as np
import pytest

from util import F32, F64, OPS_ALL, params, sweep

torch = pytest.importorskip("torch")
F = torch.nn.functional

TORCH_OPS = [o for o in OPS_ALL if o.entry.torch]


def _torch(op, x, g):
    """(y, dx) of the entry's torch expression at x (float64 or float32), upstream grad g."""
    xt = torch.tensor(x, requires_grad=True)
    env = {"F": F, "torch": torch, "x": xt}
    for k, v in op.params.items():
        env[k] = torch.tensor([v], dtype=xt.dtype) if op.kind == "prelu" else v
    y = eval(op.entry.torch, env)  # noqa: S307 (the table's own expression)
    y.backward(torch.tensor(g))
    return y.detach().numpy(), xt.grad.numpy()


def _ours(op, x, g):
    y = op.forward(x)
    v = x if op.uses == "x" else y
    return y, op.grad_x(op.backward(g, v))


# PyTorch is not the accuracy oracle (the long double reference is): in
# float64 some of its kernels use float32 constants (hardsigmoid's 1/6 has a
# relative error of 3e-8).  These tests are about conventions and branches.
RTOL = {F32: 8 * float(np.finfo(F32).eps), F64: 5e-8}


def _close(got, want, dtype, what):
    assert got.dtype == want.dtype == dtype, what
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN positions")
    eps = RTOL[dtype] / 8
    w = want.astype(F64)
    fin = np.isfinite(w)
    scale = float(np.max(np.abs(w[fin]))) if fin.any() else 0.0
    np.testing.assert_allclose(got.astype(F64), w, rtol=8 * eps, atol=8 * eps * scale, equal_nan=True, err_msg=what)


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("op", params([o for o in TORCH_OPS if o.entry.kinks]))
def test_gradient_at_kinks_is_pytorchs(op, dtype):
    pts = sorted({float(k) for k in op.entry.kinks if np.ndim(k) == 0} | {0.0})
    x = np.array(pts + [-0.0], dtype)
    if op.kind == "softmax":
        x = x.reshape(1, -1)
    g = np.full(x.shape, 1.5, dtype)
    ty, tdx = _torch(op, x, g)
    y, dx = _ours(op, x, g)
    _close(y, ty, dtype, f"{op.id} at {x}")
    for xi, a, b in zip(x.reshape(-1), dx.reshape(-1), tdx.reshape(-1)):
        assert abs(float(a) - float(b)) <= RTOL[dtype] * max(1.0, abs(float(b))), (
            f"{op.id}'({xi}) = {a!r}, PyTorch {b!r}")


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("op", params(TORCH_OPS))
def test_finite_values_and_nan_match_pytorch(op, dtype, rng):
    s = sweep(dtype)
    s = s[np.isfinite(s) & (np.abs(s) < (1e4 if dtype == F32 else 1e6))]
    x = np.concatenate([rng.choice(s, 300), rng.uniform(-8, 8, 200), [np.nan, 0.0, -0.0]]).astype(dtype)
    if op.kind == "softmax":
        x = rng.uniform(-20, 20, (50, 10)).astype(dtype)
        x[3, 4] = np.nan
    g = rng.uniform(-2, 2, x.shape).astype(dtype)
    ty, tdx = _torch(op, x, g)
    y, dx = _ours(op, x, g)
    _close(y, ty, dtype, f"{op.id} forward vs PyTorch")
    _close(dx, tdx, dtype, f"{op.id} backward vs PyTorch")

"""Plain NumPy reference implementations: the oracle the kernels are tested
against.

Written for clarity, straight from the formulas, with no call into fastact's
kernels.  They work in the dtype they are given, so passing ``np.longdouble``
arrays gives a higher-precision result to measure the kernels' ulp error
against.  Conventions (gradient at the kinks, NaN handling) follow PyTorch.
"""
import numpy as np


def _arr(x):
    return np.asarray(x)


def _one(x):
    return np.ones((), dtype=x.dtype)


# --- sigmoid ------------------------------------------------------------------

def sigmoid(x):
    """1 / (1 + exp(-x)), written as exp(x) / (1 + exp(x)) for x < 0 so that
    neither branch overflows."""
    x = _arr(x)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def sigmoid_backward(grad, y):
    """d sigmoid / dx = y (1 - y), from the forward's output y."""
    grad, y = _arr(grad), _arr(y)
    return grad * (y * (1 - y))


# --- tanh ---------------------------------------------------------------------

def tanh(x):
    return np.tanh(_arr(x))


def tanh_backward(grad, y):
    """d tanh / dx = 1 - y**2, written (1 - y)(1 + y) to keep accuracy near |y| = 1."""
    grad, y = _arr(grad), _arr(y)
    return grad * ((1 - y) * (1 + y))


# --- ReLU and its leaky relatives ---------------------------------------------

def relu(x):
    """max(x, 0); NaN stays NaN."""
    x = _arr(x)
    return np.where(x <= 0, np.zeros_like(x), x)


def relu_backward(grad, y):
    """grad where y > 0, else 0 (relu'(0) = 0)."""
    grad, y = np.broadcast_arrays(_arr(grad), _arr(y))
    return np.where(y <= 0, np.zeros_like(grad), grad)


def leaky_relu(x, negative_slope=0.01):
    x = _arr(x)
    return np.where(x > 0, x, x * x.dtype.type(negative_slope))


def leaky_relu_backward(grad, x, negative_slope=0.01):
    """grad for x > 0, negative_slope * grad for x <= 0 (slope at 0 is negative_slope)."""
    grad, x = np.broadcast_arrays(_arr(grad), _arr(x))
    return np.where(x > 0, grad, grad * grad.dtype.type(negative_slope))


def elu(x, alpha=1.0):
    """x for x > 0, alpha (exp(x) - 1) for x <= 0."""
    x = _arr(x)
    with np.errstate(over="ignore"):
        return np.where(x > 0, x, x.dtype.type(alpha) * np.expm1(x))


def elu_backward(grad, x, alpha=1.0):
    """1 for x > 0, alpha exp(x) for x <= 0 (elu'(0) = alpha)."""
    grad, x = np.broadcast_arrays(_arr(grad), _arr(x))
    with np.errstate(over="ignore"):
        return np.where(x > 0, grad, grad * (grad.dtype.type(alpha) * np.exp(x)))


def _channel_weight(x, weight, axis):
    """weight shaped to broadcast along the channel axis of x."""
    weight = _arr(weight).astype(x.dtype).reshape(-1)
    if x.ndim < 2 or weight.size == 1:
        return weight.reshape(()) if weight.size == 1 else weight
    shape = [1] * x.ndim
    shape[axis] = weight.size
    return weight.reshape(shape)


def prelu(x, weight, axis=1):
    """x for x > 0, weight[c] * x for x <= 0, c the index along the channel axis."""
    x = _arr(x)
    w = _channel_weight(x, weight, axis)
    return np.where(x > 0, x, w * x)


def prelu_backward(grad, x, weight, axis=1):
    """(grad_x, grad_weight); grad_weight sums x * grad over x <= 0 and over
    every axis but the channel axis."""
    grad, x = _arr(grad), _arr(x)
    w = _channel_weight(x, weight, axis)
    grad_x = np.where(x > 0, grad, w * grad)
    contrib = np.where(x > 0, np.zeros_like(x), x * grad)
    n_weight = _arr(weight).size
    if n_weight == 1:
        grad_w = np.sum(contrib, dtype=np.result_type(x.dtype, np.float64)).reshape(1)
    else:
        other = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
        grad_w = np.sum(contrib, axis=other, dtype=np.result_type(x.dtype, np.float64))
    return grad_x, grad_w.astype(x.dtype).reshape(_arr(weight).shape)


def rrelu(x, lower=1 / 8, upper=1 / 3, noise=None):
    """Randomized leaky ReLU.  With noise (the per-element slopes drawn in
    training, 1 where x > 0) it is x * noise; without, the evaluation form:
    a leaky ReLU of slope (lower + upper) / 2."""
    x = _arr(x)
    if noise is None:
        return leaky_relu(x, (lower + upper) / 2)
    return x * _arr(noise)


def rrelu_backward(grad, x, noise=None, lower=1 / 8, upper=1 / 3):
    grad = _arr(grad)
    if noise is None:
        return leaky_relu_backward(grad, x, (lower + upper) / 2)
    return grad * _arr(noise)


# --- softmax ------------------------------------------------------------------

def softmax(x, axis=-1):
    """exp(x - max) / sum(exp(x - max)) along axis."""
    x = _arr(x)
    with np.errstate(invalid="ignore"):
        m = np.max(x, axis=axis, keepdims=True) if x.size else x
        e = np.exp(x - m)
        return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """x - max - log(sum(exp(x - max))) along axis.

    The sum has a term exactly 1 (the maximum's own); it is written
    log1p(sum of the others) so that, when the others are tiny, the result
    keeps its relative precision even in long double.
    """
    x = _arr(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.max(x, axis=axis, keepdims=True) if x.size else x
        d = x - m
        others = np.sum(np.where(d < 0, np.exp(d), 0), axis=axis, keepdims=True)
        ties = np.sum(d == 0, axis=axis, keepdims=True) - 1
        return d - np.log1p(others + ties)


def softmax_backward(grad, y, axis=-1):
    """y * (grad - sum(grad * y)) along axis."""
    grad, y = _arr(grad), _arr(y)
    return y * (grad - np.sum(grad * y, axis=axis, keepdims=True))


def log_softmax_backward(grad, y, axis=-1):
    """grad - exp(y) * sum(grad) along axis."""
    grad, y = _arr(grad), _arr(y)
    return grad - np.exp(y) * np.sum(grad, axis=axis, keepdims=True)

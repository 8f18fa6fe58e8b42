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
        return np.where(x <= 0, grad * (grad.dtype.type(alpha) * np.exp(x)), grad)


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
        return leaky_relu(x, 0.5 * lower + 0.5 * upper)  # (lower + upper) / 2, without overflow
    return x * _arr(noise)


def rrelu_backward(grad, x, noise=None, lower=1 / 8, upper=1 / 3):
    grad = _arr(grad)
    if noise is None:
        return leaky_relu_backward(grad, x, (lower + upper) / 2)
    return grad * _arr(noise)


# --- softmax ------------------------------------------------------------------

def softmax(x, axis=-1, where=None):
    """exp(x - max) / sum(exp(x - max)) along axis.

    where: the elements that take part; the others, and every element of a
    slice with none taking part, are 0."""
    x = _arr(x)
    if where is not None:
        mask = np.broadcast_to(where, x.shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            y = softmax(np.where(mask, x, -np.inf), axis)
        return np.where(mask, y, 0).astype(x.dtype)
    with np.errstate(invalid="ignore"):
        m = np.max(x, axis=axis, keepdims=True) if x.size else x
        e = np.exp(x - m)
        return e / np.sum(e, axis=axis, keepdims=True)


def softmin(x, axis=-1, where=None):
    """softmax(-x)."""
    return softmax(-_arr(x), axis, where)


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
        return d - np.log1p(others + ties.astype(x.dtype))


def softmax_backward(grad, y, axis=-1):
    """y * (grad - sum(grad * y)) along axis."""
    grad, y = _arr(grad), _arr(y)
    return y * (grad - np.sum(grad * y, axis=axis, keepdims=True))


def softmin_backward(grad, y, axis=-1):
    """-y * (grad - sum(grad * y)) along axis: softmax's, negated."""
    return -softmax_backward(grad, y, axis)


def log_softmax_backward(grad, y, axis=-1):
    """grad - exp(y) * sum(grad) along axis."""
    grad, y = _arr(grad), _arr(y)
    return grad - np.exp(y) * np.sum(grad, axis=axis, keepdims=True)


# --- the modern set -----------------------------------------------------------

def _sig(x):
    """sigmoid without overflow warnings (same formula as sigmoid above)."""
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _limits(x, values, at_minus_inf, at_plus_inf):
    """values, with the function's limits put in at -inf and +inf."""
    return np.where(x == -np.inf, at_minus_inf, np.where(x == np.inf, at_plus_inf, values))


def silu(x):
    """x * sigmoid(x)  (also called swish)."""
    x = _arr(x)
    with np.errstate(invalid="ignore"):
        return _limits(x, x * _sig(x), 0, np.inf).astype(x.dtype)


def silu_backward(grad, x):
    """sigmoid(x) (1 + x (1 - sigmoid(x)))."""
    grad, x = _arr(grad), _arr(x)
    s = _sig(x)
    with np.errstate(invalid="ignore"):
        return grad * _limits(x, s * (1 + x * (1 - s)), 0, 1)


def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch)."""
    x = _arr(x)
    z = x * x.dtype.type(beta)
    with np.errstate(over="ignore"):
        sp = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / x.dtype.type(beta)
    return np.where(z > threshold, x, sp)


def softplus_backward(grad, x, beta=1.0, threshold=20.0):
    """sigmoid(beta x), and 1 where beta x > threshold."""
    grad, x = np.broadcast_arrays(_arr(grad), _arr(x))
    z = x * x.dtype.type(beta)
    return np.where(z > threshold, grad, grad * _sig(z))


def mish(x):
    """x * tanh(softplus(x))."""
    x = _arr(x)
    with np.errstate(invalid="ignore"):
        return _limits(x, x * np.tanh(softplus(x, 1.0, np.inf)), 0, np.inf).astype(x.dtype)


def mish_backward(grad, x):
    """tanh(sp) + x (1 - tanh(sp)^2) sigmoid(x), sp = softplus(x)."""
    grad, x = _arr(grad), _arr(x)
    t = np.tanh(softplus(x, 1.0, np.inf))
    with np.errstate(invalid="ignore"):
        return grad * _limits(x, t + x * ((1 - t) * (1 + t)) * _sig(x), 0, 1)


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    """scale * elu(x, alpha) with PyTorch's constants."""
    x = _arr(x)
    T = x.dtype.type
    with np.errstate(over="ignore"):
        return np.where(x > 0, T(SELU_SCALE) * x, T(SELU_SCALE * SELU_ALPHA) * np.expm1(x))


def selu_backward(grad, x):
    grad, x = np.broadcast_arrays(_arr(grad), _arr(x))
    T = x.dtype.type
    with np.errstate(over="ignore"):
        return np.where(x <= 0, grad * (T(SELU_SCALE * SELU_ALPHA) * np.exp(x)), grad * T(SELU_SCALE))


def celu(x, alpha=1.0):
    """max(0, x) + min(0, alpha (exp(x / alpha) - 1))."""
    x = _arr(x)
    a = x.dtype.type(alpha)
    with np.errstate(over="ignore"):
        return np.where(x > 0, x, a * np.expm1(x / a))


def celu_backward(grad, x, alpha=1.0):
    grad, x = np.broadcast_arrays(_arr(grad), _arr(x))
    with np.errstate(over="ignore"):
        return np.where(x <= 0, grad * np.exp(x / x.dtype.type(alpha)), grad)


def hardtanh(x, min_val=-1.0, max_val=1.0):
    """x clipped to [min_val, max_val]; NaN stays NaN."""
    x = _arr(x)
    T = x.dtype.type
    return np.where(x > max_val, T(max_val), np.where(x < min_val, T(min_val), x))


def hardtanh_backward(grad, x, min_val=-1.0, max_val=1.0):
    """grad inside (min_val, max_val), 0 at and beyond the ends."""
    grad, x = np.broadcast_arrays(_arr(grad), _arr(x))
    return np.where((x <= min_val) | (x >= max_val), np.zeros_like(grad), grad)


def relu6(x):
    return hardtanh(x, 0.0, 6.0)


def relu6_backward(grad, x):
    return hardtanh_backward(grad, x, 0.0, 6.0)


def hardsigmoid(x):
    """0 for x <= -3, 1 for x >= 3, (x + 3) / 6 between."""
    x = _arr(x)
    T = x.dtype.type
    return np.where(x <= -3, T(0), np.where(x >= 3, T(1), (x + T(3)) / T(6)))


def hardsigmoid_backward(grad, x):
    grad, x = np.broadcast_arrays(_arr(grad), _arr(x))
    return np.where((x > -3) & (x < 3), grad / grad.dtype.type(6), np.zeros_like(grad))


def hardswish(x):
    """x * hardsigmoid(x): 0 for x <= -3, x for x >= 3, x (x + 3) / 6 between."""
    x = _arr(x)
    T = x.dtype.type
    return np.where(x <= -3, T(0), np.where(x >= 3, x, x * (x + T(3)) / T(6)))


def hardswish_backward(grad, x):
    """0 for x <= -3, 1 for x >= 3, (2x + 3) / 6 = x / 3 + 1/2 between
    (PyTorch's values at +-3).  Written (2x + 3) / 6: x / 3 + 1/2 cancels
    near the zero at x = -1.5, even in long double."""
    grad, x = np.broadcast_arrays(_arr(grad), _arr(x))
    T = x.dtype.type
    mid = grad * ((x + x + T(3)) / T(6))
    return np.where(x <= -3, np.zeros_like(grad), np.where(x < 3, mid, grad))


def softsign(x):
    """x / (1 + |x|)."""
    x = _arr(x)
    with np.errstate(invalid="ignore"):
        return _limits(x, x / (1 + np.abs(x)), -1, 1).astype(x.dtype)


def softsign_backward(grad, x):
    grad, x = _arr(grad), _arr(x)
    d = 1 + np.abs(x)
    return grad / (d * d)


def logsigmoid(x):
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))."""
    x = _arr(x)
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def logsigmoid_backward(grad, x):
    """1 - sigmoid(x) = sigmoid(-x)."""
    grad, x = _arr(grad), _arr(x)
    return grad * _sig(-x)


def threshold(x, threshold, value):
    """x where x > threshold, else value (NaN passes)."""
    x = _arr(x)
    return np.where(x <= threshold, x.dtype.type(value), x)


def threshold_backward(grad, x, threshold, value):
    grad, x = np.broadcast_arrays(_arr(grad), _arr(x))
    return np.where(x <= threshold, np.zeros_like(grad), grad)


# --- fused operations ---------------------------------------------------------

def softmax_cross_entropy(logits, labels, axis=-1, reduction="mean"):
    """-log_softmax(logits)[label] per sample, then mean / sum / none."""
    logp = np.moveaxis(log_softmax(logits, axis=axis), axis, -1)
    labels = np.asarray(labels)
    picked = np.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]
    loss = -picked
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def softmax_cross_entropy_backward(grad, logits, labels, axis=-1, reduction="mean"):
    """grad * (softmax(logits) - onehot(labels)), / n for the mean."""
    p = np.moveaxis(softmax(logits, axis=axis), axis, -1)
    labels = np.asarray(labels)
    onehot = np.zeros_like(p)
    np.put_along_axis(onehot, labels[..., None], 1, axis=-1)
    g = np.asarray(grad, dtype=p.dtype)
    if reduction == "none":
        g = g[..., None]
    elif reduction == "mean":
        g = g / labels.size
    return np.moveaxis(g * (p - onehot), -1, axis)


# --- GELU -----------------------------------------------------------------------
#
# NumPy has no erf, so Phi (the standard normal CDF) is written here from two
# classical expansions of erfcx(z) = exp(z^2) erfc(z), in the dtype given (long
# double included):
#   z < 1:  erfcx(z) = exp(z^2) - 2/sqrt(pi) z sum_n (2 z^2)^n / (1 3 5 ... (2n+1))
#   z >= 1: Laplace's continued fraction
#           erfcx(z) = 1/sqrt(pi) 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + ...))))
# and Phi(-u) = exp(-u^2/2) erfcx(u/sqrt(2)) / 2, with exp(-u^2/2) computed
# from an exact split of u^2 (u = hi + lo, Veltkamp): u^2 reaches 1500, and a
# rounded u^2 would lose the low bits that the tiny tail values depend on.

_SERIES_TERMS = 60
_CF_TERMS = 500


def _pi(T):
    return 4 * np.arctan(T(1))


def _exp_half_square(u):
    """exp(-u^2 / 2) for u >= 0 (finite), without rounding u^2."""
    T = u.dtype.type
    bits = np.finfo(u.dtype).nmant + 1
    # beyond umax exp(-u^2/2) is 0 in T: keeps exp(-(hi lo + lo^2/2)) near 1
    umax = np.sqrt(-2 * np.log(T(np.finfo(u.dtype).smallest_subnormal))) + 1
    u = np.minimum(u, umax)
    c = u * T(2 ** ((bits + 1) // 2) + 1)
    hi = c - (c - u)
    lo = u - hi
    return np.exp(-(hi * hi) / 2) * np.exp(-(hi * lo + lo * lo / 2))


def _erfcx(z):
    """exp(z^2) erfc(z) for z >= 0."""
    T = z.dtype.type
    zs = np.minimum(z, T(1))
    term = zs
    total = zs
    for n in range(1, _SERIES_TERMS):
        term = term * (2 * zs * zs) / T(2 * n + 1)
        total = total + term
    series = np.exp(zs * zs) - 2 / np.sqrt(_pi(T)) * total
    zc = np.maximum(z, T(1))
    t = zc
    for k in range(_CF_TERMS, 0, -1):
        t = zc + T(k) / 2 / t
    cf = 1 / (np.sqrt(_pi(T)) * t)
    return np.where(z < 1, series, cf)


def _ncdf_parts(x):
    """(Phi(x), phi(x)) of the standard normal distribution."""
    T = x.dtype.type
    u = np.abs(x)
    u = np.where(np.isnan(u), T(0), u)
    e = _exp_half_square(u)
    tail = e * _erfcx(u / np.sqrt(T(2))) / 2  # Phi(-u)
    cdf = np.where(x < 0, tail, 1 - tail)
    return np.where(np.isnan(x), x, cdf), e / np.sqrt(2 * _pi(T))


# The tanh form's constants (PyTorch's), as float64 numbers.
GELU_TANH_K = 0.7978845608028654  # sqrt(2 / pi)
GELU_TANH_A = 0.044715


def _gelu_tanh_sig(x):
    """sigma(2 s) = (1 + tanh(s)) / 2, s = K (x + A x^3): the exp form does not
    cancel for x < 0 (1 + tanh(s) does)."""
    T = x.dtype.type
    xc = np.clip(x, T(-1e4), T(1e4))  # beyond, sigma(2 s) is 0 or 1 and x^3 stays finite
    s = T(GELU_TANH_K) * (xc + T(GELU_TANH_A) * xc * xc * xc)
    return _sig(2 * s), xc


def gelu(x, approximate="none"):
    """x Phi(x) = x/2 erfc(-x/sqrt(2)); approximate="tanh":
    x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) = x sigma(2 s)."""
    x = _arr(x)
    if approximate == "tanh":
        sig, _ = _gelu_tanh_sig(x)
        with np.errstate(invalid="ignore"):
            return _limits(x, x * sig, 0, np.inf).astype(x.dtype)
    cdf, _ = _ncdf_parts(x)
    with np.errstate(invalid="ignore"):
        return _limits(x, x * cdf, 0, np.inf).astype(x.dtype)


def gelu_backward(grad, x, approximate="none"):
    """Phi(x) + x phi(x); approximate="tanh":
    sigma(2s) (1 + 2 x (1 - sigma(2s)) K (1 + 3 A x^2)), the derivative of x sigma(2s)."""
    grad, x = _arr(grad), _arr(x)
    T = x.dtype.type
    if approximate == "tanh":
        sig, xc = _gelu_tanh_sig(x)
        oms = _sig(-2 * (T(GELU_TANH_K) * (xc + T(GELU_TANH_A) * xc * xc * xc)))
        d = sig * (1 + 2 * xc * oms * T(GELU_TANH_K) * (1 + 3 * T(GELU_TANH_A) * xc * xc))
    else:
        # Phi(x) and x phi(x) cancel near the zero at x = -0.752: evaluated in
        # long double (at least) and rounded to x's dtype
        W = np.promote_types(x.dtype, np.longdouble)
        cdf, pdf = _ncdf_parts(x.astype(W))
        with np.errstate(invalid="ignore"):
            d = (cdf + x.astype(W) * pdf).astype(x.dtype)
    with np.errstate(invalid="ignore"):
        return grad * _limits(x, d, 0, 1)


def glu(x, axis=-1):
    """a * sigmoid(b), a and b the two halves of x along axis."""
    a, b = np.split(_arr(x), 2, axis=axis)
    return a * _sig(b).astype(a.dtype)


def glu_backward(grad, x, axis=-1):
    """d/da = sigmoid(b) grad, d/db = a sigmoid(b) (1 - sigmoid(b)) grad."""
    a, b = np.split(_arr(x), 2, axis=axis)
    grad = _arr(grad)
    s = _sig(b).astype(a.dtype)
    oms = _sig(-b).astype(a.dtype)
    return np.concatenate([grad * s, grad * a * s * oms], axis=axis)


def _along(bias, ndim, axis):
    shape = [1] * ndim
    shape[axis] = -1
    return _arr(bias).reshape(shape)


def bias_act(x, bias, activation, axis=-1, **params):
    """The composition activation(x + bias), bias broadcast along axis."""
    x = _arr(x)
    z = x + _along(bias, x.ndim, axis).astype(x.dtype)
    return globals()[activation](z, **params)


def bias_act_backward(grad, x, bias, activation, axis=-1, **params):
    """(grad_x, grad_bias): activation's backward at z = x + bias, and its sum
    over every axis but axis."""
    from ._registry import ACTIVATIONS

    x = _arr(x)
    z = x + _along(bias, x.ndim, axis).astype(x.dtype)
    v = z if ACTIVATIONS[activation].backward_uses == "x" else globals()[activation](z, **params)
    gx = globals()[activation + "_backward"](grad, v, **params)
    ax = axis % x.ndim
    gb = np.sum(np.asarray(gx, np.float64) if x.dtype != np.longdouble else gx,
                axis=tuple(i for i in range(x.ndim) if i != ax))
    return gx, gb

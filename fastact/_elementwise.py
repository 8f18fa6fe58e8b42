"""Scalar definitions of the elementwise activations.

Each function here is a factory: given a dtype ``T`` and the math namespace
``M`` of that dtype (``fastact._math.MATH[T]``), it returns the scalar
``forward(x, *params)`` and ``backward(grad, v, *params)``, where ``v`` is the
forward's input or output as the table in ``_registry`` says.  Constants are
made of type ``T`` so float32 work stays float32.  ``_kernels`` turns these
scalar functions into serial and parallel loops.

Conventions follow PyTorch: relu'(0) = 0, leaky_relu'(0) = negative_slope,
elu'(0) = alpha, and NaN propagates through every forward.
"""
import numpy as np
from numba import njit

from ._math import INV_SQRT_2PI

# helpers shared by several scalar functions are jitted here; the forward and
# backward themselves are jitted by _kernels
_helper = njit(nogil=True, error_model="numpy")


def sigmoid(T, M):
    zero = T(0)
    exp_neg_scaled, fabs = M.exp_neg_scaled, M.fabs
    big = M.SCALE  # 2**64: exp(-|x|) carried scaled by it

    def forward(x):
        # eb = exp(-|x|) 2**64 never overflows; sigmoid = 1 / (1 + e) for
        # x >= 0 and e / (1 + e) for x < 0, both scaled by 2**64 above and
        # below: one division, and tiny (subnormal) results rounded once
        eb = exp_neg_scaled(-fabs(x))
        return (big if x >= zero else eb) / (big + eb)

    def backward(g, y):
        return g * (y * (T(1) - y))

    return forward, backward


def tanh(T, M):
    one = T(1)
    tanh_ = M.tanh

    def forward(x):
        return tanh_(x)

    def backward(g, y):
        # 1 - y*y loses accuracy near |y| = 1; the factored form does not.
        return g * ((one - y) * (one + y))

    return forward, backward


def relu(T, M):
    zero = T(0)

    def forward(x):
        return zero if x <= zero else x  # NaN <= 0 is false: NaN passes

    def backward(g, y):
        return zero if y <= zero else g

    return forward, backward


def leaky_relu(T, M):
    zero = T(0)

    def forward(x, negative_slope):
        return x if x > zero else x * negative_slope

    def backward(g, x, negative_slope):
        return g if x > zero else g * negative_slope

    return forward, backward


def elu(T, M):
    zero = T(0)
    expm1, exp = M.expm1, M.exp

    def forward(x, alpha):
        return x if x > zero else alpha * expm1(x)

    def backward(g, x, alpha):
        # x <= 0 rather than x > 0: a NaN input passes grad through, as PyTorch
        return g * (alpha * exp(x)) if x <= zero else g

    return forward, backward


# --- the modern set ------------------------------------------------------------


def _sigmoid_parts(T, M):
    """sigmoid(x) without overflow: sigmoid's forward, as a helper."""
    forward, _ = sigmoid(T, M)
    return _helper(forward)


def silu(T, M):
    zero, one, two, inf = T(0), T(1), T(2), T(np.inf)
    exp_neg_scaled, fabs, fma, clamp = M.exp_neg_scaled, M.fabs, M.fma, M.clamp
    xbig = T(1e4)  # e = exp(-|x|) is 0 beyond this
    big, unscale = M.SCALE, M.UNSCALE
    # below this, silu and its derivative approach the subnormal range: their
    # scaled forms are rounded once, at the end
    far = T(-60.0) if T is np.float32 else T(-600.0)

    # With eb = exp(-|x|) 2**64: sigmoid(x) = 2**64 / (2**64 + eb) for
    # x >= 0; for x < 0 it is carried scaled by 2**64, eb / (1 + e), so that
    # silu's tiny results keep their precision and are rounded once.

    def forward(x):
        eb = exp_neg_scaled(-fabs(x))
        pos = x >= zero
        q = (big if pos else eb) / ((big + eb) * (one if pos else unscale))
        v = (x * q) * (one if pos else unscale)
        return zero if x == -inf else v  # the limit, not -inf * 0

    def backward(g, x):
        # silu'(x) = s (1 + x (1 - s)), s = sigmoid(x), written with
        # e = exp(-|x|) as (1 + e (1 + x)) / (1 + e)**2 for x >= 0 and
        # e ((1 + x) + e) / (1 + e)**2 for x < 0.  The x < 0 numerator crosses
        # zero near x = -1.28; there 1 + x is exact (x in [-2, -1/2]) and the
        # sum is taken in one rounding (an fma), so that e's error is damped
        # rather than amplified, as it is in 1 + x (1 - s), which cancels
        # against 1.  e is carried scaled by 2**64 so that results near the
        # subnormal range are rounded once, at the end.  Past +-xbig e is 0:
        # x is clamped there, so that the infinities give the limits g and 0
        # rather than 0 * inf.
        eb = exp_neg_scaled(-fabs(x))
        e = eb * unscale
        xp1 = one + clamp(x, -xbig, xbig)
        numb = fma(eb, xp1, big) if x >= zero else fma(eb, xp1, eb * e)
        # (1 + e)**2 as 1 + e (e + 2): one rounding that counts, not three
        db = numb / fma(e, e + two, one)
        return (g * db) * unscale if x < far else g * (db * unscale)

    return forward, backward


def softplus(T, M):
    zero, one = T(0), T(1)
    log1p_exp_neg, fabs = M.log1p_exp_neg, M.fabs
    sig = _sigmoid_parts(T, M)

    def forward(x, beta, threshold):
        z = x * beta
        # max(z, 0) + log1p(exp(-|z|)): no overflow for any z
        # times 1 / beta (exact for the usual powers of two), not / beta: with
        # a further division in the loop LLVM did not vectorize it
        sp = ((z if z > zero else zero) + log1p_exp_neg(fabs(z))) * (one / beta)
        return x if z > threshold else sp

    def backward(g, x, beta, threshold):
        z = x * beta
        return g if z > threshold else g * sig(z)

    return forward, backward


def mish(T, M):
    zero, two, inf = T(0), T(2), T(np.inf)
    exp_scaled, unscale = M.exp_scaled, M.UNSCALE
    # above big, tanh(softplus(x)) rounds to 1 and the derivative to 1
    big = T(20.0) if T is np.float32 else T(40.0)
    # below far, mish and its derivative approach the subnormal range
    far = T(-60.0) if T is np.float32 else T(-600.0)
    lowest = T(-1e4)  # below this, e * 2**64 is 0
    WIDE = T is np.float32
    W = np.float64 if WIDE else T
    w_one, w_two, w_four, w_unscale = W(1), W(2), W(4), W(2.0 ** -64)

    @_helper
    def _parts(x):
        """e * 2**64 and d = n + 2, with e = exp(x) (x capped at big) and
        n = e (e + 2), so that tanh(softplus(x)) = n / d; and e itself.  The
        scaled e keeps its precision where e is subnormal."""
        eb = exp_scaled(big if x > big else x)
        e = eb * unscale
        return eb, e, e * (e + two) + two

    def forward(x):
        eb, e, d = _parts(x)
        if WIDE:  # float32: past the exp in float64 (4.07 ulp measured in float32)
            ew = W(eb) * w_unscale
            v = T((W(x) * (W(eb) * (ew + w_two) / (ew * (ew + w_two) + w_two))) * w_unscale)
        else:
            v = (x * (eb * (e + two) / d)) * unscale  # x tanh(softplus(x)), scaled
        v = x if x > big else v
        return zero if x == -inf else v  # the limit 0 at -inf

    def backward(g, x):
        # mish'(x) = e w / d**2 with w = 4 (x + 1)(1 + e) + e (e**2 + 4 e + 2):
        # one exp, and the only cancellation is in w, near the zero at -1.19.
        # Past the exp, float32 data is computed in float64 (about 10
        # roundings would otherwise add up beyond 4 ulp).
        eb, e, _ = _parts(x)
        xc = W(lowest if x < lowest else x)  # e is 0 there; keeps w finite (NaN stays)
        ew = W(e)
        d = ew * (ew + w_two) + w_two
        w = w_four * (xc + w_one) * (w_one + ew) + ew * (ew * (ew + w_four) + w_two)
        db = W(eb) * w / (d * d)  # no overflow: x <= big
        if WIDE:
            v = T((W(g) * db) * w_unscale)
        else:
            v = (g * db) * unscale if x < far else g * (db * unscale)
        v = zero * g if x == -inf else v  # the limit 0 at -inf, signed as the reference
        return g if x > big else v

    return forward, backward


def selu(T, M):
    zero = T(0)
    scale = T(1.0507009873554804934193349852946)
    scale_alpha = T(1.0507009873554804934193349852946 * 1.6732632423543772848170429916717)
    expm1, exp = M.expm1, M.exp

    def forward(x):
        return scale * x if x > zero else scale_alpha * expm1(x)

    def backward(g, x):
        return g * (scale_alpha * exp(x)) if x <= zero else g * scale

    return forward, backward


def celu(T, M):
    zero = T(0)
    expm1, exp = M.expm1, M.exp

    def forward(x, alpha):
        return x if x > zero else alpha * expm1(x / alpha)

    def backward(g, x, alpha):
        return g * exp(x / alpha) if x <= zero else g

    return forward, backward


def hardtanh(T, M):
    zero = T(0)

    def forward(x, min_val, max_val):
        x = max_val if x > max_val else x  # NaN stays NaN
        return min_val if x < min_val else x

    def backward(g, x, min_val, max_val):
        # 0 at and beyond both ends (PyTorch); a NaN input passes grad through
        return zero if (x <= min_val or x >= max_val) else g

    return forward, backward


def relu6(T, M):
    zero, six = T(0), T(6)

    def forward(x):
        x = six if x > six else x
        return zero if x < zero else x

    def backward(g, x):
        return zero if (x <= zero or x >= six) else g

    return forward, backward


def hardsigmoid(T, M):
    zero, one, three, sixth = T(0), T(1), T(3), T(1 / 6)

    # products with 1/6 rather than divisions by 6 (which cost 4x more in
    # float64): at most 1.5 ulp
    def forward(x):
        # (x + 3) is exact near -3
        v = (x + three) * sixth
        v = one if x >= three else v
        return zero if x <= -three else v

    def backward(g, x):
        return g * sixth if (x > -three and x < three) else zero

    return forward, backward


def hardswish(T, M):
    zero, three, sixth = T(0), T(3), T(1 / 6)

    def forward(x):
        v = x * ((x + three) * sixth)
        v = x if x >= three else v
        return zero if x <= -three else v

    def backward(g, x):
        # hardswish'(-3) = 0 and hardswish'(3) = 1, as PyTorch
        if x <= -three:
            return zero
        # (2x + 3) / 6 rather than x / 3 + 1/2: 2x + 3 is exact near the zero
        # at x = -1.5; times 1/6 rather than a division (4x dearer in float64)
        return g * ((x + x + three) * sixth) if x < three else g

    return forward, backward


def softsign(T, M):
    one, inf = T(1), T(np.inf)
    fabs, copysign = M.fabs, M.copysign

    def forward(x):
        return copysign(one, x) if fabs(x) == inf else x / (one + fabs(x))

    def backward(g, x):
        d = one + fabs(x)
        return (g / d) / d  # d * d would overflow for large |x|

    return forward, backward


def logsigmoid(T, M):
    zero = T(0)
    log1p_exp_neg, fabs = M.log1p_exp_neg, M.fabs
    sig = _sigmoid_parts(T, M)

    def forward(x):
        # min(x, 0) - log1p(exp(-|x|)): logsigmoid(-1000) is -1000, no overflow
        return (x if x < zero else zero) - log1p_exp_neg(fabs(x))

    def backward(g, x):
        return g * sig(-x)

    return forward, backward


def threshold(T, M):
    zero = T(0)

    def forward(x, threshold, value):
        return value if x <= threshold else x  # NaN passes

    def backward(g, x, threshold, value):
        return zero if x <= threshold else g

    return forward, backward


def product(T, M):
    """Not an activation: grad * noise, the backward of RReLU in training."""

    def forward(x):
        return x

    def backward(g, s):
        return g * s

    return forward, backward


# --- GELU ----------------------------------------------------------------------


def _inline(*fns):
    """Mark scalar definitions for Numba to inline into their loops (see
    _kernels.scalar_jit)."""
    for f in fns:
        f.inline = True
    return fns

# the tanh approximation's constants, as float64 numbers (PyTorch's values):
# sqrt(2 / pi) and 0.044715
GELU_TANH_K = 0.7978845608028654
GELU_TANH_A = 0.044715


def gelu(T, M):
    """x Phi(x), Phi the standard normal CDF.

    With u = |x| and e = exp(-u**2 / 2), Phi(-u) = e S(u) and
    gelu'(-u) = -e D(u), D(u) = u / sqrt(2 pi) - S(u): for float64 S is one
    polynomial in 4 / (u + 4) (_math.ncdf_s), e is computed from the exact
    square of u.  So gelu(x) = x e S(-x) for x < 0 and
    x - x e S(x) for x > 0, relative accuracy down to the subnormal range.
    e is carried scaled by 2**64; a subnormal result is rounded once.
    float32 takes S and D from rational fits instead (_math.u_ncdf_neg and
    ncdf_slope_parts: one division where float32's earlier pieces cost 22
    selects; about 2x faster in the forward, 1.5x in the backward), and its
    backward multiplies g by the two parts y + c of e D (ncdf_slope_parts),
    the product's rounding error put back with an fma."""
    zero, one, half = T(0), T(1), T(0.5)
    unscale = M.UNSCALE
    fabs, clamp = M.fabs, M.clamp
    # beyond far, the backward's result may be subnormal: rounded once, at the end
    far = T(9.0) if T is np.float32 else T(30.0)

    if T is np.float32:
        u_ncdf_neg, copysign = M.u_ncdf_neg, M.copysign
        slope_parts, fma = M.ncdf_slope_parts, M.fma
        inf = T(np.inf)
        g_far, unscale_far = T(2.0 ** -24), T(2.0 ** -40)  # 2**-24 2**-40 = 2**-64

        def forward(x):
            v = u_ncdf_neg(fabs(x))  # |x| Phi(-|x|)
            return x - v if x > zero else copysign(v, x)

        def backward(g, x):
            y, c, s = slope_parts(fabs(x))  # e D(|x|) = (y + c) s 2**-64
            if x < zero:
                # -g (y + c) 2**n, 2**n = s 2**-64, the product's rounding
                # error put back.  |e D| < 0.13 here: with y and c scaled by
                # 2**n first (exactly) the product cannot overflow.  Beyond
                # far, where the result may be subnormal, they are scaled by
                # 2**-24 instead and the product by s 2**-40 after it, so
                # that it is rounded once (where y 2**-24 g loses bits, the
                # result is below 2**-150).
                out_far = x < -far
                m = g_far if out_far else s * unscale
                ym, cm = y * m, c * m
                p = g * ym
                w = p + fma(g, cm, fma(g, ym, -p))
                # g = +-inf (an infinity, not inf - inf), g = +-0 (the zero's sign)
                w = w if (w == w) & (p != zero) else g * (ym + cm)
                return (-w * s) * unscale_far if out_far else -w
            # gelu' = 1 + e D >= 1/2 here: g = +-inf or +-0 stays g (rather
            # than inf - inf or a zero of the wrong sign)
            v = fma(g, ((y + c) * s) * unscale, g) if (fabs(g) < inf) & (g != zero) else g
            return v if x == x else x  # NaN x: x itself, as in gelu_tanh's backward

        return _inline(forward, backward)

    ncdf_s, exp_sq, fma = M.ncdf_s, M.exp_sq_scaled, M.fma
    c_hi, c_lo = (T(c) for c in INV_SQRT_2PI)  # 1 / sqrt(2 pi) in two parts
    # beyond umax (ncdf_s's range), gelu(-u) and gelu'(-u) are 0 even in the subnormal range
    umax = M.ncdf_umax

    def forward(x):
        u = clamp(fabs(x), zero, umax)
        e = exp_sq(u, half)
        # x Phi(-u), scaled; x clamped as u is (e = 0 beyond umax: not inf * 0)
        y = (clamp(x, -umax, umax) * (e * ncdf_s(u))) * unscale
        return y if x <= zero else x - y

    def backward(g, x):
        u = clamp(fabs(x), zero, umax)
        d = fma(u, c_hi, -ncdf_s(u)) + u * c_lo  # D(u)
        z = exp_sq(u, half) * d  # e D(u), scaled
        if x < zero:
            return (g * -z) * unscale if x < -far else g * -(z * unscale)
        v = g * (one + z * unscale)
        return v if x == x else x  # NaN x: x itself, as in gelu_tanh's backward

    return _inline(forward, backward)


def gelu_tanh(T, M):
    """PyTorch's approximate='tanh': x (1 + tanh(s)) / 2 = x sigmoid(2 s),
    s = K (x + A x**3).

    2 s is computed as an unevaluated sum of two T numbers (products split
    with fma, the constants in two parts): in the tail exp(2 s) is tiny and
    its relative error is the absolute error of 2 s, which reaches 700 in
    float64.  sigmoid from e = exp(-|2 s|), scaled by 2**64 for x < 0, so
    that tiny results keep their precision."""
    zero, one, two, three = T(0), T(1), T(2), T(3)
    unscale, scale = M.UNSCALE, M.SCALE
    fabs, clamp, fma, exp_scaled2 = M.fabs, M.clamp, M.fma, M.exp_scaled2
    k2_hi = T(2 * GELU_TANH_K)
    k2_lo = T(2 * GELU_TANH_K - float(k2_hi))
    a_hi = T(GELU_TANH_A)
    a_lo = T(GELU_TANH_A - float(a_hi))
    k = T(GELU_TANH_K)
    a3 = T(3 * GELU_TANH_A)
    # beyond xmax the results are x or 0 (gelu'(x) 1 or 0); clamping keeps x**3 finite
    xmax = T(32.0) if T is np.float32 else T(64.0)
    far = T(-8.0) if T is np.float32 else T(-18.0)

    @_helper
    def two_s(x):
        """2 s = h + l for a clamped x."""
        x2 = x * x
        x2l = fma(x, x, -x2)
        x3 = x2 * x
        x3l = fma(x2, x, -x3) + x2l * x
        th = a_hi * x3
        tl = fma(a_hi, x3, -th) + (a_hi * x3l + a_lo * x3)
        p = x + th
        bp = p - x
        pl = ((x - (p - bp)) + (th - bp)) + tl
        h = k2_hi * p
        lo = fma(k2_hi, p, -h) + (k2_hi * pl + k2_lo * p)
        return h, lo

    @_helper
    def sig_parts(x):
        """(e * 2**64, 1 + e, h) with e = exp(-|2 s|)."""
        h, lo = two_s(clamp(x, -xmax, xmax))
        eb = exp_scaled2(-fabs(h), lo if h < zero else -lo)
        return eb, one + eb * unscale, h

    def forward(x):
        eb, d, h = sig_parts(x)
        xc = clamp(x, -xmax, xmax)  # -inf: the limit 0, not -inf * 0
        return x / d if h >= zero else ((xc * eb) / d) * unscale

    # The backward's terms cancel (1 + q, q near -1.5 for x near -1.6): past
    # the exp, float32 data is computed in float64 (in float32 the roundings of
    # q add up to about 6 ulp there), as mish's backward does.
    WIDE = T is np.float32
    W = np.float64 if WIDE else T
    w_one, w_two, w_scale, w_unscale = W(1), W(2), W(2.0 ** 64), W(2.0 ** -64)
    w_k, w_a3, w_xmax = W(GELU_TANH_K), W(3 * GELU_TANH_A), W(xmax)

    def backward(g, x):
        # sigmoid(2s) (1 + 2 x (1 - sigmoid(2s)) K (1 + 3 A x**2)); sigmoid(2s)
        # and 1 - sigmoid(2s) each from e = exp(-|2 s|) without cancellation
        eb, _, h = sig_parts(x)
        ew = W(eb)
        d = w_one + ew * w_unscale
        xc = W(x)
        xc = w_xmax if xc > w_xmax else (-w_xmax if xc < -w_xmax else xc)
        pos = h >= zero
        sb = (w_scale if pos else ew) / d  # sigmoid(2 s), scaled
        oms = (ew * w_unscale if pos else w_one) / d  # 1 - sigmoid(2 s)
        q = (w_two * xc) * oms * (w_k * (w_one + w_a3 * (xc * xc)))
        w = sb * (w_one + q)
        if WIDE:
            v = T((W(g) * w) * w_unscale)
        else:
            v = (g * w) * unscale if x < far else g * (w * unscale)
        # a NaN x gives x itself: with grad NaN too, which NaN a product
        # returns depends on the operand order the compiler picks, which may
        # differ between the vector loop and its scalar remainder
        return v if x == x else x

    return _inline(forward, backward)

"""Branch-free scalar math for the kernels, in float32 and float64.

Numba from PyPI has no SVML, so ``np.exp`` inside a loop is a scalar libm call
that stops LLVM from vectorizing.  The functions here are written in plain
arithmetic (range reduction, a polynomial, exponent-bit scaling) and a handful
of LLVM intrinsics, so that a loop calling them compiles to packed SIMD code.

Each function is built once per dtype by a factory that closes over constants
of that dtype: a bare Python float in float32 code would promote it to float64.
``MATH[np.float32]`` and ``MATH[np.float64]`` hold the two sets.

Accuracy (worst case over the whole range, measured by the test suite against
mpmath / long double): exp and expm1 about 1 ulp, log1p about 1 ulp, tanh about
2 ulp, erf and erfc about 2 ulp (erfc relative to its value, down to the
subnormal range).  NaN propagates; +-inf, overflow, underflow and subnormal results follow
C99 (exp(-inf) = 0, expm1(-inf) = -1, log1p(-1) = -inf, log1p(x < -1) = NaN).

No fast-math flags are used here: the range reductions rely on the exact
IEEE order of operations, and fused multiply-adds are written out explicitly
with ``fma`` so that scalar and vector code round identically.
"""
import math
from types import SimpleNamespace

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# The polynomial coefficients come from tools/fit_polynomials.py.
# Q(r) = (exp(r) - 1 - r) / r**2 on |r| <= ln(2)/2
_EXP_Q = {
    np.float32: (0.5000000013457727, 0.16666666681614256, 0.04166646500604005,
                 0.008333310934448869, 0.0013933641031986701, 0.00019890980869750327),
    np.float64: (0.5, 0.1666666666666667, 0.04166666666666667, 0.008333333333326141,
                 0.0013888888888883752, 0.00019841269874800493, 2.4801587325533363e-05,
                 2.7557255425746435e-06, 2.7557273661348637e-07, 2.510520637395701e-08,
                 2.0914679376583935e-09),
}
# P(z) = (2 atanh(sqrt z) - 2 sqrt z) / z**1.5 on 0 <= z <= (3 - 2 sqrt 2)**2
_LOG_P = {
    np.float32: (0.6666666655449709, 0.40000121839806124, 0.28550820815960665,
                 0.23330467216303835),
    np.float64: (0.6666666666666666, 0.4000000000000088, 0.28571428570803614,
                 0.22222222391713917, 0.18181795640132906, 0.15386239702814658,
                 0.13268773138656886, 0.13086626147840102),
}

# Not cached on disk: these are closures (their callers are cached, with them inlined).
_JIT = dict(nogil=True, error_model="numpy")
# The error function family's parts are inlined by Numba itself: together
# they exceed LLVM's inlining budget, and a call left in a loop stops it from
# vectorizing.
_JIT_INLINE = dict(_JIT, inline="always")

# ---------------------------------------------------------------------------
# LLVM intrinsics (typed for float32 and float64 only)


def _float_args(*args):
    return all(isinstance(a, types.Float) for a in args) and len(set(args)) == 1


def _llvm_name(ty):
    return "f32" if ty.bitwidth == 32 else "f64"


def _llvm_intrinsic(name, nargs):
    """A Numba intrinsic calling ``llvm.<name>.f32/f64`` with nargs float args."""

    def typer(typingctx, *args):
        if len(args) != nargs or not _float_args(*args):
            return None
        ty = args[0]

        def codegen(context, builder, sig, llargs):
            lty = context.get_value_type(ty)
            fnty = ir.FunctionType(lty, [lty] * nargs)
            fn = builder.module.declare_intrinsic(f"llvm.{name}", [lty], fnty)
            return builder.call(fn, llargs)

        return ty(*args), codegen

    return typer


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c with a single rounding."""
    return _llvm_intrinsic("fma", 3)(typingctx, a, b, c)


@intrinsic
def rint(typingctx, a):
    """Round to nearest integer, ties to even (NaN and inf pass through)."""
    return _llvm_intrinsic("rint", 1)(typingctx, a)


@intrinsic
def floor(typingctx, a):
    return _llvm_intrinsic("floor", 1)(typingctx, a)


@intrinsic
def fabs(typingctx, a):
    return _llvm_intrinsic("fabs", 1)(typingctx, a)


@intrinsic
def maxnum(typingctx, a, b):
    """IEEE maxNum: the larger of a and b, the other operand if one is NaN."""
    return _llvm_intrinsic("maxnum", 2)(typingctx, a, b)


@intrinsic
def copysign(typingctx, a, b):
    return _llvm_intrinsic("copysign", 2)(typingctx, a, b)


@intrinsic
def float_bits(typingctx, x):
    """The bits of a float32 (float64) as an int32 (int64).  For x >= 0 (and
    +0.0, +inf, NaNs with the sign bit clear) they order as the values do,
    NaN above +inf: a min or max of them is an integer reduction, which LLVM
    vectorizes without any fast-math flag (a float min or max it does not)."""
    if not isinstance(x, types.Float):
        return None
    ity = types.int32 if x.bitwidth == 32 else types.int64

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(x.bitwidth))

    return ity(x), codegen


_MAGIC52 = 1.5 * 2.0 ** 52  # adding an integer below 2**51 in size leaves it in the low mantissa bits
SCALE_BITS_INT = 64  # the scaled exponentials' 2**64


@intrinsic
def scale2(typingctx, x, n):
    """x * 2**n for an integral float n (not NaN) whose 2**n is a normal number.

    2**n is built from the exponent bits, so the product rounds once.
    """
    if not _float_args(x, n):
        return None
    ty = x

    def codegen(context, builder, sig, args):
        xv, nv = args
        fty = context.get_value_type(ty)
        bits, mant, bias = (32, 23, 127) if ty.bitwidth == 32 else (64, 52, 1023)
        ity = ir.IntType(bits)
        if bits == 32:
            ni = builder.fptosi(nv, ity)
            e = builder.shl(builder.add(ni, ir.Constant(ity, bias)), ir.Constant(ity, mant))
        else:
            # AVX2 has no vector double -> int64 conversion (LLVM would go
            # element by element): n + bias added to 1.5 * 2**52 lands in the
            # low mantissa bits, which the shift moves to the exponent field
            t = builder.fadd(nv, ir.Constant(fty, _MAGIC52 + bias))
            e = builder.shl(builder.bitcast(t, ity), ir.Constant(ity, mant))
        return builder.fmul(xv, builder.bitcast(e, fty))

    return ty(x, n), codegen


# adding x * log2(e) (|x log2 e| < 2**22, resp. 2**51) to this rounds it to an
# integer n held in the low mantissa bits, so that the bits of the sum are the
# bits of the constant plus n
_MAGIC_ROUND = {32: 1.5 * 2.0 ** 23, 64: _MAGIC52}


@intrinsic
def pow2_bits(typingctx, t, k):
    """2**(n + k) for t = _MAGIC_ROUND + n (an integral n): the float whose
    exponent field is the integer bits of t, less those of _MAGIC_ROUND, plus
    k + the bias.  Integer arithmetic on the bits, no float-to-integer
    conversion: defined for every t (a NaN t gives some bit pattern, never
    LLVM poison), and cheaper than rint and a conversion.  The caller keeps
    n + k inside the normal exponent range."""
    if not (isinstance(t, types.Float) and isinstance(k, types.Integer)):
        return None
    ty = t

    def codegen(context, builder, sig, args):
        tv, kv = args
        bits, mant, bias = (32, 23, 127) if ty.bitwidth == 32 else (64, 52, 1023)
        ity = ir.IntType(bits)
        magic_bits = int(np.array(_MAGIC_ROUND[bits], dtype=np.float32 if bits == 32 else np.float64)
                         .view(np.int32 if bits == 32 else np.int64))
        kv = builder.sext(kv, ity) if kv.type.width < bits else builder.trunc(kv, ity) if kv.type.width > bits else kv
        off = builder.add(kv, ir.Constant(ity, bias - magic_bits))
        e = builder.add(builder.bitcast(tv, ity), off)
        return builder.bitcast(builder.shl(e, ir.Constant(ity, mant)), context.get_value_type(ty))

    return ty(t, k), codegen


@intrinsic
def split_log(typingctx, u):
    """For a positive normal u, (m, k) with u = m * 2**k, sqrt(2)/2 <= m < sqrt(2).

    k is returned as a float.  For other u the values are meaningless but
    defined; callers select the special cases afterwards.
    """
    if not isinstance(u, types.Float):
        return None
    ty = u

    def codegen(context, builder, sig, args):
        (uv,) = args
        fty = context.get_value_type(ty)
        if ty.bitwidth == 32:
            ity, one, sqh, mant, bias, mmask = ir.IntType(32), 0x3F800000, 0x3F3504F3, 23, 127, 0x007FFFFF
        else:
            ity, one, sqh, mant, bias, mmask = (ir.IntType(64), 0x3FF0000000000000, 0x3FE6A09E667F3BCD,
                                                 52, 1023, 0x000FFFFFFFFFFFFF)
        ix = builder.bitcast(uv, ity)
        ix = builder.add(ix, ir.Constant(ity, one - sqh))
        k = builder.sub(builder.ashr(ix, ir.Constant(ity, mant)), ir.Constant(ity, bias))
        mb = builder.add(builder.and_(ix, ir.Constant(ity, mmask)), ir.Constant(ity, sqh))
        m = builder.bitcast(mb, fty)
        if ty.bitwidth == 32:
            kf = builder.sitofp(k, fty)
        else:  # int64 -> double without a conversion AVX2 lacks (see scale2)
            magic = ir.Constant(fty, _MAGIC52)
            kf = builder.fsub(builder.bitcast(builder.add(k, builder.bitcast(magic, ity)), fty), magic)
        return context.make_tuple(builder, sig.return_type, [m, kf])

    return types.UniTuple(ty, 2)(u), codegen


# ---------------------------------------------------------------------------
# The functions, built per dtype


def _straight_line(name, body, coeffs):
    """An njit function ``name(r)`` of the lines ``body``, with the
    coefficients as the constants c0, c1, ...

    Written out as straight-line code: a loop over a tuple of constants is
    only unrolled by LLVM up to some length, and a loop left in the body of
    a kernel's element loop stops it from vectorizing."""
    ns = {f"c{i}": c for i, c in enumerate(coeffs)}
    ns["fma"] = fma
    exec("\n".join([f"def {name}(r):"] + [f"    {line}" for line in body]), ns)
    return njit(**_JIT)(ns[name])


def _horner(coeffs):
    """An njit function evaluating sum(c[i] * r**i) with fma, c as constants."""
    k = len(coeffs) - 1
    body = [f"acc = c{k}"] + [f"acc = fma(acc, r, c{i})" for i in reversed(range(k))] + ["return acc"]
    return _straight_line("horner", body, coeffs)


def _estrin(coeffs):
    """As _horner, by Estrin's scheme: pairs c[2i] + c[2i+1] r, then pairs
    of those with r**2, r**4, ...: a few more operations, and a chain of
    dependent ones about log2(len(coeffs)) deep instead of len(coeffs) - 1."""
    body, terms, x, level = [], [f"c{i}" for i in range(len(coeffs))], "r", 0
    while len(terms) > 1:
        if level:
            body.append(f"x{level} = {x} * {x}")
            x = f"x{level}"
        nxt = []
        for i in range(0, len(terms), 2):
            nxt.append(f"t{level}_{i // 2}")
            pair = f"fma({terms[i + 1]}, {x}, {terms[i]})" if i + 1 < len(terms) else terms[i]
            body.append(f"{nxt[-1]} = {pair}")
        terms, level = nxt, level + 1
    return _straight_line("estrin", body + [f"return {terms[0]}"], coeffs)


def _build(T):
    f = np.finfo(T)
    is32 = T == np.float32
    one, two, half, zero = T(1), T(2), T(0.5), T(0)
    inf, nan = T(np.inf), T(np.nan)
    log2e = T(1.4426950408889634)
    ln2 = np.float64(0.6931471805599453094172321)
    ln2_hi = T(ln2)
    ln2_lo = T(0.6931471805599453094172321 - float(ln2_hi)) if is32 else T(2.3190468138462996e-17)
    tiny = T(f.tiny)  # below this, expm1(x) = log1p(x) = x (and -0.0 stays -0.0)
    # exp overflows above hi and underflows to +0 below lo
    exp_lo, exp_hi = (T(-104.0), T(89.0)) if is32 else (T(-746.0), T(710.0))
    # below m1_lo, expm1(x) rounds to -1
    m1_lo = T(-18.0) if is32 else T(-40.0)
    half_max_exp = T(64.0) if is32 else T(512.0)
    # above tanh_hi, tanh(x) rounds to +-1
    tanh_hi = T(10.0) if is32 else T(20.0)
    scale_bits = T(SCALE_BITS_INT)
    unscale = T(2.0 ** -SCALE_BITS_INT)
    scaled_lo = T(-149.0) if is32 else T(-791.0)  # exp(x) * 2**64 rounds to 0 below
    q = tuple(T(c) for c in _EXP_Q[T])
    p = tuple(T(c) for c in _LOG_P[T])
    poly_q = _horner(q)
    # float64's exp(x) 2**64 for x <= 0 (exp_neg_scaled: the exponentials of
    # the softmax family, sigmoid and silu) by Estrin's scheme, a chain of
    # dependent operations 4 deep where Horner's is 10: a serial loop of 4096
    # about 8 % faster (1.31 -> 1.20 ns per element, two alternated runs
    # each; the shorter chain the likely cause).  float32's polynomial (6
    # coefficients) stays on Horner's.  In _reduce (every exp) Estrin's made
    # float64 softplus 4x slower: exp outgrew LLVM's inlining budget there
    # and stayed a call in the loop.
    poly_q_neg = poly_q if is32 else _estrin(q)
    poly_p = _horner(p)

    @njit(**_JIT)
    def clamp(x, lo, hi):
        """x limited to [lo, hi]; NaN stays NaN."""
        x = hi if x > hi else x
        return lo if x < lo else x

    @njit(**_JIT)
    def _reduce(x):
        """n, expm1(r) with x = n*ln2 + r, |r| <= ln2/2; expm1(r) = r + r*r*Q(r).
        For a NaN x, expm1(r) is NaN and n is 0 (safe to convert to an integer)."""
        n = rint(x * log2e)
        r = fma(-n, ln2_hi, x)
        r = fma(-n, ln2_lo, r)
        em1 = fma(r * r, poly_q(r), r)
        return (n if n == n else zero), em1

    @njit(**_JIT)
    def exp(x):
        xc = clamp(x, exp_lo, exp_hi)
        n, em1 = _reduce(xc)
        n1 = floor(n * half)
        return scale2(scale2(em1 + one, n1), n - n1)

    @njit(**_JIT)
    def exp_parts(x):
        """(2**n, expm1(r)) with exp(x) = 2**n (1 + expm1(r)), |r| <= ln2/2:
        exp(x) as an unevaluated sum 2**n + 2**n expm1(r), for differences
        that cancel against exp(x) near x = 0 (where 2**n is 1 exactly)."""
        xc = clamp(x, exp_lo, exp_hi)
        n, em1 = _reduce(xc)
        n1 = floor(n * half)
        return scale2(scale2(one, n1), n - n1), em1

    @njit(**_JIT)
    def exp_scaled(x):
        """exp(x) * 2**SCALE_BITS with one rounding: keeps full precision where
        exp(x) itself would be subnormal (x below about -87 / -708)."""
        xc = clamp(x, scaled_lo, exp_hi)
        n, em1 = _reduce(xc)
        n = n + scale_bits
        n1 = floor(n * half)
        return scale2(scale2(em1 + one, n1), n - n1)

    # the lowest x at which exp(x) 2**64 is still a normal number (so one
    # scaling suffices): below it exp(x) is far below its share of any sum that
    # includes exp(0), and x exp(x) (silu) below half the smallest subnormal
    neg_lo = T(-130.0) if is32 else T(-752.0)
    magic = T(_MAGIC_ROUND[32 if is32 else 64])
    neg_zero = T(-0.0)

    @njit(**_JIT)
    def exp_neg_scaled_lo(x, xlo):
        """exp(x + xlo) * 2**SCALE_BITS for x <= 0 (NaN passes), with a single
        scaling: the softmax family's exp(x - max), sigmoid's and silu's
        exp(-|x|).  xlo (|xlo| <= ulp(x) / 2: the rounding error of the
        difference that x is the rounded value of) joins the reduced
        argument.  Below neg_lo it is 0, whatever xlo (NaN included).
        (exp_scaled2 does the same for any x, with rint and two scalings.)

        n comes from the rounding of x log2(e) + magic (one fma), and 2**(n +
        64) from the bits of that sum (pow2_bits): no rint, no conversion, no
        select for a NaN n (a NaN x makes em1 NaN whatever the power of two).
        About 13 % faster than _reduce and scale2 in a loop of float32 exps."""
        xc = neg_lo if x < neg_lo else x
        t = fma(xc, log2e, magic)
        n = t - magic
        r = fma(-n, ln2_hi, xc)
        r = fma(-n, ln2_lo, r) + xlo
        em1 = fma(r * r, poly_q_neg(r), r)
        e = (em1 + one) * pow2_bits(t, SCALE_BITS_INT)
        return zero if x < neg_lo else e

    @njit(**_JIT)
    def exp_neg_scaled(x):
        """exp_neg_scaled_lo without the low part (r + -0.0 is r for every r,
        so the addition folds away)."""
        return exp_neg_scaled_lo(x, neg_zero)

    @njit(**_JIT_INLINE)
    def exp_scaled2(x, xlo):
        """exp(x + xlo) * 2**SCALE_BITS for a tiny correction xlo (|xlo| below
        an ulp of x), added to the reduced argument: no rounding of x + xlo."""
        xc = clamp(x, scaled_lo, exp_hi)
        n = rint(xc * log2e)
        n = n if n == n else zero
        r = fma(-n, ln2_hi, xc)
        r = fma(-n, ln2_lo, r) + xlo
        em1 = fma(r * r, poly_q(r), r)
        n = n + scale_bits
        n1 = floor(n * half)
        return scale2(scale2(em1 + one, n1), n - n1)

    u_ncdf_neg, ncdf_slope_parts = (_build_gelu32(T, clamp, poly_q, log2e, ln2_hi, ln2_lo, magic, unscale)
                                    if is32 else (None, None))

    @njit(**_JIT)
    def expm1(x):
        xc = clamp(x, m1_lo, exp_hi)
        n, em1 = _reduce(xc)
        # 2**n * (em1 + 1) - 1, with 2**n split as 2**n1 * 2**n2, n2 >= 0
        n1 = n if n < half_max_exp else half_max_exp
        n2 = n - n1
        s1 = scale2(one, n1)
        res = scale2(fma(em1, s1, s1 - scale2(one, -n2)), n2)
        return x if fabs(x) < tiny else res

    @njit(**_JIT)
    def log1p(x):
        u = one + x
        m, k = split_log(u)
        # rounding error of 1 + x, carried as a first-order correction
        c = (x - (u - one)) if k < two else (one - (u - x))
        c = c / u
        fm = m - one
        s = fm / (two + fm)
        z = s * s
        lo = fma(k, ln2_lo, c)
        r = fm - (s * (fm - z * poly_p(z)) - lo)
        res = fma(k, ln2_hi, r)
        res = x if fabs(x) < tiny else res
        res = inf if x == inf else res
        res = -inf if x == -one else res
        return nan if x < -one else res

    k_lo = T(math.sqrt(2.0) - 1.0)  # log1p_exp_neg takes one factor 2 out above this
    # about 1 / (1 + f) for the f whose rounding error c is not 0, f in
    # [sqrt(2)/2 - 1, -1/4): 1 / (1 + f) is within 3 % of it
    inv_1pf = T(1.3738)

    @njit(**_JIT)
    def log1p_exp_neg(a):
        """log1p(exp(-a)) for a >= 0 (NaN stays NaN): softplus's and
        logsigmoid's log term, to about log1p's accuracy with less work.

        t = exp(-a) is in [0, 1], so log1p's general reduction (the exponent
        split from the bits, the rounding error of 1 + x and its division,
        the special cases) reduces to one choice: log1p(t) = log1p(f) with f
        = t below sqrt(2) - 1, and ln2 + log1p(f) with f = (t - 1) / 2 above
        it.  Either way |f| <= sqrt(2) - 1, log1p's polynomial range.  t / 2 -
        1/2 is exact from t = 1/2 up; below that its rounding error c (a
        Fast2Sum, at most half an ulp of f) enters as c / (1 + f), the
        factor 1 / (1 + f) taken within 3 %: what that leaves is below 0.03
        ulp of the result, in either dtype (there, 1.39 ulp at worst with c
        and 1.77 without it, float32).  One division (s = f / (2 + f))
        where log1p has two.  exp(-a) is taken scaled by 2**64 and rounded
        once where it is subnormal.  Measured against float64 / long
        double: over every float32 a in [0, 104], 1.75 ulp at worst
        (log1p(exp(-a)) 1.75); over 7.6 million float64 a in [0, 745], 1.71
        (log1p(exp(-a)) 1.68).
        Packed instructions in the compiled kernels (tools/check_asm.py):
        softplus forward 147 -> 112 (float32) and 180 -> 146 (float64),
        logsigmoid forward 134 -> 91 and 165 -> 134."""
        t = exp_neg_scaled(-a) * unscale
        up = t >= k_lo
        h = t * half
        fu = h - half
        c = h - (fu + half)
        f = fu if up else t
        c = c if up else zero
        s = f / (two + f)
        z = s * s
        lo = fma(c, inv_1pf, ln2_lo if up else zero)
        return (ln2_hi if up else zero) + (f - (s * (f - z * poly_p(z)) - lo))

    @njit(**_JIT)
    def tanh(x):
        # expm1(2a) for 0 <= 2a <= 2 tanh_hi, where 2**n is a normal number
        # and (for a below the normal range) expm1 is exact: expm1's clamps,
        # exponent split and tiny-input select are not needed, and leaving
        # them out makes the loop about 1.5x faster (same results bit for bit)
        a = fabs(x)
        a = tanh_hi if a > tanh_hi else a  # NaN stays NaN
        n, em1 = _reduce(a + a)
        s = scale2(one, n)
        e = fma(em1, s, s - one)
        return copysign(e / (e + two), x)

    exp_dd, exp_dd_reduce, exp_dd_finish = _build_exp_dd(clamp) if not is32 else (None,) * 3
    erf_family = _build_erf(T, exp_scaled2, clamp)

    return SimpleNamespace(
        T=T, exp=exp, exp_dd=exp_dd, exp_dd_reduce=exp_dd_reduce, exp_dd_finish=exp_dd_finish,
        exp_neg_scaled=exp_neg_scaled, exp_neg_scaled_lo=exp_neg_scaled_lo, exp_parts=exp_parts, exp_scaled=exp_scaled, exp_scaled2=exp_scaled2, SCALE=T(2.0 ** SCALE_BITS_INT),
        UNSCALE=unscale, expm1=expm1, log1p=log1p, log1p_exp_neg=log1p_exp_neg, tanh=tanh, clamp=clamp, fma=fma,
        fabs=fabs, maxnum=maxnum, copysign=copysign, u_ncdf_neg=u_ncdf_neg, ncdf_slope_parts=ncdf_slope_parts,
        **erf_family,
    )


def _build_gelu32(T, clamp, poly_q, log2e, ln2_hi, ln2_lo, magic, unscale):
    """float32 gelu's two rational fits: (u_ncdf_neg, ncdf_slope_parts)."""
    from ._erf_data import ERF_FITS

    one, zero = T(1), T(0)
    neg_half = T(-0.5)
    # -log2(e) / 2 (exact): the product with u**2 is that of -u**2 / 2 with log2(e)
    neg_half_log2e = neg_half * log2e

    @njit(**_JIT_INLINE)
    def exp_half_sq(u):
        """exp(-u**2 / 2) = 2**n (1 + em1) as (t, em1), t = magic + n (so
        that pow2_bits(t, k) is 2**(n + k)): from the exact square h + hl of
        u, hl added to the reduced argument."""
        h = u * u
        hl = fma(u, u, -h)
        t = fma(h, neg_half_log2e, magic)
        n = t - magic
        r = fma(n, -ln2_hi, h * neg_half) + fma(n, -ln2_lo, hl * neg_half)
        return t, fma(r * r, poly_q(r), r)

    fit = ERF_FITS["float32"]["G"]
    assert fit["b"][0] == 1.0
    a0 = T(fit["a"][0])
    poly_a1 = _horner(tuple(T(c) for c in fit["a"][1:]))
    poly_b1 = _horner(tuple(T(c) for c in fit["b"][1:]))
    k = T(fit["k"])
    umax = T(fit["umax"])
    # below it, K bp <= a: a - q is exact (Sterbenz), as is a0 - a
    comp_hi = T(0.5)

    @njit(**_JIT_INLINE)
    def u_ncdf_neg(a):
        """u Phi(-u) for float32 u >= 0 (NaN stays NaN; Phi the standard
        normal CDF), to relative accuracy down to the subnormal range: float32
        gelu's forward, gelu(x) = x - v for x > 0 and -v for x < 0, v = |x|
        Phi(-|x|).

        Phi(-u) = exp(-u**2 / 2) S(u), and S = b / (K u b + a) is a rational
        fit (ERF_FITS["float32"]["G"], tools/fit_polynomials.py): one
        division, where float32's piecewise polynomials needed 22 selects
        per element.  So u Phi(-u) = e bp / q with bp = u b and q = K bp + a.
        What keeps it within a few ulp:
          * exp(-u**2 / 2) from the exact square of u (exp_half_sq); 2**n
            comes from the bits of the rounding constant;
          * in q, b's rounding error cancels against bp's for large u (K bp
            dominates); for small u (a dominates) the rounding errors of a
            and of q are computed (a - q and a0 - a are exact there) and put
            back;
          * the quotient y0 = bp (1 / q) is corrected by its residual (an
            fma), and the factor 1 + em1 of the exponential enters the same
            correction: the result is rounded once, times 2**n (exact, or
            subnormal: once).
        Measured over every float32 input: worst 2.57 ulp (at x = -1.861)."""
        u = clamp(a, zero, umax)  # beyond umax the result rounds to 0
        # bp = u b(u) = u + u v; q = K bp + a(u), a = a0 + u a1(u)
        v = u * poly_b1(u)
        bp = fma(u, v, u)
        a1 = poly_a1(u)
        av = fma(u, a1, a0)
        alo = fma(u, a1, a0 - av)
        q = fma(k, bp, av)
        qlo = fma(k, bp, av - q) + alo
        qlo = qlo if u < comp_hi else zero
        t, em1 = exp_half_sq(u)
        # bp / (q + qlo) (1 + em1) = (y0 + c) (1 + em1) = y0 + (y0 em1 + c + c em1)
        # with c = rho / q, rho = bp - y0 (q + qlo) from fmas (exact, or off by
        # far less than itself: y0 is within about 1.5 ulp of bp / q).  The
        # division is off the exponential's chain.
        rq = one / q
        y0 = bp * rq
        rho = fma(-y0, qlo, fma(-y0, q, bp))
        c = rho * rq
        scale = pow2_bits(t, SCALE_BITS_INT) * unscale
        return (y0 + fma(c, em1, fma(y0, em1, c))) * scale

    fit = ERF_FITS["float32"]["GD"]
    assert fit["b"][0] == 1.0
    poly_p = _horner(tuple(T(c) for c in fit["p"]))
    poly_d1 = _horner(tuple(T(c) for c in fit["b"][1:]))
    c_inf, r_hi, r_lo = T(fit["c"]), T(fit["r_hi"]), T(fit["r_lo"])
    slope_max = T(fit["umax"])

    @njit(**_JIT_INLINE)
    def ncdf_slope_parts(a):
        """e D(u) for float32 u >= 0 as (y, c, s): e D = (y + c) s 2**-64,
        y + c unrounded (c holds y's rounding error and the exponential's
        factor em1: up to about 0.4 of y, all of it where y = 0) and
        s = 2**(n + 64), a normal number.  e = exp(-u**2 / 2) and
        D(u) = u / sqrt(2 pi) - Phi(-u) / e, so that gelu'(-u) = -e D and
        gelu'(u) = 1 + e D (NaN stays NaN).

        D = (u - r) (C + p / b) is the rational fit
        ERF_FITS["float32"]["GD"] (tools/fit_polynomials.py), r its zero.
        Every rounding that counts is put back into c: that of u - r_hi
        (Fast2Sum, the larger operand first), of the quotient p / b (its
        residual, an fma), of C + p / b (Fast2Sum: p / b < C), and of the
        product with u - r (an fma); the factor 1 + em1 of the exponential
        enters c.  The rational part is at most about 0.4 of C + p / b, so
        that its rounded coefficients and Horner's roundings count for less
        (the fit's own error, 2.3e-8 relative to C + p / b, does not).
        Measured over every float32 x in [-16, 16]: gelu's backward within
        1.92 ulp for g = 1 and 2.12 ulp for random g, also next to the zero
        at x = -r."""
        u = clamp(a, zero, slope_max)  # e D(16) = 1.6e-55: g e D rounds to 0 for |g| < 4e9
        dh = u - r_hi
        dl = (-r_hi - (dh - u) if u >= r_hi else u - (dh + r_hi)) - r_lo
        p = poly_p(u)
        b = fma(u, poly_d1(u), one)
        rb = one / b
        q = p * rb
        ql = fma(-q, b, p) * rb
        hh = c_inf + q
        hl = ((c_inf - hh) + q) + ql
        # (u - r) (C + p / b) = (dh + dl) (hh + hl) = y + lo
        y = dh * hh
        lo = fma(dh, hh, -y) + fma(dh, hl, dl * hh)
        t, em1 = exp_half_sq(u)
        return y, fma(y, em1, fma(lo, em1, lo)), pow2_bits(t, SCALE_BITS_INT)

    return u_ncdf_neg, ncdf_slope_parts


# ln 2 in three parts: C1 has 32 significant bits, so n * C1 is exact for the
# |n| <= 1100 of a float64 exp's range reduction
_LN2_C1 = 0.6931471806019545
_LN2_C2 = -4.2009150726810846e-11
_LN2_C3 = -1.3124698417785255e-27
# 1/6 = _INV6_HI + _INV6_LO to about 2**-107
_INV6_HI = 1.0 / 6.0
_INV6_LO = 9.25185853854297e-18
# 1/k! for k = 4..16: the Taylor tail of exp past r**3/6, |r| <= ln(2)/2
_INV_FACT_4 = tuple(1.0 / math.factorial(k) for k in range(4, 17))


def _build_exp_dd(clamp):
    """float64 exp(x) as an unevaluated sum hi + lo, relative error about
    2**-62: for differences that cancel against exp(x) (log_softmax's
    backward).  Range reduction in three parts of ln 2; exp(r) summed in
    double-double up to r**3/6, the Taylor tail in plain float64."""
    one, half = 1.0, 0.5
    log2e = 1.4426950408889634
    tail = _horner(_INV_FACT_4)

    @njit(**_JIT)
    def two_sum(a, b):
        t = a + b
        bp = t - a
        return t, (a - (t - bp)) + (b - bp)

    @njit(**_JIT)
    def fast_two_sum(a, b):
        """a + b and its rounding error, for |a| >= |b|."""
        t = a + b
        return t, b - (t - a)

    @njit(**_JIT)
    def exp_dd_reduce(x):
        """(n, r, rl) with x = n ln2 + r + rl, |r| <= ln2/2, rl below r's ulp."""
        xc = clamp(x, -746.0, 710.0)
        n = rint(xc * log2e)
        n = n if n == n else 0.0
        rh = xc - n * _LN2_C1  # exact
        p = n * _LN2_C2
        pe = fma(n, _LN2_C2, -p)
        r, e = two_sum(rh, -p)
        return n, r, (e - pe) - n * _LN2_C3

    @njit(**_JIT)
    def exp_dd_finish(n, r, rl):
        """2**n exp(r + rl) as (hi, lo)."""
        r2 = r * r
        r2l = fma(r, r, -r2)
        r3 = r2 * r
        r3l = fma(r2, r, -r3) + r2l * r
        # r**3 / 6 as a product with 1/6 in two parts (a division would keep
        # LLVM from vectorizing the loops that call this)
        c3 = r3 * _INV6_HI
        c3l = fma(r3, _INV6_HI, -c3) + (r3 * _INV6_LO + r3l * _INV6_HI)
        # 1 + r + r**2/2 + r**3/6, each term smaller than the partial sum
        # before it (|r| <= 0.35): Fast2Sum is exact
        h, lo = fast_two_sum(one, r)
        h, e = fast_two_sum(h, r2 * half)
        lo += e
        h, e = fast_two_sum(h, c3)
        lo += e
        lo += (r2 * r2) * tail(r) + (r2l * half + c3l) + rl * (one + r + r2 * half)
        hi = h + lo
        lo = lo - (hi - h)
        n1 = floor(n * half)
        n2 = n - n1
        return scale2(scale2(hi, n1), n2), scale2(scale2(lo, n1), n2)

    @njit(**_JIT)
    def exp_dd(x):
        """A loop over many x vectorizes only when the two halves run in
        loops of their own (exp_dd_reduce, then exp_dd_finish)."""
        n, r, rl = exp_dd_reduce(x)
        return exp_dd_finish(n, r, rl)

    return exp_dd, exp_dd_reduce, exp_dd_finish


# ---------------------------------------------------------------------------
# The error function family


def _piecewise(T, fit):
    """An njit function pieces(a) -> (p, tail) for a >= 0 (NaN allowed).

    fit (from _erf_data) has breaks b1 < ... < bk: on [0, b1), ..., [b(k-1), bk)
    p is a polynomial in a - centre, from bk on (tail = True) a polynomial in
    w - centre with w = fit's WSCALE / a**2.  The coefficients of the piece
    that a falls in are picked by selects (no branch, no table lookup), so a
    loop over it vectorizes.  Generated as straight-line source."""
    breaks = [T(b) for b in fit["breaks"]]
    coeffs = [[T(c) for c in cs] for cs in fit["coeffs"]]
    centres = [T(c) for c in fit["centres"]]
    k = len(breaks)
    n = len(coeffs[0])
    assert all(len(cs) == n for cs in coeffs) and len(coeffs) == k + 1
    ns = {"fma": fma, "WSCALE": T(fit["wscale"]), "BTAIL": breaks[-1]}
    for i, b in enumerate(breaks):
        ns[f"B{i}"] = b
    for p in range(k + 1):
        ns[f"C{p}"] = centres[p]
        for j in range(n):
            ns[f"A{p}_{j}"] = coeffs[p][j]

    def sel(fmt):
        e = fmt.format(0)
        for i in range(k):
            e = f"({fmt.format(i + 1)} if m{i} else {e})"
        return e

    lines = ["def pieces(a):"]
    lines += [f"    m{i} = a >= B{i}" for i in range(k)]
    # w only matters in the tail; a is at least the tail's start there
    lines.append(f"    t = a if m{k - 1} else BTAIL")
    lines.append(f"    v = ((WSCALE / (t * t)) if m{k - 1} else a) - {sel('C{}')}")
    lines.append(f"    acc = {sel('A{}_' + str(n - 1))}")
    for j in range(n - 2, -1, -1):
        lines.append(f"    acc = fma(acc, v, {sel('A{}_' + str(j))})")
    lines.append(f"    return acc, m{k - 1}")
    exec(compile("\n".join(lines) + "\n", f"<fastact._math.pieces_{id(fit)}>", "exec"), ns)
    return njit(**_JIT_INLINE)(ns["pieces"])


def _build_erf(T, exp_scaled2, clamp):
    """erf and erfc for dtype T.

    For a >= 0, erfc(a) = exp(-a**2) R(a), with R smooth and slowly varying,
    fitted piecewise (tools/fit_polynomials.py --erf).  The exponential is
    computed from a**2 = h + l split exactly with an fma, l added to the
    reduced argument of exp(-h), so that the low bits of a**2 (which matter:
    a**2 is up to 800) are not lost,
    and carried scaled by 2**64 so that subnormal results are rounded once.
    Near 0, erf(z) = z E(z**2).  All in T: float32 stays float32."""
    from ._erf_data import ERF_FITS

    fits = ERF_FITS["float32" if T == np.float32 else "float64"]
    one, two, zero, half = T(1), T(2), T(0), T(0.5)
    unscale = T(2.0 ** -64)
    is32 = T == np.float32
    # beyond these the results are 0 (or 2, 1) even in the subnormal range;
    # clamping keeps a**2 finite
    erfc_max = T(11.0) if is32 else T(28.0)
    erf_hi = T(fits["E"]["hi"])
    r_pieces = _piecewise(T, dict(fits["R"], wscale=1.0))
    # erf(z) = z + z (E(z**2) - 1): the leading 1 exact, its term's rounding
    # is then relative to E - 1 (about 0.13)
    e_coeffs = list(fits["E"]["coeffs"])
    e_coeffs[0] -= 1.0
    poly_e = _horner(tuple(T(c) for c in e_coeffs))

    @njit(**_JIT_INLINE)
    def exp_sq_scaled(a, k):
        """exp(-k a**2) * 2**64 for finite a, k a power of two: a**2 = h + l
        exactly, exp(-k h - k l) with k l added after the range reduction."""
        h = a * a
        lo = fma(a, a, -h)
        return exp_scaled2(-(h * k), -(lo * k))

    @njit(**_JIT_INLINE)
    def erfc_abs_scaled(a):
        """erfc(a) * 2**64 for a = |z| (NaN stays NaN)."""
        a = clamp(a, zero, erfc_max)
        p, tail = r_pieces(a)
        e = exp_sq_scaled(a, one)
        return (e * p) / (a if tail else one)

    @njit(**_JIT)
    def erfc(z):
        q = erfc_abs_scaled(fabs(z)) * unscale
        return q if z >= zero else two - q

    @njit(**_JIT)
    def erf(z):
        a = fabs(z)
        small = fma(z, poly_e(z * z), z)
        big = copysign(one - erfc_abs_scaled(a) * unscale, z)
        return small if a < erf_hi else big

    ncdf_s, ncdf_umax = _build_ncdf64(T) if not is32 else (None, None)
    return dict(erf=erf, erfc=erfc, exp_sq_scaled=exp_sq_scaled, ncdf_s=ncdf_s, ncdf_umax=ncdf_umax)


# 1 / sqrt(2 pi) = hi + lo to about 2**-106
INV_SQRT_2PI = (0.3989422804014327, -2.49232720227773e-17)


def _build_ncdf64(T):
    """(ncdf_s, umax): ncdf_s(u) = S(u) = Phi(-u) exp(u**2 / 2) for float64 u
    in [0, umax] (Phi the
    standard normal CDF), so that Phi(-u) = exp(-u**2 / 2) S(u): float64
    gelu's forward and, through D(u) = u / sqrt(2 pi) - S(u), its backward.

    One polynomial, where the earlier pieces evaluated four (LLVM computed
    every piece and selected the result: 76 fmas per element) and were about
    1.3x slower.  With w = K / (u + K) and v = w - 1/2, S = w G(v), G of
    degree 23 (ERF_FITS["float64"]["W"], tools/fit_polynomials.py).  What
    keeps it within about 1.3 ulp (measured against mpmath on [0, 40]):
      * the roundings of u + K, of the division and of v are found exactly
        (TwoSum, the division's residual from an fma, Fast2Sum) and put back
        to first order, through dS/dw = (C - u S) K / w**2;
      * the last step, w (A0 + v t1), is exact but for t1's rounding: its
        products from fmas, its sum by TwoSum, and A0 + A1 v carried to
        twice the precision (where v is near -0.4 the roundings there and of
        A0 and A1 cost up to 2 ulp; the sum's, 0.3 ulp, for 6 % of the
        kernel's time)."""
    from ._erf_data import ERF_FITS

    fit = ERF_FITS["float64"]["W"]
    k, centre, quarter = T(fit["k"]), T(fit["centre"]), T(0.25)
    assert fit["k"] == 4.0 and fit["centre"] == 0.5  # quarter = 1 / K; v exact for w >= 1/4
    a0, a1 = T(fit["coeffs"][0]), T(fit["coeffs"][1])
    a0_lo, a1_lo = T(fit["lo"][0]), T(fit["lo"][1])
    poly_g2 = _horner(tuple(T(c) for c in fit["coeffs"][2:]))
    c_hi = T(INV_SQRT_2PI[0])

    @njit(**_JIT_INLINE)
    def ncdf_s(u):
        s = u + k
        sl = ((u - s) + k) if u >= k else ((k - s) + u)  # u + k = s + sl exactly
        w = k / s
        r = fma(-w, s, k)  # k - w s, exact
        v = w - centre
        z = v + centre  # exact: v is w - 1/2 exactly for w >= 1/4, Fast2Sum below
        vl = w - z  # w = z + vl exactly
        t1 = fma(v, poly_g2(v), a1)
        # z (a0 + v t1) with z a0 = h + l and z v = hq + lq exactly
        h = z * a0
        l = fma(z, a0, -h)
        hq = z * v
        lq = fma(z, v, -hq)
        m = hq * t1
        ml = fma(hq, t1, -m)
        p = h + m  # TwoSum: either may be the larger
        pb = p - h
        pl = (h - (p - pb)) + (m - pb)
        low = (l + pl) + (ml + fma(lq, t1, z * fma(v, a1_lo, a0_lo)))
        # the exact w is z + vl + (r - w sl) / s; dS/dw = (C - u S) s**2 / K
        corr = ((c_hi - u * p) * s) * (fma(-w, sl, r) + vl * s) * quarter
        return p + (low + corr)

    return ncdf_s, T(fit["umax"])


MATH = {np.float32: _build(np.float32), np.float64: _build(np.float64)}

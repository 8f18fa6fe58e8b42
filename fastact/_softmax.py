"""The softmax family, row by row: softmax, softmin and log_softmax (with an
optional mask), their backwards, and the fused softmax cross-entropy.

Every kernel works on the rows of 2-D C-contiguous arrays (``_api`` moves
the reduced axes last).  A row is a short stretch of memory that stays in L1
or L2 between the passes over it; the passes are kept apart so that each
loop has one data width (a loop mixing float32 and float64 vectorizes at the
float64 width).  A long row (LONG_ROW elements or more) is taken in blocks:
each pass runs over its blocks, in parallel in the parallel kernels, and the
blocks' sums are added in block order, so that a single row of a vocabulary
uses every thread and the results do not depend on the thread count.  The
unmasked forwards take short rows (SHORT_ROWS) a chunk of rows at a time,
transposed, so that their loops run along the rows.

Accuracy comes from where the sums are carried:

* ``exp(x - max)`` is computed scaled by 2**64 (``exp_neg_scaled``), so that
  tiny results keep full precision and need a single scaling, with the
  rounding error of ``x - max`` put back as a first-order factor;
* float32 data: sums in float64 (their error, below n 2**-53 of the sum for
  a row of n, is far under float32's precision for any row that fits in
  memory);
* float64 data: sums as double-double (``dd_sum``, ``dd_dot``), vectorized
  over lanes (short rows: one TwoSum chain per row, vectorized over rows);
* the backwards cancel: softmax's ``g_i - sum(g y)`` and log_softmax's
  ``g_i - exp(y_i) sum(g)``.  float32 softmax_backward takes a fast path with
  a proven error bound and redoes in float64, from a double-double sum, the
  elements whose difference is too small for that bound; float32 log_softmax_backward
  computes in float32 with exp(y) in two parts and redoes in float64 the
  elements where the result cancels by more than its margin allows (found
  by blocks of 64, redone one by one); float64 log_softmax_backward does
  the same in float64, from the double-double sum, and redoes those
  elements with exp(y) in double-double (as it computes short rows
  throughout); float64 softmax_backward uses the double-double sum alone.
"""
import functools
import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
from numba import njit

from ._jit import REDUCE_FASTMATH, instantiate
from ._kernels import row_chunk
from ._math import _INV6_HI, _INV6_LO, _INV_FACT_4, _LN2_C1, _LN2_C2, MATH, _estrin, float_bits, maxnum as _maxnum, rint, scale2

_OPTS = dict(nogil=True, error_model="numpy")
_REASSOC = dict(_OPTS, fastmath=set(REDUCE_FASTMATH))

# Blocks of the float32 fast path's dot product: summed reassociated
# (vectorized), the block sums added exactly (TwoSum).  Its error is then at
# most (SUM_BLOCK + 1) * 2**-53 * sum(|g y|), whatever the row length.
SUM_BLOCK = 256
# float32 softmax_backward: with that bound, |g_i - s| >= 2**-18 * sum(|g y|)
# keeps the error of g_i - s below 2**-26 relative (an eighth of a float32
# ulp); an element with a smaller difference is redone in float64 from a
# double-double sum.  (Such elements are rare, but a long row has some: with
# g ~ N(0, 1), about 3 in a row of 2**20, 11 in 2**22.)
FAST_MARGIN = 2.0 ** -18
# Rows of up to PLAIN_ROW elements take the dot product in one reassociated
# sum, whose error is at most (n - 1) 2**-53 sum(|g y|).  The flag compares
# g with hi, the sum rounded to float32 (off by up to 2**-24 sum(|g y|)):
# an element left unflagged is at least (PLAIN_MARGIN - 2**-24) sum(|g y|)
# = 2**-17 (1 + 2**-7) sum(|g y|) from the sum, so the same 2**-26 holds
# (1023 2**-53 / (2**-17 (1 + 2**-7)) < 2**-26; by blocks, 257 2**-53 /
# (2**-18 (1 - 2**-6)) < 2**-26 too), and such a row flags elements about
# twice as often.  Its pass costs 0.30 ns per element against 0.52 by
# blocks (float32 (64, 1024), serial, a plain write after it).
PLAIN_ROW = 1024
PLAIN_MARGIN = 2.0 ** -17 + 2.0 ** -23
# the flagged elements are found by blocks of REPAIR_BLOCK (a vectorized
# test per block, then the block's elements one by one where it has one)
REPAIR_BLOCK = 64
# lanes of the double-double reductions (a runtime value, so that LLVM
# vectorizes the lane loop instead of unrolling it)
LANES = 32
# ... of which a row uses all from DD_FULL_LANES elements on, DD_FEW_LANES
# from DD_MIN_LANED on, and none below (one chain of TwoSums): the final fold
# costs a TwoSum per lane, about 50 ns of a 180 ns float64 softmax row of 10
# with 32 lanes (measured serial; rows of 10: 1.5x to 1.8x faster per row)
DD_FULL_LANES = 512
DD_FEW_LANES = 8
DD_MIN_LANED = 32

# Rows of LONG_ROW elements or more are taken in blocks of LONG_BLOCK (see
# softmax_long), whose passes run in parallel in the parallel kernels: a
# single long row (a 1-D softmax over a vocabulary) uses every thread.
# LONG_BLOCK is a multiple of SUM_BLOCK and of both LSMB chunks, and two blocks
# make a long row.
LONG_BLOCK = 8192
LONG_ROW = 2 * LONG_BLOCK

# Rows of at most SHORT_ROWS elements are too short for the vectorized loops
# over a row: LLVM's vector loop takes 32 float32 (16 float64) elements a
# step, so a row of 10 ran all of its exponentials and its maximum's and
# sum's chains in scalar code.  The forward kernels (softmax, softmin,
# log_softmax, the cross-entropy's loss) take such rows a chunk of about
# SHORT_CHUNK elements at a time instead, transposed in scratch (see
# short_pass): the passes run along the rows, in vector loops over the
# chunk's rows.  Chunks of fewer than SHORT_FEW rows (a call of a few rows)
# take the same operations row by row.  (log_softmax_backward's short
# kernel is neither transposed nor row by row: see below the table.)
# Measured serial, time per element of the short kernel / the row kernel
# (min of 3 alternated runs of 3 rounds, rows of n, about 8192 elements):
#   n                      4     10    16    24    31    32    40    48    64
#   softmax       float32  0.19  0.37  0.50  0.62  0.49  0.89  1.03  1.05  1.30
#                 float64  0.19  0.30  0.45  0.53  0.56  0.65  0.81  0.88  0.90
#   log_softmax   float32  0.13  0.23  0.31  0.48  0.47  0.54  0.72  0.78  0.87
#                 float64  0.17  0.28  0.41  0.49  0.52  0.58  0.73  0.79  0.83
#   cross-entropy float32  0.14  0.26  0.34  0.51  0.44  0.58  0.77  0.83  0.92
#                 float64  0.19  0.27  0.41  0.49  0.50  0.55  0.70  0.78  0.80
# (crossing 1 between n = 64 and 80, but for float32 softmax at 40; the
# short kernel takes about 2 ns per element (float32) or 3.6 (float64) at
# every n: its transposes are scalar code.)  The limit is 31 all the same:
#   * a call of a few rows sums each row in one chain, as the chunks do (so
#     that a row's bits do not depend on the call), where the row kernels
#     use lanes from DD_MIN_LANED = 32 elements on: one row of 64 took
#     1.06x (float32) to 1.08x (float64) the time of the public call through
#     the row kernel;
#   * up to 31 the masked kernels' sums are chains too (see row_inv), so that
#     where= all True gives the unmasked results' bits.
# Short kernel template -> the longest short row, float32 and float64 (the
# drivers' SHORT_ROW)
# log_softmax_backward_short sums each row in one chain as well (for float64
# data dd_sum's chain below DD_MIN_LANED, so the bits are the row kernel's),
# and takes the elements in flat loops over the chunk.  Measured serial,
# time of the row kernel / the short kernel (min of 2 x 7 rounds):
#   shape            (1, 16) (4, 10) (32, 10) (256, 10) (1024, 4) (512, 31)
#   float32           0.92    1.27    2.21     2.92      4.62      1.40
#   float64           0.91    1.18    2.01     2.47      4.12      1.37
SHORT_ROWS = {"softmax_short": (31, 31), "log_softmax_short": (31, 31), "ce_short": (31, 31),
              "log_softmax_backward_short": (31, 31)}
assert max(max(v) for v in SHORT_ROWS.values()) < DD_MIN_LANED
SHORT_CHUNK = 2048
# chunks of fewer rows go row by row: measured serial, time of the short
# kernel row by row / transposed (min of 7 rounds), float32 (1, 16): 0.82,
# (2, 10): 0.91, (4, 10): 0.86, (7, 10): 0.80; float64 (2, 10): 0.89,
# (4, 10): 1.02, (7, 10): 0.92.  Against the row kernels (whose sums are not
# the short kernels'), row by row / row kernel: float32 (1, 16): 1.18,
# (2, 10): 1.14, (7, 10): 0.98; float64 1.03, 0.96, 0.77.
SHORT_FEW = 8
# the parallel kernels split the rows among the threads from this many long
# rows up, and the blocks of each row below it (the results are the same)
LONG_PAR_ROWS = 4

_fma64 = MATH[np.float64].fma


@njit(**_OPTS)
def _two_sum(s, c, v):
    """(s + v rounded, c plus the rounding error): Knuth's TwoSum."""
    t = s + v
    bp = t - s
    return t, c + ((s - (t - bp)) + (v - bp))


def _sum64(opts, doc):
    @njit(**opts)
    def sum64(a):
        s = 0.0
        for i in range(a.shape[0]):
            s += np.float64(a[i])
        return s

    sum64.__doc__ = doc
    return sum64


sum64 = _sum64(_REASSOC, "sum(a) in float64, reassociated: error at most (n - 1) 2**-53 sum(|a|).")
sum64_chain = _sum64(_OPTS, "sum(a) in float64, in order (not reassociated).")


@njit(**_OPTS)
def short_chunk(n):
    """Rows per chunk of the short-row kernels, for rows of n elements."""
    return max(1, SHORT_CHUNK // n)


@njit(**_REASSOC)
def sum64_not_one(a, one):
    """(sum of the terms other than ``one``, count of the terms equal to it),
    in float64, reassociated."""
    s = 0.0
    k = 0
    for i in range(a.shape[0]):
        v = np.float64(a[i])
        s += 0.0 if v == one else v
        k += 1 if v == one else 0
    return s, k


@njit(**_REASSOC)
def dot_blocked(a, b):
    """(s, c, m): sum(a b) = s + c to within (SUM_BLOCK + 1) 2**-53 m, and
    m = sum(|a b|), for float32 a and b (their products are exact in
    float64)."""
    n = a.shape[0]
    s = 0.0
    c = 0.0
    m = 0.0
    for lo in range(0, n, SUM_BLOCK):
        bs = 0.0
        bm = 0.0
        for i in range(lo, min(lo + SUM_BLOCK, n)):
            p = np.float64(a[i]) * np.float64(b[i])
            bs += p
            bm += abs(p)
        s, c = _two_sum(s, c, bs)
        m += bm
    return s, c, m


@njit(**_REASSOC)
def dot_abs(a, b):
    """(sum(a b), sum(|a b|)) in float64, reassociated, for float32 a and b."""
    s = 0.0
    m = 0.0
    for i in range(a.shape[0]):
        p = np.float64(a[i]) * np.float64(b[i])
        s += p
        m += abs(p)
    return s, m


@njit(**_REASSOC)
def sum_blocked(a):
    """(s, c, m): sum(a) = s + c to within (SUM_BLOCK + 1) 2**-53 m, and m =
    sum(|a|), blocks as dot_blocked."""
    n = a.shape[0]
    s = 0.0
    c = 0.0
    m = 0.0
    for lo in range(0, n, SUM_BLOCK):
        bs = 0.0
        bm = 0.0
        for i in range(lo, min(lo + SUM_BLOCK, n)):
            v = np.float64(a[i])
            bs += v
            bm += abs(v)
        s, c = _two_sum(s, c, bs)
        m += bm
    return s, c, m


def _dd_reduction(term):
    """A double-double sum over ``term(a, b, j) -> (value, its error)``:
    (hi, lo) with an error of about 2**-100 of the sum of the magnitudes.
    acc is float64 scratch of shape (2, LANES): per-lane sums and errors, so
    that the TwoSums of the lane loop are independent (and vectorize) without
    any fast-math flag."""

    @njit(**_OPTS)
    def reduce(a, b, acc):
        n = a.shape[0]
        # lanes in use: each costs a TwoSum in the final fold, so a short
        # row takes fewer (none below DD_MIN_LANED: one chain of TwoSums)
        L = acc.shape[1] if n >= DD_FULL_LANES else DD_FEW_LANES
        L = L if n >= DD_MIN_LANED else 0
        S = acc[0, :L]
        C = acc[1, :L]
        for l in range(L):
            S[l] = 0.0
            C[l] = 0.0
        m = n // L if L > 0 else 0
        for k in range(m):
            base = k * L
            for l in range(L):
                p, q = term(a, b, base + l)
                s = S[l]
                t = s + p
                bp = t - s
                S[l] = t
                C[l] += ((s - (t - bp)) + (p - bp)) + q
        h = 0.0
        c = 0.0
        for l in range(L):
            h, c = _two_sum(h, c, S[l])
            c += C[l]
        for j in range(m * L, n):
            p, q = term(a, b, j)
            h, c = _two_sum(h, c, p)
            c += q
        return h, c

    return reduce


@njit(**_OPTS)
def _product(a, b, j):
    x = np.float64(a[j])
    y = np.float64(b[j])
    p = x * y
    return p, _fma64(x, y, -p)


@njit(**_OPTS)
def _value(a, b, j):
    return np.float64(a[j]), 0.0


@njit(**_OPTS)
def _value_not_one(a, one, j):
    v = np.float64(a[j])
    return (0.0 if v == one else v), 0.0


@njit(**_OPTS)
def _product_exact(a, b, j):
    """_product for float32 a and b, whose product is exact in float64 (the
    error term -0.0 folds away: v + -0.0 is v for every v)."""
    return np.float64(a[j]) * np.float64(b[j]), -0.0


dd_dot = _dd_reduction(_product)
dd_dot_exact = _dd_reduction(_product_exact)  # (float32 data)
_dd_sum = _dd_reduction(_value)
_dd_sum_not_one = _dd_reduction(_value_not_one)


@njit(**_OPTS)
def dd_sum(a, acc):
    return _dd_sum(a, a, acc)


@njit(**_OPTS)
def dd_sum_not_one(a, one, acc):
    """The double-double sum of the terms other than ``one`` (a float64)."""
    return _dd_sum_not_one(a, one, acc)


@njit(**_REASSOC)
def count_equal(a, v):
    k = 0
    for i in range(a.shape[0]):
        k += 1 if np.float64(a[i]) == v else 0
    return k


@njit(**_OPTS)
def nan_in(a, lo, hi):
    """Whether a[lo:hi] holds a NaN (or an infinity).  An or of flags, which
    vectorizes without fast-math flags (a float sum of a[i] * 0 needs
    reassociation).  The loop runs over a slice from index 0: over
    range(lo, hi), an index that might be negative, Numba's wraparound made
    LLVM load the elements one by one (rows of 1000 float32: about 480 ns,
    now about 70)."""
    b = a[lo:hi]
    bad = False
    for i in range(b.shape[0]):
        bad |= not b[i] - b[i] == 0
    return bad


@njit(**_OPTS)
def min_max(a):
    """(min, max) of a; NaNs are passed over (llvm.maxnum, which vectorizes)."""
    lo = a.dtype.type(np.inf)
    hi = a.dtype.type(-np.inf)
    for i in range(a.shape[0]):
        lo = -_maxnum(-lo, -a[i])
        hi = _maxnum(hi, a[i])
    return lo, hi


@njit(**_OPTS)
def overlaps(a, b):
    """Whether the memory spans of 1-D arrays a and b overlap."""
    a0 = a.ctypes.data
    b0 = b.ctypes.data
    a1 = a0 + a.shape[0] * a.strides[0]
    b1 = b0 + b.shape[0] * b.strides[0]
    return a0 < b1 and b0 < a1


def _exp_diff(T):
    """exp(x - m) * 2**64 for x <= m, with the rounding error of x - m
    (TwoSum) added to the reduced argument, so that the result stays within
    a few ulp when |x - m| is large.  Where x - m is -inf (x = -inf, m =
    +inf, or an overflow) the error is NaN and the result 0 (exp_neg_scaled_lo
    selects 0 below neg_lo); where x - m is NaN (x = m = +-inf, a NaN) so is
    the result."""
    exp_neg_scaled_lo = MATH[T].exp_neg_scaled_lo

    @njit(**_OPTS)
    def exp_diff(x, m):
        d = x - m
        bp = d - x
        ap = d - bp
        return exp_neg_scaled_lo(d, (x - ap) + (-m - bp))

    return exp_diff


# -- log_softmax_backward's fast path: g - exp(y) s with exp(y) in two parts --
# ln 2 = C1 + C2 to about 2**-44: C1 has 16 significant bits, so n C1 is
# exact for the |n| <= 128 of a float32 exponent
_LN2 = Fraction(Decimal("0.69314718055994530941723212145817656807550013436"))
_C1 = float(np.uint32(np.float32(float(_LN2)).view(np.uint32) & 0xFFFFFF00).view(np.float32))
_C2 = float(np.float32(float(_LN2 - Fraction(_C1))))
# 1/k! for k = 3..8: exp(r) - 1 - r - r**2/2 = r**3 (1/6 + r/24 + ...); the
# first term left out, r**9/9!, is below 2**-32 for |r| <= ln2/2
_TAIL3 = tuple(1.0 / math.factorial(k) for k in range(3, 9))
# float64: 1/k! for k = 4..15 (exp_dd's), the tail past r**3/6; the first
# term left out, r**16/16!, is below 2**-68 for |r| <= ln2/2
_TAIL4 = _INV_FACT_4[:12]
# The fast path's error is below about 2**-30 |exp(y) s| for float32 (the
# float32 tail of exp(r), the float32 parts of ln 2) and 2**-60 |exp(y) s|
# for float64 (the roundings of the tail past r**3/6, which is below 2**-10
# of exp(r)), plus two roundings of the result, so where |result| >= margin
# |exp(y) s| it stays within about 2 ulp (float64: 2.5 in the worst case;
# the largest seen in the tests is 1.0).  Elements closer to cancelling are redone
# exactly (float32: in float64; float64: exp(y) in double-double), one by
# one, found by blocks of LSMB_BLOCK.  Per dtype:
#   margin  the least |result| / |exp(y) s| the fast path vouches for
#   y_lo, y_hi  the range of y it takes (exp(y) 2**n normal, see below)
#   sum_max  the largest |sum(g)| it takes (exp(y) sum(g) stays finite for
#            every y <= y_hi)
#   small   below y_lo the product is negligible against a g of at least
#           |sum(g)| small (and exactly 0 for y = -inf)
#   d_min   results below this are redone (they may be subnormal)
#   chunk   rows are taken this many elements at a time after their sum
#           (g, y and the results stay in L1 between the passes)
LSMB = {
    np.float32: dict(margin=2.0 ** -5, y_lo=-87.0, y_hi=1.0, sum_max=2.0 ** 120, small=2.0 ** -95,
                     d_min=2.0 ** -118, chunk=2048),
    np.float64: dict(margin=2.0 ** -8, y_lo=-700.0, y_hi=1.0, sum_max=2.0 ** 1000, small=2.0 ** -950,
                     d_min=2.0 ** -1000, chunk=1024),
}
LSMB_BLOCK = 64
# float32 rows whose sum(g) cancels beyond this (sum(|g|) / |sum(g)|) have
# it recomputed in double-double: sum_blocked's error, up to about 2**-45
# sum(|g|), would otherwise reach the results (a row holding 1e11 and -1e11
# among unit gradients came out 829 ulp off)
SUM_CANCEL = 2.0 ** 12
# shorter float32 rows take the float64 path, which is as fast there
# (measured serial, (32, n) float32: the two cross between n = 128 and
# n = 256); float64 rows past the short kernel's (SHORT_ROWS) take the fast
# path at any length
LSMB_MIN_ROW = 192


def _lsm_backward(T, checked):
    """(g, y, s_hi, q, s_small) -> g - exp(y) s_hi (1 + q) in dtype T, or
    NaN where the result may be off by more than about 2 ulp (the caller
    then recomputes it exactly).  exp(y) = 2**n (1 + hi + lo), the reduced
    argument carried in two parts, so that the difference keeps its accuracy
    down to LSMB[T]["margin"] of the product; q = s_lo / s_hi (below one
    ulp) joins the reduced argument (exp(r + q) = exp(r) (1 + q) to the
    square of an ulp).

    checked: y may lie outside [y_lo, y_hi] (else the caller has checked
    that it does not).  Below y_lo the product is negligible against a g of
    at least s_small = |s_hi| small, and it is exactly 0 for y = -inf; above
    y_hi the result is NaN."""
    M = MATH[T]
    fma, fabs, clamp = M.fma, M.fabs, M.clamp
    f = T
    P = LSMB[T]
    zero, one, half, inf, nan = f(0), f(1), f(0.5), f(np.inf), f(np.nan)
    log2e = f(1.4426950408889634)
    y_lo, y_hi = f(P["y_lo"]), f(P["y_hi"])
    margin, d_min = f(P["margin"]), f(P["d_min"])

    if T is np.float32:
        c1, c2 = f(_C1), f(_C2)
        tail3 = _estrin(tuple(f(c) for c in _TAIL3))

        def expm1_parts(r, rl):
            """(hi, lo): exp(r + rl) - 1 = hi + lo."""
            r2 = r * r
            tail = tail3(r)  # exp(r) - 1 - r - r**2/2 = r**3 tail3(r)
            h2 = r2 * half  # (its rounding, below 2**-30, is within the budget)
            hi = r + h2  # Fast2Sum: |r| >= r**2 / 2
            lo = (h2 - (hi - r)) + fma(r2 * r, tail, rl * (one + hi))
            return hi, lo
    else:
        c1, c2 = _LN2_C1, _LN2_C2  # C1 has 32 significant bits: n C1 is exact
        tail4 = _estrin(_TAIL4)

        def expm1_parts(r, rl):
            """(hi, lo): exp(r + rl) - 1 = hi + lo.  r, r**2/2 and r**3/6
            summed with their rounding errors (r**3/6 is up to 2**-7 of
            exp(r)); the tail past them in plain float64."""
            r2 = r * r
            r2e = fma(r, r, -r2)
            h2 = r2 * half
            hi = r + h2  # Fast2Sum: |r| >= r**2 / 2
            e1 = h2 - (hi - r)
            r3 = r2 * r
            r3e = fma(r2, r, -r3) + r2e * r
            c3 = r3 * _INV6_HI
            c3e = fma(r3, _INV6_HI, -c3) + (r3 * _INV6_LO + r3e * _INV6_HI)
            hi2 = hi + c3  # Fast2Sum: |hi| >= 0.8 |r| > |r**3 / 6|
            e2 = c3 - (hi2 - hi)
            r4 = r2 * r2
            tail = tail4(r)  # the part past r**3/6 is r**4 tail4(r)
            lo = ((e1 + e2) + fma(r2e, half, c3e)) + fma(r4, tail, rl * (one + hi2))
            return hi2, lo

    expm1_parts = njit(inline="always", **_OPTS)(expm1_parts)

    # inlined by Numba itself: it exceeds LLVM's inlining budget, and a call
    # left in the element loop would keep it from vectorizing
    @njit(inline="always", **_OPTS)
    def lsm_backward(g, y, s_hi, q, s_small):
        yc = clamp(y, y_lo, y_hi) if checked else y
        n = rint(yc * log2e)
        n = n if n == n else zero
        r1 = fma(-n, c1, yc)  # exact
        r = fma(-n, c2, r1)
        rl = fma(-n, c2, r1 - r) + q  # r's rounding error
        hi, lo = expm1_parts(r, rl)
        # exp(y) s = S (1 + hi + lo), S = 2**n s_hi
        S = s_hi * scale2(one, n)
        sh = S * hi
        eh = S + sh  # Fast2Sum: |hi| < 1/2
        el = (sh - (eh - S)) + fma(S, hi, -sh) + S * lo
        d = (g - eh) - el
        thr = fma(margin, fabs(eh), d_min)
        if checked:
            low = y < y_lo
            thr = (zero if y == -inf else s_small) if low else thr
            thr = inf if y > y_hi else thr
            d = g if low else d
        return d if fabs(d) >= thr else nan

    return lsm_backward


def _templates():
    _FP = None  # the cache fingerprint; see _jit.instantiate

    # -- drivers: rows of 2-D arrays, serial and parallel ---------------------
    def rows1(x, out):
        vector_width(_FP)
        if 0 < x.shape[1] <= SHORT_ROW:
            short_rows(x, out)
            return
        if x.shape[1] >= LONG_ROW:
            for r in range(x.shape[0]):
                long_row(x[r], out[r])
            return
        tmp = np.empty((TMP_ROWS, x.shape[1]), T)
        acc = np.empty((2, LANES), np.float64)
        for r in range(x.shape[0]):
            row(x[r], out[r], tmp, acc)

    def rows2(a, b, out):
        vector_width(_FP)
        if 0 < a.shape[1] <= SHORT_ROW:
            short_rows(a, b, out)
            return
        if a.shape[1] >= LONG_ROW:
            for r in range(a.shape[0]):
                long_row(a[r], b[r], out[r])
            return
        tmp = np.empty((TMP_ROWS, a.shape[1]), T)
        acc = np.empty((2, LANES), np.float64)
        for r in range(a.shape[0]):
            row(a[r], b[r], out[r], tmp, acc)

    # (fewer than LONG_PAR_ROWS long rows: each row's blocks in parallel; else the rows)
    def prows1(x, out):
        vector_width(_FP)
        n = x.shape[0]
        if x.shape[1] >= LONG_ROW and n < LONG_PAR_ROWS:
            for r in range(n):
                long_row(x[r], out[r])
            return
        size = row_chunk(n, x.shape[1])
        # short rows: all ranges to the short kernel, in whole chunks of its
        # own, so that every element goes through the same loop code as in
        # the serial call (the NaNs' sign bits included)
        short = 0 < x.shape[1] <= SHORT_ROW
        if short:
            ch = short_chunk(x.shape[1])
            size = max(1, size // ch) * ch
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            if short:
                short_rows(x[lo:hi], out[lo:hi])
            else:
                inner(x[lo:hi], out[lo:hi])

    def prows2(a, b, out):
        vector_width(_FP)
        n = a.shape[0]
        if a.shape[1] >= LONG_ROW and n < LONG_PAR_ROWS:
            for r in range(n):
                long_row(a[r], b[r], out[r])
            return
        size = row_chunk(n, a.shape[1])
        short = 0 < a.shape[1] <= SHORT_ROW  # (as in prows1)
        if short:
            ch = short_chunk(a.shape[1])
            size = max(1, size // ch) * ch
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            if short:
                short_rows(a[lo:hi], b[lo:hi], out[lo:hi])
            else:
                inner(a[lo:hi], b[lo:hi], out[lo:hi])

    # -- one row as a 1-D array: the serial driver on a (1, n) view ----------
    def vec1(x, out):
        vector_width(_FP)
        inner(x.reshape((1, x.shape[0])), out.reshape((1, out.shape[0])))

    def vec2(a, b, out):
        vector_width(_FP)
        inner(a.reshape((1, a.shape[0])), b.reshape((1, b.shape[0])), out.reshape((1, out.shape[0])))

    # -- forwards (SGN = -1 turns softmax into softmin) -----------------------
    def normalize_tpl(e, out, acc):
        """out = e / sum(e).  (The exponentials go to the scratch row e, not
        to out: with out the input itself, a loop reading x and writing out
        would fail LLVM's overlap check and run unvectorized.)"""
        vector_width(_FP)
        inv = row_inv(e, acc)
        for i in range(out.shape[0]):
            out[i] = e[i] * inv

    def row_inv_tpl(e, acc):
        """1 / sum(e), by which softmax multiplies the exponentials e."""
        vector_width(_FP)
        if IS64:  # a product with the reciprocal: 1.5 ulp, where a division costs 4x more
            h, lo = dd_sum(e, acc)  # (one TwoSum chain below DD_MIN_LANED elements)
            return 1.0 / (h + lo)
        # the float32 reciprocal of a float64 sum, one rounding each; below
        # DD_MIN_LANED elements summed in order, as the short kernels do (so
        # that the masked kernel's bits are theirs where nothing is masked)
        return T(1.0 / (sum64_chain(e) if e.shape[0] < DD_MIN_LANED else sum64(e)))

    def softmax_row(x, out, tmp, acc):
        vector_width(_FP)
        n = x.shape[0]
        m = NEG_INF
        for i in range(n):
            m = maxnum(m, SGN * x[i])
        e = tmp[0]
        for i in range(n):
            e[i] = exp_diff(SGN * x[i], m)
        normalize(e, out, acc)

    def softmax_masked_row(x, mask, out, tmp, acc):
        """Masked-out elements take no part and get 0; so does every element
        of a row with no element left."""
        vector_width(_FP)
        n = x.shape[0]
        m = NEG_INF
        k = 0
        for i in range(n):
            m = maxnum(m, SGN * x[i] if mask[i] else NEG_INF)
            k += 1 if mask[i] else 0
        if k == 0:
            for i in range(n):
                out[i] = ZERO
            return
        e = tmp[0]
        for i in range(n):
            v = exp_diff(SGN * x[i] if mask[i] else NEG_INF, m)
            e[i] = v if mask[i] else ZERO
        normalize(e, out, acc)
        for i in range(n):  # 0, even where the unmasked part came out NaN
            out[i] = out[i] if mask[i] else ZERO

    def log_sum_tpl(tmp, acc):
        """log(sum(tmp) / 2**64) where tmp holds exp(x - max) * 2**64."""
        vector_width(_FP)
        return log1p64(sum_less_one(tmp, acc))

    def sum_less_one_tpl(tmp, acc):
        """(S - 2**64) / 2**64, S = sum(tmp), tmp as in log_sum, whose
        log1p is the log of the sum: S less one term 2**64 (the maximum's
        own), r = S - 2**64.  The plain sum less 2**64 keeps r within about 2**-27
        (float32 data: S's error is below (n - 1) 2**-53 S, and r >= n
        2**-26 2**64 is asked) or 2**-60 (float64: the double-double sum's
        about 2**-100 S, and r >= 2**-40 2**64) of itself; below that (a
        confident row, its other terms tiny) the terms equal to 2**64 are
        summed apart, so that r keeps its relative accuracy however small.
        The plain sum is one pass and cheaper (float32 rows of 1024 in L1,
        serial: 0.08 ns per element, against 0.32 for the sum that sets those
        terms apart)."""
        vector_width(_FP)
        if IS64:
            h, lo = dd_sum(tmp, acc)
            if h >= ONE_B + 2.0 ** 24:
                t, e = two_sum(h, lo, -ONE_B)
                s1 = t + e
            else:
                h, lo = dd_sum_not_one(tmp, ONE_B, acc)
                k = count_equal(tmp, ONE_B)
                s1 = (h + np.float64(k - 1) * ONE_B) + lo
        else:
            s = sum64(tmp)
            if s >= ONE_B + np.float64(tmp.shape[0]) * 2.0 ** 38:
                s1 = s - ONE_B
            else:
                s, k = sum64_not_one(tmp, ONE_B)
                s1 = s + np.float64(k - 1) * ONE_B
        return s1 * UNSCALE

    def shifted_exp_tpl(x, e):
        """e[i] = exp(x[i] - max(x)) * 2**64; returns max(x)."""
        vector_width(_FP)
        n = x.shape[0]
        m = NEG_INF
        for i in range(n):
            m = maxnum(m, x[i])
        for i in range(n):
            e[i] = exp_diff(x[i], m)
        return m

    def log_softmax_row(x, out, tmp, acc):
        vector_width(_FP)
        n = x.shape[0]
        t = tmp[0]
        m = shifted_exp(x, t)
        lse = T(log_sum(t, acc))
        for i in range(n):
            out[i] = (x[i] - m) - lse

    # -- short rows (SHORT_ROWS): a chunk of rows at a time, transposed --------
    # A chunk of R rows of n elements is copied to scratch transposed,
    # buf[j, r] = SGN x[lo + r, j], so that every pass over it runs along the
    # rows: each row's maximum, exponentials and sum are then vector loops
    # over r, where along a row of 10 they were scalar code.  The sums add a
    # row's terms in order (j = 0, 1, ...), so that every row gets the same
    # bits whichever chunk it falls in and however many rows the call has;
    # a chunk of fewer than SHORT_FEW rows takes the same operations in the
    # same order row by row (the loops over r would cost more than they save).
    def short_step_tpl(h, c, k, v):
        """One term v (a float64) of a row's sum: (h, c) plus v, a TwoSum
        step (float64 data) or a float64 add (float32 data; c stays 0).
        NOT_ONE (log_softmax's and the loss's sums): the terms equal to
        2**64 (the maximum's own) are left out and counted in k."""
        vector_width(_FP)
        if NOT_ONE:
            one = v == ONE_B
            k += 1.0 if one else 0.0
            v = 0.0 if one else v
        if IS64:
            t = h + v
            bp = t - h
            return t, c + ((h - (t - bp)) + (v - bp)), k
        return h + v, c, k

    def short_pass_tpl(x, lo, R, buf, tmp, s):
        """Rows lo .. lo + R - 1 of x into the scratch: buf[j, r] = the
        exponentials exp_diff(SGN x[lo + r, j], m_r) (scaled by 2**64),
        buf[n, r] = m_r, the row's maximum of SGN x, and s[0, r] + s[1, r]
        their sum (less the terms 2**64 with NOT_ONE, counted in s[2, r])."""
        vector_width(_FP)
        n = x.shape[1]
        m, h, c, k = buf[n, :R], s[0, :R], s[1, :R], s[2, :R]
        if R >= SHORT_FEW:
            for r in range(R):
                for j in range(n):
                    buf[j, r] = SGN * x[lo + r, j]
            for r in range(R):
                m[r] = NEG_INF
                h[r] = c[r] = k[r] = 0.0
            for j in range(n):
                xj = buf[j, :R]
                for r in range(R):
                    m[r] = maxnum(m[r], xj[r])
            for j in range(n):
                xj = buf[j, :R]
                for r in range(R):
                    xj[r] = exp_diff(xj[r], m[r])
            for j in range(n):
                ej = buf[j, :R]
                for r in range(R):
                    hr, cr, kr = short_step(h[r], c[r], k[r], np.float64(ej[r]))
                    h[r] = hr
                    if IS64:  # (stores of what stays 0 cost float32 softmax (32, 10) 6 %)
                        c[r] = cr
                    if NOT_ONE:
                        k[r] = kr
        else:
            t = tmp[:n]
            for r in range(R):
                xr = x[lo + r]
                mr = NEG_INF
                for j in range(n):
                    mr = maxnum(mr, SGN * xr[j])
                for j in range(n):
                    t[j] = exp_diff(SGN * xr[j], mr)
                hr = cr = kr = 0.0
                for j in range(n):
                    e = t[j]
                    buf[j, r] = e
                    hr, cr, kr = short_step(hr, cr, kr, np.float64(e))
                m[r], h[r], c[r], k[r] = mr, hr, cr, kr

    def short_scratch_tpl(rows, n):
        """(rows per chunk, the transposed chunk and its maxima, a row of
        scratch, the sums): the first two from one allocation."""
        vector_width(_FP)
        ch = short_chunk(n)
        m = min(ch, rows)
        b = np.empty((n + 1) * m + n, T)
        return ch, b[:(n + 1) * m].reshape(n + 1, m), b[(n + 1) * m:], np.empty((3, m), np.float64)

    def short_lse_tpl(x, lo, R, buf, tmp, s):
        """short_pass, then s[0, r] = the log of row r's sum of exp(x - max)
        (log1p of the terms other than the maximum's: (h + (k - 1) 2**64 +
        c) 2**-64, one vector loop of logarithms)."""
        vector_width(_FP)
        short_pass(x, lo, R, buf, tmp, s)
        for r in range(R):
            s[0, r] = log1p64(((s[0, r] + (s[2, r] - 1.0) * ONE_B) + s[1, r]) * UNSCALE)

    def softmax_short(x, out):
        vector_width(_FP)
        rows, n = x.shape
        ch, buf, tmp, s = short_scratch(rows, n)
        for lo in range(0, rows, ch):
            R = min(ch, rows - lo)
            short_pass(x, lo, R, buf, tmp, s)
            inv = buf[n, :R]  # (the maxima are done with)
            for r in range(R):  # (float64 data: 1.5 ulp, where a division costs 4x more)
                inv[r] = T(1.0 / (s[0, r] + s[1, r]))
            for r in range(R):
                v = inv[r]
                for j in range(n):
                    out[lo + r, j] = buf[j, r] * v

    def log_softmax_short(x, out):
        vector_width(_FP)
        rows, n = x.shape
        ch, buf, tmp, s = short_scratch(rows, n)
        for lo in range(0, rows, ch):
            R = min(ch, rows - lo)
            short_lse(x, lo, R, buf, tmp, s)
            for r in range(R):
                m = buf[n, r]
                lse = T(s[0, r])
                for j in range(n):
                    out[lo + r, j] = (x[lo + r, j] - m) - lse

    def ce_short(x, labels, loss):
        vector_width(_FP)
        rows, n = x.shape
        ch, buf, tmp, s = short_scratch(rows, n)
        for lo in range(0, rows, ch):
            R = min(ch, rows - lo)
            short_lse(x, lo, R, buf, tmp, s)
            for r in range(R):
                loss[lo + r] = s[0, r] - (np.float64(x[lo + r, labels[lo + r]]) - np.float64(buf[n, r]))

    def log_softmax_backward_short(g, y, out):
        """log_softmax_backward_row on rows of up to SHORT_ROW elements: each
        row's sum of g (the same TwoSum chain as dd_sum's below
        DD_MIN_LANED), then the elements of a chunk of rows in flat loops,
        with the row's sum spread over its elements (the row kernel's loops
        run n at a time).  Each element is computed exactly, as the row
        kernel's redo does (float64: exp(y) in double-double), without the
        fast path: on (256, 31) float64 this kernel took 55 us, the row
        kernel with the fast path 77 us (serial)."""
        vector_width(_FP)
        rows, n = g.shape
        ch = short_chunk(n)
        m = min(ch, rows) * n
        # each element's row sum (float64 data: hi, lo and exp_dd_reduce's parts)
        buf = np.empty((5 if IS64 else 1, m), np.float64)
        for lo in range(0, rows, ch):
            R = min(ch, rows - lo)
            k = R * n
            sh = buf[0, :k]
            sl = buf[1, :k] if IS64 else sh
            for r in range(R):
                h = c = 0.0
                for j in range(n):
                    # TwoSum for float32 data too: a plain float64 sum of a
                    # row that cancels (1e11 and -1e11 among unit gradients)
                    # left the results hundreds of ulp off
                    v = np.float64(g[lo + r, j])
                    t = h + v
                    bp = t - h
                    c = c + ((h - (t - bp)) + (v - bp))
                    h = t
                c = c if abs(h) < np.inf else 0.0
                for j in range(r * n, r * n + n):
                    if IS64:
                        sh[j] = h
                        sl[j] = c
                    else:
                        sh[j] = h + c
            gf = g[lo:lo + R].reshape(k)
            yf = y[lo:lo + R].reshape(k)
            of = out[lo:lo + R].reshape(k)
            if IS64:
                tn, tr, trl = buf[2, :k], buf[3, :k], buf[4, :k]
                for i in range(k):
                    tn[i], tr[i], trl[i] = exp_dd_reduce(yf[i])
                for i in range(k):
                    eh, el = exp_dd_finish(tn[i], tr[i], trl[i])
                    of[i] = lsm_dd(gf[i], eh, el, sh[i], sl[i])
            else:
                for i in range(k):
                    of[i] = lsm_exact(gf[i], yf[i], sh[i], 0.0)

    # -- backwards -------------------------------------------------------------
    def softmax_backward_row(g, y, out, tmp, acc):
        vector_width(_FP)
        n = g.shape[0]
        hi = lo = thr = ZERO
        alias = False
        if not IS64:
            if n <= PLAIN_ROW:
                st, a = dot_abs(g, y)
                thr = T(a * PLAIN_MARGIN)
            else:
                s, c, a = dot_blocked(g, y)
                st = s + c
                thr = T(a * FAST_MARGIN)
            hi = T(st)
            lo = T(st - np.float64(hi)) if fabs(hi) < INF else ZERO
            # out g or y: a flag found once out is written would leave the
            # float64 redo without its inputs, so the check runs first
            alias = overlaps(out, g) or overlaps(out, y)
            if not (alias and fast_flagged(g, hi, thr)):
                if not fast_write(g, y, out, hi, lo, thr, SGN):
                    return
                alias = False  # the fast results are in out: repair them
        dh, dl = dd_dot(g, y, acc)
        dl = dl if abs(dh) < np.inf else 0.0
        k, vk = -1, 0.0
        if IS64:
            # dominant's count of y above 1/2 is taken in the pass that
            # writes (one pass over y fewer; a confident row, one y above 1/2,
            # still takes dominant's own), unless out is g or y: dominant
            # must then read them before they are overwritten
            alias = overlaps(out, g) or overlaps(out, y)
            if alias:
                k, vk = dominant(g, y, dh, dl, acc)
            cnt = 0
            for i in range(n):
                yi = y[i]
                out[i] = T(SGN * (np.float64(yi) * ((np.float64(g[i]) - dh) - dl)))
                cnt += 1 if yi > HALF else 0
            if cnt == 1 and not alias:
                k, vk = dominant(g, y, dh, dl, acc)
        elif alias:
            k, vk = dominant(g, y, dh, dl, acc)
            k = k if k >= 0 and flagged(g[k], hi, thr) else -1  # (as repair's)
            select_write(g, y, out, hi, lo, thr, dh, dl, SGN)
        elif repair(g, y, out, hi, thr, dh, dl, SGN):
            k, vk = dominant(g, y, dh, dl, acc)
        if k >= 0:
            out[k] = T(SGN * vk)

    # -- float32 softmax_backward: y (g - hi - lo), hi + lo the float64 sum
    # of the fast path (one sum up to PLAIN_ROW, blocks past it, each with
    # its bound).  An element whose difference is too close for that bound
    # is flagged (an or of flags runs twice as fast as a count; flagged and
    # the repair also flag a difference that is not finite, which the pass
    # that writes rules out for the whole row from hi) and redone in float64
    # from the double-double sum dh + dl: after the pass that writes, by
    # repair; with out g or y, in the pass that writes, by select_write.
    # Both give the same bits.
    def flagged_tpl(gi, hi, thr):
        vector_width(_FP)
        d = fabs(gi - hi)
        return (d < thr) | (not d < INF)

    def fast_flagged_tpl(g, hi, thr):
        """Whether an element of g is flagged."""
        vector_width(_FP)
        f = False
        for i in range(g.shape[0]):
            f |= flagged(g[i], hi, thr)
        return f

    def fast_write_tpl(g, y, out, hi, lo, thr, sgn):
        """out = the fast path's results; returns whether one is flagged.
        Where hi is finite, so is every element of g and y (a product or a
        sum with an infinity or a NaN would have made the float64 sum, and
        so hi, infinite or NaN), and where |hi| < HI_SAFE, g - hi cannot
        overflow (float32: |g| <= 2**128 - 2**104, so |g - hi| stays below
        2**128 - 2**103, where rounding reaches inf): the loop then tests
        |g - hi| < thr alone, and a row past HI_SAFE is flagged whole (the
        repair tests every element).  The test is on the least |g - hi|,
        taken as the integer min of its bits (|d| >= 0 orders as its bits
        do; thr >= 0): one packed min per vector, where an or of flags took
        four instructions (a compare, a pack and an or) and the serial
        kernel about 10 % longer on rows of 1000."""
        vector_width(_FP)
        m = BITS_MAX
        for i in range(g.shape[0]):
            d = g[i] - hi
            b = float_bits(fabs(d))
            m = b if b < m else m
            out[i] = sgn * (y[i] * (d - lo))
        return not fabs(hi) < HI_SAFE or m < float_bits(thr)

    def redo_tpl(gi, yi, dh, dl, sgn):
        vector_width(_FP)
        return T(sgn * (np.float64(yi) * ((np.float64(gi) - dh) - dl)))

    def select_write_tpl(g, y, out, hi, lo, thr, dh, dl, sgn):
        """out = the fast path's results, the flagged ones redone (out may
        be g or y)."""
        vector_width(_FP)
        for i in range(g.shape[0]):
            gi = g[i]
            yi = y[i]
            d = gi - hi
            v = sgn * (yi * (d - lo))
            out[i] = redo(gi, yi, dh, dl, sgn) if (fabs(d) < thr) | (not fabs(d) < INF) else v

    def repair_tpl(g, y, out, hi, thr, dh, dl, sgn):
        """Redo the flagged elements (found by blocks of REPAIR_BLOCK, a
        vectorized test each) in out.  Returns whether one of them has y
        above 1/2 (dominant's case)."""
        vector_width(_FP)
        n = g.shape[0]
        half = False
        for lo in range(0, n, REPAIR_BLOCK):
            if fast_flagged(g[lo:lo + REPAIR_BLOCK], hi, thr):
                for i in range(lo, min(lo + REPAIR_BLOCK, n)):
                    if flagged(g[i], hi, thr):
                        out[i] = redo(g[i], y[i], dh, dl, sgn)
                        half |= y[i] > HALF
        return half

    def dominant_tpl(g, y, dh, dl, acc):
        """(k, v): where one y_k exceeds 1/2 (a confident softmax) and g_k -
        sum(g y) cancels beyond what the double-double sum dh + dl resolves
        (with y_k = 1.0, down to the other terms, which may be 2**-1000 of
        it), k and y_k (g_k - sum(g y)) computed as y_k (g_k (1 - y_k) - the
        sum over j != k of g_j y_j): 1 - y_k is exact, and nothing cancels
        against g_k y_k.  Else (-1, 0)."""
        vector_width(_FP)
        n = g.shape[0]
        cnt = 0
        for i in range(n):
            cnt += 1 if y[i] > HALF else 0
        if cnt != 1:
            return -1, 0.0
        k = 0
        while not y[k] > HALF:
            k += 1
        gk = np.float64(g[k])
        yk = np.float64(y[k])
        if not abs((gk - dh) - dl) < DOMINANT_MARGIN * (abs(gk) + abs(dh)):
            return -1, 0.0
        h1, l1 = dd_dot(g[:k], y[:k], acc)
        h2, l2 = dd_dot(g[k + 1:], y[k + 1:], acc)
        h, c = two_sum(h1, l1 + l2, h2)
        om = 1.0 - yk  # exact: 1/2 < y_k <= 2
        p = gk * om
        t, e = two_sum(p, fma64(gk, om, -p), -h)
        return k, yk * (t + (e - c))

    def log_softmax_backward_row(g, y, out, tmp, acc):
        vector_width(_FP)
        if IS64:
            sh, sl = dd_sum(g, acc)
            lsmb_apply(g, y, out, tmp, sh, sl, True)
        else:
            s, c, m = sum_blocked(g)  # (c is NaN where s overflows: g - exp(y) s must see s)
            if m > SUM_CANCEL * abs(s + c):
                s, c = dd_sum(g, acc)
            lsmb_apply(g, y, out, tmp, s + c if abs(s) < np.inf else s, 0.0, g.shape[0] >= LSMB_MIN_ROW)

    def lsmb_apply_tpl(g, y, out, tmp, sh, sl, fast):
        """out = g - exp(y) sum(g) over a row or a stretch of one, given the
        row's sum sh + sl (float32 data: sl = 0; fast: whether the row is
        long enough for the float32 fast path).  tmp: scratch of 3 (float64)
        or 1 (float32) rows at least as long as the stretch."""
        vector_width(_FP)
        n = g.shape[0]
        if abs(sh) < np.inf:
            # the sums' (hi, lo) are not normalized: where the sum cancels lo
            # can exceed hi's ulp (hi may even be 0), and the fast path takes
            # lo / hi as below an ulp
            sh, sl = two_sum(sh, 0.0, sl)
            sl = sl if abs(sh) < np.inf else 0.0
        else:
            sl = 0.0
        s_hi = T(sh)
        if fabs(s_hi) < LSMB_SUM_MAX and fast:
            # the fast path (_lsm_backward), NaN where it cannot vouch for
            # its result: such an element is redone exactly from g and y (so
            # the fast results go to the scratch row when out is g or y)
            q = T(((sh - np.float64(s_hi)) + sl) / s_hi) if s_hi != ZERO else ZERO
            s_small = fabs(s_hi) * LSMB_SMALL
            alias = overlaps(out, g) or overlaps(out, y)
            # chunks that stay in L1 between the passes over them
            for c0 in range(0, n, LSMB_CHUNK):
                c1 = min(c0 + LSMB_CHUNK, n)
                t = tmp[0, c0:c1] if alias else out[c0:c1]
                gc, yc = g[c0:c1], y[c0:c1]
                m = c1 - c0
                ymin, ymax = min_max(yc)
                if ymin >= LSMB_Y_LO and ymax <= LSMB_Y_HI:
                    lsm_loop(t, gc, yc, s_hi, q, s_small)
                else:
                    lsm_loop_checked(t, gc, yc, s_hi, q, s_small)
                if nan_in(t, 0, m):
                    for lo in range(0, m, LSMB_BLOCK):
                        hi = min(lo + LSMB_BLOCK, m)
                        if nan_in(t, lo, hi):
                            # only the NaN elements: a block holds one or two
                            for i in range(lo, hi):
                                v = t[i]
                                out[c0 + i] = v if v == v else lsm_exact(g[c0 + i], y[c0 + i], sh, sl)
                        elif alias:
                            for i in range(lo, hi):
                                out[c0 + i] = t[i]
                elif alias:
                    for i in range(m):
                        out[c0 + i] = t[i]
        elif IS64:
            # exp(y) in double-double, in two loops (each vectorizes)
            tn, tr, trl = tmp[0], tmp[1], tmp[2]
            for i in range(n):
                tn[i], tr[i], trl[i] = exp_dd_reduce(y[i])
            for i in range(n):
                eh, el = exp_dd_finish(tn[i], tr[i], trl[i])
                out[i] = lsm_dd(g[i], eh, el, sh, sl)
        else:
            for i in range(n):
                out[i] = lsm_exact(g[i], y[i], sh, sl)

    def lsm_loop_tpl(t, g, y, s_hi, q, s_small):
        """t = the fast path's g - exp(y) s (see _lsm_backward).  A function
        of its own: written out in lsmb_apply, followed there by the check
        for flagged elements, the same loop ran about 8 % slower (float32
        lsmb_apply serial on rows of 1000: 1.79 -> 1.66 ns per element)."""
        vector_width(_FP)
        for i in range(t.shape[0]):
            t[i] = lsm_elem(g[i], y[i], s_hi, q, s_small)

    def lsm_dd_tpl(g, eh, el, sh, sl):
        """float64 g - (eh + el) (sh + sl), the products exact to first order."""
        vector_width(_FP)
        ph = eh * sh
        pl = fma64(eh, sh, -ph) + (eh * sl + el * sh)
        pl = pl if abs(ph) < np.inf else 0.0
        return (g - ph) - pl

    def lsm_exact_tpl(g, y, sh, sl):
        """g - exp(y) (sh + sl), rounded once to T.  float64: exp(y) in
        double-double.  float32 (sl = 0): in float64, exp(y) as 2**k +
        2**k expm1(r): where y is near 0 (the largest logit's
        log-probability) 2**k s is s exactly and cancels exactly against g;
        far below 0 the second term is the small one."""
        vector_width(_FP)
        if IS64:
            eh, el = exp_dd(y)
            return lsm_dd(g, eh, el, sh, sl)
        sc, em1 = exp_parts64(np.float64(y))
        p = sc * sh
        q = p * em1
        return T((np.float64(g) - p) - (q if fabs64(p) < np.inf else 0.0))

    # -- long rows ---------------------------------------------------------------
    # A row of LONG_ROW elements or more is taken in blocks of LONG_BLOCK: each
    # pass over it runs over the blocks (in parallel in the parallel kernels),
    # and the blocks' partial sums are added in block order, so that serial and
    # parallel kernels give the same results bit for bit.  The passes are the
    # row kernels' own, with the sums of the blocks in place of the row's.
    def block_max_tpl(x, bm):
        """bm[b] = max(SGN x) over block b; returns the row's max."""
        vector_width(_FP)
        n = x.shape[0]
        for b in prange(bm.shape[0]):
            lo = b * LONG_BLOCK
            xs = x[lo:min(lo + LONG_BLOCK, n)]
            m = NEG_INF
            for i in range(xs.shape[0]):
                m = maxnum(m, SGN * xs[i])
            bm[b] = m
        m = NEG_INF
        for b in range(bm.shape[0]):
            m = maxnum(m, bm[b])
        return m

    def exp_block_tpl(xs, e, m):
        """e = exp_diff(SGN xs, m) over one block (SGN is 1 for log_softmax).
        A function of its own rather than a loop in the prange body, so that
        its loop gets vector_width's registers."""
        vector_width(_FP)
        for i in range(xs.shape[0]):
            e[i] = exp_diff(SGN * xs[i], m)

    def block_total_tpl(part):
        """The sum of the blocks' double-double partial sums part[:, 0:2], in
        block order, as (hi, lo)."""
        vector_width(_FP)
        h = 0.0
        c = 0.0
        for b in range(part.shape[0]):
            h, c = two_sum(h, c, part[b, 0])
            c += part[b, 1]
        return h, c

    def softmax_long(x, out):
        vector_width(_FP)
        n = x.shape[0]
        nb = (n + LONG_BLOCK - 1) // LONG_BLOCK
        m = block_max(x, np.empty(nb, T))
        part = np.zeros((nb, 2), np.float64)
        for b in prange(nb):
            lo = b * LONG_BLOCK
            hi = min(lo + LONG_BLOCK, n)
            e = out[lo:hi]
            exp_block(x[lo:hi], e, m)
            if IS64:
                bh, bc = dd_sum(e, np.empty((2, LANES), np.float64))
                part[b, 0] = bh
                part[b, 1] = bc
            else:
                part[b, 0] = sum64(e)
        if IS64:  # as row_inv_tpl
            h, c = block_total(part)
            inv = T(1.0 / (h + c))
        else:
            s = 0.0
            for b in range(nb):
                s += part[b, 0]
            inv = T(1.0 / s)
        for b in prange(nb):
            lo = b * LONG_BLOCK
            e = out[lo:min(lo + LONG_BLOCK, n)]
            for i in range(e.shape[0]):
                e[i] = e[i] * inv

    def log_softmax_long(x, out):
        vector_width(_FP)
        n = x.shape[0]
        nb = (n + LONG_BLOCK - 1) // LONG_BLOCK
        m = block_max(x, np.empty(nb, T))
        # per block: the sum of the terms other than 2**64 and their count, as sum_less_one_tpl
        part = np.zeros((nb, 3), np.float64)
        for b in prange(nb):
            lo = b * LONG_BLOCK
            hi = min(lo + LONG_BLOCK, n)
            # the exp values in a scratch block, not in out: out may be x
            # (in place), which the last pass reads again
            e = np.empty(hi - lo, T)
            exp_block(x[lo:hi], e, m)
            if IS64:
                bh, bc = dd_sum_not_one(e, ONE_B, np.empty((2, LANES), np.float64))
                part[b, 0] = bh
                part[b, 1] = bc
                part[b, 2] = count_equal(e, ONE_B)
            else:
                bv, bk = sum64_not_one(e, ONE_B)
                part[b, 0] = bv
                part[b, 2] = bk
        k = 0.0
        for b in range(nb):
            k += part[b, 2]
        if IS64:
            h, c = block_total(part)
            s1 = (h + (k - 1.0) * ONE_B) + c
        else:
            v = 0.0
            for b in range(nb):
                v += part[b, 0]
            s1 = v + (k - 1.0) * ONE_B
        lse = T(log1p64(s1 * UNSCALE))
        for b in prange(nb):
            lo = b * LONG_BLOCK
            hi = min(lo + LONG_BLOCK, n)
            xs = x[lo:hi]
            o = out[lo:hi]
            for i in range(hi - lo):
                o[i] = (xs[i] - m) - lse

    def softmax_backward_long(g, y, out):
        vector_width(_FP)
        n = g.shape[0]
        nb = (n + LONG_BLOCK - 1) // LONG_BLOCK
        part = np.zeros((nb, 3), np.float64)
        if not IS64:  # softmax_backward_row's float32 fast path, by blocks
            for b in prange(nb):
                lo = b * LONG_BLOCK
                hi = min(lo + LONG_BLOCK, n)
                bv, bc, ba = dot_blocked(g[lo:hi], y[lo:hi])
                part[b, 0] = bv
                part[b, 1] = bc
                part[b, 2] = ba
            h, c = block_total(part)
            a = 0.0
            for b in range(nb):
                a += part[b, 2]
            st = h + c
            hi_ = T(st)
            lo_ = T(st - np.float64(hi_)) if fabs(hi_) < INF else ZERO
            thr = T(a * FAST_MARGIN)
            bad = np.zeros(nb, np.bool_)
            alias = overlaps(out, g) or overlaps(out, y)
            if alias:
                for b in prange(nb):
                    lo = b * LONG_BLOCK
                    bad[b] = fast_flagged(g[lo:min(lo + LONG_BLOCK, n)], hi_, thr)
            if not bad.any():
                for b in prange(nb):
                    lo = b * LONG_BLOCK
                    hi = min(lo + LONG_BLOCK, n)
                    bad[b] = fast_write(g[lo:hi], y[lo:hi], out[lo:hi], hi_, lo_, thr, SGN)
                if not bad.any():
                    return
                alias = False
        for b in prange(nb):
            lo = b * LONG_BLOCK
            hi = min(lo + LONG_BLOCK, n)
            bh, bc = dd_dot(g[lo:hi], y[lo:hi], np.empty((2, LANES), np.float64))
            part[b, 0] = bh
            part[b, 1] = bc
        dh, dl = block_total(part)
        dl = dl if abs(dh) < np.inf else 0.0
        if not IS64:
            # the flagged elements redone: after the fast results, or with
            # them where out is g or y
            k, vk = -1, 0.0
            if alias:
                k, vk = dominant(g, y, dh, dl, np.empty((2, LANES), np.float64))
                k = k if k >= 0 and flagged(g[k], hi_, thr) else -1
            half = np.zeros(nb, np.bool_)
            for b in prange(nb):
                lo = b * LONG_BLOCK
                hi = min(lo + LONG_BLOCK, n)
                if alias:
                    select_write(g[lo:hi], y[lo:hi], out[lo:hi], hi_, lo_, thr, dh, dl, SGN)
                elif bad[b]:
                    half[b] = repair(g[lo:hi], y[lo:hi], out[lo:hi], hi_, thr, dh, dl, SGN)
            if half.any():
                k, vk = dominant(g, y, dh, dl, np.empty((2, LANES), np.float64))
            if k >= 0:
                out[k] = T(SGN * vk)
            return
        k, vk = dominant(g, y, dh, dl, np.empty((2, LANES), np.float64))
        for b in prange(nb):
            lo = b * LONG_BLOCK
            hi = min(lo + LONG_BLOCK, n)
            gs, ys, o = g[lo:hi], y[lo:hi], out[lo:hi]
            for i in range(hi - lo):
                o[i] = T(SGN * (np.float64(ys[i]) * ((np.float64(gs[i]) - dh) - dl)))
        if k >= 0:
            out[k] = T(SGN * vk)

    def log_softmax_backward_long(g, y, out):
        vector_width(_FP)
        n = g.shape[0]
        nb = (n + LONG_BLOCK - 1) // LONG_BLOCK
        part = np.zeros((nb, 3), np.float64)
        for b in prange(nb):
            lo = b * LONG_BLOCK
            hi = min(lo + LONG_BLOCK, n)
            if IS64:
                bh, bc = dd_sum(g[lo:hi], np.empty((2, LANES), np.float64))
            else:
                bh, bc, bm = sum_blocked(g[lo:hi])
                part[b, 2] = bm
            part[b, 0] = bh
            part[b, 1] = bc
        h, c = block_total(part)
        if not IS64 and part[:, 2].sum() > SUM_CANCEL * abs(h + c):
            # (as the row kernel: the blocks' sums in double-double)
            for b in prange(nb):
                lo = b * LONG_BLOCK
                bh, bc = dd_sum(g[lo:min(lo + LONG_BLOCK, n)], np.empty((2, LANES), np.float64))
                part[b, 0] = bh
                part[b, 1] = bc
            h, c = block_total(part)
        for b in prange(nb):
            lo = b * LONG_BLOCK
            hi = min(lo + LONG_BLOCK, n)
            tmp = np.empty((3 if IS64 else 1, hi - lo), T)
            if IS64:
                lsmb_apply(g[lo:hi], y[lo:hi], out[lo:hi], tmp, h, c, True)
            else:
                lsmb_apply(g[lo:hi], y[lo:hi], out[lo:hi], tmp, h + c if abs(h) < np.inf else h, 0.0, True)

    # -- softmax cross-entropy on integer labels --------------------------------
    def ce_rows(x, labels, loss):
        """loss[r] = log(sum(exp(x[r]))) - x[r, labels[r]], in float64;
        returns their sum (compensated, in row order)."""
        vector_width(_FP)
        if 0 < x.shape[1] <= SHORT_ROW:
            ce_short_rows(x, labels, loss)
        else:
            tmp = np.empty(x.shape[1], T)
            acc = np.empty((2, LANES), np.float64)
            for r in range(x.shape[0]):
                loss[r] = ce_row(x[r], labels[r], tmp, acc)
        return ce_total(loss)

    def ce_total_tpl(loss):
        vector_width(_FP)
        h = c = 0.0
        for r in range(loss.shape[0]):
            h, c = two_sum(h, c, loss[r])
        return h + c if abs(h) < np.inf else h  # (c is NaN once h is inf)

    def ce_row_tpl(row, k, tmp, acc):
        vector_width(_FP)
        m = shifted_exp(row, tmp)
        return log_sum(tmp, acc) - (np.float64(row[k]) - np.float64(m))

    def ce_backward_rows(x, labels, scale, out):
        """out[r] = scale[r] * (softmax(x[r]) - onehot(labels[r]))."""
        vector_width(_FP)
        acc = np.empty((2, LANES), np.float64)
        for r in range(x.shape[0]):
            ce_backward_row(x[r], labels[r], np.float64(scale[r]), out[r], acc)

    def ce_backward_row_tpl(row, k, sc, orow, acc):
        """The label's entry is -sc (sum of the other terms) / sum, which does
        not cancel when its probability is near 1; the others' sum comes from
        the two stretches beside the label (no test of the index per term),
        the whole sum from it and the label's term."""
        vector_width(_FP)
        n = row.shape[0]
        shifted_exp(row, orow)
        ek = np.float64(orow[k])
        if IS64:
            h1, l1 = dd_sum(orow[:k], acc)
            h2, l2 = dd_sum(orow[k + 1:], acc)
            h, c = two_sum(h1, l1 + l2, h2)
            others = h + c
            t, c = two_sum(h, c, ek)
            s = t + c
        else:
            others = sum64(orow[:k]) + sum64(orow[k + 1:])
            s = others + ek
        # (the sums carry the 2**64 scaling of the exponentials)
        inv = 1.0 / s
        f = sc * inv
        if not IS64 and fabs64(f) >= CE_F32_MIN and fabs64(f) < CE_F32_MAX:
            # float32 products with sc / sum rounded to float32: 1 ulp at most
            f32 = T(f)
            for i in range(n):
                orow[i] = orow[i] * f32
        else:  # in float64, probability first (sc may be tiny or huge), rounded once
            for i in range(n):
                orow[i] = T((np.float64(orow[i]) * inv) * sc)
        orow[k] = T(-((others * inv) * sc))

    def pce_rows(x, labels, loss):
        vector_width(_FP)
        n = x.shape[0]
        size = row_chunk(n, x.shape[1])
        short = 0 < x.shape[1] <= SHORT_ROW  # as in prows1
        if short:
            ch = short_chunk(x.shape[1])
            size = max(1, size // ch) * ch
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            if short:
                ce_short_rows(x[lo:hi], labels[lo:hi], loss[lo:hi])
            else:
                inner(x[lo:hi], labels[lo:hi], loss[lo:hi])
        return ce_total(loss)

    def pce_backward_rows(x, labels, scale, out):
        vector_width(_FP)
        n = x.shape[0]
        size = row_chunk(n, x.shape[1])
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            inner(x[lo:hi], labels[lo:hi], scale[lo:hi], out[lo:hi])

    return dict(locals())


TEMPLATES = _templates()

# public kernel name -> (row template, sign applied to x)
ROWS = {
    "softmax": ("softmax_row", 1), "softmin": ("softmax_row", -1),
    "softmax_masked": ("softmax_masked_row", 1), "softmin_masked": ("softmax_masked_row", -1),
    "log_softmax": ("log_softmax_row", 1),
    "softmax_backward": ("softmax_backward_row", 1), "softmin_backward": ("softmax_backward_row", -1),
    "log_softmax_backward": ("log_softmax_backward_row", 1),
}
# row template -> the kernel for short rows (the unmasked forwards' and
# log_softmax_backward's; see SHORT_ROWS)
SHORT = {"softmax_row": "softmax_short", "log_softmax_row": "log_softmax_short",
         "log_softmax_backward_row": "log_softmax_backward_short"}
# row template -> the template for long rows (the masked ones have none)
LONG = {"softmax_row": "softmax_long", "log_softmax_row": "log_softmax_long",
        "softmax_backward_row": "softmax_backward_long", "log_softmax_backward_row": "log_softmax_backward_long"}


@njit(**_OPTS)
def _no_long_row(*args):
    """Stands in for the long-row kernel of the masked functions, whose rows
    of any length go to the row kernel (LONG_ROW is then out of reach), and
    for the short-row kernel of those without one (SHORT_ROW 0)."""
    return


def _tag(T):
    return {np.float32: "f32", np.float64: "f64"}[T]


@functools.cache
def _namespace(T):
    """The globals of the row templates for compute dtype T."""
    M, M64 = MATH[T], MATH[np.float64]
    bits = np.int32 if T is np.float32 else np.int64  # float_bits's type
    ns = dict(T=T, IS64=T is np.float64, ZERO=T(0), INF=T(np.inf), NEG_INF=T(-np.inf),
              ONE_B=2.0 ** 64, UNSCALE=2.0 ** -64, CE_F32_MIN=2.0 ** -125, CE_F32_MAX=2.0 ** 125, FAST_MARGIN=FAST_MARGIN, HI_SAFE=T(2.0 ** 103), PLAIN_ROW=PLAIN_ROW, PLAIN_MARGIN=PLAIN_MARGIN, REPAIR_BLOCK=REPAIR_BLOCK, HALF=T(0.5), DOMINANT_MARGIN=2.0 ** -40, LANES=LANES, LONG_BLOCK=LONG_BLOCK, LSMB_BLOCK=LSMB_BLOCK, SUM_CANCEL=SUM_CANCEL, LSMB_CHUNK=LSMB[T]["chunk"], LSMB_MIN_ROW=LSMB_MIN_ROW, LSMB_SUM_MAX=LSMB[T]["sum_max"], LSMB_Y_LO=LSMB[T]["y_lo"], LSMB_Y_HI=LSMB[T]["y_hi"], LSMB_SMALL=T(LSMB[T]["small"]), short_chunk=short_chunk, nan_in=nan_in, float_bits=float_bits,
              BITS_MAX=bits(np.iinfo(bits).max), min_max=min_max, overlaps=overlaps,
              maxnum=M.maxnum, fabs=M.fabs, exp_diff=_exp_diff(T), log1p64=M64.log1p, exp_parts64=M64.exp_parts, fabs64=M64.fabs,
              exp_dd=M64.exp_dd, exp_dd_reduce=M64.exp_dd_reduce, exp_dd_finish=M64.exp_dd_finish, fma64=M64.fma, sum64=sum64, sum64_chain=sum64_chain, sum64_not_one=sum64_not_one, DD_MIN_LANED=DD_MIN_LANED,
              dot_blocked=dot_blocked, dot_abs=dot_abs, sum_blocked=sum_blocked, dd_sum=dd_sum,
              dd_dot=dd_dot if T is np.float64 else dd_dot_exact,
              dd_sum_not_one=dd_sum_not_one, count_equal=count_equal, row_chunk=row_chunk, two_sum=_two_sum)
    tag = _tag(T)
    ns["row_inv"] = instantiate(TEMPLATES["row_inv_tpl"], f"sm_row_inv_{tag}", ns, inline=True)
    ns["normalize"] = instantiate(TEMPLATES["normalize_tpl"], f"sm_normalize_{tag}", ns)
    ns["sum_less_one"] = instantiate(TEMPLATES["sum_less_one_tpl"], f"sm_sum_less_one_{tag}", ns, inline=True)
    ns["log_sum"] = instantiate(TEMPLATES["log_sum_tpl"], f"sm_log_sum_{tag}", ns)
    ns["shifted_exp"] = instantiate(TEMPLATES["shifted_exp_tpl"], f"sm_shifted_exp_{tag}", ns)
    ns["lsm_dd"] = instantiate(TEMPLATES["lsm_dd_tpl"], f"sm_lsm_dd_{tag}", ns, inline=True)
    ns["lsm_exact"] = instantiate(TEMPLATES["lsm_exact_tpl"], f"sm_lsm_exact_{tag}", ns)
    ns["dominant"] = instantiate(TEMPLATES["dominant_tpl"], f"sm_dominant_{tag}", ns)
    for key in ("flagged", "fast_flagged", "fast_write", "redo", "select_write", "repair"):
        ns[key] = instantiate(TEMPLATES[key + "_tpl"], f"sm_{key}_{tag}", ns)
    ns["block_total"] = instantiate(TEMPLATES["block_total_tpl"], f"sm_block_total_{tag}", ns)
    ns["ce_total"] = instantiate(TEMPLATES["ce_total_tpl"], f"sm_ce_total_{tag}", ns)
    ns["ce_row"] = instantiate(TEMPLATES["ce_row_tpl"], f"sm_ce_row_{tag}", ns)
    ns["ce_backward_row"] = instantiate(TEMPLATES["ce_backward_row_tpl"], f"sm_ce_backward_row_{tag}", ns)
    for key, checked in (("lsm_loop", False), ("lsm_loop_checked", True)):
        ns[key] = instantiate(TEMPLATES["lsm_loop_tpl"], f"sm_{key}_{tag}",
                              dict(ns, lsm_elem=_lsm_backward(T, checked)))
    ns["lsmb_apply"] = instantiate(TEMPLATES["lsmb_apply_tpl"], f"sm_lsmb_apply_{tag}", ns)
    return ns


@functools.cache
def _short_parts(T, sign, not_one):
    """The globals of the short-row kernels for dtype T, sign SGN and
    NOT_ONE (see short_step)."""
    tag = f"{_tag(T)}_{'neg' if sign < 0 else 'pos'}{'_lse' if not_one else ''}"
    ns = dict(_namespace(T), SGN=T(sign), NOT_ONE=not_one, SHORT_FEW=SHORT_FEW)
    ns["short_step"] = instantiate(TEMPLATES["short_step_tpl"], f"sm_short_step_{tag}", ns, inline=True)
    ns["short_pass"] = instantiate(TEMPLATES["short_pass_tpl"], f"sm_short_pass_{tag}", ns)
    ns["short_lse"] = instantiate(TEMPLATES["short_lse_tpl"], f"sm_short_lse_{tag}", ns)
    ns["short_scratch"] = instantiate(TEMPLATES["short_scratch_tpl"], f"sm_short_scratch_{tag}", ns, inline=True)
    return ns


@functools.cache
def _ce_short(T):
    return instantiate(TEMPLATES["ce_short"], f"sm_ce_short_{_tag(T)}", _short_parts(T, 1, True))


@functools.cache
def rowwise(name, T, short=True):
    """(serial, parallel) kernels of ``name`` (a key of ROWS) over the rows
    of 2-D C-contiguous arrays: (x, out), (x, mask, out) or (grad, y, out).
    short=False: without the short-row kernel (for the tests, which compare
    the two)."""
    tpl_name, sign = ROWS[name]
    tag = _tag(T)
    ns = dict(_namespace(T), SGN=T(sign))
    # scratch rows the row kernel uses: the forwards' exp values, the float64
    # log_softmax_backward's three parts of exp_dd's argument, the float32
    # one's fast results
    tmp_rows = {"softmax_row": 1, "softmax_masked_row": 1, "log_softmax_row": 1,
                "log_softmax_backward_row": 3 if T is np.float64 else 1}.get(tpl_name, 0)
    tpl = TEMPLATES[tpl_name]
    row = instantiate(tpl, f"sm_{name}_{tag}_row", ns)
    nargs = tpl.__code__.co_argcount - 3
    long_kernels = [_no_long_row] * 2
    long_row = 2 ** 62
    if tpl_name in LONG:
        long_row = LONG_ROW
        exp_block = None if "backward" in tpl_name else \
            instantiate(TEMPLATES["exp_block_tpl"], f"sm_{name}_{tag}_exp_block", ns)
        for k, par in enumerate((False, True)):
            mode = "parallel" if par else "serial"
            bm = instantiate(TEMPLATES["block_max_tpl"], f"sm_{name}_{tag}_block_max_{mode}", ns, parallel=par)
            long_kernels[k] = instantiate(TEMPLATES[LONG[tpl_name]], f"sm_{name}_{tag}_long_{mode}",
                                          dict(ns, block_max=bm, exp_block=exp_block), parallel=par)
    short_rows, short_row = _no_long_row, 0
    if tpl_name in SHORT and short:
        short_rows = instantiate(TEMPLATES[SHORT[tpl_name]], f"sm_{name}_{tag}_short",
                                 _short_parts(T, sign, tpl_name == "log_softmax_row"))
        short_row = SHORT_ROWS[SHORT[tpl_name]][T is np.float64]
    if not short:  # the drivers alone differ
        tag += "_noshort"
    serial = instantiate(TEMPLATES[f"rows{nargs}"], f"sm_{name}_{tag}_serial",
                         dict(row=row, T=T, LANES=LANES, TMP_ROWS=tmp_rows, LONG_ROW=long_row,
                              long_row=long_kernels[0], SHORT_ROW=short_row, short_rows=short_rows))
    parallel = instantiate(TEMPLATES[f"prows{nargs}"], f"sm_{name}_{tag}_parallel",
                           dict(inner=serial, row_chunk=row_chunk, LONG_ROW=long_row, long_row=long_kernels[1],
                                LONG_PAR_ROWS=LONG_PAR_ROWS, SHORT_ROW=short_row, short_rows=short_rows,
                                short_chunk=short_chunk),
                           parallel=True)
    return serial, parallel


@functools.cache
def vector(name, T):
    """The serial kernel of ``name`` (as in rowwise) on 1-D C-contiguous
    arrays, one row: the public functions' fast path for vectors, which would
    otherwise pay two reshapes in Python (0.3-0.4 us of a 1.5 us call)."""
    serial, _ = rowwise(name, T)
    nargs = TEMPLATES[ROWS[name][0]].__code__.co_argcount - 3  # as in rowwise
    return instantiate(TEMPLATES[f"vec{nargs}"], f"sm_{name}_{_tag(T)}_vec", dict(inner=serial))


@functools.cache
def cross_entropy(T, short=True):
    """((serial, parallel) loss per row, (serial, parallel) gradient) of the
    softmax cross-entropy on integer labels (short as in rowwise)."""
    if not short:  # the loss's drivers alone differ
        s = instantiate(TEMPLATES["ce_rows"], f"sm_ce_rows_{_tag(T)}_noshort_serial",
                        dict(_namespace(T), ce_short_rows=_no_long_row, SHORT_ROW=0))
        p = instantiate(TEMPLATES["pce_rows"], f"sm_ce_rows_{_tag(T)}_noshort_parallel",
                        dict(inner=s, row_chunk=row_chunk, ce_total=_namespace(T)["ce_total"], SHORT_ROW=0,
                             ce_short_rows=_no_long_row, short_chunk=short_chunk),
                        parallel=True)
        return (s, p), cross_entropy(T)[1]
    tag = _tag(T)
    out = []
    ns = dict(_namespace(T), ce_short_rows=_ce_short(T), SHORT_ROW=SHORT_ROWS["ce_short"][T is np.float64])
    for tpl in ("ce_rows", "ce_backward_rows"):
        s = instantiate(TEMPLATES[tpl], f"sm_{tpl}_{tag}_serial", ns)
        p = instantiate(TEMPLATES["p" + tpl], f"sm_{tpl}_{tag}_parallel",
                        dict(inner=s, row_chunk=row_chunk, ce_total=ns["ce_total"], SHORT_ROW=ns["SHORT_ROW"],
                             ce_short_rows=ns["ce_short_rows"],
                             short_chunk=short_chunk), parallel=True)
        out.append((s, p))
    return tuple(out)

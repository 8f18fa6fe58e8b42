"""The softmax family, row by row: softmax, softmin and log_softmax (with an
optional mask), their backwards, and the fused softmax cross-entropy.

Every kernel works on the rows of 2-D C-contiguous arrays (``_api`` moves
the reduced axes last).  A row is a short stretch of memory that stays in L1
or L2 between the passes over it; the passes are kept apart so that each
loop has one data width (a loop mixing float32 and float64 vectorizes at the
float64 width).

Accuracy comes from where the sums are carried:

* ``exp(x - max)`` is computed scaled by 2**64 (``exp_neg_scaled``), so that
  tiny results keep full precision and need a single scaling, with the
  rounding error of ``x - max`` put back as a first-order factor;
* float32 data: sums in float64 (their error, below n 2**-53 of the sum for
  a row of n, is far under float32's precision for any row that fits in
  memory);
* float64 data: sums as double-double (``dd_sum``, ``dd_dot``), vectorized
  over lanes;
* the backwards cancel: softmax's ``g_i - sum(g y)`` and log_softmax's
  ``g_i - exp(y_i) sum(g)``.  float32 softmax_backward takes a fast path with
  a proven error bound and redoes a row in double-double when an element's
  difference is too small for that bound; float32 log_softmax_backward
  computes in float32 with exp(y) in two parts and redoes in float64 the
  blocks of 64 where an element cancels by more than its margin allows;
  float64 uses double-double sums and, in log_softmax_backward, a
  double-double exp.
"""
import functools
import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
from numba import njit

from ._jit import REDUCE_FASTMATH, instantiate
from ._kernels import row_chunk
from ._math import MATH, maxnum as _maxnum, rint, scale2

_OPTS = dict(nogil=True, error_model="numpy")
_REASSOC = dict(_OPTS, fastmath=set(REDUCE_FASTMATH))

# Blocks of the float32 fast path's dot product: summed reassociated
# (vectorized), the block sums added exactly (TwoSum).  Its error is then at
# most (SUM_BLOCK + 1) * 2**-53 * sum(|g y|), whatever the row length.
SUM_BLOCK = 256
# float32 softmax_backward: with that bound, |g_i - s| >= 2**-18 * sum(|g y|)
# keeps the error of g_i - s below 2**-26 relative (an eighth of a float32
# ulp); a row with a smaller difference is redone in double-double.
FAST_MARGIN = 2.0 ** -18
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

_fma64 = MATH[np.float64].fma


@njit(**_OPTS)
def _two_sum(s, c, v):
    """(s + v rounded, c plus the rounding error): Knuth's TwoSum."""
    t = s + v
    bp = t - s
    return t, c + ((s - (t - bp)) + (v - bp))


@njit(**_REASSOC)
def sum64(a):
    """sum(a) in float64, reassociated: error at most (n - 1) 2**-53 sum(|a|)."""
    s = 0.0
    for i in range(a.shape[0]):
        s += np.float64(a[i])
    return s


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
def sum_blocked(a):
    """(s, c): sum(a) = s + c, blocks as dot_blocked."""
    n = a.shape[0]
    s = 0.0
    c = 0.0
    for lo in range(0, n, SUM_BLOCK):
        bs = 0.0
        for i in range(lo, min(lo + SUM_BLOCK, n)):
            bs += np.float64(a[i])
        s, c = _two_sum(s, c, bs)
    return s, c


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


dd_dot = _dd_reduction(_product)
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


@njit(**_REASSOC)
def nan_in(a, lo, hi):
    """Whether a[lo:hi] holds a NaN (or an infinity)."""
    s = a.dtype.type(0)
    for i in range(lo, hi):
        s += a[i] * a.dtype.type(0)
    return s != s


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
    (TwoSum) put back as a first-order factor, so that the result stays
    within a few ulp when |x - m| is large."""
    M = MATH[T]
    exp_neg_scaled, fma = M.exp_neg_scaled, M.fma

    @njit(**_OPTS)
    def exp_diff(x, m):
        d = x - m
        bp = d - x
        ap = d - bp
        err = (x - ap) + (-m - bp)
        e = exp_neg_scaled(d)
        return e if err != err else fma(e, err, e)

    return exp_diff


# -- float32 log_softmax_backward: g - exp(y) s in double-float32 -----------
# ln 2 = C1 + C2 to about 2**-44: C1 has 16 significant bits, so n C1 is
# exact for the |n| <= 128 of a float32 exponent
_LN2 = Fraction(Decimal("0.69314718055994530941723212145817656807550013436"))
_C1 = float(np.uint32(np.float32(float(_LN2)).view(np.uint32) & 0xFFFFFF00).view(np.float32))
_C2 = float(np.float32(float(_LN2 - Fraction(_C1))))
# 1/k! for k = 3..8: exp(r) - 1 - r - r**2/2 = r**3 (1/6 + r/24 + ...); the
# first term left out, r**9/9!, is below 2**-32 for |r| <= ln2/2
_TAIL3 = tuple(1.0 / math.factorial(k) for k in range(3, 9))
# The fast path's error is below about 2**-30 |exp(y) s| (the float32 tail
# of exp(r), the float32 parts of ln 2) plus two roundings of the result, so
# where |result| >= LSMB_MARGIN |exp(y) s| it stays within about 2 ulp.
# Elements closer to cancelling are redone in float64, LSMB_BLOCK at a time.
LSMB_MARGIN = 2.0 ** -5
LSMB_BLOCK = 64
# rows are taken LSMB_CHUNK elements at a time after their sum
LSMB_CHUNK = 2048
# shorter rows take the float64 path, which is as fast there (measured
# serial, (32, n) float32: the two cross between n = 128 and n = 256)
LSMB_MIN_ROW = 192
# the fast path takes rows with |sum(g)| below this (so that exp(y) sum(g)
# stays finite for every y <= LSMB_Y_HI) and y in [LSMB_Y_LO, LSMB_Y_HI]
LSMB_SUM_MAX = 2.0 ** 120
LSMB_Y_LO, LSMB_Y_HI = -87.0, 1.0


def _lsm_backward_f32(checked):
    """(g, y, s_hi, q, s_small) -> g - exp(y) s_hi (1 + q) for float32, or
    NaN where the result may be off by more than about 2 ulp (the caller
    then recomputes it in float64).  exp(y) = 2**n (1 + hi + lo), the
    reduced argument carried in two parts, so that the difference keeps its
    accuracy down to LSMB_MARGIN of the product; q = s_lo / s_hi (below
    2**-24) joins the reduced argument (exp(r + q) = exp(r) (1 + q) to
    2**-48).

    checked: y may lie outside [LSMB_Y_LO, LSMB_Y_HI] (else the caller has
    checked that it does not).  Below LSMB_Y_LO (exp(y) < 2**-125.5) the
    product is negligible against a g of at least s_small = |s_hi| 2**-95,
    and it is exactly 0 for y = -inf; above LSMB_Y_HI the result is NaN."""
    M = MATH[np.float32]
    fma, fabs, clamp = M.fma, M.fabs, M.clamp
    f = np.float32
    zero, one, half, inf, nan = f(0), f(1), f(0.5), f(np.inf), f(np.nan)
    log2e = f(1.4426950408889634)
    c1, c2 = f(_C1), f(_C2)
    y_lo, y_hi = f(LSMB_Y_LO), f(LSMB_Y_HI)
    margin, d_min = f(LSMB_MARGIN), f(2.0 ** -118)
    t0, t1, t2, t3, t4, t5 = (f(c) for c in _TAIL3)

    # inlined by Numba itself: it exceeds LLVM's inlining budget, and a call
    # left in the element loop would keep it from vectorizing
    @njit(inline="always", **_OPTS)
    def lsm_backward_f32(g, y, s_hi, q, s_small):
        yc = clamp(y, y_lo, y_hi) if checked else y
        n = rint(yc * log2e)
        n = n if n == n else zero
        r1 = fma(-n, c1, yc)  # exact
        r = fma(-n, c2, r1)
        rl = fma(-n, c2, r1 - r) + q  # r's rounding error (r1 - r is exact)
        r2 = r * r
        # the tail r**3 (t0 + t1 r + ... + t5 r**5), Estrin's scheme
        tail = fma(r2 * r2, fma(t5, r, t4), fma(r2, fma(t3, r, t2), fma(t1, r, t0)))
        h2 = r2 * half  # (its rounding, below 2**-30, is within the budget)
        hi = r + h2  # Fast2Sum: |r| >= r**2 / 2
        lo = (h2 - (hi - r)) + fma(r2 * r, tail, rl * (one + hi))
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

    return lsm_backward_f32


def _templates():
    _FP = None  # the cache fingerprint; see _jit.instantiate

    # -- drivers: rows of 2-D arrays, serial and parallel ---------------------
    def rows1(x, out):
        _FP
        tmp = np.empty((TMP_ROWS, x.shape[1]), T)
        acc = np.empty((2, LANES), np.float64)
        for r in range(x.shape[0]):
            row(x[r], out[r], tmp, acc)

    def rows2(a, b, out):
        _FP
        tmp = np.empty((TMP_ROWS, a.shape[1]), T)
        acc = np.empty((2, LANES), np.float64)
        for r in range(a.shape[0]):
            row(a[r], b[r], out[r], tmp, acc)

    def prows1(x, out):
        _FP
        n = x.shape[0]
        size = row_chunk(n, x.shape[1])
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            inner(x[lo:hi], out[lo:hi])

    def prows2(a, b, out):
        _FP
        n = a.shape[0]
        size = row_chunk(n, a.shape[1])
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            inner(a[lo:hi], b[lo:hi], out[lo:hi])

    # -- forwards (SGN = -1 turns softmax into softmin) -----------------------
    def normalize_tpl(e, out, acc):
        """out = e / sum(e).  (The exponentials go to the scratch row e, not
        to out: with out the input itself, a loop reading x and writing out
        would fail LLVM's overlap check and run unvectorized.)"""
        _FP
        n = out.shape[0]
        if IS64:  # a product with the reciprocal: 1.5 ulp, where a division costs 4x more
            h, lo = dd_sum(e, acc)
            inv = 1.0 / (h + lo)
        else:  # the float32 reciprocal of a float64 sum, one rounding each
            inv = T(1.0 / sum64(e))
        for i in range(n):
            out[i] = e[i] * inv

    def softmax_row(x, out, tmp, acc):
        _FP
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
        _FP
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
        """log(sum(tmp) / 2**64) where tmp holds exp(x - max) * 2**64: computed
        as log1p of the sum less one term 2**64 (the maximum's own), the
        terms equal to 2**64 counted apart, so it keeps its relative accuracy
        when the rest is tiny."""
        _FP
        if IS64:
            h, lo = dd_sum_not_one(tmp, ONE_B, acc)
            k = count_equal(tmp, ONE_B)
            s1 = (h + np.float64(k - 1) * ONE_B) + lo
        else:
            s, k = sum64_not_one(tmp, ONE_B)
            s1 = s + np.float64(k - 1) * ONE_B
        return log1p64(s1 * UNSCALE)

    def shifted_exp_tpl(x, e):
        """e[i] = exp(x[i] - max(x)) * 2**64; returns max(x)."""
        _FP
        n = x.shape[0]
        m = NEG_INF
        for i in range(n):
            m = maxnum(m, x[i])
        for i in range(n):
            e[i] = exp_diff(x[i], m)
        return m

    def log_softmax_row(x, out, tmp, acc):
        _FP
        n = x.shape[0]
        t = tmp[0]
        m = shifted_exp(x, t)
        lse = T(log_sum(t, acc))
        for i in range(n):
            out[i] = (x[i] - m) - lse

    # -- backwards -------------------------------------------------------------
    def softmax_backward_row(g, y, out, tmp, acc):
        _FP
        n = g.shape[0]
        if not IS64:
            s, c, a = dot_blocked(g, y)
            st = s + c
            hi = T(st)
            lo = T(st - np.float64(hi)) if fabs(hi) < INF else ZERO
            thr = T(a * FAST_MARGIN)
            # (a loop of its own: out may be g or y, and a flag in the loop
            # that stores would keep LLVM from vectorizing it; an or of
            # flags runs twice as fast as a count)
            bad = False
            for i in range(n):
                d = fabs(g[i] - hi)
                # too close for the bound, or overflowed (then the float64 path)
                bad |= (d < thr) | (not d < INF)
            if not bad:
                for i in range(n):
                    out[i] = SGN * (y[i] * ((g[i] - hi) - lo))
                return
        dh, dl = dd_dot(g, y, acc)
        dl = dl if abs(dh) < np.inf else 0.0
        for i in range(n):
            out[i] = T(SGN * (np.float64(y[i]) * ((np.float64(g[i]) - dh) - dl)))

    def log_softmax_backward_row(g, y, out, tmp, acc):
        _FP
        n = g.shape[0]
        if IS64:
            sh, sl = dd_sum(g, acc)
            sl = sl if abs(sh) < np.inf else 0.0
            tn, tr, trl = tmp[0], tmp[1], tmp[2]
            for i in range(n):
                tn[i], tr[i], trl[i] = exp_dd_reduce(y[i])
            for i in range(n):
                eh, el = exp_dd_finish(tn[i], tr[i], trl[i])
                ph = eh * sh
                pl = fma64(eh, sh, -ph) + (eh * sl + el * sh)
                pl = pl if abs(ph) < np.inf else 0.0
                out[i] = (g[i] - ph) - pl
        else:
            s, c = sum_blocked(g)
            s = s + c
            s_hi = T(s)
            if fabs(s_hi) < LSMB_SUM_MAX and n >= LSMB_MIN_ROW:
                # the float32 fast path, NaN where it cannot vouch for its
                # result: such a block is redone in float64 from g and y (so
                # the fast results go to the scratch row when out is g or y)
                q = T((s - np.float64(s_hi)) / s_hi) if s_hi != ZERO else ZERO
                s_small = fabs(s_hi) * T(2.0 ** -95)
                alias = overlaps(out, g) or overlaps(out, y)
                # chunks that stay in L1 between the passes over them
                for c0 in range(0, n, LSMB_CHUNK):
                    c1 = min(c0 + LSMB_CHUNK, n)
                    t = tmp[0, c0:c1] if alias else out[c0:c1]
                    gc, yc = g[c0:c1], y[c0:c1]
                    m = c1 - c0
                    ymin, ymax = min_max(yc)
                    if ymin >= LSMB_Y_LO and ymax <= LSMB_Y_HI:
                        for i in range(m):
                            t[i] = lsm_fast(gc[i], yc[i], s_hi, q, s_small)
                    else:
                        for i in range(m):
                            t[i] = lsm_fast_checked(gc[i], yc[i], s_hi, q, s_small)
                    if nan_in(t, 0, m):
                        for lo in range(0, m, LSMB_BLOCK):
                            hi = min(lo + LSMB_BLOCK, m)
                            if nan_in(t, lo, hi):
                                for i in range(c0 + lo, c0 + hi):
                                    out[i] = lsm_exact(g[i], y[i], s)
                            elif alias:
                                for i in range(lo, hi):
                                    out[c0 + i] = t[i]
                    elif alias:
                        for i in range(m):
                            out[c0 + i] = t[i]
            else:
                for i in range(n):
                    out[i] = lsm_exact(g[i], y[i], s)

    def lsm_exact_tpl(g, y, s):
        """g - exp(y) s in float64, rounded once to T.  exp(y) as 2**k +
        2**k expm1(r): where y is near 0 (the largest logit's
        log-probability) 2**k s is s exactly and cancels exactly against g;
        far below 0 the second term is the small one."""
        _FP
        sc, em1 = exp_parts64(np.float64(y))
        p = sc * s
        q = p * em1
        return T((np.float64(g) - p) - (q if fabs64(p) < np.inf else 0.0))

    # -- softmax cross-entropy on integer labels --------------------------------
    def ce_rows(x, labels, loss):
        """loss[r] = log(sum(exp(x[r]))) - x[r, labels[r]], in float64."""
        _FP
        tmp = np.empty(x.shape[1], T)
        acc = np.empty((2, LANES), np.float64)
        for r in range(x.shape[0]):
            loss[r] = ce_row(x[r], labels[r], tmp, acc)

    def ce_row_tpl(row, k, tmp, acc):
        _FP
        m = shifted_exp(row, tmp)
        return log_sum(tmp, acc) - (np.float64(row[k]) - np.float64(m))

    def ce_backward_rows(x, labels, scale, out):
        """out[r] = scale[r] * (softmax(x[r]) - onehot(labels[r]))."""
        _FP
        acc = np.empty((2, LANES), np.float64)
        for r in range(x.shape[0]):
            ce_backward_row(x[r], labels[r], np.float64(scale[r]), out[r], acc)

    def ce_backward_row_tpl(row, k, sc, orow, acc):
        """The label's entry is -sc (sum of the other terms) / sum, which does
        not cancel when its probability is near 1; the others' sum comes from
        the two stretches beside the label (no test of the index per term),
        the whole sum from it and the label's term."""
        _FP
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
        _FP
        n = x.shape[0]
        size = row_chunk(n, x.shape[1])
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            inner(x[lo:hi], labels[lo:hi], loss[lo:hi])

    def pce_backward_rows(x, labels, scale, out):
        _FP
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


def _tag(T):
    return {np.float32: "f32", np.float64: "f64"}[T]


@functools.cache
def _namespace(T):
    """The globals of the row templates for compute dtype T."""
    M, M64 = MATH[T], MATH[np.float64]
    ns = dict(T=T, IS64=T is np.float64, ZERO=T(0), INF=T(np.inf), NEG_INF=T(-np.inf),
              ONE_B=2.0 ** 64, UNSCALE=2.0 ** -64, CE_F32_MIN=2.0 ** -125, CE_F32_MAX=2.0 ** 125, FAST_MARGIN=FAST_MARGIN, LANES=LANES, LSMB_BLOCK=LSMB_BLOCK, LSMB_CHUNK=LSMB_CHUNK, LSMB_MIN_ROW=LSMB_MIN_ROW, LSMB_SUM_MAX=LSMB_SUM_MAX, LSMB_Y_LO=LSMB_Y_LO, LSMB_Y_HI=LSMB_Y_HI, nan_in=nan_in, min_max=min_max, overlaps=overlaps,
              maxnum=M.maxnum, fabs=M.fabs, exp_diff=_exp_diff(T), log1p64=M64.log1p, exp_parts64=M64.exp_parts, fabs64=M64.fabs,
              exp_dd_reduce=M64.exp_dd_reduce, exp_dd_finish=M64.exp_dd_finish, fma64=M64.fma, sum64=sum64, sum64_not_one=sum64_not_one,
              dot_blocked=dot_blocked, sum_blocked=sum_blocked, dd_dot=dd_dot, dd_sum=dd_sum,
              dd_sum_not_one=dd_sum_not_one, count_equal=count_equal, row_chunk=row_chunk, two_sum=_two_sum)
    tag = _tag(T)
    ns["normalize"] = instantiate(TEMPLATES["normalize_tpl"], f"sm_normalize_{tag}", ns)
    ns["log_sum"] = instantiate(TEMPLATES["log_sum_tpl"], f"sm_log_sum_{tag}", ns)
    ns["shifted_exp"] = instantiate(TEMPLATES["shifted_exp_tpl"], f"sm_shifted_exp_{tag}", ns)
    ns["lsm_exact"] = instantiate(TEMPLATES["lsm_exact_tpl"], f"sm_lsm_exact_{tag}", ns)
    ns["ce_row"] = instantiate(TEMPLATES["ce_row_tpl"], f"sm_ce_row_{tag}", ns)
    ns["ce_backward_row"] = instantiate(TEMPLATES["ce_backward_row_tpl"], f"sm_ce_backward_row_{tag}", ns)
    # (typed in the float32 branch only)
    ns["lsm_fast"], ns["lsm_fast_checked"] = _lsm_backward_f32(False), _lsm_backward_f32(True)
    return ns


@functools.cache
def rowwise(name, T):
    """(serial, parallel) kernels of ``name`` (a key of ROWS) over the rows
    of 2-D C-contiguous arrays: (x, out), (x, mask, out) or (grad, y, out)."""
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
    serial = instantiate(TEMPLATES[f"rows{nargs}"], f"sm_{name}_{tag}_serial",
                         dict(row=row, T=T, LANES=LANES, TMP_ROWS=tmp_rows))
    parallel = instantiate(TEMPLATES[f"prows{nargs}"], f"sm_{name}_{tag}_parallel",
                           dict(inner=serial, row_chunk=row_chunk), parallel=True)
    return serial, parallel


@functools.cache
def cross_entropy(T):
    """((serial, parallel) loss per row, (serial, parallel) gradient) of the
    softmax cross-entropy on integer labels."""
    ns = _namespace(T)
    tag = _tag(T)
    out = []
    for tpl in ("ce_rows", "ce_backward_rows"):
        s = instantiate(TEMPLATES[tpl], f"sm_{tpl}_{tag}_serial", ns)
        p = instantiate(TEMPLATES["p" + tpl], f"sm_{tpl}_{tag}_parallel",
                        dict(inner=s, row_chunk=row_chunk), parallel=True)
        out.append((s, p))
    return tuple(out)

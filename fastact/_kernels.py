"""Loop templates and the builders that turn scalar definitions into serial
and parallel kernels, one set per dtype, compiled on first use.

Every template works on 1-D or 2-D C-contiguous arrays; ``_api`` flattens and
lays out the user's arrays before calling them.  A parallel kernel splits the
work into one contiguous range per thread and runs the *serial* kernel on
each range, so the inner loops vectorize exactly as in the serial kernel and
the two give bitwise identical results.
"""
import functools

import numpy as np

from . import _elementwise
from ._jit import REDUCE_FASTMATH, instantiate
from ._math import MATH


def _templates():
    _FP = None  # the cache fingerprint; see _jit.instantiate

    # -- elementwise (p: the tuple of parameters; the *0 forms take none, which
    #    saves the dispatcher the typing of a tuple on every call) -------------
    def map1(x, out, p):
        _FP
        for i in range(x.shape[0]):
            out[i] = f(x[i], *p)

    def map2(a, b, out, p):
        _FP
        for i in range(a.shape[0]):
            out[i] = f(a[i], b[i], *p)

    def map1_0(x, out):
        _FP
        for i in range(x.shape[0]):
            out[i] = f(x[i])

    def map2_0(a, b, out):
        _FP
        for i in range(a.shape[0]):
            out[i] = f(a[i], b[i])

    def pmap1(x, out, p):
        _FP
        n = x.shape[0]
        size = chunk_size(n)
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            inner(x[lo:hi], out[lo:hi], p)

    def pmap2(a, b, out, p):
        _FP
        n = a.shape[0]
        size = chunk_size(n)
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            inner(a[lo:hi], b[lo:hi], out[lo:hi], p)

    def pmap1_0(x, out):
        _FP
        n = x.shape[0]
        size = chunk_size(n)
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            inner(x[lo:hi], out[lo:hi])

    def pmap2_0(a, b, out):
        _FP
        n = a.shape[0]
        size = chunk_size(n)
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            inner(a[lo:hi], b[lo:hi], out[lo:hi])

    # -- rows of a 2-D array (softmax family) ---------------------------------
    def rows1(x, out):
        _FP
        scratch = np.empty(x.shape[1], T)
        for r in range(x.shape[0]):
            row(x[r], out[r], scratch)

    def rows2(a, b, out):
        _FP
        # the double-double reduction's partial sums (see dd_reduce)
        scratch = np.empty(2 * (a.shape[1] // DD_WAYS + 1), np.float64)
        for r in range(a.shape[0]):
            row(a[r], b[r], out[r], scratch)

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

    # Each row is one short stretch of memory (it stays in L1/L2 between the
    # passes).  The passes are kept apart so that each loop has one data width:
    # a loop mixing float32 and float64 vectorizes at the float64 width.
    def softmax_row(x, out, scratch):
        _FP
        n = x.shape[0]
        m = NEG_INF
        for i in range(n):
            m = maxnum(m, x[i])
        for i in range(n):
            out[i] = exp_diff(x[i], m)
        s = acc_sum(out)
        if IS64:  # float64: divide (a reciprocal would cost another ulp)
            for i in range(n):
                out[i] = out[i] / s
        else:  # float32: the float32 reciprocal of a float64 sum, one rounding each
            inv = T(ACC(1) / s)
            for i in range(n):
                out[i] = out[i] * inv

    def log_softmax_row(x, out, scratch):
        _FP
        n = x.shape[0]
        m = NEG_INF
        for i in range(n):
            m = maxnum(m, x[i])
        for i in range(n):
            scratch[i] = exp_diff(x[i], m)
        # log(sum) as log1p(sum - 1), the sum's 1 (the maximum's own term)
        # taken out exactly, so it keeps its relative accuracy when tiny
        lse = T(log1p_acc(acc_sum_minus_one(scratch[:n])))
        for i in range(n):
            out[i] = (x[i] - m) - lse

    # The backwards cancel (g_i against sum(g y), or against exp(y_i) sum(g)),
    # so their sums are carried as double-double (dd_dot, dd_sum) and the
    # difference is taken against both parts; float64's exp(y_i) too (exp_dd).
    def softmax_backward_row(g, y, out, scratch):
        _FP
        n = g.shape[0]
        dh, dl = dd_dot(g, y, scratch)
        dl = dl if fabs64(dh) < INF64 else ACC(0)
        for i in range(n):
            out[i] = T(ACC(y[i]) * ((ACC(g[i]) - dh) - dl))

    def log_softmax_backward_row(g, y, out, scratch):
        _FP
        n = g.shape[0]
        sh, sl = dd_sum(g, scratch)
        sl = sl if fabs64(sh) < INF64 else ACC(0)
        if IS64:
            for i in range(n):
                eh, el = exp_dd(y[i])
                ph = eh * sh
                pl = fma64(eh, sh, -ph) + (eh * sl + el * sh)
                pl = pl if fabs64(ph) < INF64 else ACC(0)
                out[i] = (g[i] - ph) - pl
        else:
            s = sh + sl
            for i in range(n):
                out[i] = T(ACC(g[i]) - exp_acc(ACC(y[i])) * s)

    # -- softmax cross-entropy on integer labels ---------------------------------
    def ce_rows(x, labels, loss):
        """loss[r] = log(sum(exp(x[r]))) - x[r, labels[r]], in float64."""
        _FP
        scratch = np.empty(x.shape[1], T)
        for r in range(x.shape[0]):
            row = x[r]
            n = row.shape[0]
            m = NEG_INF
            for i in range(n):
                m = maxnum(m, row[i])
            for i in range(n):
                scratch[i] = exp_diff(row[i], m)
            lse = log1p_acc(acc_sum_minus_one(scratch[:n]))
            loss[r] = lse - (ACC(row[labels[r]]) - ACC(m))

    def ce_backward_rows(x, labels, scale, out):
        """out[r] = scale[r] * (softmax(x[r]) - onehot(labels[r]))."""
        _FP
        for r in range(x.shape[0]):
            row = x[r]
            orow = out[r]
            n = row.shape[0]
            m = NEG_INF
            for i in range(n):
                m = maxnum(m, row[i])
            for i in range(n):
                orow[i] = exp_diff(row[i], m)
            inv = ACC(1) / acc_sum(orow)
            sc = ACC(scale[r])
            f = T(inv * sc)
            for i in range(n):
                orow[i] = orow[i] * f
            k = labels[r]
            orow[k] = T(ACC(orow[k]) - sc)

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

    # -- PReLU ------------------------------------------------------------------
    # rows: x is (R, inner), row r uses w[r % C];  cols: x is (N, C), w along C.
    def prelu_rows(x, w, out):
        _FP
        C = w.shape[0]
        for r in range(x.shape[0]):
            wc = w[r % C]
            xr = x[r]
            orow = out[r]
            for j in range(xr.shape[0]):
                v = xr[j]
                orow[j] = v if v > ZERO else wc * v

    def prelu_cols(x, w, out):
        _FP
        for r in range(x.shape[0]):
            xr = x[r]
            orow = out[r]
            for c in range(xr.shape[0]):
                v = xr[c]
                orow[c] = v if v > ZERO else w[c] * v

    def prelu_rows_bwd(g, x, w, gx, part):
        """gx and, per row, part[r] = sum of x*g over x <= 0."""
        _FP
        C = w.shape[0]
        for r in range(x.shape[0]):
            wc = w[r % C]
            xr, gr, orow = x[r], g[r], gx[r]
            s = ACC(0)
            for j in range(xr.shape[0]):
                v = xr[j]
                gv = gr[j]
                orow[j] = gv if v > ZERO else wc * gv
                s += ACC(0) if v > ZERO else ACC(v) * ACC(gv)
            part[r] = s

    def prelu_cols_bwd(g, x, w, gx, part):
        """gx and, per block of BLOCK rows b, part[b, c] = sum of x*g over x <= 0."""
        _FP
        n = x.shape[0]
        for b in range(part.shape[0]):
            acc = part[b]
            acc[:] = ACC(0)
            for r in range(b * BLOCK, min(n, (b + 1) * BLOCK)):
                xr, gr, orow = x[r], g[r], gx[r]
                for c in range(xr.shape[0]):
                    v = xr[c]
                    gv = gr[c]
                    orow[c] = gv if v > ZERO else w[c] * gv
                    acc[c] += ACC(0) if v > ZERO else ACC(v) * ACC(gv)

    def prelu_pcols_bwd(g, x, w, gx, part):
        _FP
        n = x.shape[0]
        for b in prange(part.shape[0]):
            r0 = b * BLOCK
            r1 = min(n, r0 + BLOCK)
            inner(g[r0:r1], x[r0:r1], w, gx[r0:r1], part[b:b + 1])

    # -- RReLU in training: noise holds U[0,1) draws and becomes the slopes ----
    def rrelu_train(x, noise, out, lower, width):
        _FP
        for i in range(x.shape[0]):
            v = x[i]
            s = ONE if v > ZERO else lower + width * noise[i]
            noise[i] = s
            out[i] = v * s

    def prrelu_train(x, noise, out, lower, width):
        _FP
        n = x.shape[0]
        size = chunk_size(n)
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            inner(x[lo:hi], noise[lo:hi], out[lo:hi], lower, width)

    return dict(locals())


TEMPLATES = _templates()
PRELU_BLOCK = 256  # rows per partial sum of PReLU's weight gradient (fixed: results must not depend on threads)


def _jit_helpers():
    from numba import njit

    @njit(nogil=True, cache=True)
    def chunk_size(n):
        """Elements per block of a parallel loop.  prange hands each thread one
        contiguous range of blocks; the block size does not depend on the
        thread count, so neither do the results."""
        return BLOCK

    @njit(nogil=True, cache=True)
    def row_chunk(n_rows, row_len):
        """Rows per block: about BLOCK elements."""
        return max(1, BLOCK // max(row_len, 1))

    return chunk_size, row_chunk


BLOCK = 8192
chunk_size, row_chunk = _jit_helpers()


def _sum_helpers():
    """Float64 sums of the rows, accurate for float64 data too: blocks of SUM_BLOCK
    terms are summed with reassociation (vectorized), and the block sums are
    added with a compensated (Neumaier) sum, so the error does not grow with
    the row length."""
    from numba import njit

    opts = dict(nogil=True, error_model="numpy")
    fast = dict(opts, fastmath=set(REDUCE_FASTMATH))

    @njit(**fast)
    def block_sum(a, lo, hi):
        s = 0.0
        for i in range(lo, hi):
            s += np.float64(a[i])
        return s

    @njit(**fast)
    def block_sum_not_one(a, lo, hi):
        """(sum of the terms other than 1, count of terms equal to 1)"""
        s = 0.0
        c = 0
        for i in range(lo, hi):
            v = np.float64(a[i])
            s += 0.0 if v == 1.0 else v
            c += 1 if v == 1.0 else 0
        return s, c

    @njit(**opts)
    def two_sum_add(s, c, v):
        t = s + v
        c += ((s - t) + v) if abs(s) >= abs(v) else ((v - t) + s)
        return t, c

    @njit(**opts)
    def acc_sum(a):
        n = a.shape[0]
        s = 0.0
        c = 0.0
        for lo in range(0, n, SUM_BLOCK):
            s, c = two_sum_add(s, c, block_sum(a, lo, min(lo + SUM_BLOCK, n)))
        return s + c

    @njit(**opts)
    def acc_sum_minus_one(a):
        """sum(a) - 1 where one term is exactly 1; the terms equal to 1 are
        counted apart so the result keeps relative accuracy when it is tiny."""
        n = a.shape[0]
        s = 0.0
        c = 0.0
        k = 0
        for lo in range(0, n, SUM_BLOCK):
            v, kb = block_sum_not_one(a, lo, min(lo + SUM_BLOCK, n))
            s, c = two_sum_add(s, c, v)
            k += kb
        return (s + c) + np.float64(k - 1)

    return acc_sum, acc_sum_minus_one


SUM_BLOCK = 64
acc_sum, acc_sum_minus_one = _sum_helpers()

DD_WAYS = 8


def _dd_helpers():
    """Sums as an unevaluated pair (hi, lo) of float64, with an error of about
    2**-100 of the sum of the terms' magnitudes: every addition is an
    error-free TwoSum, every float64 product a TwoProd (fma).

    Written so that LLVM vectorizes them without fast-math: the first level
    sums DD_WAYS strided streams into scratch (each i independent), and the
    levels after it halve the scratch pairwise, each again a loop of
    independent i.  scratch holds 2 * (n // DD_WAYS + 1) float64."""
    from numba import njit

    opts = dict(nogil=True, error_model="numpy")
    fma = MATH[np.float64].fma

    @njit(**opts)
    def two_sum(a, b):
        t = a + b
        bp = t - a
        return t, (a - (t - bp)) + (b - bp)

    def build(term):
        @njit(**opts)
        def reduce(a, b, scratch):
            n = a.shape[0]
            h = n // DD_WAYS
            s = 0.0
            c = 0.0
            for j in range(h * DD_WAYS, n):
                p, pe = term(a, b, j)
                s, e = two_sum(s, p)
                c += e + pe
            if h == 0:
                return s, c
            H = scratch[:h]
            E = scratch[h:2 * h]
            for i in range(h):
                hi, lo = term(a, b, i)
                for k in range(1, DD_WAYS):
                    p, pe = term(a, b, i + k * h)
                    hi, e = two_sum(hi, p)
                    lo += e + pe
                H[i] = hi
                E[i] = lo
            m = h
            while m > 1:
                if m % 2:
                    s, e = two_sum(s, H[m - 1])
                    c += e + E[m - 1]
                m //= 2
                for i in range(m):
                    hi, e = two_sum(H[i], H[i + m])
                    H[i] = hi
                    E[i] = (E[i] + E[i + m]) + e
            s, e = two_sum(s, H[0])
            return s, c + (e + E[0])

        return reduce

    @njit(**opts)
    def product(a, b, j):
        x = np.float64(a[j])
        y = np.float64(b[j])
        p = x * y
        return p, fma(x, y, -p)  # 0 for float32 data: the product is exact

    @njit(**opts)
    def value(a, b, j):
        return np.float64(a[j]), 0.0

    dot = build(product)
    total = build(value)

    @njit(**opts)
    def dd_sum(a, scratch):
        return total(a, a, scratch)

    return dot, dd_sum


dd_dot, dd_sum = _dd_helpers()


def _int_range():
    from numba import njit

    @njit(nogil=True, cache=True)
    def int_range(a):
        """(min, max) of a non-empty 1-D integer array, in one pass."""
        lo = a[0]
        hi = a[0]
        for v in a:
            lo = min(lo, v)
            hi = max(hi, v)
        return lo, hi

    return int_range


int_range = _int_range()


def _common(T):
    M = MATH[T]
    ACC = np.float64  # sums and products of reductions are carried in float64
    return dict(T=T, ACC=ACC, IS64=T is np.float64, ZERO=T(0), ONE=T(1), NEG_INF=T(-np.inf), maxnum=M.maxnum,
                exp=M.exp, chunk_size=chunk_size, row_chunk=row_chunk, acc_sum=acc_sum,
                acc_sum_minus_one=acc_sum_minus_one, dd_dot=dd_dot, dd_sum=dd_sum, DD_WAYS=DD_WAYS,
                fabs64=MATH[np.float64].fabs, fma64=MATH[np.float64].fma, INF64=np.inf,
                exp_dd=MATH[np.float64].exp_dd)


def _tag(T):
    return {np.float32: "f32", np.float64: "f64"}[T]


@functools.cache
def elementwise(name, T):
    """(forward_serial, forward_parallel, backward_serial, backward_parallel)
    for the elementwise activation ``name``, built from ``_elementwise.<name>``.
    Kernels of an activation without parameters take (x, out) / (grad, v, out);
    the others take a tuple of parameters (of type T) last."""
    from numba import njit

    fwd, bwd = getattr(_elementwise, name)(T, MATH[T])
    nparams = fwd.__code__.co_argcount - 1
    suffix = "" if nparams else "_0"
    fwd = scalar_jit(fwd)
    bwd = scalar_jit(bwd)
    base = f"{name}_{_tag(T)}"
    out = []
    for direction, fn, arity in (("forward", fwd, 1), ("backward", bwd, 2)):
        serial = instantiate(TEMPLATES[f"map{arity}{suffix}"], f"{base}_{direction}_serial", dict(f=fn))
        parallel = instantiate(TEMPLATES[f"pmap{arity}{suffix}"], f"{base}_{direction}_parallel",
                               dict(inner=serial, chunk_size=chunk_size), parallel=True)
        out += [serial, parallel]
    return tuple(out)


def scalar_jit(fn):
    """A scalar definition of _elementwise, jitted.  Those marked
    ``inline = True`` (too big for LLVM's inlining budget: a call left in the
    loop would stop it from vectorizing) are inlined by Numba itself."""
    from numba import njit

    extra = {"inline": "always"} if getattr(fn, "inline", False) else {}
    return njit(nogil=True, error_model="numpy", **extra)(fn)


def _transcendental(T):
    M = MATH[T]
    return {f for f in (M.exp, M.exp_scaled, M.expm1, M.log1p, M.tanh, getattr(M, "erf", None),
                        getattr(M, "erfc", None), getattr(M, "exp_scaled2", None),
                        getattr(M, "exp_sq_scaled", None)) if f is not None}


def _calls_any(fn, targets, depth=0):
    """Whether the Python function fn (or a jitted helper it closes over)
    closes over one of targets."""
    for cell in fn.__closure__ or ():
        try:
            v = cell.cell_contents
        except ValueError:
            continue
        if any(v is t for t in targets):
            return True
        inner = getattr(v, "py_func", None)
        if inner is not None and depth < 4 and _calls_any(inner, targets, depth + 1):
            return True
    return False


@functools.cache
def elementwise_heavy(name, T):
    """(forward, backward) of the elementwise activation name: whether each
    evaluates an exp, log, tanh or erf per element (which decides where its
    parallel kernel starts to pay, see _jit.elementwise_threshold)."""
    fwd, bwd = getattr(_elementwise, name)(T, MATH[T])
    targets = _transcendental(T)
    return _calls_any(fwd, targets), _calls_any(bwd, targets)


def _exp_diff(T):
    """exp(x - m) with the rounding error of x - m (TwoSum) put back as a
    first-order factor, so softmax stays within a few ulp when |x - m| is large."""
    from numba import njit

    exp, fma = MATH[T].exp, MATH[T].fma

    @njit(nogil=True, error_model="numpy")
    def exp_diff(x, m):
        d = x - m
        bp = d - x
        ap = d - bp
        err = (x - ap) + (-m - bp)
        e = exp(d)
        return e if err != err else fma(e, err, e)

    return exp_diff


@functools.cache
def rowwise(name, T):
    """(serial, parallel) over the rows of a 2-D C-contiguous array for
    softmax, log_softmax and their backwards."""
    ns = _common(T)
    M64 = MATH[np.float64]
    ns.update(exp_diff=_exp_diff(T), log1p_acc=M64.log1p, exp_acc=M64.exp)
    tpl = TEMPLATES[f"{name}_row"]
    row = instantiate(tpl, f"{name}_{_tag(T)}_row", ns, fastmath=REDUCE_FASTMATH)
    nargs = tpl.__code__.co_argcount - 2
    serial = instantiate(TEMPLATES[f"rows{nargs}"], f"{name}_{_tag(T)}_serial",
                         dict(row=row, T=T, DD_WAYS=DD_WAYS))
    parallel = instantiate(TEMPLATES[f"prows{nargs}"], f"{name}_{_tag(T)}_parallel",
                           dict(inner=serial, row_chunk=row_chunk), parallel=True)
    return serial, parallel


@functools.cache
def cross_entropy(T):
    """((serial, parallel) loss per row, (serial, parallel) gradient) of the
    softmax cross-entropy on integer labels."""
    ns = _common(T)
    ns.update(exp_diff=_exp_diff(T), log1p_acc=MATH[np.float64].log1p)
    out = []
    for tpl in ("ce_rows", "ce_backward_rows"):
        s = instantiate(TEMPLATES[tpl], f"{tpl}_{_tag(T)}_serial", ns, fastmath=REDUCE_FASTMATH)
        p = instantiate(TEMPLATES["p" + tpl], f"{tpl}_{_tag(T)}_parallel",
                        dict(inner=s, row_chunk=row_chunk), parallel=True)
        out.append((s, p))
    return tuple(out)


@functools.cache
def prelu(T):
    """dict of PReLU kernels: fwd_rows, fwd_cols (serial and parallel each),
    bwd_rows, bwd_cols."""
    ns = _common(T)
    ns["BLOCK"] = PRELU_BLOCK
    k = {}
    for part in ("rows", "cols"):
        s = instantiate(TEMPLATES[f"prelu_{part}"], f"prelu_{part}_{_tag(T)}_serial", ns)
        p = instantiate(_PRELU_TPL[0], f"prelu_{part}_{_tag(T)}_parallel",
                        dict(inner=s, row_chunk=row_chunk, ROWS=part == "rows"), parallel=True)
        k[f"fwd_{part}"] = (s, p)
    s = instantiate(TEMPLATES["prelu_rows_bwd"], f"prelu_rows_bwd_{_tag(T)}_serial", ns,
                    fastmath=REDUCE_FASTMATH)
    p = instantiate(_PRELU_TPL[1], f"prelu_rows_bwd_{_tag(T)}_parallel",
                    dict(inner=s, row_chunk=row_chunk), parallel=True)
    k["bwd_rows"] = (s, p)
    s = instantiate(TEMPLATES["prelu_cols_bwd"], f"prelu_cols_bwd_{_tag(T)}_serial", ns,
                    fastmath=REDUCE_FASTMATH)
    p = instantiate(TEMPLATES["prelu_pcols_bwd"], f"prelu_cols_bwd_{_tag(T)}_parallel",
                    dict(inner=s, BLOCK=PRELU_BLOCK), parallel=True)
    k["bwd_cols"] = (s, p)
    return k


def _prelu_templates():
    _FP = None

    def pfwd(x, w, out):
        _FP
        n = x.shape[0]
        size = row_chunk(n, x.shape[1])
        if ROWS:  # keep r % C aligned with the global row index
            C = w.shape[0]
            size = (size + C - 1) // C * C
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            inner(x[lo:hi], w, out[lo:hi])

    def prows_bwd(g, x, w, gx, part):
        _FP
        n = x.shape[0]
        C = w.shape[0]
        size = row_chunk(n, x.shape[1])
        size = (size + C - 1) // C * C  # keep r % C aligned with the global row index
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            inner(g[lo:hi], x[lo:hi], w, gx[lo:hi], part[lo:hi])

    return pfwd, prows_bwd


_PRELU_TPL = _prelu_templates()


@functools.cache
def rrelu_train(T):
    ns = _common(T)
    s = instantiate(TEMPLATES["rrelu_train"], f"rrelu_train_{_tag(T)}_serial", ns)
    p = instantiate(TEMPLATES["prrelu_train"], f"rrelu_train_{_tag(T)}_parallel",
                    dict(inner=s, chunk_size=chunk_size), parallel=True)
    return s, p

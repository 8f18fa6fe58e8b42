"""Fused operations: GLU and bias + activation (the epilogue of a dense layer).

``glu(x, axis)`` multiplies the first half of x along axis by the sigmoid of
the second half.  ``bias_act(x, bias, activation)`` adds a bias along one
axis and applies any elementwise activation of the table, reading x once
and writing the result once; its backward recomputes z = x + bias and
returns the input gradient and the bias gradient (summed in float64 over
blocks of rows chosen from the shape alone, so results do not depend on the
thread count).

The activations' scalar definitions are those of ``_elementwise``; the loops
here are compiled lazily per (activation, dtype) with ``_jit.instantiate``.
Parallel kernels run the serial kernel on fixed ranges of rows, so serial
and parallel results are bitwise identical.
"""
import functools
import operator

import numpy as np

from . import _api, _elementwise, _kernels
from ._jit import HEAVY_THRESHOLD, PARALLEL_THRESHOLD, REDUCE_FASTMATH, instantiate, run, run_at
from ._math import MATH
from ._registry import ACTIVATIONS, ELEMENTWISE, REQUIRED

# Rows of the (rows, C) layout per partial sum of the bias gradient (see
# bias_block): a function of the shape alone, so that the sums do not depend
# on how the blocks are shared among threads.  The blocks are also the
# parallel backward's unit of work: at most BIAS_MAX_BLOCKS of them, of about
# BIAS_BLOCK_ELEMENTS elements (two blocks from the heavy activations'
# parallel threshold, 2^14, for rows of up to 2048) and at least
# BIAS_BLOCK_ROWS rows (the float64 partial sums then take at most half the
# bytes of a float32 output; fewer rows than that make one block, up to twice
# the bytes of a single float32 row).  A single block runs serial.  A fixed
# 256 rows gave rows of 1024 a single block up to 2^18 elements, and the
# backward ran on one core.  The cap on their number bounds the calls of the
# serial kernel per parallel run: with one block per 4 rows (blocks of any
# size allowed), the parallel relu backward on (1024, 1024) float32 took 2x
# the time of blocks of 64 rows or more (the serial kernel's own time did
# not change as much: 1.3x).
BIAS_BLOCK_ELEMENTS = _kernels.BLOCK
BIAS_BLOCK_ROWS = 4
BIAS_MAX_BLOCKS = 16
# A single row longer than this goes through the backward in pieces of this
# many elements, so that its float64 sums stay small (its bias gradient is
# the row of grad_x itself).
ONE_ROW_PIECE = 1 << 14


def bias_block(n_rows, row_len):
    """Rows per partial sum of the bias gradient on (n_rows, row_len)."""
    return max(BIAS_BLOCK_ROWS, BIAS_BLOCK_ELEMENTS // max(row_len, 1), -(-n_rows // BIAS_MAX_BLOCKS))


# elements per step of the kernels that add the bias first and then apply an
# expensive activation in one flat loop (in L1 in between)
BIAS_STEP = 4096


def _templates():
    _FP = None  # the cache fingerprint; see _jit.instantiate

    # -- GLU on (rows, 2, L): out = a * sigmoid(b), a = x[:, 0], b = x[:, 1] ----
    # The loops over a row are functions of their own, kept out of line
    # (_jit.not_inlined): inlined into the loop over rows, glu's float64
    # forward took 3.3 ns per element serial, against 2.7 ns called.
    def glu_row(a, b, o):
        vector_width(_FP)
        not_inlined(_FP)
        for j in range(o.shape[0]):
            o[j] = gated(a[j], b[j])

    def glu_row_bwd(g, a, b, ga, gb):
        vector_width(_FP)
        not_inlined(_FP)
        for j in range(g.shape[0]):
            # both read before either store: out may be x itself
            ga_j, gb_j = gated_grads(g[j], a[j], b[j])
            ga[j] = ga_j
            gb[j] = gb_j

    def glu_fwd(x, out):
        vector_width(_FP)
        not_inlined(_FP)
        for r in range(x.shape[0]):
            row(x[r, 0], x[r, 1], out[r])

    def glu_bwd(g, x, out):
        vector_width(_FP)
        not_inlined(_FP)
        for r in range(x.shape[0]):
            row(g[r], x[r, 0], x[r, 1], out[r, 0], out[r, 1])

    # -- bias + activation, (rows, C) layout: bias along the last axis ---------
    # An activation with an exp, log or erf (HEAVY) compiled into a loop nested
    # in another runs 20-40 % slower than the same loop compiled as a function
    # of its own (measured: gelu and silu, float32 and float64).  Such kernels
    # add the bias over a few rows (STEP elements, in L1) first, then call
    # apply / apply_b, a separately compiled flat loop, on them.  That loop
    # is kept out of line (_jit.not_inlined): silu's float32 backward on
    # (4096, 64), serial, 1.68 -> 1.41 ns per element (the others within noise).
    def bias_apply(v, p):
        vector_width(_FP)
        not_inlined(_FP)
        for i in range(v.shape[0]):
            v[i] = f(v[i], p)

    def bias_apply_b(g, z, gx, p):
        """gx = activation'(z) g (from y = activation(z) where the backward
        takes y).  gx may be g itself."""
        vector_width(_FP)
        not_inlined(_FP)
        for i in range(z.shape[0]):
            gx[i] = fb(g[i], f(z[i], p) if USES_Y else z[i], p)

    # A heavy activation on rows of at least ROW_MIN (ROW_MIN_B backward)
    # elements runs a row at a time through bias_row (bias_row_b), a loop
    # compiled on its own: no copy through L1, and none of the slowdown of
    # the nested loop (see BIAS_ROW_MIN for the measurements).
    def bias_row(xr, b, o, p):
        vector_width(_FP)
        for c in range(b.shape[0]):
            o[c] = f(xr[c] + b[c], p)

    def bias_row_b(gr, xr, b, o, acc, p):
        """o = activation'(xr + b) gr and acc += o (in float64)."""
        vector_width(_FP)
        for c in range(b.shape[0]):
            z = xr[c] + b[c]
            o[c] = fb(gr[c], f(z, p) if USES_Y else z, p)
        for c in range(b.shape[0]):
            acc[c] += np.float64(o[c])

    def bias_cols(x, b, out, p):
        vector_width(_FP)
        not_inlined(_FP)
        n = x.shape[0]
        C = x.shape[1]
        if BY_ROW and C >= ROW_MIN:
            for r in range(n):
                row(x[r], b, out[r], p)
            return
        step = max(1, STEP // max(C, 1)) if HEAVY else max(n, 1)
        for lo in range(0, n, step):
            hi = min(lo + step, n)
            for r in range(lo, hi):
                xr = x[r]
                o = out[r]
                for c in range(C):
                    o[c] = xr[c] + b[c] if HEAVY else f(xr[c] + b[c], p)
            if HEAVY:
                apply(out[lo:hi].reshape((hi - lo) * C), p)

    # (rows, inner) layout: row r has the bias b[(r0 + r) % C]
    def bias_rows(x, b, out, r0, p):
        vector_width(_FP)
        not_inlined(_FP)
        C = b.shape[0]
        for r in range(x.shape[0]):
            bc = b[(r0 + r) % C]
            xr = x[r]
            o = out[r]
            for i in range(xr.shape[0]):
                o[i] = xr[i] + bc if HEAVY else f(xr[i] + bc, p)
            if HEAVY:
                apply(o, p)

    def bias_cols_bwd(g, x, b, gx, part, blk, p):
        """gx, part[k] = the float64 column sums of gx over rows [k blk,
        (k + 1) blk), and then part[0] = the sum of those, added in block
        order (fold_blocks)."""
        vector_width(_FP)
        not_inlined(_FP)
        n = x.shape[0]
        C = x.shape[1]
        if BY_ROW_B and C >= ROW_MIN_B:
            for k in range(part.shape[0]):
                acc = part[k]
                acc[:] = 0.0
                for r in range(k * blk, min(n, (k + 1) * blk)):
                    row_b(g[r], x[r], b, gx[r], acc, p)
            fold_blocks(part)
            return
        # rows per step, still in L1 (HEAVY_B) or L2 for the sums
        step = max(1, min(n, (STEP if HEAVY_B else BIAS_BLOCK_ELEMENTS) // max(C, 1)))
        zbuf = np.empty(step * C if HEAVY_B else 0, x.dtype)  # z (gx may be g)
        for k in range(part.shape[0]):
            acc = part[k]
            acc[:] = 0.0
            end = min(n, (k + 1) * blk)
            for lo in range(k * blk, end, step):
                hi = min(lo + step, end)
                for r in range(lo, hi):
                    xr = x[r]
                    gr = g[r]
                    o = gx[r]
                    zr = zbuf[(r - lo) * C:(r - lo + 1) * C]
                    for c in range(C):
                        z = xr[c] + b[c]
                        if HEAVY_B:
                            zr[c] = z
                        else:
                            o[c] = fb(gr[c], f(z, p) if USES_Y else z, p)
                if HEAVY_B:
                    m = (hi - lo) * C
                    apply_b(g[lo:hi].reshape(m), zbuf[:m], gx[lo:hi].reshape(m), p)
                # a loop of its own: in the loop above the sum would keep
                # either from being vectorized
                for r in range(lo, hi):
                    o = gx[r]
                    for c in range(C):
                        acc[c] += np.float64(o[c])
        fold_blocks(part)

    def bias_rows_bwd(g, x, b, gx, part, r0, p):
        """gx and part[r] = the float64 sum of row r of gx."""
        vector_width(_FP)
        not_inlined(_FP)
        C = b.shape[0]
        zr = np.empty(x.shape[1] if HEAVY_B else 0, x.dtype)  # z (gx may be g)
        for r in range(x.shape[0]):
            bc = b[(r0 + r) % C]
            xr = x[r]
            gr = g[r]
            o = gx[r]
            for i in range(xr.shape[0]):
                z = xr[i] + bc
                if HEAVY_B:
                    zr[i] = z
                else:
                    o[i] = fb(gr[i], f(z, p) if USES_Y else z, p)
            if HEAVY_B:
                apply_b(gr, zr, o, p)
            part[r] = row_sum(o)

    # -- parallel: fixed ranges of rows (blocks for the column sums) ----------
    # The serial kernels they call are kept out of line (_jit.not_inlined), so
    # that each range runs the serial kernel's own code.
    def pglu_fwd(x, out):
        vector_width(_FP)
        n = x.shape[0]
        size = rows_per_chunk(n, out.shape[1])
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            inner(x[lo:hi], out[lo:hi])

    def pglu_bwd(g, x, out):
        vector_width(_FP)
        n = x.shape[0]
        size = rows_per_chunk(n, g.shape[1])
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            inner(g[lo:hi], x[lo:hi], out[lo:hi])

    def pbias_cols(x, b, out, p):
        vector_width(_FP)
        n = x.shape[0]
        size = rows_per_chunk(n, x.shape[1])
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            inner(x[lo:hi], b, out[lo:hi], p)

    def pbias_rows(x, b, out, r0, p):
        vector_width(_FP)
        n = x.shape[0]
        size = rows_per_chunk(n, x.shape[1])
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            inner(x[lo:hi], b, out[lo:hi], r0 + lo, p)

    def pbias_cols_bwd(g, x, b, gx, part, blk, p):
        vector_width(_FP)
        n = x.shape[0]
        for k in prange(part.shape[0]):
            lo = k * blk
            hi = min(n, lo + blk)
            inner(g[lo:hi], x[lo:hi], b, gx[lo:hi], part[k:k + 1], blk, p)
        fold_blocks(part)

    def pbias_rows_bwd(g, x, b, gx, part, r0, p):
        vector_width(_FP)
        n = x.shape[0]
        size = rows_per_chunk(n, x.shape[1])
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            inner(g[lo:hi], x[lo:hi], b, gx[lo:hi], part[lo:hi], r0 + lo, p)

    return dict(locals())


TEMPLATES = _templates()


def _helpers():
    from numba import njit

    @njit(nogil=True, cache=True)
    def rows_per_chunk(n_rows, row_len):
        """Rows per parallel chunk: about _kernels.BLOCK elements (fixed, not
        a function of the thread count)."""
        return max(1, _kernels.BLOCK // max(row_len, 1))

    @njit(nogil=True, cache=True, error_model="numpy", fastmath=set(REDUCE_FASTMATH))
    def row_sum(a):
        s = 0.0
        for i in range(a.shape[0]):
            s += np.float64(a[i])
        return s

    @njit(nogil=True, cache=True, error_model="numpy")
    def fold_blocks(part):
        """part[0] += part[1], then part[2], ...: the bias gradient in part[0],
        the blocks added in their order (in place: no float64 array of the
        bias's length beside the partial sums)."""
        acc = part[0]
        for k in range(1, part.shape[0]):
            pk = part[k]
            for c in range(acc.shape[0]):
                acc[c] += pk[c]

    return rows_per_chunk, row_sum, fold_blocks


rows_per_chunk, row_sum, fold_blocks = _helpers()


def _tag(T):
    return {np.float32: "f32", np.float64: "f64"}[T]


def _gates(T):
    """gated(a, v) = a sigmoid(v) and gated_grads(g, a, v) = (g s, g a s (1 - s)),
    s = sigmoid(v), with tiny results (v far below or above 0) rounded once.

    s (for v < 0) or 1 - s (for v >= 0) is carried scaled by 2**64, from
    exp(-|v|) 2**64, and unscaled after the products (as silu does); float32
    gradients are finished in float64.  Below v = -130 (float32) or -752
    (float64) the scaled exp is 0, so a huge a times a gate that far out
    gives 0 where the exact product may still be a normal number."""
    from numba import njit

    opts = dict(nogil=True, error_model="numpy")
    M = MATH[T]
    exp_neg_scaled, fabs = M.exp_neg_scaled, M.fabs
    big, unscale, one, zero = M.SCALE, M.UNSCALE, T(1), T(0)
    # below safe, a number times a scaled factor (< 2**64) is finite
    safe = T(2.0 ** 900) if T is np.float64 else T(2.0 ** 62)

    @njit(**opts)
    def times_scaled(x, fb):
        """x * fb * 2**-64, rounded once where the result is tiny."""
        # |x| >= safe: x * 2**-64 is exact, so the product rounds once
        return (x * fb) * unscale if fabs(x) < safe else (x * unscale) * fb

    @njit(**opts)
    def gated(a, v):
        eb = exp_neg_scaled(-fabs(v))
        if v >= zero:
            return a * (big / (big + eb))
        return times_scaled(a, eb * (big / (big + eb)))

    if T is np.float32:
        # float32 rounds too often for 4 ulp in g a s (1 - s): past the exp
        # the gradients are computed in float64, whose range holds them
        w_unscale = 2.0 ** -64

        @njit(**opts)
        def gated_grads32(g, a, v):
            e = np.float64(exp_neg_scaled(-fabs(v))) * w_unscale
            inv = 1.0 / (1.0 + e)
            pos = v >= zero
            s = inv if pos else e * inv
            oms = e * inv if pos else inv
            gs = np.float64(g) * s
            return T(gs), T((gs * np.float64(a)) * oms)

        return gated, gated_grads32

    @njit(**opts)
    def gated_grads(g, a, v):
        eb = exp_neg_scaled(-fabs(v))
        inv = one / (big + eb)
        pos = v >= zero
        sb = big * inv if pos else eb * (inv * big)  # s, times 2**64 for v < 0
        ob = eb * (inv * big) if pos else big * inv  # 1 - s, times 2**64 for v >= 0
        ga = g * sb if pos else times_scaled(g, sb)
        return ga, times_scaled(g * a, sb * ob)

    return gated, gated_grads


@functools.cache
def glu_kernels(T):
    """((serial, parallel) forward, (serial, parallel) backward)."""
    gated, gated_grads = _gates(T)
    ns = dict(gated=gated, gated_grads=gated_grads)
    out = []
    for tpl, row in (("glu_fwd", "glu_row"), ("glu_bwd", "glu_row_bwd")):
        rowk = instantiate(TEMPLATES[row], f"{row}_{_tag(T)}", ns)
        s = instantiate(TEMPLATES[tpl], f"{tpl}_{_tag(T)}_serial", dict(row=rowk))
        p = instantiate(TEMPLATES["p" + tpl], f"{tpl}_{_tag(T)}_parallel",
                        dict(inner=s, rows_per_chunk=rows_per_chunk), parallel=True)
        out.append((s, p))
    return tuple(out)


# Activations whose bias_act forward on short rows stays in one pass although
# they evaluate an exp (HEAVY would add the bias first, then apply them in a
# loop of their own).  silu's small exp loses there: bench/bench_fused.py,
# two-pass / one-pass time at 2^14, 2^16, 2^20: float32 1.03, 1.05, 1.34;
# float64 1.08, 1.10, 1.26 (its backward gains in float64, 0.85 to 0.90, and
# keeps the two passes).
ONE_PASS_FORWARD = ("silu",)

# Rows (the bias's length) from which a heavy activation runs a row at a time
# through bias_row / bias_row_b, compiled on their own, rather than the loops
# above.  Serial kernels on 2^16 elements, float32 and float64, 2-core Zen3,
# seven alternated rounds, min (row-at-a-time time / the other):
#   forward, C = 64 / 128 / 256 / 1024:
#     silu     0.97-0.91  0.94-0.84  0.86-0.80  0.83-0.72
#     sigmoid  0.99-0.86  0.84-0.78  0.82-0.72  0.73-0.83
#     tanh     0.88-0.87  0.79-0.78  0.78-0.75  0.67-0.81
#     elu      0.77-0.86  0.77-0.87  0.83-0.86  0.78-0.95
#   softplus, selu, celu, mish, logsigmoid, gelu_tanh at C = 1024: 0.80 to
#   1.01; gelu (erf) 1.13 (float32) at C = 256: it keeps its two passes.
#   backward, C = 256 / 512 / 1024 / 2048 (float32-float64):
#     silu 0.84-0.96  0.82-0.97  0.79-0.97  0.79-0.98; sigmoid, tanh, elu,
#     gelu, softplus, selu, celu, mish, logsigmoid 0.88 to 1.03 from 512 on
#     (up to 1.06 at 256).
#   At C = 8 the call per row costs 1.6 to 4.5x.
BIAS_ROW_MIN = 256
BIAS_ROW_MIN_B = 512
TWO_PASS_FORWARD = ("gelu",)


@functools.cache
def bias_act_kernels(kernel, T):
    """dict of (serial, parallel) kernels for the scalar definition ``kernel``
    of _elementwise: fwd_cols, fwd_rows, bwd_cols, bwd_rows."""
    fwd, bwd = getattr(_elementwise, kernel)(T, MATH[T])
    f, fb = _callers(fwd, bwd)
    base = f"bias_{kernel}_{_tag(T)}"
    heavy, heavy_b = _kernels.elementwise_heavy(kernel, T)
    uses_y = _uses_y(kernel)
    heavy_b = heavy_b or uses_y and heavy
    ns = dict(f=f, fb=fb, row_sum=row_sum, fold_blocks=fold_blocks, BIAS_BLOCK_ELEMENTS=BIAS_BLOCK_ELEMENTS, USES_Y=uses_y,
              HEAVY=heavy and kernel not in ONE_PASS_FORWARD, HEAVY_B=heavy_b, STEP=BIAS_STEP,
              BY_ROW=heavy and kernel not in TWO_PASS_FORWARD, ROW_MIN=BIAS_ROW_MIN,
              BY_ROW_B=heavy_b, ROW_MIN_B=BIAS_ROW_MIN_B)
    for name in ("apply", "apply_b", "row", "row_b"):
        ns[name] = instantiate(TEMPLATES[f"bias_{name}"], f"{base}_{name}", ns)
    k = {}
    for name, tpl in (("fwd_cols", "bias_cols"), ("fwd_rows", "bias_rows"),
                      ("bwd_cols", "bias_cols_bwd"), ("bwd_rows", "bias_rows_bwd")):
        s = instantiate(TEMPLATES[tpl], f"{base}_{name}_serial", ns)
        p = instantiate(TEMPLATES["p" + tpl], f"{base}_{name}_parallel",
                        dict(inner=s, rows_per_chunk=rows_per_chunk, fold_blocks=fold_blocks), parallel=True)
        k[name] = (s, p)
    # from where the parallel kernels run: as the elementwise activations', a
    # heavy activation from two blocks (the fused kernels' blocks are as large)
    k["fwd_at"], k["bwd_at"] = (HEAVY_THRESHOLD if h else PARALLEL_THRESHOLD for h in (heavy, heavy_b))
    return k


def _callers(fwd, bwd):
    """f(v, p) and fb(g, v, p), p the tuple of parameters, calling the scalar
    definitions (Numba inlines a function only when it takes no *args: the
    definitions marked inline take no parameters)."""
    from numba import njit

    nparams = fwd.__code__.co_argcount - 1
    inline = dict(nogil=True, error_model="numpy", inline="always")
    if nparams == 0:
        fj, bj = _kernels.scalar_jit(fwd), _kernels.scalar_jit(bwd)
        return njit(**inline)(lambda v, p: fj(v)), njit(**inline)(lambda g, v, p: bj(g, v))
    fj = njit(nogil=True, error_model="numpy")(fwd)
    bj = njit(nogil=True, error_model="numpy")(bwd)
    return njit(**inline)(lambda v, p: fj(v, *p)), njit(**inline)(lambda g, v, p: bj(g, v, *p))


def _uses_y(kernel):
    for e in ACTIVATIONS.values():
        names = {e.name} | {k for ch in e.variants.values() for k in ch.values()}
        if kernel in names:
            return e.backward_uses == "y"
    raise KeyError(kernel)


# ---------------------------------------------------------------------------
# Validation and layout


def _axis(axis, ndim, fname):
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{fname}: axis must be an int, got {axis!r}")
    a = operator.index(axis)
    if not -ndim <= a < ndim:
        raise ValueError(f"{fname}: axis {a} is out of bounds for an array of dimension {ndim}")
    return a % ndim


def _activation(fname, activation, params):
    """(kernel name, parameters as a tuple of floats) of a table activation."""
    if not isinstance(activation, str):
        raise TypeError(f"{fname}: activation must be a name (str), got {activation!r}")
    entry = ACTIVATIONS.get(activation)
    if entry is None or entry.kind != "elementwise":
        raise ValueError(f"{fname}: activation must be one of the elementwise activations "
                         f"{sorted(ELEMENTWISE)}, got {activation!r}")
    unknown = sorted(set(params) - set(entry.params))
    if unknown:
        raise TypeError(f"{fname}: unexpected parameter(s) {unknown} for {activation} "
                        f"(its parameters: {sorted(entry.params)})")
    given = {**entry.params, **params}
    missing = sorted(p for p, v in given.items() if v is REQUIRED)
    if missing:
        raise TypeError(f"{fname}: {activation} needs the parameter(s) {missing}")
    kernel = entry.name
    for pname, choices in entry.variants.items():
        choice = given[pname]
        if not isinstance(choice, str) or choice not in choices:
            raise ValueError(f"{fname}: {pname} must be one of {sorted(choices)}, got {choice!r}")
        kernel = choices[choice]
    floats = {p: _api._param(v, fname, p) for p, v in given.items() if p not in entry.variants}
    if entry.validate is not None:
        _api._validate(fname, entry, floats)
    return kernel, tuple(floats.values())


def _bias_inputs(fname, x, bias, axis):
    arr = _api._asarray(x, fname)
    b = _api._asarray(bias, fname, "bias")
    _api._dtypes(arr.dtype, fname)
    _api._dtypes(b.dtype, fname)
    T, rdt = _api._dtypes(np.result_type(arr.dtype, b.dtype), fname)
    if arr.ndim == 0:
        raise ValueError(f"{fname}: x must have at least one dimension (the bias axis)")
    ax = _axis(axis, arr.ndim, fname)
    C = arr.shape[ax]
    if b.ndim != 1 or b.shape[0] != C:
        raise ValueError(f"{fname}: bias has shape {b.shape}; expected ({C},), the length of axis {axis} "
                         f"of x {arr.shape}")
    outer, inner = _api._outer_inner(arr.shape, ax)
    return arr, b, T, rdt, outer, C, inner


def _contiguous(a, T):
    return a if a.dtype == T and a.flags.c_contiguous else np.ascontiguousarray(a, dtype=T)


def _target(res, T, srcs):
    """A C-contiguous array of dtype T to write into: res itself, or a
    temporary when res has another layout or dtype or overlaps an input."""
    if res.dtype == T and res.flags.c_contiguous and not any(_api._aliased(s, res) for s in srcs):
        return res, False
    return np.empty(res.shape, T), True


# ---------------------------------------------------------------------------
# Public functions

# The common call, C-contiguous float32 or float64 arrays of one dtype along
# the last axis, no out= and no activation parameters, skips the general
# validation once the same (activation, dtype) has passed it: the kernels
# and their (empty) parameter tuple are kept here.
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_fast_bias = {}  # (activation, dtype) -> (kernels, parameters)


def _bias_fast(x, bias, activation, axis, params):
    """(kernels, parameters) when bias_act(x, bias, activation, axis) takes the
    fast path, else None."""
    if params or type(activation) is not str or type(x) is not np.ndarray or type(bias) is not np.ndarray:
        return None
    hit = _fast_bias.get((activation, x.dtype))
    if hit is None or bias.dtype is not x.dtype or type(axis) is not int or not x.ndim or bias.ndim != 1:
        return None
    if (axis != -1 and axis != x.ndim - 1) or bias.shape[0] != x.shape[-1] or not x.flags.c_contiguous \
            or not bias.flags.c_contiguous:
        return None
    return hit


def _remember_bias(activation, params, arr, b, k, pT, T, g=None):
    """Keep the kernels for the fast path, when they are those of x's own
    dtype (not when bias or grad promoted the computation)."""
    if not params and type(activation) is str and arr.dtype in (_F32, _F64) and b.dtype == arr.dtype \
            and np.dtype(T) == arr.dtype and (g is None or g.dtype == arr.dtype):
        _fast_bias[(activation, arr.dtype)] = (k, pT)



def bias_act(x, bias, activation, *, axis=-1, out=None, **params):
    """activation(x + bias) in one pass over memory: bias (1-D, the length of
    x's ``axis``) is added along ``axis`` and any elementwise activation of
    the table (by name, with its parameters as keywords) applied, e.g.
    ``bias_act(x, b, "leaky_relu", negative_slope=0.2)``.

    dtype rules as the activations' (the result dtype of x and bias)."""
    if out is None:
        fast = _bias_fast(x, bias, activation, axis, params)
        if fast is not None:
            k, pT = fast
            res = np.empty(x.shape, x.dtype)
            if x.size:
                C = x.shape[-1]
                run_at(k["fwd_at"], *k["fwd_cols"], x.size, x.reshape(-1, C), bias, res.reshape(-1, C), pT)
            return res
    fname = "bias_act"
    kernel, p = _activation(fname, activation, params)
    arr, b, T, rdt, outer, C, inner = _bias_inputs(fname, x, bias, axis)
    res = _api._result(arr.shape, rdt, None, out, fname)
    if arr.size == 0:
        return res
    src = _contiguous(arr, T)
    bT = np.ascontiguousarray(b, dtype=T)
    dst, copy = _target(res, T, (arr, b) if src is arr else (b,))
    k = bias_act_kernels(kernel, T)
    pT = tuple(T(v) for v in p)
    _remember_bias(activation, params, arr, b, k, pT, T)
    if inner == 1:
        run_at(k["fwd_at"], *k["fwd_cols"], arr.size, src.reshape(outer, C), bT, dst.reshape(outer, C), pT)
    else:
        run_at(k["fwd_at"], *k["fwd_rows"], arr.size, src.reshape(outer * C, inner), bT,
               dst.reshape(outer * C, inner), 0, pT)
    if copy:
        res[...] = dst
    return res


def _bias_cols_backward(k, g, x, b, gx, pT):
    """gx on the (rows, C) layout, and the bias gradient: the float64 sum of
    the partial sums over the blocks of bias_block (one block runs serial),
    or, for a single row, gx's row itself."""
    outer, C = x.shape
    if outer == 1 and C > ONE_ROW_PIECE:
        # the float64 sums of one row would take twice the bytes of a
        # float32 gx: the row goes in pieces through one small buffer
        part = np.empty(ONE_ROW_PIECE, np.float64)
        g1, x1, gx1 = g.reshape(C), x.reshape(C), gx.reshape(C)
        for lo in range(0, C, ONE_ROW_PIECE):
            hi = min(lo + ONE_ROW_PIECE, C)
            w = (1, hi - lo)
            run_at(k["bwd_at"], *k["bwd_cols"], 0, g1[lo:hi].reshape(w), x1[lo:hi].reshape(w), b[lo:hi],
                   gx1[lo:hi].reshape(w), part[:hi - lo].reshape(w), 1, pT)
        return gx1
    blk = bias_block(outer, C)
    part = np.empty((-(-outer // blk), C), np.float64)
    run_at(k["bwd_at"], *k["bwd_cols"], x.size if len(part) > 1 else 0, g, x, b, gx, part, blk, pT)
    return part[0]


def bias_act_backward(grad, x, bias, activation, *, axis=-1, out=None, **params):
    """(grad_x, grad_bias) of bias_act: z = x + bias is recomputed,
    grad_x = activation'(z) * grad and grad_bias (bias's shape) is the sum of
    grad_x over every axis but ``axis``, accumulated in float64 in a fixed
    order (the result does not depend on the thread count).  out: an array
    for grad_x, or a tuple (grad_x, grad_bias)."""
    if out is None and type(grad) is np.ndarray and type(x) is np.ndarray and grad.dtype is x.dtype \
            and grad.shape == x.shape and grad.flags.c_contiguous:
        fast = _bias_fast(x, bias, activation, axis, params)
        if fast is not None:
            k, pT = fast
            res = np.empty(x.shape, x.dtype)
            if not x.size:
                return res, np.zeros(bias.shape, x.dtype)
            C = x.shape[-1]
            outer = x.size // C
            total = _bias_cols_backward(k, grad.reshape(outer, C), x.reshape(outer, C), bias,
                                        res.reshape(outer, C), pT)
            return res, total.astype(x.dtype)
    fname = "bias_act_backward"
    kernel, p = _activation(fname, activation, params)
    arr, b, T, rdt, outer, C, inner = _bias_inputs(fname, x, bias, axis)
    g = _api._asarray(grad, fname, "grad")
    _api._dtypes(g.dtype, fname)
    T, rdt = _api._dtypes(np.result_type(arr.dtype, b.dtype, g.dtype), fname)
    if g.shape != arr.shape:
        try:
            g = np.broadcast_to(g, arr.shape)
        except ValueError:
            raise ValueError(f"{fname}: grad of shape {g.shape} does not broadcast to x's shape {arr.shape}") from None
    if isinstance(out, tuple) and len(out) != 2:
        raise ValueError(f"{fname}: out must be an array or a tuple (grad_x, grad_bias)")
    out_x, out_b = out if isinstance(out, tuple) else (out, None)
    if out_x is not None:
        _api._check_out(out_x, arr.shape, rdt, fname, "out (grad_x)")
    if out_b is not None:
        _api._check_out(out_b, b.shape, rdt, fname, "out (grad_bias)")
    res = out_x if out_x is not None else np.empty(arr.shape, rdt)
    gb = out_b if out_b is not None else np.empty(b.shape, rdt)
    if arr.size == 0:
        gb[...] = 0
        return res, gb
    gs = _contiguous(g, T)
    xs = _contiguous(arr, T)
    bT = np.ascontiguousarray(b, dtype=T)
    dst, copy = _target(res, T, tuple(a for a, s in ((g, gs), (arr, xs)) if a is s) + (b,))
    k = bias_act_kernels(kernel, T)
    pT = tuple(T(v) for v in p)
    _remember_bias(activation, params, arr, b, k, pT, T, g)
    if inner == 1:
        total = _bias_cols_backward(k, gs.reshape(outer, C), xs.reshape(outer, C), bT, dst.reshape(outer, C), pT)
    else:
        part = np.empty(outer * C, np.float64)
        shape2 = (outer * C, inner)
        run_at(k["bwd_at"], *k["bwd_rows"], arr.size, gs.reshape(shape2), xs.reshape(shape2), bT,
               dst.reshape(shape2), part, 0, pT)
        total = part.reshape(outer, C).sum(axis=0)
    if copy:
        res[...] = dst
    gb[...] = total
    return res, gb


def _glu_layout(arr, axis, fname):
    ax = _axis(axis, arr.ndim, fname)
    n = arr.shape[ax]
    if n % 2:
        raise ValueError(f"{fname}: the length of axis {axis} must be even, got {n} (x of shape {arr.shape})")
    outer, inner = _api._outer_inner(arr.shape, ax)
    half = arr.shape[:ax] + (n // 2,) + arr.shape[ax + 1:]
    return half, (outer, 2, (n // 2) * inner)


def _glu_fast(x, axis):
    """x's layout (rows, 2, half) when glu and its backward take their fast
    path (a C-contiguous float32 or float64 array split along its last axis,
    of even length), else None."""
    if type(x) is np.ndarray and (x.dtype is _F32 or x.dtype is _F64) and x.ndim and type(axis) is int \
            and (axis == -1 or axis == x.ndim - 1) and not x.shape[-1] % 2 and x.flags.c_contiguous:
        n = x.shape[-1]
        return (x.size // n if n else 0, 2, n // 2)
    return None


def glu(x, axis=-1, *, out=None):
    """Gated linear unit (Dauphin et al. 2017), as PyTorch's F.glu: x split
    in two halves a, b along ``axis`` (its length must be even),
    a * sigmoid(b)."""
    shape3 = _glu_fast(x, axis) if out is None else None
    if shape3 is not None:
        res = np.empty(x.shape[:-1] + (shape3[2],), x.dtype)
        if res.size:
            (s, p), _ = glu_kernels(np.float32 if x.dtype is _F32 else np.float64)
            run(s, p, x.size, x.reshape(shape3), res.reshape(shape3[0], shape3[2]))
        return res
    fname = "glu"
    arr = _api._asarray(x, fname)
    T, rdt = _api._dtypes(arr.dtype, fname)
    if arr.ndim == 0:
        raise ValueError(f"{fname}: x must have at least one dimension")
    half, shape3 = _glu_layout(arr, axis, fname)
    res = _api._result(half, rdt, None, out, fname)
    if res.size == 0:
        return res
    src = _contiguous(arr, T)
    dst, copy = _target(res, T, (arr,) if src is arr else ())
    (s, p), _ = glu_kernels(T)
    run(s, p, arr.size, src.reshape(shape3), dst.reshape(shape3[0], shape3[2]))
    if copy:
        res[...] = dst
    return res


def glu_backward(grad, x, axis=-1, *, out=None):
    """Gradient of glu with respect to x (x's shape), from grad (the shape of
    glu's output) and the forward's input x: sigmoid(b) grad for the first
    half, a sigmoid(b) (1 - sigmoid(b)) grad for the second."""
    shape3 = _glu_fast(x, axis) if out is None and type(grad) is np.ndarray else None
    if shape3 is not None and grad.dtype is x.dtype and grad.flags.c_contiguous \
            and grad.shape == x.shape[:-1] + (shape3[2],):
        res = np.empty(x.shape, x.dtype)
        if res.size:
            _, (s, p) = glu_kernels(np.float32 if x.dtype is _F32 else np.float64)
            run(s, p, x.size, grad.reshape(shape3[0], shape3[2]), x.reshape(shape3), res.reshape(shape3))
        return res
    fname = "glu_backward"
    arr = _api._asarray(x, fname)
    g = _api._asarray(grad, fname, "grad")
    _api._dtypes(arr.dtype, fname)
    _api._dtypes(g.dtype, fname)
    T, rdt = _api._dtypes(np.result_type(arr.dtype, g.dtype), fname)
    if arr.ndim == 0:
        raise ValueError(f"{fname}: x must have at least one dimension")
    half, shape3 = _glu_layout(arr, axis, fname)
    if g.shape != half:
        try:
            g = np.broadcast_to(g, half)
        except ValueError:
            raise ValueError(f"{fname}: grad of shape {g.shape} does not broadcast to glu's output shape "
                             f"{half}") from None
    res = _api._result(arr.shape, rdt, None, out, fname)
    if res.size == 0:
        return res
    gs = _contiguous(g, T)
    xs = _contiguous(arr, T)
    dst, copy = _target(res, T, tuple(a for a, s in ((g, gs), (arr, xs)) if a is s))
    _, (s, p) = glu_kernels(T)
    run(s, p, arr.size, gs.reshape(shape3[0], shape3[2]), xs.reshape(shape3), dst.reshape(shape3))
    if copy:
        res[...] = dst
    return res


__all__ = ["bias_act", "bias_act_backward", "glu", "glu_backward"]

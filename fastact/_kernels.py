"""Loop templates and the builders that turn scalar definitions into serial
and parallel kernels, one set per dtype, compiled on first use.

Every template works on 1-D or 2-D C-contiguous arrays; ``_api`` flattens and
lays out the user's arrays before calling them.  A parallel kernel splits the
work into one contiguous range per thread and calls the *serial* kernel on
each range (out of line: _jit.not_inlined), so the inner loops are compiled
exactly as in the serial kernel and the two give bitwise identical results.
"""
import functools

import numpy as np

from . import _elementwise
from ._jit import REDUCE_FASTMATH, instantiate
from ._math import MATH


def _templates():
    _FP = None  # the cache fingerprint; see _jit.instantiate

    # -- PReLU ------------------------------------------------------------------
    # rows: x is (R, inner), row r uses w[r % C];  cols: x is (N, C), w along C.
    def prelu_rows(x, w, out):
        vector_width(_FP)
        C = w.shape[0]
        for r in range(x.shape[0]):
            wc = w[r % C]
            xr = x[r]
            orow = out[r]
            for j in range(xr.shape[0]):
                v = xr[j]
                orow[j] = v if v > ZERO else wc * v

    def prelu_cols(x, w, out):
        vector_width(_FP)
        for r in range(x.shape[0]):
            xr = x[r]
            orow = out[r]
            for c in range(xr.shape[0]):
                v = xr[c]
                orow[c] = v if v > ZERO else w[c] * v

    # in place (out is x): kernels of their own, see _map_templates
    def prelu_rows_ip(x, w):
        vector_width(_FP)
        C = w.shape[0]
        z = x.shape[0] >> 62  # see _jit.opaque_store_value
        for r in range(x.shape[0]):
            wc = w[r % C]
            xr = x[r]
            for j in range(xr.shape[0]):
                v = xr[j]
                xr[j] = opaque_store_value(v if v > ZERO else wc * v, z)

    def prelu_cols_ip(x, w):
        vector_width(_FP)
        z = x.shape[0] >> 62  # see _jit.opaque_store_value
        for r in range(x.shape[0]):
            xr = x[r]
            for c in range(xr.shape[0]):
                v = xr[c]
                xr[c] = opaque_store_value(v if v > ZERO else w[c] * v, z)

    # Few channels (cols): rows are joined TILE // C at a time into rows of
    # about TILE elements, the weight repeated to match, so that a row of 16
    # does not run its vector loop once and its scalar remainder every time.
    # Measured with the serial kernel on (4096, 16) float32: 19.9 us -> 9.5 us;
    # (4096, 3): 18.3 us -> 2.6 us; no change from 64 channels on.
    def prelu_cols_tiled(x, w, out):
        vector_width(_FP)
        n = x.shape[0]
        m, wt = join_plan(n, w)
        if m:
            cols(x[:m].reshape(-1, wt.shape[0]), wt, out[:m].reshape(-1, wt.shape[0]))
        if m < n:
            cols(x[m:], w, out[m:])

    def prelu_cols_ip_tiled(x, w):
        vector_width(_FP)
        n = x.shape[0]
        m, wt = join_plan(n, w)
        if m:
            cols(x[:m].reshape(-1, wt.shape[0]), wt)
        if m < n:
            cols(x[m:], w)

    def prelu_pcols_tiled(x, w, out):
        """The parallel prelu_cols_tiled: the weight repeated once, the
        joined rows (or, where rows are not joined, the rows themselves)
        split into blocks of about row_chunk's 8192 elements."""
        vector_width(_FP)
        n = x.shape[0]
        m, wt = join_plan(n, w)
        xj, oj, wj = x, out, w
        if m:
            xj = x[:m].reshape(-1, wt.shape[0])
            oj = out[:m].reshape(-1, wt.shape[0])
            wj = wt
        size = row_chunk(xj.shape[0], xj.shape[1])
        for c in prange((xj.shape[0] + size - 1) // size):
            lo = c * size
            hi = min(lo + size, xj.shape[0])
            cols(xj[lo:hi], wj, oj[lo:hi])
        if 0 < m < n:
            cols(x[m:], w, out[m:])

    def prelu_pcols_ip_tiled(x, w):
        vector_width(_FP)
        n = x.shape[0]
        m, wt = join_plan(n, w)
        xj, wj = x, w
        if m:
            xj = x[:m].reshape(-1, wt.shape[0])
            wj = wt
        size = row_chunk(xj.shape[0], xj.shape[1])
        for c in prange((xj.shape[0] + size - 1) // size):
            lo = c * size
            cols(xj[lo:min(lo + size, xj.shape[0])], wj)
        if 0 < m < n:
            cols(x[m:], w)

    def join_plan_tpl(n, w):
        """(m, wt): the first m of n rows are joined TILE // C at a time
        (m = 0: none), wt the weight repeated for a joined row."""
        vector_width(_FP)
        C = w.shape[0]
        t = TILE // C
        m = n // t * t if t >= 2 and n >= 2 * t else 0
        wt = np.empty((t if m else 0, C), w.dtype)
        for i in range(wt.shape[0]):
            wt[i] = w
        return m, wt.reshape(-1)

    def prelu_rows_bwd(g, x, w, gx, part):
        """gx and, per row, part[r] = sum of x*g over x <= 0."""
        vector_width(_FP)
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
        vector_width(_FP)
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
        vector_width(_FP)
        n = x.shape[0]
        for b in prange(part.shape[0]):
            r0 = b * BLOCK
            r1 = min(n, r0 + BLOCK)
            inner(g[r0:r1], x[r0:r1], w, gx[r0:r1], part[b:b + 1])

    # -- RReLU in training: noise holds U[0,1) draws and becomes the slopes ----
    def rrelu_train(x, noise, out, lower, width):
        vector_width(_FP)
        for i in range(x.shape[0]):
            v = x[i]
            s = ONE if v > ZERO else lower + width * noise[i]
            noise[i] = s
            out[i] = v * s

    def prrelu_train(x, noise, out, lower, width):
        vector_width(_FP)
        n = x.shape[0]
        size = chunk_size(n)
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            inner(x[lo:hi], noise[lo:hi], out[lo:hi], lower, width)

    return dict(locals())


def _map_templates():
    """The elementwise loop templates, written out from one pattern:

    map{k}{sfx}(inputs..., [out], [p])   out[i] = f(inputs[i]..., *p)
    pmap{k}{sfx}(...)                    the same over blocks, in parallel

    k is the number of inputs (1: forward, 2: backward); sfx is "" for
    kernels that take the tuple of parameters p, "_0" for those without (the
    dispatcher then types no tuple); and "_ip{j}" variants write the result
    over input j instead of into out.  In-place needs kernels of its own: with
    out the same array as an input, LLVM's check that they do not overlap
    fails and the loop runs unvectorized."""
    names = {1: ("x",), 2: ("a", "b")}
    lines = ["def make():", "    _FP = None"]
    for k, inputs in names.items():
        for params in (True, False):
            for target in (None,) + tuple(range(k)):
                sfx = ("" if params else "_0") + ("" if target is None else f"_ip{target}")
                dest = "out" if target is None else inputs[target]
                sig = list(inputs) + (["out"] if target is None else []) + (["p"] if params else [])
                call = ", ".join(f"{a}[i]" for a in inputs) + (", *p" if params else "")
                value = f"f({call})"
                # the parallel kernel calls it, see _jit.not_inlined
                head = [f"    def map{k}{sfx}({', '.join(sig)}):", "        vector_width(_FP)",
                        "        not_inlined(_FP)"]
                if target is not None:
                    # in place: see _jit.opaque_store_value
                    head.append(f"        z = {inputs[0]}.shape[0] >> 62")
                    value = f"opaque_store_value({value}, z)"
                lines += head + [f"        for i in range({inputs[0]}.shape[0]):",
                                 f"            {dest}[i] = {value}"]
                sliced = ", ".join(f"{a}[lo:hi]" for a in sig if a != "p") + (", p" if params else "")
                lines += [f"    def pmap{k}{sfx}({', '.join(sig)}):", "        vector_width(_FP)",
                          f"        n = {inputs[0]}.shape[0]", "        size = chunk_size(n)",
                          "        for c in prange((n + size - 1) // size):",
                          "            lo = c * size", "            hi = min(lo + size, n)",
                          f"            inner({sliced})"]
    lines.append("    return dict(locals())")
    ns = {}
    # compiled as from this file: Numba keeps the kernels' cache next to it
    exec(compile("\n".join(lines) + "\n", __file__, "exec"), ns)
    out = ns["make"]()
    out.pop("_FP")
    return out


TEMPLATES = {**_templates(), **_map_templates()}
PRELU_TILE = 512  # elements per joined row of PReLU's forward on few channels (see prelu_cols_tiled)
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


def _all_finite():
    from numba import njit

    @njit(nogil=True, cache=True, error_model="numpy")
    def all_finite(a):
        """Whether every element of a 1-D float array is finite."""
        ok = True
        for v in a:
            ok &= abs(v) < np.inf
        return ok

    return all_finite


all_finite = _all_finite()


def _common(T):
    M = MATH[T]
    ACC = np.float64  # sums of reductions are carried in float64
    return dict(T=T, ACC=ACC, ZERO=T(0), ONE=T(1), maxnum=M.maxnum, chunk_size=chunk_size, row_chunk=row_chunk)


def _tag(T):
    return {np.float32: "f32", np.float64: "f64"}[T]


@functools.cache
def elementwise(name, T):
    """(forward_serial, forward_parallel, backward_serial, backward_parallel)
    for the elementwise activation ``name``, built from ``_elementwise.<name>``.
    Kernels of an activation without parameters take (x, out) / (grad, v, out);
    the others take a tuple of parameters (of type T) last."""
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


@functools.cache
def elementwise_inplace(name, T, which, target):
    """(serial, parallel) kernels of the elementwise activation ``name``'s
    forward (which 0) or backward (1) that write over input ``target``."""
    fwd, bwd = getattr(_elementwise, name)(T, MATH[T])
    fn = (fwd, bwd)[which]
    suffix = ("" if fwd.__code__.co_argcount > 1 else "_0") + f"_ip{target}"
    tpl = f"map{which + 1}{suffix}"
    base = f"{name}_{_tag(T)}_{('forward', 'backward')[which]}_ip{target}"
    serial = instantiate(TEMPLATES[tpl], f"{base}_serial", dict(f=scalar_jit(fn)))
    parallel = instantiate(TEMPLATES["p" + tpl], f"{base}_parallel", dict(inner=serial, chunk_size=chunk_size),
                           parallel=True)
    return serial, parallel


def scalar_jit(fn):
    """A scalar definition of _elementwise, jitted.  Those marked
    ``inline = True`` (too big for LLVM's inlining budget: a call left in the
    loop would stop it from vectorizing) are inlined by Numba itself."""
    from numba import njit

    extra = {"inline": "always"} if getattr(fn, "inline", False) else {}
    return njit(nogil=True, error_model="numpy", **extra)(fn)


# the jitted helpers of _math's namespaces that cost no more than an
# arithmetic operation (fma, fabs and the like are intrinsics, not jitted)
_CHEAP_MATH = ("clamp",)


def _transcendental(T):
    """The jitted functions of MATH[T] but the cheap ones: those that
    evaluate an exp, log, tanh or erf, or a long polynomial (so that a
    function added to _math counts as heavy without being listed here)."""
    M = vars(MATH[T])
    assert all(hasattr(M.get(k), "py_func") for k in _CHEAP_MATH), _CHEAP_MATH
    return {f for k, f in M.items() if k not in _CHEAP_MATH and hasattr(f, "py_func")}


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


@functools.cache
def prelu(T):
    """dict of PReLU kernels, (serial, parallel) each: fwd_rows, fwd_cols,
    their in-place fwd_rows_ip, fwd_cols_ip, and bwd_rows, bwd_cols."""
    ns = _common(T)
    ns["BLOCK"] = PRELU_BLOCK
    k = {}
    join_plan = instantiate(TEMPLATES["join_plan_tpl"], f"prelu_join_plan_{_tag(T)}", dict(TILE=PRELU_TILE))
    for ip, driver in (("", _PRELU_TPL[0]), ("_ip", _PRELU_TPL[2])):
        s = instantiate(TEMPLATES[f"prelu_rows{ip}"], f"prelu_rows{ip}_{_tag(T)}_serial", ns)
        p = instantiate(driver, f"prelu_rows{ip}_{_tag(T)}_parallel",
                        dict(inner=s, row_chunk=row_chunk), parallel=True)
        k[f"fwd_rows{ip}"] = (s, p)
        cols = instantiate(TEMPLATES[f"prelu_cols{ip}"], f"prelu_cols{ip}_{_tag(T)}_inner", ns)
        tiles = dict(cols=cols, join_plan=join_plan, row_chunk=row_chunk)
        k[f"fwd_cols{ip}"] = (
            instantiate(TEMPLATES[f"prelu_cols{ip}_tiled"], f"prelu_cols{ip}_tiled_{_tag(T)}_serial", tiles),
            instantiate(TEMPLATES[f"prelu_pcols{ip}_tiled"], f"prelu_cols{ip}_tiled_{_tag(T)}_parallel", tiles,
                        parallel=True))
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
    """The parallel drivers of the rows kernels."""
    _FP = None

    def pfwd(x, w, out):
        vector_width(_FP)
        n = x.shape[0]
        C = w.shape[0]
        size = row_chunk(n, x.shape[1])
        size = (size + C - 1) // C * C  # keep r % C aligned with the global row index
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            inner(x[lo:hi], w, out[lo:hi])

    def prows_bwd(g, x, w, gx, part):
        vector_width(_FP)
        n = x.shape[0]
        C = w.shape[0]
        size = row_chunk(n, x.shape[1])
        size = (size + C - 1) // C * C  # keep r % C aligned with the global row index
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            inner(g[lo:hi], x[lo:hi], w, gx[lo:hi], part[lo:hi])

    def pfwd_ip(x, w):
        vector_width(_FP)
        n = x.shape[0]
        C = w.shape[0]
        size = row_chunk(n, x.shape[1])
        size = (size + C - 1) // C * C  # keep r % C aligned with the global row index
        for c in prange((n + size - 1) // size):
            lo = c * size
            hi = min(lo + size, n)
            inner(x[lo:hi], w)

    return pfwd, prows_bwd, pfwd_ip


_PRELU_TPL = _prelu_templates()


@functools.cache
def rrelu_train(T):
    ns = _common(T)
    s = instantiate(TEMPLATES["rrelu_train"], f"rrelu_train_{_tag(T)}_serial", ns)
    p = instantiate(TEMPLATES["prrelu_train"], f"rrelu_train_{_tag(T)}_parallel",
                    dict(inner=s, chunk_size=chunk_size), parallel=True)
    return s, p

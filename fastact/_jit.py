"""The one place that wraps Numba: compile options, kernel instantiation,
serial/parallel choice, thread count and the threading layer.

Kernels are written once as plain Python *templates* (loops over 1-D arrays
that call a scalar function ``f``).  ``instantiate`` turns a template into a
Numba dispatcher by giving its code object a globals dict of its own (``f``,
the math functions of one dtype, ...).  Nothing is compiled until a kernel is
first called; compiled code is cached on disk (``cache=True``).

Why not closures: Numba keys its on-disk cache on the pickled closure
variables, and a pickled dispatcher carries a per-process id, so a closure
over a jitted function would miss the cache in every new process.  The
template's only free variable is a fingerprint of fastact's source, the
Numba version and the vector width, so editing any kernel source
invalidates the cache.  Every template starts with ``vector_width(_FP)``,
which sets the width LLVM vectorizes its loops with (VECTOR_WIDTH below).
"""
import functools
import hashlib
import os
import threading
import types as pytypes
from contextlib import contextmanager

import numba
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# Compile options shared by every kernel.  No fast-math flags on elementwise
# kernels: NaN/inf handling and the range reductions in _math need strict
# IEEE semantics.  error_model="numpy" removes Python's division checks, which
# would otherwise block vectorization.
JIT_OPTIONS = dict(nogil=True, cache=True, error_model="numpy")
# The only fast-math flag used anywhere: reassociation of the sums in
# reductions (softmax denominators, gradient sums), so they vectorize.  It
# leaves NaN and inf semantics alone (no nnan/ninf).
REDUCE_FASTMATH = frozenset({"reassoc"})

# Arrays with fewer elements than this run on the serial kernel (PReLU,
# RReLU's training draw, the cross-entropy and the fused kernels; the
# softmax family from ROWS_THRESHOLD below).
# Elementwise activations use ``elementwise_threshold``.  Measured with
# bench/threshold.py (docs/benchmarks.md): below it the thread launch costs
# more than the second core saves.
PARALLEL_THRESHOLD = 1 << 15

# The softmax family's row kernels (not the cross-entropy) go parallel
# earlier: python -m bench.threshold --functions softmax,softmin,log_softmax
# --sizes 12-16 (rows of 1024, 2 cores), serial time / parallel time over the
# twelve kernels (forward and backward, float32 and float64), two runs:
#   2^13: 0.75 to 1.09   2^13.6: 0.97 to 1.60   2^14: 1.03 to 1.75
# best threshold 12288 (geometric-mean slowdown 1.007x against the better
# kernel at each size), as a power of two 2^14 (1.018x to 1.026x); PReLU and
# RReLU measured the same way stay at 2^15 (1.016x).
ROWS_THRESHOLD = 1 << 14

# Elementwise kernels: where a parallel run (blocks of _kernels.BLOCK = 8192
# elements, so at least two blocks) beats the serial one.  Measured on 2 cores
# (serial time / parallel time, fastact.config(mode=...), float32):
#   relu      2^14: 0.76  2^15: 0.93  2^16: 1.06  2^17: 1.19   (memory-bound)
#   sigmoid   2^13: 0.81  2^14: 1.26  2^15: 1.41               (exp per element)
#   mish      2^13: 0.85  2^14: 1.55  2^15: 1.65
# (float64 relu crosses at 2^15).  So: kernels that evaluate an exp, log or
# tanh go parallel from two blocks; the others from 256 KiB of input.
# (_kernels.elementwise_heavy tells them apart.  It once missed the helpers
# it did not list, so the forwards of sigmoid, silu and float32 gelu and the
# backwards of silu, logsigmoid and softplus ran serial up to 256 KiB (2^16
# float32, 2^15 float64 elements); measured on them, with out=, serial /
# parallel at 2^14: 1.09 to 1.88, but silu backward float32 0.96 (1.01 at
# 2^15); at 2^13: 0.60 to 0.98.)
HEAVY_THRESHOLD = 1 << 14
LIGHT_THRESHOLD_BYTES = 1 << 18


def elementwise_threshold(heavy, itemsize):
    """Elements from which an elementwise kernel runs in parallel."""
    return HEAVY_THRESHOLD if heavy else max(HEAVY_THRESHOLD, LIGHT_THRESHOLD_BYTES // itemsize)


# The width of the vector registers the loops are vectorized with.  On CPUs
# with AVX-512, LLVM vectorizes with 256-bit registers unless told otherwise
# (older Xeons lower their clock on 512-bit code); fastact asks for 512 bits
# there.  Measured with python -m bench.scaling --threads 1,2 --sizes 20
# --functions gelu,silu,tanh,sigmoid,softmax,log_softmax,softplus,relu,mish
# on a 16-core Xeon (Emerald Rapids), float32, 2^20 elements: the median
# over those 18 kernels of PyTorch's time / fastact's went from 0.71x to
# 0.97x on one thread and from 0.77x to 0.97x on two (gelu forward 0.20x to
# 0.29x, softmax forward 0.52x to 0.84x, softplus forward 0.74x to 1.23x).
# CPUs without AVX-512 are unaffected.  FASTACT_VECTOR_WIDTH chooses:
# "auto" (the default: 512 where the host has AVX-512F and NUMBA_CPU_NAME
# names no other target), "128", "256", "512", or "llvm" for LLVM's choice.
VECTOR_WIDTHS = ("auto", "llvm", "128", "256", "512")


def _host_has_avx512():
    try:
        import llvmlite.binding as llvm

        return bool(llvm.get_host_cpu_features().get("avx512f"))
    except Exception:  # no feature detection on this platform: leave LLVM's choice
        return False


def vector_width_setting(value=None):
    """The vector width in bits that FASTACT_VECTOR_WIDTH (or value) asks
    for, or None for LLVM's own choice."""
    if value is None:
        value = os.environ.get("FASTACT_VECTOR_WIDTH", "auto")
    value = str(value).strip().lower() or "auto"
    if value not in VECTOR_WIDTHS:
        raise ValueError(f"FASTACT_VECTOR_WIDTH must be one of {', '.join(VECTOR_WIDTHS)}, got {value!r}")
    if value == "auto":
        return 512 if not numba.config.CPU_NAME and _host_has_avx512() else None
    return None if value == "llvm" else int(value)


VECTOR_WIDTH = vector_width_setting()


@intrinsic
def vector_width(typingctx, fingerprint):
    """vector_width(_FP) at the top of a template: LLVM vectorizes the
    template's loops with VECTOR_WIDTH-bit registers (the function
    attributes "prefer-vector-width" and "min-legal-vector-width"; the
    second carries over to a caller that the function is inlined into).
    Emits no code."""
    def codegen(context, builder, signature, args):
        attrs = builder.function.attributes
        # llvmlite's attribute set (a subclass of set in llvmlite 0.50)
        # accepts only keyword attributes; a string attribute added past its
        # check is written out as given.  Should that change, the width
        # stays LLVM's.
        if VECTOR_WIDTH and isinstance(attrs, set):
            for name in ("prefer-vector-width", "min-legal-vector-width"):
                set.add(attrs, f'"{name}"="{VECTOR_WIDTH}"')
        return context.get_dummy_value()

    return types.none(fingerprint), codegen


@intrinsic
def not_inlined(typingctx, fingerprint):
    """not_inlined(_FP) in a template: LLVM never inlines the function into
    a caller (the attribute "noinline").  Emits no code.

    The parallel elementwise kernels call the serial one on each block.
    Inlined into the parallel loop's body, some of the serial loops were
    compiled with fewer registers to spare, reloading their constants on
    every iteration: silu's float32 backward took 1.34 ns per element in the
    parallel kernel on one thread against 1.09 ns in the serial one, selu's
    forward 0.87 against 0.68 (2^18 elements, AMD Zen3, AVX2).  Called
    instead, the parallel kernel runs the serial kernel's own code: 1.10 and
    0.69 ns, the others within noise."""
    def codegen(context, builder, signature, args):
        builder.function.attributes.add("noinline")
        return context.get_dummy_value()

    return types.none(fingerprint), codegen


@intrinsic
def opaque_store_value(typingctx, value, zero):
    """value, bit for bit, for a store over the element it was computed from
    (``x[i] = opaque_store_value(f(x[i]), z)``, z an integer 0 that LLVM
    cannot prove to be 0, such as ``n >> 62`` for an array length n).

    Where f returns its argument on part of its range (relu's x > 0), LLVM
    sees that the store there writes back what was loaded and stores only the
    other elements: a masked store (vmaskmovps), three to five times slower
    than a plain one on AMD Zen.  Or-ing the result's bits with z hides the
    equality and costs one vector or."""
    if not isinstance(value, types.Float) or not isinstance(zero, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        v, z = args
        ity = ir.IntType(value.bitwidth)
        if zero.bitwidth > value.bitwidth:
            z = builder.trunc(z, ity)
        elif zero.bitwidth < value.bitwidth:
            z = builder.zext(z, ity)
        bits = builder.or_(builder.bitcast(v, ity), z)
        return builder.bitcast(bits, context.get_value_type(value))

    return value(value, zero), codegen


_HERE = os.path.dirname(os.path.abspath(__file__))


# The sources that compiled kernels depend on.
KERNEL_SOURCES = ("_math.py", "_erf_data.py", "_elementwise.py", "_kernels.py", "_softmax.py", "_fused.py",
                  "_registry.py", "_jit.py")


@functools.cache
def fingerprint():
    """Hash of fastact's kernel sources, the Numba version and the vector width."""
    h = hashlib.sha256(f"{numba.__version__} vector width {VECTOR_WIDTH}".encode())
    for name in KERNEL_SOURCES:
        with open(os.path.join(_HERE, name), "rb") as fh:
            h.update(name.encode() + fh.read())
    return h.hexdigest()[:16]


def _cell(value):
    return pytypes.CellType(value)


def instantiate(template, name, namespace, parallel=False, fastmath=False, inline=False):
    """A lazily compiled, disk-cached dispatcher running ``template`` with
    ``namespace`` as its globals.  ``name`` must be unique per kernel: it names
    the cache files.  inline: Numba inlines the function's own code into its
    callers (a small helper called per row: left to LLVM, a call of
    sum_less_one per row made float32 log_softmax 1.17x slower on rows of
    64)."""
    code = template.__code__
    if code.co_freevars != ("_FP",):
        raise RuntimeError(f"template {template.__name__} must close over _FP only")
    g = {"np": np, "numba": numba, "prange": numba.prange, "range": range, "vector_width": vector_width,
         "opaque_store_value": opaque_store_value, "not_inlined": not_inlined}
    g.update(namespace)
    fn = pytypes.FunctionType(code, g, name, template.__defaults__, (_cell(fingerprint()),))
    fn.__qualname__ = name
    fn.__module__ = __name__
    fn.__doc__ = template.__doc__
    opts = dict(JIT_OPTIONS)
    if fastmath:
        opts["fastmath"] = set(fastmath)
    if inline:
        opts["inline"] = "always"
    return njit(parallel=parallel, **opts)(fn)


# ---------------------------------------------------------------------------
# Execution settings: serial / parallel / auto, thread count


class _Settings(threading.local):
    mode = "auto"


_settings = _Settings()
_MODES = ("auto", "serial", "parallel")

# The public functions' fast paths (objects with suspend() and resume()) run
# a serial kernel directly, without looking at the settings of the calling
# thread; while a config() block is active in any thread they are suspended.
_fast_paths = []
_active = 0
_active_lock = threading.Lock()


def register_fast_path(obj):
    with _active_lock:
        _fast_paths.append(obj)
        if _active:
            obj.suspend()


def _enter_config():
    global _active
    with _active_lock:
        _active += 1
        if _active == 1:
            for obj in _fast_paths:
                obj.suspend()


def _exit_config():
    global _active
    with _active_lock:
        _active -= 1
        if _active == 0:
            for obj in _fast_paths:
                obj.resume()


def get_mode():
    return _settings.mode


@contextmanager
def config(mode=None, threads=None):
    """Set fastact's execution for a block of code (this thread only).

    mode: "auto" (serial below a measured size, parallel above), "serial" or
    "parallel".  threads: the number of threads of the parallel kernels
    (``numba.set_num_threads``), at most ``numba.config.NUMBA_NUM_THREADS``.
    """
    if mode is not None and mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if threads is not None:
        limit = numba.config.NUMBA_NUM_THREADS
        if not isinstance(threads, (int, np.integer)) or not 1 <= threads <= limit:
            raise ValueError(f"threads must be an integer in [1, {limit}], got {threads!r}")
    old_mode, old_threads = _settings.mode, numba.get_num_threads()
    _enter_config()
    try:
        if mode is not None:
            _settings.mode = mode
        if threads is not None:
            numba.set_num_threads(int(threads))
        yield
    finally:
        try:
            _settings.mode = old_mode
            numba.set_num_threads(old_threads)
        finally:
            _exit_config()


# The workqueue threading layer cannot run two parallel regions at once: a
# second thread that finds it busy runs the serial kernel instead.
_workqueue_lock = threading.Lock()
_layer = None


def use_parallel(size, threshold=PARALLEL_THRESHOLD):
    """Whether a kernel of size elements runs in parallel.  (With one thread
    (numba.set_num_threads(1)) the parallel kernel runs on that thread: the
    same results, a microsecond or two of launch more; asking Numba for the
    thread count on every call would cost as much.)"""
    mode = _settings.mode
    if mode == "serial":
        return False
    if mode == "parallel":
        return True
    return size >= threshold


def run(serial, parallel, size, *args):
    """Run the serial or the parallel kernel on args, by size and settings."""
    return run_at(PARALLEL_THRESHOLD, serial, parallel, size, *args)


def run_at(threshold, serial, parallel, size, *args):
    """run() with the parallel threshold given."""
    if size < threshold and _settings.mode == "auto" or not use_parallel(size, threshold):
        return serial(*args)
    if _layer is None or _layer == "workqueue":
        if not _workqueue_lock.acquire(blocking=False):
            return serial(*args)
        try:
            result = parallel(*args)
            _note_layer()
            return result
        finally:
            _workqueue_lock.release()
    return parallel(*args)


def _note_layer():
    global _layer
    try:
        _layer = numba.threading_layer()
    except ValueError:
        _layer = None


def threading_layer():
    """The Numba threading layer in use (starts it with a tiny parallel run)."""
    if _layer is None:
        with _workqueue_lock:  # the workqueue layer runs one parallel region at a time
            _probe(np.zeros(4))
            _note_layer()
    return _layer


@njit(parallel=True, cache=True)
def _probe(a):
    for i in numba.prange(a.size):
        a[i] += 1.0
    return a

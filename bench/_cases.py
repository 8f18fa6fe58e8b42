"""The benchmark matrix, generated from ``fastact.ACTIVATIONS``.

A :class:`Case` is one timed call: an activation, a direction (forward or
backward), a dtype, an input shape, an implementation and, for fastact's
forwards on large arrays, where the result goes (``variant``).  Every
activation in the table is benchmarked without any per-function code here;
the only per-kind knowledge is the input layout (:func:`layout`).

The smoke run (plain ``pytest``) uses a few sizes; ``--bench-full`` (or
FASTACT_BENCH_FULL=1) sweeps 2**4 .. 2**24, and ``--huge`` (or
FASTACT_BENCH_HUGE=1) adds 2**27.
"""
import math
from dataclasses import dataclass

from fastact import ACTIVATIONS

DIRECTIONS = ("forward", "backward")
DTYPES = ("float32", "float64")

# log2 of the element counts of the size sweep
SMOKE_LOG2 = (4, 16)
FULL_LOG2 = tuple(range(4, 25, 2))
HUGE_LOG2 = 27
# dtypes and implementations benchmarked at the huge size (float64 arrays of
# 2**27 need 1 GiB each; the NumPy references take seconds per call there)
HUGE_DTYPES = ("float32",)
HUGE_IMPLS = ("fastact", "torch")
# The NumPy references run up to this size only: above it the erf-based ones
# take minutes per call (the NumPy targets are at 2^20)
NUMPY_MAX_LOG2 = 22

# softmax-kind activations are also timed on these (rows, row length) shapes
SOFTMAX_SHAPES = ((32, 10), (256, 1000), (4096, 1000), (64, 50257))
SMOKE_SOFTMAX_SHAPES = ((32, 10), (256, 1000))

PRELU_CHANNELS = 16  # the size sweep runs PReLU on (n / 16, 16) with a weight per channel
SOFTMAX_ROW = 1024  # ... and softmax on rows of 1024 (or of n, when n is smaller)

# fastact (automatic dispatch), fastact forced serial / parallel, the peers.
IMPLS = ("fastact", "fastact-serial", "fastact-parallel", "numpy", "torch")
FASTACT_MODES = {"fastact": "auto", "fastact-serial": "serial", "fastact-parallel": "parallel"}
# Plain NumPy one-liners timed beside the reference, keyed by (activation, direction).
NUMPY_ONE_LINERS = {("relu", "forward"): "np.maximum(x, 0)"}
ONE_LINER_IMPL = "numpy-ufunc"

# Where fastact's forward writes: a new array (as NumPy and PyTorch do), a
# preallocated out=, or x itself.  out= and in-place run from this size up.
VARIANTS = ("alloc", "out", "inplace")
VARIANT_MIN_LOG2 = 16

COPY_IMPLS = ("prange", "copyto")  # the bandwidth roof: a Numba prange copy and np.copyto


def layout(kind, n):
    """The input shape of an activation of this kind for a sweep of n elements."""
    if kind == "prelu" and n >= PRELU_CHANNELS:
        return (n // PRELU_CHANNELS, PRELU_CHANNELS)
    if kind == "softmax":
        row = min(n, SOFTMAX_ROW)
        return (n // row, row)
    return (n,)


def label_of(log2, shape):
    return f"2^{log2}" if log2 is not None else "x".join(map(str, shape))


@dataclass(frozen=True)
class Case:
    function: str
    direction: str
    dtype: str
    shape: tuple
    impl: str
    variant: str = "alloc"
    log2: int = None  # the sweep's size, None for the softmax shapes

    @property
    def entry(self):
        return ACTIVATIONS[self.function]

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def label(self):
        return label_of(self.log2, self.shape)

    @property
    def group(self):
        """pytest-benchmark group: fastact and its peers on the same work."""
        return f"{self.function}.{self.direction} {self.dtype} {self.label}"

    @property
    def id(self):
        suffix = "" if self.variant == "alloc" else f"-{self.variant}"
        return f"{self.function}-{self.direction}-{self.dtype}-{self.label}-{self.impl}{suffix}"

    @property
    def arrays(self):
        """Arrays of the input's size read or written: x and y forward, grad, x or y and dx backward."""
        return 2 if self.direction == "forward" else 3

    @property
    def nbytes(self):
        from numpy import dtype

        return self.arrays * self.size * dtype(self.dtype).itemsize

    @property
    def huge(self):
        return self.log2 is not None and self.log2 >= HUGE_LOG2

    def info(self):
        """What the report needs, stored in pytest-benchmark's extra_info."""
        return dict(function=self.function, direction=self.direction, dtype=self.dtype,
                    shape=list(self.shape), size=self.size, log2=self.log2, label=self.label,
                    impl=self.impl, variant=self.variant, nbytes=self.nbytes)


@dataclass(frozen=True)
class CopyCase:
    dtype: str
    size: int
    impl: str
    log2: int = None

    @property
    def label(self):
        return f"2^{self.log2}" if self.log2 is not None else f"n={self.size}"

    @property
    def group(self):
        return f"copy {self.dtype} {self.label}"

    @property
    def id(self):
        return f"copy-{self.dtype}-{self.label}-{self.impl}"

    @property
    def nbytes(self):
        from numpy import dtype

        return 2 * self.size * dtype(self.dtype).itemsize

    @property
    def huge(self):
        return self.log2 is not None and self.log2 >= HUGE_LOG2

    def info(self):
        return dict(function="copy", direction="forward", dtype=self.dtype, size=self.size,
                    log2=self.log2, label=self.label, impl=self.impl, variant="out",
                    nbytes=self.nbytes)


def parse_log2(spec):
    """'4-24' (every power), '4-24:2' (every other), '4,10,20' or a mix -> sorted log2 sizes."""
    out = set()
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        rng, _, step = part.partition(":")
        lo, _, hi = rng.partition("-")
        lo = int(lo)
        hi = int(hi) if hi else lo
        out.update(range(lo, hi + 1, int(step) if step else 1))
    return tuple(sorted(out))


def _names(spec, allowed, what):
    if not spec:
        return tuple(allowed)
    names = tuple(s.strip() for s in spec.split(",") if s.strip())
    bad = [n for n in names if n not in allowed]
    if bad:
        raise ValueError(f"unknown {what} {bad}; choose from {list(allowed)}")
    return names


@dataclass(frozen=True)
class Selection:
    """Which part of the matrix to run."""
    log2: tuple = SMOKE_LOG2
    shapes: tuple = SMOKE_SOFTMAX_SHAPES
    functions: tuple = tuple(ACTIVATIONS)
    directions: tuple = DIRECTIONS
    dtypes: tuple = DTYPES
    impls: tuple = IMPLS + (ONE_LINER_IMPL,)
    variants: tuple = VARIANTS
    huge: bool = False

    @classmethod
    def from_options(cls, full=False, huge=False, sizes=None, functions=None, directions=None,
                     dtypes=None, impls=None, shapes=None):
        log2 = parse_log2(sizes) if sizes else (FULL_LOG2 if full else SMOKE_LOG2)
        if shapes is None:
            shapes = SOFTMAX_SHAPES if full else SMOKE_SOFTMAX_SHAPES
        elif isinstance(shapes, str):
            shapes = tuple(tuple(int(d) for d in s.split("x")) for s in shapes.split(",") if s) \
                if shapes not in ("none", "") else ()
        return cls(
            log2=log2, shapes=tuple(shapes),
            functions=_names(functions, ACTIVATIONS, "function"),
            directions=_names(directions, DIRECTIONS, "direction"),
            dtypes=_names(dtypes, DTYPES, "dtype"),
            impls=_names(impls, IMPLS + (ONE_LINER_IMPL,), "implementation"),
            huge=huge,
        )

    def _sizes(self, dtype):
        sizes = [(k, None) for k in self.log2]
        if self.huge and dtype in HUGE_DTYPES and HUGE_LOG2 not in self.log2:
            sizes.append((HUGE_LOG2, None))
        return sizes

    def cases(self):
        """Every Case, grouped by dtype and size so that inputs can be reused."""
        out = []
        for dtype in self.dtypes:
            work = [(k, None) for k, _ in self._sizes(dtype)] + [(None, s) for s in self.shapes]
            for log2, shape in work:
                for name in self.functions:
                    kind = ACTIVATIONS[name].kind
                    if shape is not None and kind != "softmax":
                        continue
                    shp = layout(kind, 1 << log2) if shape is None else tuple(shape)
                    for direction in self.directions:
                        for impl in self.impls:
                            if impl == ONE_LINER_IMPL and (name, direction) not in NUMPY_ONE_LINERS:
                                continue
                            if log2 is not None and log2 >= HUGE_LOG2 and impl not in HUGE_IMPLS:
                                continue
                            if log2 is not None and log2 > NUMPY_MAX_LOG2 and impl == "numpy":
                                continue
                            out.append(Case(name, direction, dtype, shp, impl, "alloc", log2))
                        if direction == "forward" and "fastact" in self.impls and log2 is not None \
                                and log2 >= VARIANT_MIN_LOG2:
                            for variant in self.variants:
                                if variant != "alloc":
                                    out.append(Case(name, direction, dtype, shp, "fastact", variant, log2))
        return out

    def copy_cases(self):
        out = []
        for dtype in self.dtypes:
            sizes = {1 << k: k for k, _ in self._sizes(dtype)}
            for s in self.shapes:
                if any(ACTIVATIONS[f].kind == "softmax" for f in self.functions):
                    sizes.setdefault(math.prod(s), None)
            for size, log2 in sorted(sizes.items()):
                out += [CopyCase(dtype, size, impl, log2) for impl in COPY_IMPLS]
        return out

"""Generate fastact's documentation pages from the activation table.

    python tools/gen_docs.py              # the pages as committed (a few minutes on 2 cores)
    python tools/gen_docs.py --stride 64  # a 4x denser float32 sweep (67M values), 4x slower
    python tools/gen_docs.py --quick      # thin sweeps (about 30 s), for trying out the pages

Writes, from ``fastact.ACTIVATIONS`` (one page per entry, nothing per function
written here apart from the TEMPORARY dicts below):

* ``docs/functions/<name>.md``: definition, parameters, conventions (measured
  on fastact itself, and compared with PyTorch when it is installed),
  accuracy, and a figure ``docs/img/fn_<name>.png`` drawn from fastact's own
  forward and backward outputs;
* ``docs/accuracy.md``: worst ulp errors against the NumPy references of
  ``fastact.reference`` evaluated in ``np.longdouble`` on the same inputs;
* ``docs/conventions.md`` and ``docs/index.md``.

The output is deterministic: every sample comes from fixed seeds, the
measurement runs fastact's serial kernels (the parallel ones give bitwise
identical results), and the figures carry no timestamp.
"""
import argparse
import inspect
import math
import multiprocessing
import os
import pickle
import sys
import time

import mpmath
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import fastact as fa  # noqa: E402
from fastact import _softmax, reference as R  # noqa: E402
from fastact.testing import (EXACT_BITS, GRAD_ZERO_RADIUS, HIGH, backward_error_near_zeros, from_hp,  # noqa: E402
                             near_grad_zeros, to_hp, ulp_error)

ACTIVATIONS = fa.ACTIVATIONS
DOCS = os.path.join(ROOT, "docs")
COMMAND = "python tools/gen_docs.py"

# ---------------------------------------------------------------------------
# TEMPORARY: fields the table in fastact/_registry.py does not have yet.
# Proposed as Activation fields `description` and `reference`; once the table
# has them, delete these dicts (the generator reads `getattr(entry, field)`
# first and falls back to these).

TEMPORARY_DESCRIPTION = {
    "sigmoid": "The classic squashing nonlinearity. Its derivative is at most 1/4 (at x = 0) and decays "
               "like exp(-|x|), so gradients vanish through saturated units; today it is used mostly "
               "for gates and for binary-probability outputs.",
    "tanh": "A rescaled sigmoid, tanh(x) = 2 sigmoid(2x) - 1, centred on zero. Its derivative is 1 "
            "at x = 0 and saturates like sigmoid's for large |x|.",
    "relu": "The identity for positive inputs and zero otherwise. Its gradient is exactly 1 on the "
            "positive side, so it does not saturate there, and exactly 0 on the negative side, which "
            "makes activations sparse but can leave units that never activate again (\"dead\" units).",
    "leaky_relu": "ReLU with a small fixed slope on the negative side, so that negative inputs still "
                  "pass a gradient. The default slope is 0.01; Xu et al. (2015) found a larger one "
                  "(1/5.5) worked better in their experiments.",
    "elu": "Identity for positive inputs and a smooth exponential that saturates at -alpha for "
           "negative ones. Negative outputs pull the mean activation towards zero; with alpha = 1 "
           "the function is continuously differentiable at 0.",
    "prelu": "Leaky ReLU whose negative slope is a learned parameter, one per channel or one shared "
             "by all. He et al. (2015) initialise the slopes at 0.25 and train them with the "
             "network's other weights (without weight decay).",
    "rrelu": "Leaky ReLU whose negative slope is drawn at random for every element during training "
             "and fixed to the mean slope at evaluation time; the randomness acts as a regulariser.",
    "softmax": "Turns a vector of scores into a probability vector (positive entries summing to 1). "
               "It is invariant to adding a constant to every entry, which is why the maximum can "
               "be subtracted first without changing the result.",
    "log_softmax": "The logarithm of softmax, the natural input of a negative-log-likelihood loss. "
                   "Computing it directly avoids the underflow of log(softmax(x)) for very "
                   "unlikely classes (log_softmax([0, -1000]) is [0, -1000], not [0, -inf]).",
    "silu": "x gated by its own sigmoid: close to ReLU for large |x|, but smooth and non-monotonic, with "
            "a minimum of about -0.278 near x = -1.278. Known as swish (with beta = 1).",
    "softplus": "A smooth approximation of ReLU, log(1 + e^x); its derivative is the sigmoid. beta "
                "sharpens the corner (beta -> inf gives ReLU); above `threshold` (in beta x) the function "
                "is taken to be linear, as in PyTorch.",
    "mish": "x tanh(softplus(x)): smooth, non-monotonic, unbounded above and bounded below (minimum "
            "about -0.309), similar in shape to SiLU.",
    "selu": "ELU scaled by fixed constants chosen so that, for suitably initialised fully connected "
            "networks, activations keep zero mean and unit variance from layer to layer "
            "(self-normalisation).",
    "celu": "A reparametrisation of ELU, alpha (exp(x / alpha) - 1) on the negative side, whose "
            "derivative is 1 at 0 from both sides for every alpha.",
    "relu6": "ReLU clipped at 6, used in mobile networks where a bounded range suits low-precision "
             "arithmetic.",
    "hardtanh": "A piecewise-linear stand-in for tanh: the identity between min_val and max_val, constant "
                "outside, with zero gradient there.",
    "hardsigmoid": "A piecewise-linear stand-in for sigmoid, cheap to evaluate: x / 6 + 1/2 clipped to "
                   "[0, 1] (PyTorch's form).",
    "hardswish": "x hardsigmoid(x), a piecewise-polynomial stand-in for SiLU/swish used in MobileNetV3.",
    "softsign": "A squashing function like tanh, x / (1 + |x|), whose tails approach ±1 polynomially "
                "rather than exponentially.",
    "logsigmoid": "log(sigmoid(x)), computed without overflow or underflow; its negative is the "
                  "logistic loss of a positive example.",
    "threshold": "The identity above a threshold, a constant value at or below it (PyTorch's "
                 "F.threshold); the function jumps at the threshold unless value equals it.",
}

TEMPORARY_REFERENCE = {
    "sigmoid": "",
    "tanh": "",
    "relu": "V. Nair and G. E. Hinton, *Rectified Linear Units Improve Restricted Boltzmann Machines*, "
            "ICML 2010.",
    "leaky_relu": "A. L. Maas, A. Y. Hannun and A. Y. Ng, *Rectifier Nonlinearities Improve Neural "
                  "Network Acoustic Models*, ICML 2013 workshop.",
    "elu": "D.-A. Clevert, T. Unterthiner and S. Hochreiter, *Fast and Accurate Deep Network Learning "
           "by Exponential Linear Units (ELUs)*, ICLR 2016.",
    "prelu": "K. He, X. Zhang, S. Ren and J. Sun, *Delving Deep into Rectifiers: Surpassing "
             "Human-Level Performance on ImageNet Classification*, ICCV 2015.",
    "rrelu": "B. Xu, N. Wang, T. Chen and M. Li, *Empirical Evaluation of Rectified Activations in "
             "Convolutional Network*, 2015 (arXiv:1505.00853).",
    "softmax": "",
    "log_softmax": "",
    "silu": "S. Elfwing, E. Uchibe and K. Doya, *Sigmoid-Weighted Linear Units for Neural Network Function "
            "Approximation in Reinforcement Learning*, Neural Networks 2018; P. Ramachandran, B. Zoph and "
            "Q. V. Le, *Searching for Activation Functions*, 2017 (swish).",
    "softplus": "C. Dugas, Y. Bengio, F. Bélisle, C. Nadeau and R. Garcia, *Incorporating Second-Order "
                "Functional Knowledge for Better Option Pricing*, NIPS 2000.",
    "mish": "D. Misra, *Mish: A Self Regularized Non-Monotonic Activation Function*, 2019 (arXiv:1908.08681).",
    "selu": "G. Klambauer, T. Unterthiner, A. Mayr and S. Hochreiter, *Self-Normalizing Neural Networks*, "
            "NeurIPS 2017.",
    "celu": "J. T. Barron, *Continuously Differentiable Exponential Linear Units*, 2017 (arXiv:1704.07483).",
    "relu6": "",
    "hardtanh": "",
    "hardsigmoid": "A. Howard et al., *Searching for MobileNetV3*, ICCV 2019 (the x / 6 + 1/2 form).",
    "hardswish": "A. Howard et al., *Searching for MobileNetV3*, ICCV 2019.",
    "softsign": "X. Glorot and Y. Bengio, *Understanding the Difficulty of Training Deep Feedforward Neural "
                "Networks*, AISTATS 2010.",
    "logsigmoid": "",
    "threshold": "",
}


def field_of(entry, name, fallback):
    value = getattr(entry, name, None)
    return value if value else fallback.get(entry.name, "")


# ---------------------------------------------------------------------------
# Bounds and sweeps

BOUND = {np.dtype(np.float32): 4.0, np.dtype(np.float64): 8.0}
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
SEED = 20240601
CHUNK = 1 << 20  # small chunks: less time in page faults than big ones
F32_STRIDE = 256          # one float32 per block of 256 consecutive bit patterns
F32_STRIDE_QUICK = 4096
F64_RANDOM_BITS = 1 << 22  # random float64 bit patterns
F64_UNIFORM = ((-50.0, 50.0, 1 << 21), (-800.0, 800.0, 1 << 20))
SOFTMAX_LENGTHS = (2, 3, 10, 30, 100, 1000, 10000, 100000)
SOFTMAX_ELEMS = 1 << 18  # per (length, distribution, dtype)
# of which the backwards are checked against mpmath (exact sums) on
SOFTMAX_EXACT_ELEMS = 2048
# "backward near zero": within GRAD_ZERO_RADIUS of a table entry's grad_zeros,
# in ulps of the size of the terms that cancel (see _measure_pointwise)
DIRECTIONS = ("forward", "backward", "backward near zero")
# (label, how the rows are drawn); s is the scale
SOFTMAX_DISTS = (
    ("N(0, 1)", "normal", 1.0),
    ("N(0, 10^2)", "normal", 10.0),
    ("N(0, 100^2)", "normal", 100.0),
    ("U(-1000, 0)", "uniform", 1000.0),
    ("U(-1e4, 1e4)", "uniform2", 1e4),
    ("N(0, 1) + one at +30", "outlier", 30.0),
    ("N(0, 1e-3^2) + 1e3", "offset", 1e3),
)
PRELU_GW_SHAPES = ((4096, 16), (256, 8, 512), (65536, 1), (16, 3, 32, 32))


def f32_chunks(stride):
    """(start, count) chunks of the float32 bit-pattern sweep."""
    total = (1 << 32) // stride
    return [(s, min(CHUNK, total - s)) for s in range(0, total, CHUNK)]


def f32_sweep(start, count, stride):
    """float32 values: bit pattern k * stride + o_k for k in [start, start + count),
    o_k a fixed pseudo-random offset in [0, stride) so that the low bits vary."""
    k = np.arange(start, start + count, dtype=np.uint64)
    rng = np.random.default_rng([SEED, 32, start])
    bits = k * np.uint64(stride) + rng.integers(0, stride, count, dtype=np.uint64)
    return bits.astype(np.uint32).view(np.float32)


def special_values(dtype):
    """Edge cases and the neighbourhood of every integer and half-integer in
    [-800, 800] (where range reductions and thresholds live)."""
    dt = np.dtype(dtype)
    fi = np.finfo(dt)
    base = [0.0, np.inf, np.nan, fi.smallest_subnormal, fi.tiny, fi.tiny - fi.smallest_subnormal,
            fi.max, fi.eps, 1.0, 0.5, 2.0]
    vals = [dt.type(v) for v in base]
    vals += [-v for v in vals]
    grid = np.arange(-1600, 1601, dtype=dt) / dt.type(2)
    around = [grid]
    up, down = grid.copy(), grid.copy()
    for _ in range(8):
        up = np.nextafter(up, dt.type(np.inf))
        down = np.nextafter(down, dt.type(-np.inf))
        around += [up, down]
    return np.concatenate([np.array(vals, dt)] + around)


def f64_parts(quick):
    """The float64 sample as a list of (label, generator-args) chunks."""
    div = 16 if quick else 1
    parts = []
    n = F64_RANDOM_BITS // div
    for s in range(0, n, CHUNK):
        parts.append(("bits", s, min(CHUNK, n - s)))
    for lo, hi, m in F64_UNIFORM:
        m //= div
        for s in range(0, m, CHUNK):
            parts.append((("uniform", lo, hi), s, min(CHUNK, m - s)))
    parts.append(("special", 0, 0))
    return parts


def f64_sample(label, start, count):
    if label == "special":
        return special_values(np.float64)
    if label == "bits":
        rng = np.random.default_rng([SEED, 64, start])
        return rng.integers(0, 1 << 64, count, dtype=np.uint64, endpoint=False).view(np.float64)
    _, lo, hi = label
    rng = np.random.default_rng([SEED, 65, int(abs(lo)), int(abs(hi)), start])
    return rng.uniform(lo, hi, count)


def grads(n, dtype, key):
    """Upstream gradients: random sign and magnitude in [0.5, 2), full mantissa."""
    rng = np.random.default_rng([SEED, 7] + list(key))
    g = rng.uniform(0.5, 2.0, n) * rng.choice([-1.0, 1.0], n)
    return g.astype(dtype)


# ---------------------------------------------------------------------------
# Calling fastact and the reference uniformly, by kind


def variants(entry):
    """[(label, params)]: the defaults (unless a parameter is required, i.e.
    has no default), then every test_params set."""
    out = []
    if all(v is not None for v in entry.params.values()):
        out.append((_plabel(entry.params), dict(entry.params)))
    for tp in entry.test_params:
        p = dict(entry.params)
        p.update(tp)
        out.append((_plabel(p), p))
    return out


def _plabel(params):
    return ", ".join(f"{k}={_num(v)}" for k, v in params.items()) or "-"


def _num(v):
    if v is None:
        return "required"
    if isinstance(v, float):
        if len(repr(v)) <= 6:
            return repr(v)
        for q in (2, 3, 4, 6, 8, 10, 16, 48):
            if v * q == round(v * q) and abs(round(v * q)) < 100 and not v == round(v):
                return f"{int(round(v * q))}/{q}"
        return repr(v)
    return str(v)


def weight_array(params, dtype):
    return np.asarray(params["weight"], dtype=dtype).reshape(-1)


def fwd(entry, params, x):
    """fastact's forward of entry at params."""
    if entry.kind == "elementwise":
        return getattr(fa, entry.name)(x, **params)
    if entry.kind == "prelu":
        return fa.prelu(x, weight_array(params, x.dtype))
    if entry.kind == "rrelu":
        return getattr(fa, entry.name)(x, **params)
    return getattr(fa, entry.name)(x)


def bwd(entry, params, g, x, y):
    """fastact's backward, given the forward's input x and output y."""
    v = x if entry.backward_uses == "x" else y
    if entry.kind == "prelu":
        return fa.prelu_backward(g, x, weight_array(params, x.dtype))[0]
    if entry.kind == "rrelu":
        return getattr(fa, entry.backward_name)(g, x, None, **params)
    if entry.kind == "softmax":
        return getattr(fa, entry.backward_name)(g, v)
    return getattr(fa, entry.backward_name)(g, v, **params)


def ref_fwd(entry, params, xl):
    if entry.kind == "prelu":
        return R.prelu(xl, weight_array(params, xl.dtype))
    if entry.kind == "softmax":
        return getattr(R, entry.name)(xl)
    return getattr(R, entry.name)(xl, **params)


def ref_bwd(entry, params, gl, xl, yl):
    v = xl if entry.backward_uses == "x" else yl
    if entry.kind == "prelu":
        return R.prelu_backward(gl, xl, weight_array(params, xl.dtype))[0]
    if entry.kind == "softmax":
        return getattr(R, entry.backward_name)(gl, v)
    return getattr(R, entry.backward_name)(gl, v, **params)


# ---------------------------------------------------------------------------
# Worst-case bookkeeping


class Worst:
    """Running worst ulp error, the inputs where it occurs, and counts."""

    def __init__(self):
        self.ulp = -1.0
        self.where = {}
        self.n = 0
        self.n_half = 0  # correctly rounded (<= 0.5 ulp)
        self.n_over = {}
        self.extra = {}

    def add(self, err, inputs, bound):
        err = np.asarray(err, np.float64).reshape(-1)
        if err.size == 0:
            return
        self.n += err.size
        self.n_half += int(np.count_nonzero(err <= 0.5))
        self.n_over[bound] = self.n_over.get(bound, 0) + int(np.count_nonzero(err > bound))
        i = int(np.argmax(err))
        if err[i] > self.ulp:
            self.ulp = float(err[i])
            self.where = {k: v(i) if callable(v) else np.asarray(v).reshape(-1)[i] for k, v in inputs.items()}

    def merge(self, other):
        self.n += other.n
        self.n_half += other.n_half
        for b, c in other.n_over.items():
            self.n_over[b] = self.n_over.get(b, 0) + c
        if other.ulp > self.ulp:
            self.ulp, self.where = other.ulp, other.where
        for k, v in other.extra.items():
            if k not in self.extra:
                self.extra[k] = v
            elif k.startswith("min"):
                self.extra[k] = min(self.extra[k], v)
            elif k.startswith("max"):
                self.extra[k] = max(self.extra[k], v)
            elif k.startswith("sum") or k.startswith("count"):
                self.extra[k] = self.extra[k] + v
        return self


def _measure_pointwise(entry, label, params, x, dtype, key, out):
    """Forward and backward errors of an elementwise-like entry on inputs x."""
    bound = BOUND[dtype]
    with np.errstate(all="ignore"):
        xl = x.astype(HIGH)
        y = fwd(entry, params, x)
        err = ulp_error(y, ref_fwd(entry, params, xl), dtype)
        out.setdefault((entry.name, label, dtype.name, "forward"), Worst()).add(err, {"x": x}, bound)
        g = grads(x.size, dtype, key).reshape(x.shape)
        gx = bwd(entry, params, g, x, y)
        exact = ref_bwd(entry, params, g.astype(HIGH), xl, y.astype(HIGH))
        err = ulp_error(gx, exact, dtype)
        where = {"x": x, "grad": g} if entry.backward_uses == "x" else {"x": x, "y": y, "grad": g}
        near = near_grad_zeros(entry, x)
        if near is not None:
            # where the derivative crosses zero through cancellation, the error
            # is measured against the size of the terms (as the tests do)
            rel = backward_error_near_zeros(entry, params, g, gx, exact, dtype, near)
            out.setdefault((entry.name, label, dtype.name, "backward near zero"), Worst()).add(
                rel, {"x": x[near], "grad": g[near]}, bound)
            err = np.where(near, 0.0, err)
        out.setdefault((entry.name, label, dtype.name, "backward"), Worst()).add(err, where, bound)


def _measure_rrelu_training(entry, label, params, x, dtype, key, out):
    bound = BOUND[dtype]
    lower, upper = params["lower"], params["upper"]
    with np.errstate(all="ignore"):
        y, noise = fa.rrelu(x, lower, upper, training=True, rng=np.random.default_rng([SEED, 9] + list(key)))
        xl, nl = x.astype(HIGH), noise.astype(HIGH)
        err = ulp_error(y, R.rrelu(xl, lower, upper, noise=nl), dtype)
        w = out.setdefault((entry.name, label + " (training)", dtype.name, "forward"), Worst())
        w.add(err, {"x": x, "slope": noise}, bound)
        neg = ~(x > 0)
        s = noise[neg].astype(np.float64)
        if s.size:
            w.extra.setdefault("min_slope", float(s.min()))
            w.extra["min_slope"] = min(w.extra["min_slope"], float(s.min()))
            w.extra["max_slope"] = max(w.extra.get("max_slope", -np.inf), float(s.max()))
            w.extra["sum_slope"] = w.extra.get("sum_slope", 0.0) + float(s.sum())
            w.extra["count_slope"] = w.extra.get("count_slope", 0) + int(s.size)
        w.extra["count_pos_not_one"] = w.extra.get("count_pos_not_one", 0) + int(np.count_nonzero(noise[x > 0] != 1))
        g = grads(x.size, dtype, key)
        gx = fa.rrelu_backward(g, x, noise, lower, upper)
        err = ulp_error(gx, R.rrelu_backward(g.astype(HIGH), xl, nl, lower, upper), dtype)
        out.setdefault((entry.name, label + " (training)", dtype.name, "backward"), Worst()).add(
            err, {"x": x, "slope": noise, "grad": g}, bound)


PRELU_CHANNELS = 16
PER_CHANNEL = "weight = 16 channels from U(-1, 1), axis 1"


def measure_chunk(job):
    """Every pointwise entry on one chunk of the sweep; returns {key: Worst}."""
    index, dtype, part = job
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        start, count, stride = part
        x = f32_sweep(start, count, stride) if count else special_values(np.float32)
    else:
        x = f64_sample(*part)
    key = (dtype.itemsize, index)
    out = {}
    with fa.config(mode="serial"):
        for entry in ACTIVATIONS.values():
            if entry.kind == "softmax":
                continue
            for label, params in variants(entry):
                _measure_pointwise(entry, label, params, x, dtype, key, out)
                if entry.kind == "rrelu":
                    _measure_rrelu_training(entry, label, params, x, dtype, key, out)
            if entry.kind == "prelu":
                # per-channel weights: x as (N, C), weights already in dtype
                n = x.size // PRELU_CHANNELS * PRELU_CHANNELS
                rng = np.random.default_rng([SEED, 16] + list(key))
                w = rng.uniform(-1, 1, PRELU_CHANNELS).astype(dtype)
                x2 = x[:n].reshape(-1, PRELU_CHANNELS)
                _measure_pointwise(entry, PER_CHANNEL, {"weight": w}, x2, dtype, key, out)
    return out


# ---- softmax family ---------------------------------------------------------


def softmax_rows(dist, scale, length, dtype, rows, key):
    rng = np.random.default_rng([SEED, 100, length] + list(key))
    shape = (rows, length)
    if dist == "normal":
        x = rng.normal(0, scale, shape)
    elif dist == "uniform":
        x = rng.uniform(-scale, 0, shape)
    elif dist == "uniform2":
        x = rng.uniform(-scale, scale, shape)
    elif dist == "outlier":
        x = rng.normal(0, 1, shape)
        x[np.arange(rows), rng.integers(0, length, rows)] = scale
    else:  # offset: a tiny spread around a large value
        x = scale + rng.normal(0, 1e-3, shape)
    return x.astype(dtype)


def measure_softmax(job):
    """softmax and log_softmax, forward and backward, on random rows."""
    dtype, di, length = job
    dtype = np.dtype(dtype)
    bound = BOUND[dtype]
    label, dist, scale = SOFTMAX_DISTS[di]
    rows = max(8, SOFTMAX_ELEMS // length)
    key = (dtype.itemsize, di)
    x = softmax_rows(dist, scale, length, dtype, rows, key)
    xl = x.astype(HIGH)
    rng = np.random.default_rng([SEED, 101, length] + list(key))
    g = rng.normal(0, 1, x.shape).astype(dtype)
    out = {}
    eps = HIGH(np.finfo(dtype).eps)

    def row_info(i):
        r, c = divmod(i, length)
        return f"row length {length}, {label}: element {c} x = {fmt(x[r, c], dtype)}, row max {fmt(x[r].max(), dtype)}"

    with fa.config(mode="serial"), np.errstate(all="ignore"):
        for entry in ACTIVATIONS.values():
            if entry.kind != "softmax":
                continue
            y = fwd(entry, {}, x)
            ex = ref_fwd(entry, {}, xl)
            err = ulp_error(y, ex, dtype)
            out.setdefault((entry.name, "-", dtype.name, "forward"), Worst()).add(
                err, {"row": row_info, "y": y}, bound)
            # the backward formulas cancel: their exact values come from mpmath
            # with exact sums, on the first rows (SOFTMAX_EXACT_ELEMS elements)
            k = max(1, min(rows, SOFTMAX_EXACT_ELEMS // length))
            gx = bwd(entry, {}, g, x, y)[:k]
            yk, gk = y[:k], g[:k]
            with mpmath.workprec(EXACT_BITS):
                exact = from_hp(ref_bwd(entry, {}, to_hp(gk), None, to_hp(yk)))
            err = ulp_error(gx, exact, dtype)
            out.setdefault((entry.name, "-", dtype.name, "backward"), Worst()).add(
                err, {"row": row_info, "y": yk, "grad": gk}, bound)
            # the same error measured against the size of the terms that cancel
            yl, gl = yk.astype(HIGH), gk.astype(HIGH)
            if entry.name == "log_softmax":
                scale_terms = np.abs(gl) + np.exp(yl) * np.sum(np.abs(gl), axis=-1, keepdims=True)
            else:  # softmax, softmin: y (g - sum(g y))
                scale_terms = np.abs(yl) * (np.abs(gl) + np.sum(np.abs(gl * yl), axis=-1, keepdims=True))
            tiny = HIGH(np.finfo(dtype).smallest_subnormal)
            rel = np.abs(gx.astype(HIGH) - exact) / np.maximum(scale_terms * eps, tiny)
            rel = np.where(np.isnan(rel), HIGH(0), rel).astype(np.float64)
            out.setdefault((entry.name, "-", dtype.name, "backward/scaled"), Worst()).add(
                rel, {"row": row_info}, bound)
    return out


def measure_prelu_weight_grad(dtype):
    """prelu_backward's grad_weight, a sum over all but the channel axis."""
    dtype = np.dtype(dtype)
    w_all = Worst()
    scaled = Worst()
    eps = HIGH(np.finfo(dtype).eps)
    for entry in ACTIVATIONS.values():
        if entry.kind != "prelu":
            continue
        for si, shape in enumerate(PRELU_GW_SHAPES):
            rng = np.random.default_rng([SEED, 200, si, dtype.itemsize])
            for trial in range(4):
                x = rng.normal(0, 1, shape).astype(dtype)
                g = rng.normal(0, 1, shape).astype(dtype)
                C = shape[1]
                w = rng.uniform(-1, 1, C).astype(dtype)
                with fa.config(mode="serial"):
                    _, gw = fa.prelu_backward(g, x, w)
                xl, gl = x.astype(HIGH), g.astype(HIGH)
                contrib = np.where(xl > 0, HIGH(0), xl * gl)
                axes = tuple(i for i in range(x.ndim) if i != 1)
                exact = contrib.sum(axis=axes)
                err = ulp_error(gw, exact, dtype)
                info = lambda i, shape=shape: f"x of shape {shape}, channel {i}"  # noqa: E731
                w_all.add(err, {"where": info}, BOUND[dtype])
                size = np.abs(contrib).sum(axis=axes)
                rel = (np.abs(gw.astype(HIGH) - exact) / (size * eps)).astype(np.float64)
                scaled.add(rel, {"where": info}, BOUND[dtype])
    return w_all, scaled


def fmt(v, dtype=None):
    v = np.asarray(v).reshape(())[()]
    if isinstance(v, (np.floating, float)):
        f = float(v)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        if f == 0:
            return "-0.0" if math.copysign(1, f) < 0 else "0.0"
        if isinstance(v, np.floating):
            if 1e-4 <= abs(f) < 1e7:
                return np.format_float_positional(v, unique=True, trim="-")
            return np.format_float_scientific(v, unique=True, trim="-")
        return repr(f)
    return str(v)


def run_measurements(quick, procs, stride):
    jobs = [(np.float32, (s, c, stride)) for s, c in f32_chunks(stride)]
    jobs.append((np.float32, (0, 0, stride)))  # special values
    jobs += [(np.float64, part) for part in f64_parts(quick)]
    # a job's seed index counts within its dtype, so float64 samples do not depend on --stride
    jobs = [(sum(1 for d, _ in jobs[:i] if d == dt), dt, part) for i, (dt, part) in enumerate(jobs)]
    sm_jobs = [(dt, di, L) for dt in (np.float32, np.float64) for di in range(len(SOFTMAX_DISTS))
               for L in SOFTMAX_LENGTHS]
    results = {}
    t0 = time.time()
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(procs) as pool:
        parts = pool.map(measure_chunk, jobs, chunksize=1)
        parts += pool.map(measure_softmax, sm_jobs, chunksize=1)
    for part in parts:  # merged in job order: ties go to the earliest sample
        for k, w in part.items():
            if k in results:
                results[k].merge(w)
            else:
                results[k] = w
    gw = {}
    for dt in DTYPES:
        gw[dt.name] = measure_prelu_weight_grad(dt)
    print(f"measured in {time.time() - t0:.0f} s", file=sys.stderr)
    n32 = sum(c for _, c in f32_chunks(stride)) + special_values(np.float32).size
    n64 = sum(f64_sample(*p).size for p in f64_parts(quick) if p[0] == "special") + \
        sum(p[2] for p in f64_parts(quick) if p[0] != "special")
    return results, gw, dict(stride=stride, n32=n32, n64=n64, quick=quick)


# ---------------------------------------------------------------------------
# Conventions measured on fastact (and PyTorch when installed)

SPECIAL_X = (-np.inf, -1.0, -0.0, 0.0, 1.0, np.inf, np.nan)
SOFTMAX_SPECIAL_ROWS = (
    (0.0, -np.inf), (-np.inf, -np.inf), (np.inf, 0.0), (np.inf, np.inf), (np.nan, 0.0),
    (1000.0, 0.0), (-1000.0, 0.0),
)


def _torch():
    try:
        import torch
        import torch.nn.functional as F
    except Exception:  # not installed, or broken
        return None, None
    return torch, F


def torch_eval(entry, params, x):
    """(y, dx) from PyTorch's peer of entry (entry.torch) in float64, dx for
    grad = ones (elementwise) or grad = e_0 along the last axis (softmax)."""
    torch, F = _torch()
    if torch is None or not entry.torch:
        return None
    t = torch.tensor(np.asarray(x, np.float64), requires_grad=True)
    ns = {"torch": torch, "F": F, "x": t}
    for k, v in params.items():
        ns[k] = torch.tensor(weight_array(params, np.float64)) if entry.kind == "prelu" else v
    y = eval(entry.torch, ns)  # the table's own expression
    g = _special_grad(entry, t.shape)
    y.backward(torch.tensor(g))
    return y.detach().numpy(), t.grad.numpy()


def _special_grad(entry, shape):
    if entry.kind == "softmax":
        g = np.zeros(shape)
        g[..., 0] = 1
        return g
    return np.ones(shape)


def special_table(entry):
    """Rows of (input, fastact y, fastact dx, torch y, torch dx) in float64."""
    params = variants(entry)[0][1]
    if entry.kind == "softmax":
        x = np.array(SOFTMAX_SPECIAL_ROWS)
    else:
        x = np.array(SPECIAL_X)
    with np.errstate(all="ignore"):
        y = fwd(entry, params, x)
        dx = bwd(entry, params, _special_grad(entry, x.shape), x, y)
    t = torch_eval(entry, params, x)
    rows = []
    for i in range(x.shape[0]):
        rows.append((x[i], y[i], dx[i], None if t is None else t[0][i], None if t is None else t[1][i]))
    return rows


def _same(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return bool(np.all((a == b) & (np.signbit(a) == np.signbit(b)) | (np.isnan(a) & np.isnan(b))))


def _same_value(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


def _at(entry, params, x):
    x = np.asarray(x, np.float64)
    with np.errstate(all="ignore"):
        y = fwd(entry, params, x)
        return y, bwd(entry, params, np.ones_like(x), x, y)


def kink_kind(entry, params, k):
    """How entry (at params) breaks at x = k: "jump" (the function is
    discontinuous), "kink" (the derivative is) or None (smooth there: the
    table's kinks list those of every parameter set)."""
    x = np.array([np.nextafter(k, -np.inf), k, np.nextafter(k, np.inf)])
    y, d = _at(entry, params, x)
    if abs(y[2] - y[0]) > 1e-9 * (1 + abs(y[0])):
        return "jump"
    if abs(d[2] - d[0]) > 1e-9 * (1 + abs(d[0]) + abs(d[2])):
        return "kink"
    return None


def kink_gradients(entry):
    """[(kink, params label, params, fastact gradient, torch gradient or None)]
    at every kink of every parameter set where there is one."""
    out = []
    for label, params in variants(entry):
        for k in entry.kinks:
            k = float(k)
            if kink_kind(entry, params, k) is None:
                continue
            _, d = _at(entry, params, [k])
            t = torch_eval(entry, params, np.array([k]))
            out.append((k, label, params, float(d[0]), None if t is None else float(t[1][0])))
    return out


# ---------------------------------------------------------------------------
# Figures (fastact's own outputs)

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "legend.fontsize": 9,
                         "svg.hashsalt": "fastact", "path.simplify": False})
    return plt


def _save(fig, path):
    fig.savefig(path, dpi=110, metadata={"Software": None}, bbox_inches="tight")


def plot_range(entry):
    ks = [float(k) for k in entry.kinks]
    lo, hi = min([-5.0] + [k - 2 for k in ks]), max([5.0] + [k + 2 for k in ks])
    return lo, hi


def _pieces(x, v, breaks):
    """x, v with the points at the breaks removed and NaN put there, so the
    line does not join the two sides."""
    xs, vs = x.copy(), v.astype(np.float64).copy()
    for k in breaks:
        i = np.flatnonzero(xs == k)
        xs[i], vs[i] = np.nan, np.nan
    return xs, vs


def plot_pointwise(entry, path):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    lo, hi = plot_range(entry)
    x = np.union1d(np.linspace(lo, hi, 2001), [float(k) for k in entry.kinks])
    dots = False
    for ci, (label, params) in enumerate(variants(entry)):
        y, d = _at(entry, params, x)
        kinds = {float(k): kink_kind(entry, params, float(k)) for k in entry.kinks}
        jumps = [k for k, v in kinds.items() if v == "jump"]
        breaks = [k for k, v in kinds.items() if v]
        tag = "" if label == "-" else f" ({label})"
        c = COLORS[ci % len(COLORS)]
        ax.plot(*_pieces(x, y, jumps), color=c, lw=2, label=f"{entry.name}(x){tag}")
        ax.plot(*_pieces(x, d, breaks), color=c, lw=1.6, ls="--", label=f"{entry.name}'(x){tag}")
        for k in breaks:
            yk, dk = _at(entry, params, [k])
            ax.plot([k], dk, "o", color=c, ms=5, zorder=5)
            if k in jumps:
                ax.plot([k], yk, "o", color=c, ms=5, zorder=5)
            dots = True
    _decorate(ax, entry, "x")
    ax.set_title(f"{entry.name} and its derivative (fastact, float64)")
    if dots:
        ax.text(0.99, 0.02, "dots: fastact's value at the kink", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=8, color="0.3")
    _save(fig, path)
    plt.close(fig)


def plot_rrelu(entry, path):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    x = np.linspace(-5, 5, 2001)
    params = dict(entry.params)
    lo, hi = params["lower"], params["upper"]
    y = fwd(entry, params, x)
    d = bwd(entry, params, np.ones_like(x), x, y)
    c = COLORS[0]
    ax.plot(x, y, color=c, lw=2, label=f"evaluation: slope (lower+upper)/2 = {_num((lo + hi) / 2)}")
    xn = x[x <= 0]
    ax.fill_between(xn, hi * xn, lo * xn, color=c, alpha=0.15, label=f"training: slope in [{_num(lo)}, {_num(hi)}]")
    xs = np.linspace(-5, 5, 81)
    ys, noise = fa.rrelu(xs, lo, hi, training=True, rng=np.random.default_rng(SEED))
    ax.plot(xs, ys, ".", color=COLORS[1], ms=4, label="one training draw")
    ax.plot(*_pieces(x, d, [0.0]), color=c, lw=1.6, ls="--", label="derivative (evaluation)")
    gd = fa.rrelu_backward(np.ones_like(xs), xs, noise, lo, hi)
    ax.plot(xs, gd, "x", color=COLORS[1], ms=4, label="derivative (the training draw)")
    ax.plot([0.0], bwd(entry, params, np.ones(1), np.zeros(1), np.zeros(1)), "o", color=c, ms=5, zorder=5)
    _decorate(ax, entry, "x")
    ax.set_title(f"{entry.name} (fastact, float64, defaults lower={_num(lo)}, upper={_num(hi)})")
    _save(fig, path)
    plt.close(fig)


def plot_softmax(entry, path):
    """Components of f([x, 0, 1]) against x, and their derivatives in x."""
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.6, 4.0))
    x = np.linspace(-6, 6, 1201)
    z = np.stack([x, np.zeros_like(x), np.ones_like(x)], axis=-1)
    y = fwd(entry, {}, z)
    lab = ("x", "0", "1")
    for i in range(3):
        a1.plot(x, y[:, i], color=COLORS[i], lw=2, label=f"component {i} (input {lab[i]})")
        g = np.zeros_like(z)
        g[:, i] = 1
        dx = bwd(entry, {}, g, z, y)[:, 0]  # d f_i / d x (x is input 0)
        a2.plot(x, dx, color=COLORS[i], lw=(3.2, 2.0, 1.6)[i], ls=("-", "--", ":")[i],
                label=f"d {entry.name}_{i} / dx")
    for a in (a1, a2):
        a.grid(True, alpha=0.35)
        a.axhline(0, color="0.5", lw=0.6)
        a.axvline(0, color="0.5", lw=0.6)
        a.set_xlabel("x")
        a.legend(loc="best")
    a1.set_ylabel(f"{entry.name}([x, 0, 1])")
    a2.set_ylabel("derivative in x")
    a1.set_title(f"{entry.name} of the 3-vector [x, 0, 1]")
    a2.set_title("from the backward with grad = e_i")
    fig.suptitle(f"{entry.name} (fastact, float64)", fontsize=11)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def _decorate(ax, entry, xlabel):
    ax.grid(True, alpha=0.35)
    ax.axhline(0, color="0.5", lw=0.6)
    ax.axvline(0, color="0.5", lw=0.6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("value")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)


def plot(entry, path):
    if entry.kind == "softmax":
        plot_softmax(entry, path)
    elif entry.kind == "rrelu":
        plot_rrelu(entry, path)
    else:
        plot_pointwise(entry, path)


# ---------------------------------------------------------------------------
# Pages


def _md_table(header, rows):
    def cell(c):
        return str(c).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _ulp(w, bound=None):
    if w is None or w.n == 0:
        return "n/a"
    s = f"{w.ulp:.3g}" if w.ulp < 1e6 else f"{w.ulp:.2e}"
    if bound is not None and w.ulp > bound:
        s = f"**{s}** (over {bound:g})"
    return s


def _where(w, dtype):
    parts = []
    for k, v in w.where.items():
        if isinstance(v, str):
            parts.append(v if k in ("row", "where") else f"{k}: {v}")
        else:
            parts.append(f"{k} = {fmt(v, dtype)}")
    return ", ".join(parts)


def _labels(entry):
    out = [lab for lab, _ in variants(entry)]
    if entry.kind == "prelu":
        out.append(PER_CHANNEL)
    if entry.kind == "rrelu":
        out += [lab + " (training)" for lab, _ in variants(entry)]
    return out


def accuracy_rows(entry, results, with_where=True):
    rows = []
    for label in _labels(entry):
        for dt in DTYPES:
            for direction in DIRECTIONS:
                w = results.get((entry.name, label, dt.name, direction))
                if w is None:
                    continue
                row = [label, dt.name, direction, _ulp(w, BOUND[dt]), f"{100 * w.n_half / w.n:.2f}%"]
                if with_where:
                    row.append(_where(w, dt) if w.ulp > 0 else "exact everywhere")
                rows.append(row)
    return rows


def _signature(fn):
    try:
        return f"fastact.{fn.__name__}{inspect.signature(fn)}"
    except (TypeError, ValueError):
        return f"fastact.{fn.__name__}(...)"


def _usage(entry):
    v = entry.backward_uses
    p = "".join(f", {k}={val!r}" for k, val in variants(entry)[0][1].items())
    if entry.kind == "prelu":
        return ("import numpy as np\nimport fastact as fa\n"
                f"weight = np.full(C, {entry.params['weight']})  # one per channel (axis 1), or a single one\n"
                "y = fa.prelu(x, weight)\n"
                "grad_x, grad_weight = fa.prelu_backward(grad, x, weight)")
    if entry.kind == "rrelu":
        return ("import fastact as fa\n"
                f"y = fa.rrelu(x{p})                                   # evaluation\n"
                f"dx = fa.rrelu_backward(grad, x, None{p})\n"
                f"y, noise = fa.rrelu(x{p}, training=True, rng=0)      # training\n"
                f"dx = fa.rrelu_backward(grad, x, noise{p})")
    if entry.kind == "softmax":
        return (f"import fastact as fa\ny = fa.{entry.name}(x, axis=-1)\n"
                f"dx = fa.{entry.backward_name}(grad, y, axis=-1)")
    return (f"import fastact as fa\ny = fa.{entry.name}(x{p})\n"
            f"dx = fa.{entry.backward_name}(grad, {v}{p})")


def function_page(entry, results, gw):
    name = entry.name
    fn, bfn = getattr(fa, name), getattr(fa, entry.backward_name)
    desc = field_of(entry, "description", TEMPORARY_DESCRIPTION)
    ref = field_of(entry, "reference", TEMPORARY_REFERENCE)
    uses = "the forward's output `y`" if entry.backward_uses == "y" else "the forward's input `x`"
    L = [f"# {name}", "", f"{entry.summary}", ""]
    if desc:
        L += [desc, ""]
    L += [f"![{name} and its derivative](../img/fn_{name}.png)", ""]
    if entry.kind == "softmax":
        L += [f"*{name} of the 3-vector [x, 0, 1] as x varies, and the derivative of each component "
              f"with respect to x (the backward with grad = e_i), computed by fastact in float64.*", ""]
    elif entry.kind == "rrelu":
        L += [f"*`fastact.{name}` at its defaults: the evaluation form (solid) and its derivative (dashed, "
              f"from `fastact.{entry.backward_name}` with grad = 1); the band is the range of the training "
              "slopes, the dots one training draw and the crosses its gradient (float64).*", ""]
    else:
        labels = [lab for lab, _ in variants(entry)]
        at = "" if labels == ["-"] else " at " + "; ".join(labels)
        L += [f"*Solid: `fastact.{name}`; dashed: `fastact.{entry.backward_name}` with grad = 1; "
              f"float64{at}.*", ""]
    L += ["## Usage", "", "```python", _usage(entry), "```", "",
          f"- `{_signature(fn)}`", f"- `{_signature(bfn)}`", ""]
    L += ["## Definition", "",
          _md_table(["", ""], [
              ["function", f"`{entry.formula}`"],
              ["derivative", f"`{entry.derivative}`"],
              ["backward needs", uses + " (and `grad`, dL/dy)"],
              ["PyTorch", f"`{entry.torch}`" if entry.torch else "-"],
          ] + ([["paper", ref]] if ref else [])), ""]
    if entry.params:
        L += ["## Parameters", "",
              _md_table(["parameter", "default", "also tested"], [
                  [f"`{k}`", _num(v), ", ".join(_num(tp[k]) for tp in entry.test_params if k in tp) or "-"]
                  for k, v in entry.params.items()]), ""]
        if entry.kind == "prelu":
            L += ["`weight` is an array: one entry shared by every channel, or one per channel along "
                  "`axis` (default 1). See [conventions](../conventions.md#prelu-weights).", ""]
        if entry.kind == "rrelu":
            L += ["See [conventions](../conventions.md#rrelu) for how this form relates to the paper's.", ""]
    L += ["## Conventions", ""]
    if entry.notes:
        L += [f"- {entry.notes}"]
    L += [f"- The backward takes `grad` and {uses}; `grad` broadcasts against it."]
    if entry.kinks:
        for k, label, params, d, td in kink_gradients(entry):
            pn = [p for p, v in params.items() if np.ndim(v) == 0 and float(v) == d]
            named = f" (= `{pn[0]}`)" if pn else ""
            at = "" if label == "-" else f" with {label}"
            tt = "" if td is None else (", as PyTorch" if td == d else f"; **PyTorch gives {fmt(td)}**")
            L += [f"- Gradient at the kink x = {fmt(float(k))}{at}: {fmt(d)}{named}{tt}."]
    L += ["- dtypes: float32 and float64 are computed in their own precision, float16 in float32, "
          "bool and integers in float64 ([conventions](../conventions.md#dtypes))."]
    L += _rounded_params(entry)
    L += ["", _special_section(entry), ""]
    L += ["## Accuracy", "",
          f"Worst error in ulps against `fastact.reference.{name}` evaluated in `np.longdouble` on the same "
          f"inputs; bound {BOUND[DTYPES[0]]:g} ulp (float32), {BOUND[DTYPES[1]]:g} ulp (float64). "
          "The sweep is described in [accuracy.md](../accuracy.md).", "",
          _md_table(["parameters", "dtype", "direction", "worst ulp", "correctly rounded", "worst at"],
                    accuracy_rows(entry, results)), ""]
    if entry.kind == "softmax":
        L += [_softmax_backward_note(entry, results), ""]
    if entry.kind == "prelu":
        L += [_prelu_gw_section(gw), ""]
    if entry.kind == "rrelu":
        L += [_rrelu_training_note(entry, results), ""]
    return "\n".join(L).rstrip() + "\n"


def _rounded_params(entry):
    """Notes on parameters that float32 cannot represent (they are rounded to
    the array's dtype before use, as in PyTorch's float32 kernels)."""
    out = []
    seen = set()
    for label, params in variants(entry):
        for k, v in params.items():
            if np.ndim(v) or v is None or isinstance(v, str) or (k, v) in seen:
                continue
            seen.add((k, v))
            v32 = np.float32(v)
            if float(v32) != float(v):
                out.append(f"- In float32, `{k}` = {v!r} is rounded to {fmt(v32)} before use (a relative "
                           f"change of {abs(float(v32) - v) / abs(v):.2g}); the float32 accuracy below is "
                           f"measured against the exact {v!r} and includes it.")
    return out


def _special_section(entry):
    rows = special_table(entry)
    has_torch = rows and rows[0][3] is not None
    if entry.kind == "softmax":
        head = ["x (a row)", "fastact y", "fastact dx (grad = e_0)"]
        if has_torch:
            head += ["PyTorch"]
        body = []
        for x, y, dx, ty, tdx in rows:
            r = [_vec(x), _vec(y), _vec(dx)]
            if has_torch:
                r += ["same" if _same(y, ty) and _same(dx, tdx) else f"**y = {_vec(ty)}, dx = {_vec(tdx)}**"]
            body.append(r[:len(head)])
        intro = "Special rows (float64), fastact's results" + (" and PyTorch's (`" + entry.torch + "`)" if has_torch else "")
    else:
        head = ["x", "y", "dx (grad = 1)"]
        if has_torch:
            head += ["PyTorch y", "PyTorch dx"]
        body = []
        for x, y, dx, ty, tdx in rows:
            r = [fmt(x), fmt(y), fmt(dx)]
            if has_torch:
                r += [_cmp(ty, y), _cmp(tdx, dx)]
            body.append(r)
        intro = "Special values (float64), fastact's results" + (
            " and PyTorch's (`" + entry.torch + "`, autograd)" if has_torch else "")
    note = ""
    if has_torch:
        torch, _ = _torch()
        note = (f" PyTorch {torch.__version__}; *same* means bitwise equal (NaN equal to NaN), "
                "and a difference, the sign of zero included, is shown in bold.")
    label = variants(entry)[0][0]
    if entry.params and label != _plabel(entry.params):
        intro += f" at {label}"
    return "### Special values\n\n" + intro + "." + note + "\n\n" + _md_table(head, body)


def _cmp(t, ours):
    if _same(t, ours):
        return "same"
    return f"**{fmt(t)}**"


def _vec(v):
    return "[" + ", ".join(fmt(a) if abs(float(a)) >= 1e-3 or not np.isfinite(a) or a == 0 else f"{float(a):.3g}"
                           for a in np.asarray(v).reshape(-1)) + "]"


def _softmax_backward_note(entry, results):
    if entry.name == "log_softmax":
        form = "dx_i = g_i - exp(y_i) sum_j g_j"
        scale = "|g_i| + exp(y_i) sum_j |g_j|"
        how = ("float32: the sum of `g` in float64 (blocks summed, the block sums added exactly), then in "
               "float32 with `exp(y_i)` carried in two parts (the reduced argument and the terms up to "
               "r^2/2 exact), which keeps the difference within about 2 ulp wherever it is at least 2^-5 of "
               "`exp(y_i) sum_j g_j`; the elements that cancel further (looked for by blocks of 64) are "
               "redone with `exp(y_i)` in float64; float64: the sum as a double-double and `exp(y_i)` as a "
               "double-double (`exp_dd`), the difference taken against both parts.")
    else:
        form = "dx_i = y_i (g_i - sum_j g_j y_j)" if entry.name == "softmax" else \
            "dx_i = -y_i (g_i - sum_j g_j y_j)"
        scale = "y_i (|g_i| + sum_j |g_j y_j|)"
        how = ("float32: the products `g_j y_j` are exact in float64 and summed in float64 (rows of up to "
               f"{_softmax.PLAIN_ROW} in one sum, longer rows in blocks whose sums are added exactly), an error bound computed "
               "alongside; where some `g_i` is too close to "
               "the sum for that bound (in a row with one `y_i` near 1, say), that element is redone in "
               "float64 from the sum as a double-double. float64: the sum as a double-double (TwoProd and "
               "TwoSum, vectorized over lanes) always.")
    lines = ["**The backward and cancellation.** ",
             f"The backward is `{form}`, a difference: where the two terms nearly cancel, the result is much "
             "smaller than the terms, and an error of one ulp of the terms is a large error in ulps of the "
             "result. fastact carries the sums so that this does not happen: " + how + " The figures are "
             "measured against the exact value of the formula on the same float inputs (`grad` and the `y` "
             "fastact's forward returned), evaluated in mpmath with sums exact at any exponent "
             f"({EXACT_BITS} bits), on the first {SOFTMAX_EXACT_ELEMS:,} elements of every length and "
             f"distribution (whole rows). The table also gives the error in ulps of the size of the terms, "
             f"`{scale}`:"]
    rows = []
    for dt in DTYPES:
        w = results.get((entry.name, "-", dt.name, "backward/scaled"))
        r = results.get((entry.name, "-", dt.name, "backward"))
        if w is None:
            continue
        over = r.n_over.get(BOUND[dt], 0)
        rows.append([dt.name, _ulp(r), f"{over} of {r.n} ({100 * over / r.n:.3g}%)", f"{w.ulp:.3g}", w.where.get("row", "")])
    return "".join(lines) + "\n\n" + _md_table(
        ["dtype", "worst ulp of the result", "results over the bound", "worst error in ulps of the terms", "at"], rows)


def _prelu_gw_section(gw):
    rows = []
    for dt in DTYPES:
        w, s = gw[dt.name]
        rows.append([dt.name, _ulp(w, BOUND[dt]), f"{s.ulp:.3g}", _where(w, dt)])
    return ("### grad_weight\n\n`prelu_backward` also returns `grad_weight`, the sum of `x * grad` over the "
            "elements with x <= 0 and over every axis but the channel axis, accumulated in float64 and "
            "rounded once. Measured against the same sum in `np.longdouble` on random N(0, 1) `x` and "
            f"`grad` of shapes {', '.join(str(s) for s in PRELU_GW_SHAPES)} (4 draws each). A sum of "
            "terms of both signs can cancel, so the error is also given in ulps of the sum of |terms|.\n\n"
            + _md_table(["dtype", "worst ulp", "worst error in ulps of sum(|terms|)", "at"], rows))


def _rrelu_training_note(entry, results):
    rows = []
    for label, params in variants(entry):
        for dt in DTYPES:
            w = results.get((entry.name, label + " (training)", dt.name, "forward"))
            if w is None or "count_slope" not in w.extra:
                continue
            e = w.extra
            rows.append([label, dt.name, fmt(e["min_slope"]), fmt(e["max_slope"]),
                         f"{e['sum_slope'] / e['count_slope']:.6f}", _num((params['lower'] + params['upper']) / 2),
                         str(e["count_pos_not_one"])])
    return ("### The training draws\n\nIn training, the slope of every element x <= 0 is drawn from "
            "U(lower, upper) and returned as `noise` (1 where x > 0); the forward is then `x * noise` and "
            "the backward `grad * noise`, both single roundings. Over the sweep:\n\n"
            + _md_table(["parameters", "dtype", "smallest slope", "largest slope", "mean slope",
                         "(lower + upper) / 2", "x > 0 with noise != 1"], rows))


def _command(meta):
    cmd = COMMAND + (" --quick" if meta["quick"] else "")
    default = F32_STRIDE_QUICK if meta["quick"] else F32_STRIDE
    return cmd + ("" if meta["stride"] == default else f" --stride {meta['stride']}")


def accuracy_page(results, gw, meta):
    n32, n64, stride = meta["n32"], meta["n64"], meta["stride"]
    lines = ["# Accuracy", "",
             "Worst-case error of every fastact function, in units in the last place (ulps) of the result's "
             "dtype, against the NumPy reference (`fastact.reference`) evaluated in `np.longdouble` "
             "(80-bit x87 extended precision, 64-bit significand) on *the same* float inputs, with "
             "`fastact.testing.ulp_error`. Bounds: **4 ulp for float32, 8 ulp for float64**; a figure over "
             "its bound is in bold. *Correctly rounded* is the share of results within 0.5 ulp.", "",
             f"Generated by `{_command(meta)}` "
             f"(numpy {np.__version__}, numba {__import__('numba').__version__}). "
             "Results do not depend on the thread count (the measurement runs the serial kernels; the "
             "parallel kernels run the same code on blocks and give bitwise identical results).", "",
             "## Summary", "",
             "Worst ulp error at each function's default parameters (the other parameter sets are on the "
             "function pages and in the detail table below).", ""]
    rows = []
    for entry in ACTIVATIONS.values():
        label = variants(entry)[0][0]
        r = [f"[{entry.name}](functions/{entry.name}.md)"
             + ("" if label == _plabel(entry.params) else f" ({label})")]
        for dt in DTYPES:
            for d in ("forward", "backward"):
                r.append(_ulp(results.get((entry.name, label, dt.name, d)), BOUND[dt]))
        rows.append(r)
    lines += [_md_table(["function", "float32 forward", "float32 backward", "float64 forward", "float64 backward"],
                        rows), ""]
    over = []
    for entry in ACTIVATIONS.values():
        for label in _labels(entry):
            for dt in DTYPES:
                for d in DIRECTIONS:
                    w = results.get((entry.name, label, dt.name, d))
                    if w is not None and w.ulp > BOUND[dt]:
                        at = "" if label == "-" else f" ({label})"
                        over.append(f"[{entry.name}](functions/{entry.name}.md){at} {d}, {dt.name}: "
                                    f"{_ulp(w)} ulp at {_where(w, dt)}")
        if entry.kind == "prelu":
            for dt in DTYPES:
                w, _ = gw[dt.name]
                if w.ulp > BOUND[dt]:
                    over.append(f"[{entry.name}](functions/{entry.name}.md) grad_weight, {dt.name}: "
                                f"{_ulp(w)} ulp ({_where(w, dt)}; a sum whose terms cancel, see "
                                f"[below](#prelu-grad_weight))")
    if over:
        lines += ["**Over the bound:**", ""] + [f"- {o}" for o in over] + ["", "Listed as measured.", ""]
    else:
        lines += ["No function is over its bound.", ""]
    lines += ["*backward near zero*: the backwards of " + ", ".join(
              f"[{e.name}](functions/{e.name}.md)" for e in ACTIVATIONS.values() if e.grad_zeros)
              + " cross zero at the table's `grad_zeros` through cancellation (the derivative is a "
              "difference of terms there), so within " + f"{GRAD_ZERO_RADIUS:g}" + " of those points their "
              "error is measured in ulps of |grad| times the largest |derivative| within twice that "
              "distance, the size of the terms (the detail tables give it as *backward near zero*; the "
              "summary's backward columns cover every other input).", ""]
    lines += ["## What was swept", "",
              f"**float32, every function but the softmax family** "
              f"({', '.join(e.name for e in ACTIVATIONS.values() if e.kind != 'softmax')}): "
              f"{n32:,} inputs: one float32 from every block of {stride} consecutive bit patterns, at a "
              f"fixed pseudo-random position inside the block, over all 2^32 patterns "
              f"(so every binade of both signs, subnormals, infinities and NaNs, at a density of one value in "
              f"{stride}), plus special values (±0, ±inf, NaN, the smallest subnormal, the smallest normal, "
              f"the largest finite value, and the 8 neighbours on each side of every integer and half-integer "
              f"in [-800, 800]).", "",
              f"**float64, the same functions**: {n64:,} inputs: {F64_RANDOM_BITS // (16 if meta['quick'] else 1):,} "
              f"random bit patterns (every binade of both signs equally likely), "
              + ", ".join(f"{m // (16 if meta['quick'] else 1):,} uniform on [{lo:g}, {hi:g}]" for lo, hi, m in F64_UNIFORM)
              + ", and the same special values.", "",
              "**Backward**: the upstream gradient `grad` has a random sign and a random magnitude in "
              "[0.5, 2) with a full significand (so the final multiplication's rounding is measured); the "
              "backwards that take `y` get the `y` fastact's forward returned for the swept `x`, and the "
              "exact value is the reference backward on those same `grad` and `y`.", "",
              "**Parameters**: every function at its defaults and at each parameter set of the table's "
              "`test_params`; PReLU also with 16 channels of weights from U(-1, 1) (x laid out as (N, 16)); "
              "RReLU in evaluation and in training (the exact value of the training forward is `x * noise` "
              "with the slopes `noise` it returned).", "",
              "**softmax and log_softmax**: rows of lengths " + ", ".join(str(L) for L in SOFTMAX_LENGTHS)
              + f" ({SOFTMAX_ELEMS:,} elements per length and distribution), drawn from each of: "
              + "; ".join(lab for lab, _, _ in SOFTMAX_DISTS)
              + ", in both dtypes, along the last axis; `grad` for the backwards is N(0, 1).", ""]
    lines += ["## Detail", "",
              "Every function, parameter set, dtype and direction, with the input where the worst error "
              "occurs (for the backwards taking `y`, the `x` that produced it as well).", ""]
    for entry in ACTIVATIONS.values():
        lines += [f"### [{entry.name}](functions/{entry.name}.md)", "",
                  _md_table(["parameters", "dtype", "direction", "worst ulp", "correctly rounded", "worst at"],
                            accuracy_rows(entry, results)), ""]
        if entry.kind == "prelu":
            lines += [_prelu_gw_section(gw).replace("### grad_weight", "#### prelu grad_weight"), ""]
    lines += ["## softmax and log_softmax", ""]
    for entry in ACTIVATIONS.values():
        if entry.kind == "softmax":
            lines += [f"### {entry.name} backward", "", _softmax_backward_note(entry, results), ""]
    lines += ["## How to reproduce", "", "```sh",
              COMMAND + f"               # this page (float32: one value per {F32_STRIDE} bit patterns)",
              COMMAND + " --stride 64    # a 4x denser float32 sweep (67M values), about 4x slower",
              COMMAND + " --quick        # thin sweeps, to try out the pages", "```", "",
              "Every page is rewritten; the samples come from fixed seeds, so a rerun on the same versions "
              "gives the same pages.", ""]
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------
# conventions.md and index.md


def _rrelu_numbers():
    e = ACTIVATIONS.get("rrelu")
    lo, hi = (e.params["lower"], e.params["upper"]) if e else (1 / 8, 1 / 3)
    a_lo, a_hi = 1 / hi, 1 / lo  # the paper's divisor range that gives the same extreme slopes
    return dict(lo=lo, hi=hi, a_lo=a_lo, a_hi=a_hi, eval_slope=(lo + hi) / 2,
                paper_eval=2 / (a_lo + a_hi), mean_inv=math.log(a_hi / a_lo) / (a_hi - a_lo),
                median_inv=2 / (a_lo + a_hi))


def _dtype_table():
    rows = []
    x = [0, 1, 2]
    cases = [("float64", np.float64), ("float32", np.float32), ("float16", np.float16), ("int64", np.int64),
             ("int32", np.int32), ("uint8", np.uint8), ("bool", np.bool_)]
    for label, dt in cases:
        a = np.array(x, dtype=dt)
        outs = {f: getattr(fa, f)(a).dtype.name for f in ("sigmoid", "relu", "softmax")}
        rows.append([label, outs["sigmoid"], outs["relu"], outs["softmax"]])
    mixed = fa.sigmoid_backward(np.ones(3, np.float32), np.ones(3, np.float64)).dtype.name
    rows.append(["grad float32, y float64 (backward)", mixed, fa.relu_backward(
        np.ones(3, np.float32), np.ones(3, np.float64)).dtype.name,
        fa.softmax_backward(np.ones(3, np.float32), np.ones(3, np.float64)).dtype.name])
    return _md_table(["input dtype", "sigmoid", "relu", "softmax"], rows)


def _nan_table():
    rows = []
    for entry in ACTIVATIONS.values():
        if entry.kind == "softmax":
            continue
        rs = {float(r[0]) if not np.isnan(r[0]) else "nan": r for r in special_table(entry)}
        nan, pinf, ninf = rs["nan"], rs[np.inf], rs[-np.inf]
        rows.append([entry.name, fmt(nan[1]), fmt(nan[2]), fmt(ninf[1]), fmt(ninf[2]), fmt(pinf[1]), fmt(pinf[2])])
    return _md_table(["function", "f(nan)", "f'(nan)", "f(-inf)", "f'(-inf)", "f(inf)", "f'(inf)"], rows)


def _torch_differences():
    torch, _ = _torch()
    if torch is None:
        return "PyTorch is not installed here, so the comparison with it was not run."
    diffs = []
    for entry in ACTIVATIONS.values():
        for x, y, dx, ty, tdx in special_table(entry):
            if not _same(y, ty):
                kind = "sign of zero" if _same_value(y, ty) else "value"
                diffs.append(f"`{entry.name}({_vec(x) if np.ndim(x) else fmt(x)})`: fastact {_vec(y) if np.ndim(y) else fmt(y)}, "
                             f"PyTorch {_vec(ty) if np.ndim(ty) else fmt(ty)} ({kind})")
            if not _same(dx, tdx):
                kind = "sign of zero" if _same_value(dx, tdx) else "value"
                diffs.append(f"gradient of `{entry.name}` at {_vec(x) if np.ndim(x) else fmt(x)}: fastact "
                             f"{_vec(dx) if np.ndim(dx) else fmt(dx)}, PyTorch {_vec(tdx) if np.ndim(tdx) else fmt(tdx)} ({kind})")
    head = (f"Compared with PyTorch {torch.__version__} (float64, autograd) on the special values of each "
            "function page (±inf, ±1, ±0, NaN; for softmax rows with infinities and NaN).")
    if not diffs:
        return head + " Every result agrees bitwise."
    return head + " Everything agrees bitwise except:\n\n" + "\n".join(f"- {d}" for d in diffs)


def conventions_page():
    n = _rrelu_numbers()
    kinks = []
    for entry in ACTIVATIONS.values():
        for k, label, params, d, td in kink_gradients(entry):
            kinks.append([entry.name, fmt(float(k)), label, fmt(d),
                          "-" if td is None else ("same" if td == d else f"**{fmt(td)}**")])
    torch, _ = _torch()
    prelu = ACTIVATIONS.get("prelu")
    w0 = prelu.params["weight"] if prelu else 0.25
    L = ["# Conventions", "",
         "What fastact does where the mathematics leaves a choice: gradients at kinks, the parameter "
         "conventions of PReLU and RReLU, dtypes, and non-finite values. fastact follows PyTorch throughout; "
         "the tables on this page are computed by `" + COMMAND + "` from fastact itself.", "",
         "## Gradients at kinks", "",
         "Piecewise functions are not differentiable where their pieces meet. At those points fastact "
         "returns the value PyTorch's autograd returns, which for the ReLU family is the derivative of "
         "the **left** (x <= 0) piece: relu'(0) = 0, leaky_relu'(0) = negative_slope, elu'(0) = alpha "
         "(alpha exp(0); with alpha = 1 both sides agree), prelu'(0) = the channel's weight, rrelu'(0) = "
         "the slope in use (the drawn one in training, (lower + upper) / 2 in evaluation). In code the "
         "positive branch is taken for `x > 0` only. The ReLU backward gets the forward's output y "
         "rather than x: y > 0 exactly when x > 0, so the same convention holds.", "",
         "Every kink of the table, at every parameter set the tests use, with the gradient fastact "
         "returns there (grad = 1, float64) and PyTorch's:", "",
         _md_table(["function", "x", "parameters", "fastact gradient", "PyTorch" +
                    (f" {torch.__version__}" if torch else "")], kinks), "",
         "## RReLU", "",
         "fastact (like PyTorch) writes the randomized leaky ReLU with a **slope** a drawn uniformly:", "",
         "    f(x) = x            for x > 0",
         "    f(x) = a x          for x <= 0,   a ~ U(lower, upper) per element, in training",
         "    f(x) = (lower + upper) / 2 * x    for x <= 0, in evaluation", "",
         f"with defaults lower = 1/8 and upper = 1/3, so the evaluation slope is 11/48 ≈ {n['eval_slope']:.4f}, "
         "the mean of the training slopes: the evaluation output is the expected training output.", "",
         "Xu et al. (2015) write it with a **divisor** instead: y = x / a for x < 0, a ~ U(l, u), with "
         f"U(3, 8) in their experiments, and at test time a fixed to (l + u) / 2 = 5.5, i.e. a slope of "
         f"1/5.5 ≈ {1 / 5.5:.4f}. The two forms have the same extreme slopes (1/8 and 1/3 are 1/u and 1/l), but "
         "they are not the same distribution:", "",
         f"- 1/a with a ~ U(3, 8) is **not** uniform on [1/8, 1/3]: its density is proportional to 1/s^2 on "
         f"that interval, so small slopes are more likely; its mean is ln(8/3)/5 ≈ {n['mean_inv']:.4f} and "
         f"its median 2/11 ≈ {n['median_inv']:.4f}, against {n['eval_slope']:.4f} for a uniform slope.",
         f"- The paper's test-time slope 1/5.5 ≈ {n['paper_eval']:.4f} is 1/E[a], the slope at the mean "
         f"divisor, not the mean slope E[1/a] ≈ {n['mean_inv']:.4f}; PyTorch's (lower + upper) / 2 = 11/48 ≈ "
         f"{n['eval_slope']:.4f} is the mean of its own uniform slope.", "",
         "To reproduce the paper's evaluation behaviour with fastact, use a leaky ReLU of slope 1/5.5: "
         "`fa.leaky_relu(x, 1 / 5.5)` (or `fa.rrelu(x, lower=s, upper=s)` with s = 1/5.5). In training, "
         "drawing slopes from U(1/8, 1/3) approximates but does not reproduce the paper's draws.", "",
         "In training, `fa.rrelu(x, lower, upper, training=True, rng=...)` returns `(y, noise)`; `noise` holds "
         "every element's slope (1 where x > 0), and `fa.rrelu_backward(grad, x, noise)` multiplies by it. "
         "Without `noise`, `rrelu_backward` is the gradient of the evaluation form. The draws come from the "
         "NumPy `Generator` (or seed) passed as `rng`, in the array's dtype; the same seed gives the same "
         "slopes.", "",
         "## PReLU weights", "",
         "`fa.prelu(x, weight, axis=1)`: the slope of channel c is `weight[c]`. As in PyTorch, the channel "
         "axis is axis 1 (N, C, ...), `weight` has either one entry (shared by every channel) or one per "
         "channel, and a 1-D input has no channel axis, so it takes a single weight. `axis=` chooses "
         "another channel axis (e.g. `axis=-1` for channels-last data).", "",
         f"He et al. (2015) initialise the slopes at {w0} (PyTorch's default `init=0.25`, the table's default "
         "here) and learn them by backpropagation with the other weights. "
         "`fa.prelu_backward(grad, x, weight)` returns `(grad_x, grad_weight)`; `grad_weight[c]` is the "
         "gradient of the loss with respect to the slope of channel c, the sum over every position of that "
         "channel of x * grad where x <= 0 (df/da_c = x there, 0 elsewhere). With momentum mu and learning "
         "rate eps the paper updates a slope as", "",
         "    delta_a := mu * delta_a - eps * dL/da",
         "    a := a + delta_a", "",
         "(the paper writes the step with the sign folded into the gradient; it is plain momentum SGD), "
         "and without weight decay on a, which would pull the slopes towards 0, i.e. towards ReLU. "
         "The slopes are not constrained: they can grow past 1 or go negative.", "",
         "## dtypes", "",
         "float32 is computed in float32 and float64 in float64 (the sums of the softmax family are "
         "carried in float64 for float32 data and as double-doubles for float64 data; PReLU's "
         "`grad_weight` in float64). float16 is computed in float32 and rounded "
         "to float16 once. bool and integer inputs are computed in float64 and give float64, as `np.exp` "
         "does. A backward with arrays of two dtypes computes in their NumPy result type. Other dtypes "
         "(complex, object, strings) raise `TypeError`. Scalars give NumPy scalars; 0-d and empty arrays "
         "work. What fastact returns:", "",
         _dtype_table(), "",
         "## NaN and infinities", "",
         "Every forward propagates NaN (relu(NaN) is NaN, as in PyTorch: the comparisons are written so "
         "that NaN falls through to the branch that returns x). Infinities give the limits: sigmoid(-inf) = "
         "0, tanh(±inf) = ±1, elu(-inf) = -alpha. The backwards of the piecewise functions pick their "
         "branch with the same comparison as PyTorch's, which is false for NaN, so at a NaN input they "
         "return the gradient of whichever branch PyTorch returns (1 for relu, whose backward tests "
         "`y <= 0`; the negative slope for leaky_relu, which tests `x > 0`); the smooth ones compute with "
         "the NaN and return NaN. At x = NaN, ±inf, fastact gives (float64, grad = 1):", "",
         _nan_table(), "",
         "Softmax and log_softmax subtract the row maximum first, so large inputs do not overflow "
         "(softmax([1000, 0]) is [1, 0]). A row of all -inf gives NaN, as in PyTorch (0/0: no element "
         "has any weight); a row containing +inf or NaN gives NaN everywhere; -inf entries in a row with "
         "a finite maximum get probability 0 (log-probability -inf).", "",
         "### Compared with PyTorch", "",
         _torch_differences(), ""]
    return "\n".join(L).rstrip() + "\n"


# ---------------------------------------------------------------------------
# Fused operations (not table entries: they take a second array or halve an axis)

FUSED = [
    dict(name="glu", backward="glu_backward", uses="`x`",
         summary="Gated linear unit (Dauphin et al. 2017), as PyTorch's `F.glu`.",
         formula="glu(x) = a * sigmoid(b), a and b the first and second halves of x along `axis` "
                 "(default -1; its length must be even, else ValueError)",
         derivative="d/da = sigmoid(b) g,  d/db = a sigmoid(b) (1 - sigmoid(b)) g",
         usage="y = fa.glu(x, axis=-1)\ndx = fa.glu_backward(dy, x, axis=-1)",
         notes="sigmoid(b) and 1 - sigmoid(b) are both computed from exp(-|b|), so neither cancels; "
               "glu([2, -100]) is 7.4e-44, not 0."),
    dict(name="bias_act", backward="bias_act_backward", uses="`x` and `bias` (z = x + bias is recomputed)",
         summary="Bias add and any elementwise activation of the table in one pass over memory "
                 "(the epilogue of a dense layer).",
         formula="bias_act(x, bias, activation, axis=-1, **params) = activation(x + bias, **params), "
                 "bias of the length of `axis`, broadcast along it",
         derivative="grad_x = activation'(z) g, grad_bias = sum of grad_x over every axis but `axis`, "
                    "z = x + bias",
         usage="y = fa.bias_act(x, b, \"gelu\", approximate=\"tanh\")\n"
               "gx, gb = fa.bias_act_backward(dy, x, b, \"gelu\", approximate=\"tanh\")",
         notes="The activation is given by name with its parameters as keywords; each (activation, dtype) "
               "compiles on first use.  grad_bias is accumulated in float64 over blocks of rows chosen from "
               "the shape alone, so it does not depend on the number of threads, and serial and parallel "
               "results are bitwise equal.  Activations whose backward needs y recompute y from z."),
]


def fused_page(f):
    L = [f"# {f['name']}", "", f["summary"], "", "```", f["formula"], "```", "",
         "## Derivative", "", "```", f["derivative"], "```", "",
         f"`{f['backward']}` needs {f['uses']} besides the upstream gradient.", "",
         "## Usage", "", "```python", "import fastact as fa", f["usage"], "```", "", f["notes"], "",
         "float16 is computed in float32; bool and integer inputs in float64; `out=` as the activations. "
         "Benchmarks: `bench/bench_fused.py`.", ""]
    return "\n".join(L)


# ---------------------------------------------------------------------------
# fastact against the other frameworks.  One row per function: what each
# framework calls it and its defaults ("-": no such function in that API).
# Sources: the API references of PyTorch 2.x (torch.nn.functional), JAX
# (jax.nn), Keras 3 (keras.activations) and TensorFlow 2.x (tf.nn).

FRAMEWORKS = ("PyTorch", "JAX", "Keras 3", "TensorFlow")
FRAMEWORK_FUNCTIONS = [
    # fastact, PyTorch, JAX, Keras 3, TensorFlow
    ("relu", "F.relu", "jax.nn.relu", "relu", "tf.nn.relu"),
    ("leaky_relu", "F.leaky_relu, negative_slope=0.01", "jax.nn.leaky_relu, negative_slope=0.01",
     "leaky_relu, negative_slope=0.2", "tf.nn.leaky_relu, alpha=0.2"),
    ("elu", "F.elu, alpha=1.0", "jax.nn.elu, alpha=1.0", "elu, alpha=1.0", "tf.nn.elu (alpha 1)"),
    ("selu", "F.selu", "jax.nn.selu", "selu", "tf.nn.selu"),
    ("celu", "F.celu, alpha=1.0", "jax.nn.celu, alpha=1.0", "celu, alpha=1.0", "-"),
    ("gelu", "F.gelu, approximate='none'", "jax.nn.gelu, approximate=True", "gelu, approximate=False",
     "tf.nn.gelu, approximate=False"),
    ("silu", "F.silu", "jax.nn.silu (= swish)", "silu (= swish)", "tf.nn.silu (= swish)"),
    ("softplus", "F.softplus, beta=1, threshold=20", "jax.nn.softplus", "softplus", "tf.nn.softplus"),
    ("sigmoid", "torch.sigmoid", "jax.nn.sigmoid", "sigmoid", "tf.math.sigmoid"),
    ("tanh", "torch.tanh", "jax.numpy.tanh", "tanh", "tf.math.tanh"),
    ("relu6", "F.relu6", "jax.nn.relu6", "relu6", "tf.nn.relu6"),
    ("softsign", "F.softsign", "jax.nn.soft_sign", "softsign", "tf.nn.softsign"),
    ("logsigmoid", "F.logsigmoid", "jax.nn.log_sigmoid", "log_sigmoid", "tf.math.log_sigmoid"),
    ("softmax", "F.softmax, dim", "jax.nn.softmax, axis=-1", "softmax, axis=-1", "tf.nn.softmax, axis=-1"),
    ("log_softmax", "F.log_softmax, dim", "jax.nn.log_softmax, axis=-1", "log_softmax, axis=-1",
     "tf.nn.log_softmax, axis=-1"),
    ("glu", "F.glu, dim=-1", "jax.nn.glu, axis=-1", "glu, axis=-1", "-"),
    ("rrelu", "F.rrelu, lower=1/8, upper=1/3", "-", "-", "-"),
    ("threshold", "F.threshold", "-", "-", "-"),
]
FRAMEWORK_NOTES = [
    "**gelu's default differs**: PyTorch and TensorFlow/Keras default to the exact erf form, JAX's "
    "`jax.nn.gelu` to the tanh approximation (`approximate=True`).  fastact follows PyTorch "
    "(`approximate=\"none\"`; `\"tanh\"` for the approximation).",
    "**leaky_relu's default slope differs**: 0.01 in PyTorch, JAX and fastact; 0.2 in "
    "`tf.nn.leaky_relu` and `keras.activations.leaky_relu`.",
    "**softplus**: only PyTorch has `beta` and `threshold` (above `threshold`, `beta x` is returned as x); "
    "fastact has both, with PyTorch's defaults.",
    "**elu, selu**: alpha 1.0 by default everywhere; selu uses the same constants everywhere "
    "(alpha = 1.6732632423543772, scale = 1.0507009873554805).",
    "**relu'(0)**: 0 in PyTorch, TensorFlow (the gradient passes where x > 0) and JAX (`jax.nn.relu` "
    "defines its derivative at 0 as 0); fastact: 0.",
    "**Gradients at the other kinks** in fastact follow PyTorch; see [Conventions](conventions.md) for each "
    "function's values at its kinks (hardswish at -3 and 3, relu6 and hardtanh at their ends, elu at 0).",
    "**softmax's axis**: PyTorch takes `dim` (no default in new code); the others and fastact default to "
    "the last axis.",
]


def frameworks_page():
    L = ["# fastact and the other frameworks", "",
         "Which activation functions PyTorch, JAX, Keras and TensorFlow offer under which name, with "
         "their default parameters, and where their conventions differ.  `-`: no such function in that "
         "API (a layer or an add-on package may have one).  Keras names are in `keras.activations`.", ""]
    rows = [[f"[{r[0]}](functions/{r[0]}.md)"] + [f"`{c}`" if c != "-" else "-" for c in r[1:]]
            for r in FRAMEWORK_FUNCTIONS]
    L += [_md_table(["fastact"] + list(FRAMEWORKS), rows), "", "## Where they differ", ""]
    L += [f"- {n}" for n in FRAMEWORK_NOTES]
    L += ["", f"Generated by `{COMMAND}` from the data in `tools/gen_docs.py` (`FRAMEWORK_FUNCTIONS`).", ""]
    return "\n".join(L)


def index_page():
    L = ["# fastact documentation", "",
         "Compiled (Numba) activation functions and their gradients for NumPy arrays.", "",
         "## Functions", "",
         "Each page gives the definition, the parameters, the conventions, the measured accuracy and a plot "
         "of the function and its derivative.", ""]
    rows = [[f"[{e.name}](functions/{e.name}.md)", e.summary, f"`{e.backward_name}`",
             "`y`" if e.backward_uses == "y" else "`x`"] for e in ACTIVATIONS.values()]
    rows += [[f"[{f['name']}](functions/{f['name']}.md)", f["summary"], f"`{f['backward']}`", f["uses"]]
             for f in FUSED]
    L += [_md_table(["function", "summary", "backward", "backward needs"], rows), ""]
    L += ["## Reference", "",
          "- [Frameworks](frameworks.md): fastact against PyTorch, JAX, Keras and TensorFlow: names, "
          "defaults and conventions.",
          "- [Accuracy](accuracy.md): worst-case ulp errors of every function, forward and backward, "
          "float32 and float64, against a long-double reference, and what was swept.",
          "- [Conventions](conventions.md): gradients at kinks, RReLU's form and the paper's, PReLU's "
          "weights, dtypes, NaN and infinities.",
          "- [Benchmarks](benchmarks.md): speed against NumPy and PyTorch.",
          "- [Scaling](scaling.md): the parallel kernels from one thread to 16, against PyTorch and the copy roof.",
          "- [Experiments](experiments.md): training experiments with the activations.", "",
          f"The function pages, accuracy.md, conventions.md and this index are generated by `{COMMAND}` "
          "from the activation table `fastact.ACTIVATIONS` (`fastact/_registry.py`); edit the table or "
          "the generator, not the pages.", ""]
    return "\n".join(L).rstrip() + "\n"


# ---------------------------------------------------------------------------


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(os.path.relpath(path, ROOT))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="thinner sweeps (for trying out the pages)")
    ap.add_argument("--stride", type=int, default=None,
                    help=f"float32 sweep: one value per STRIDE bit patterns, a power of 2 (default {F32_STRIDE}; "
                         f"64 gives 67M values and takes about 4 times as long)")
    ap.add_argument("--procs", type=int, default=min(2, os.cpu_count() or 1),
                    help="worker processes for the measurement (default 2)")
    ap.add_argument("--measurements", metavar="FILE", default=None,
                    help="keep the measurements in FILE (pickle), or, when FILE exists, write the pages "
                         "from it without measuring again")
    args = ap.parse_args(argv)
    stride = args.stride or (F32_STRIDE_QUICK if args.quick else F32_STRIDE)
    if stride < 1 or stride & (stride - 1) or stride > 1 << 16:
        ap.error("--stride must be a power of 2 between 1 and 65536")
    if args.measurements and os.path.exists(args.measurements):
        with open(args.measurements, "rb") as fh:
            results, gw, meta = pickle.load(fh)
    else:
        results, gw, meta = run_measurements(args.quick, max(1, args.procs), stride)
        if args.measurements:
            with open(args.measurements, "wb") as fh:
                pickle.dump((results, gw, meta), fh)
    os.makedirs(os.path.join(DOCS, "img"), exist_ok=True)
    for entry in ACTIVATIONS.values():
        path = os.path.join(DOCS, "img", f"fn_{entry.name}.png")
        plot(entry, path)
        print(os.path.relpath(path, ROOT))
        write(os.path.join(DOCS, "functions", f"{entry.name}.md"), function_page(entry, results, gw))
    write(os.path.join(DOCS, "accuracy.md"), accuracy_page(results, gw, meta))
    write(os.path.join(DOCS, "conventions.md"), conventions_page())
    for f in FUSED:
        write(os.path.join(DOCS, "functions", f"{f['name']}.md"), fused_page(f))
    write(os.path.join(DOCS, "frameworks.md"), frameworks_page())
    write(os.path.join(DOCS, "index.md"), index_page())


if __name__ == "__main__":
    main()

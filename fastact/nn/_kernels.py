"""Compiled helpers of the fastact backend: everything in a training step
around the matrix products that NumPy would do in several passes, or with
more per-call overhead than arithmetic at batch size 32.

* ``adam_update``: Adam reads and writes four arrays per parameter; as
  separate NumPy operations that is about ten passes over memory and as many
  temporaries, one fused loop does it in one pass.  With the network's
  parameters in one flat buffer (:class:`fastact.nn.layers.Network`), one call
  updates them all.
* ``take_batch``: the rows of a mini-batch and their labels, gathered into
  preallocated buffers.
* ``cross_entropy_step``: loss, gradient and number of correct predictions of
  a batch of logits in one pass over the rows.
* ``column_sum``: a bias's gradient, the sum of the upstream gradient over
  the batch.

Compiled on first use and cached on disk, like the activation kernels.
"""
import math

import numpy as np
from numba import njit

_JIT = dict(cache=True, nogil=True, error_model="numpy")


@njit(**_JIT)
def _adam_loop(p, g, m, v, step_size, inv_sqrt_bias2, eps, beta1, beta2):
    # The scalars arrive as Python floats; casting them to the parameters'
    # dtype first keeps float32 parameters in float32 arithmetic, as in the
    # NumPy version.
    c = np.empty(8, p.dtype)
    c[0], c[1], c[2], c[3], c[4], c[5], c[6] = (step_size, inv_sqrt_bias2, eps, beta1, 1 - beta1,
                                                beta2, 1 - beta2)
    c[7] = np.finfo(p.dtype).tiny if eps > 0 else 0  # no flush without eps (see adam_update)
    step_size, inv_sqrt_bias2, eps, beta1, one_m_beta1, beta2, one_m_beta2, tiny = (
        c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7])
    for i in range(p.shape[0]):
        gi = g[i]
        mi = beta1 * m[i] + one_m_beta1 * gi
        mi = mi * (abs(mi) >= tiny)  # flush subnormal to zero (see adam_update)
        vi = beta2 * v[i] + one_m_beta2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        p[i] -= step_size * (mi / (math.sqrt(vi) * inv_sqrt_bias2 + eps))


def adam_update(p, g, m, v, step_size, sqrt_bias2, eps, beta1, beta2):
    """Fused Adam update of ``p``, ``m`` and ``v`` in place (see
    :meth:`fastact.nn.backends.Backend.adam_update`).  All four arrays must be
    C-contiguous and of one dtype; the arithmetic is in that dtype.

    One departure from the formula: a first moment ``m`` smaller in magnitude
    than the dtype's smallest normal number (1.2e-38 in float32) is stored as
    0.  Such an ``m`` arises where a gradient was non-zero once and has been 0
    since (a pixel that is almost always black); left alone it would decay
    through the subnormal range for about 150 steps, and arithmetic on
    subnormals costs this CPU several times the normal time.  Its share of
    the step, ``step_size * m / (sqrt(v) / sqrt_bias2 + eps)``, is far below
    at most ``step_size * tiny / eps`` (about 1e-32 at lr 1e-3 and eps 1e-7),
    below one unit in the last place of every parameter larger than about
    1e-25 in magnitude; in this trainer's runs the parameters came out bit
    for bit the same.  With ``eps = 0`` that bound does not exist and nothing
    is flushed.  (TensorFlow's CPU threads flush every subnormal result to
    zero; this flushes only ``m``.)
    """
    for a in (p, g, m, v):
        if not a.flags.c_contiguous or a.dtype != p.dtype or a.size != p.size:
            raise ValueError("adam_update needs C-contiguous arrays of one dtype and one size")
    if p.ndim != 1:
        p, g, m, v = p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1)
    _adam_loop(p, g, m, v, float(step_size), 1 / sqrt_bias2, float(eps), float(beta1), float(beta2))


@njit(**_JIT)
def take_batch(x, y, idx, xb, yb):
    """``xb[i] = x[idx[i]]`` and ``yb[i] = y[idx[i]]`` for every i; the
    indices must be valid (non-negative and below ``len(x)``)."""
    cols = x.shape[1]
    for i in range(idx.shape[0]):
        r = idx[i]
        yb[i] = y[r]
        for j in range(cols):
            xb[i, j] = x[r, j]


@njit(**_JIT)
def cross_entropy_step(logits, labels, grad, scale):
    """For a batch of logits (rows) and integer labels: writes ``scale *
    (softmax(row) - onehot(label))`` into ``grad`` and returns ``(sum of the
    rows' cross-entropies, number of rows whose first largest logit is the
    label)``, or ``(nan, -1)`` without touching ``grad`` when a label is out of
    range.  Exponentials and sums are in float64."""
    n, c = logits.shape
    for i in range(n):
        if labels[i] < 0 or labels[i] >= c:
            return math.nan, -1
    e = np.empty(c)
    total = 0.0
    correct = 0
    for i in range(n):
        best = 0
        top = float(logits[i, 0])
        for j in range(1, c):
            if logits[i, j] > top:
                top = float(logits[i, j])
                best = j
        s = 0.0
        for j in range(c):
            e[j] = math.exp(float(logits[i, j]) - top)
            s += e[j]
        label = labels[i]
        total += math.log(s) - (float(logits[i, label]) - top)
        if best == label:
            correct += 1
        k = scale / s
        for j in range(c):
            grad[i, j] = k * e[j]
        grad[i, label] = k * e[label] - scale
    return total, correct


@njit(**_JIT)
def column_sum(a, out):
    """``out[j] = sum of a[:, j]``, row after row, in ``a``'s dtype (the order
    in which NumPy's ``a.sum(axis=0)`` adds them)."""
    for j in range(a.shape[1]):
        out[j] = 0
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[j] += a[i, j]

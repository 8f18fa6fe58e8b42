"""Compiled optimizer loop of the fastact backend.

Adam reads and writes four arrays per parameter; as separate NumPy operations
that is about ten passes over memory and as many temporaries, one fused loop
does it in one pass.  Compiled on first use and cached on disk, like the
activation kernels.  Scalars are cast to the parameters' dtype before the
call so float32 parameters are updated in float32 arithmetic, as in the NumPy
version.
"""
import math

from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def _adam_loop(p, g, m, v, step_size, inv_sqrt_bias2, eps, beta1, one_m_beta1,
               beta2, one_m_beta2):
    for i in range(p.shape[0]):
        gi = g[i]
        mi = beta1 * m[i] + one_m_beta1 * gi
        vi = beta2 * v[i] + one_m_beta2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        p[i] -= step_size * (mi / (math.sqrt(vi) * inv_sqrt_bias2 + eps))


def adam_update(p, g, m, v, step_size, sqrt_bias2, eps, beta1, beta2):
    """Fused Adam update of ``p``, ``m`` and ``v`` in place (see
    :meth:`fastact.nn.backends.Backend.adam_update`).  All four arrays must be
    C-contiguous and of one dtype."""
    for a in (p, g, m, v):
        if not a.flags.c_contiguous or a.dtype != p.dtype:
            raise ValueError("adam_update needs C-contiguous arrays of one dtype")
    t = p.dtype.type
    _adam_loop(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
               t(step_size), t(1 / sqrt_bias2), t(eps), t(beta1), t(1 - beta1),
               t(beta2), t(1 - beta2))


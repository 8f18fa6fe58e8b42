"""The two interchangeable compute backends of the trainer.

``backend="fastact"`` runs every activation and its backward on fastact's
compiled kernels, and the rest of a training step around the matrix products
on the trainer's own compiled loops (:mod:`fastact.nn._kernels`): the batch
gather, the loss with its gradient and accuracy in one pass, the bias
gradients and Adam's update.  ``backend="numpy"`` runs the same steps on
:mod:`fastact.reference` (plain NumPy, straight from the formulas) and on
ordinary NumPy operations.  Matrix products are NumPy's (BLAS) in both, so a
comparison of the two measures what the kernels change and nothing else.

Both backends draw the same random numbers from the same generator, so with the
same seed they train the same network to within floating-point rounding (and
the compiled Adam's flushing of subnormal first moments, see
``fastact.nn._kernels.adam_update``).
"""
import functools

import numpy as np

from . import _kernels

BACKENDS = ("fastact", "numpy")


class Backend:
    """Looks activation functions up by name in one module.

    ``function("relu")`` returns the forward, ``function("relu_backward")`` the
    backward.  The one operation whose calling convention differs between the
    modules, RReLU in training mode, is :meth:`rrelu_train`.
    """

    def __init__(self, name, module, compiled):
        self.name = name
        self.module = module
        self.compiled = compiled

    def __repr__(self):
        return f"Backend({self.name!r})"

    def function(self, name):
        try:
            fn = getattr(self.module, name)
        except AttributeError:
            raise NotImplementedError(
                f"backend {self.name!r} has no function {name!r} "
                f"({self.module.__name__} does not define it)") from None
        return fn if self.compiled else _same_dtype(fn)

    def rrelu_train(self, x, lower, upper, rng):
        """RReLU in training mode: ``(y, noise)``, with ``noise`` the slope used
        for each element (1 where x > 0).

        One uniform draw per element, ``rng.random(x.shape, dtype=x.dtype)``,
        turned into the slope ``lower + (upper - lower) * u`` where x <= 0; the
        compiled kernel draws exactly this, so both backends use the same
        slopes.
        """
        if self.compiled:
            return self.module.rrelu(x, lower, upper, training=True, rng=rng)
        u = rng.random(x.shape, dtype=x.dtype)
        t = x.dtype.type
        slope = t(lower) + (t(upper) - t(lower)) * u
        noise = np.where(x > 0, np.ones_like(u), slope)
        return self.module.rrelu(x, lower, upper, noise=noise), noise

    def adam_update(self, p, g, m, v, step_size, sqrt_bias2, eps, beta1, beta2):
        """One Adam update of ``p`` in place (PyTorch's formula)::

            m = beta1 m + (1 - beta1) g
            v = beta2 v + (1 - beta2) g^2
            p -= step_size * m / (sqrt(v) / sqrt_bias2 + eps)

        with ``step_size = lr / (1 - beta1^t)`` and ``sqrt_bias2 =
        sqrt(1 - beta2^t)``.
        """
        if self.compiled:
            _kernels.adam_update(p, g, m, v, step_size, sqrt_bias2, eps, beta1, beta2)
            return
        _adam_update_numpy(p, g, m, v, step_size, sqrt_bias2, eps, beta1, beta2)

    def take_batch(self, x, y, idx, xb, yb):
        """The mini-batch ``(x[idx], y[idx])``.  The compiled backend gathers
        it into the buffers ``xb`` and ``yb`` (at least ``len(idx)`` rows, of
        the dtypes of ``x`` and ``y``) and returns views of them; the numpy
        backend returns new arrays from fancy indexing."""
        if self.compiled:
            xb, yb = xb[:len(idx)], yb[:len(idx)]
            _kernels.take_batch(x, y, idx, xb, yb)
            return xb, yb
        return x[idx], y[idx]

    def cross_entropy_step(self, logits, labels, grad):
        """``(loss, correct, grad)`` of a batch of logits against integer
        labels: the summed cross-entropy of softmax(logits), the number of
        rows whose largest logit is at the label, and the gradient of the
        *mean* loss with respect to the logits, ``(softmax - onehot) / n``.
        The compiled backend does it in one pass and writes the gradient into
        ``grad`` (shaped and typed like ``logits``); the numpy backend calls
        the references and returns a new array."""
        if self.compiled:
            loss, correct = _kernels.cross_entropy_step(logits, labels, grad, 1.0 / len(labels))
            if correct < 0:
                raise ValueError(f"labels must lie in [0, {logits.shape[1] - 1}]")
            return loss, correct, grad
        loss = float(self.module.softmax_cross_entropy(logits, labels, axis=-1, reduction="sum"))
        grad = self.module.softmax_cross_entropy_backward(1.0, logits, labels, axis=-1, reduction="mean")
        correct = int(np.count_nonzero(np.argmax(logits, axis=1) == labels))
        return loss, correct, grad.astype(logits.dtype, copy=False)

    def column_sum(self, a, out):
        """``out[...] = a.sum(axis=0)`` for a 2-D ``a`` (a bias's gradient)."""
        if self.compiled:
            _kernels.column_sum(a, out)
        else:
            np.sum(a, axis=0, out=out)


def _same_dtype(fn):
    """The reference functions are precision oracles and a few of them may
    return a wider type than they were given (float32 in, float64 out); cast
    back, so that the numpy backend trains in the same dtype as the compiled
    one.  The first array argument (x, or the upstream gradient) sets the dtype."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        out = fn(*args, **kwargs)
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        if not arrays:
            return out
        dtype = arrays[0].dtype
        if isinstance(out, tuple):
            return tuple(o if o.dtype == dtype else o.astype(dtype) for o in out)
        return out if out.dtype == dtype else out.astype(dtype)
    return wrapper


def _adam_update_numpy(p, g, m, v, step_size, sqrt_bias2, eps, beta1, beta2):
    t = p.dtype.type
    m *= t(beta1)
    m += t(1 - beta1) * g
    v *= t(beta2)
    v += t(1 - beta2) * (g * g)
    denom = np.sqrt(v)
    denom *= t(1 / sqrt_bias2)
    denom += t(eps)
    step = np.divide(m, denom, out=denom)
    step *= t(step_size)
    p -= step


_CACHE = {}


def get_backend(backend):
    """The backend called ``backend`` ("fastact" or "numpy"); a Backend passes
    through unchanged."""
    if isinstance(backend, Backend):
        return backend
    if backend in _CACHE:
        return _CACHE[backend]
    if backend == "numpy":
        from .. import reference
        result = Backend("numpy", reference, compiled=False)
    elif backend == "fastact":
        import fastact
        missing = [n for n in ("relu", "relu_backward", "softmax_cross_entropy",
                               "softmax_cross_entropy_backward")
                   if not hasattr(fastact, n)]
        if missing:
            raise ImportError(
                "the fastact backend needs fastact's compiled kernels, but fastact does not "
                f"define {', '.join(missing)}; use backend='numpy' meanwhile")
        result = Backend("fastact", fastact, compiled=True)
    else:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    _CACHE[backend] = result
    return result

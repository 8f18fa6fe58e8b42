"""Optimizers.  ``step()`` updates every parameter of the network in place from
the gradients its layers left after ``backward``.

Defaults of the two reference frameworks, for comparison:

==========  ==========================  ===========================================
            PyTorch ``torch.optim``      Keras ``keras.optimizers``
==========  ==========================  ===========================================
SGD         lr=1e-3, momentum=0          learning_rate=0.01, momentum=0.0
Adam        lr=1e-3, betas=(0.9, 0.999), learning_rate=0.001, beta_1=0.9,
            eps=1e-8                     beta_2=0.999, epsilon=1e-7
==========  ==========================  ===========================================

:class:`Adam` uses PyTorch's update, ``p -= lr / (1 - b1^t) * m / (sqrt(v) /
sqrt(1 - b2^t) + eps)``.  Keras adds epsilon to ``sqrt(v)`` before the bias
correction (``p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``), so
its epsilon is effectively ``eps * sqrt(1 - b2^t)`` in PyTorch's form; after the
first few thousand steps the two coincide.  Our defaults are PyTorch's; the
Fashion-MNIST experiment passes ``eps=1e-7`` to follow Keras' value.
"""
import math

import numpy as np

from .backends import get_backend


def _params(model):
    params = model.parameters() if hasattr(model, "parameters") else list(model)
    for name, p, g in params:
        if not p.flags.c_contiguous:
            raise ValueError(f"parameter {name} is not C-contiguous")
    return params


def _groups(model):
    """``[(param, grad), ...]`` to update: the model's one flat pair when it
    keeps its parameters in one buffer (:class:`fastact.nn.Network` does),
    else every parameter on its own."""
    params = _params(model)
    if getattr(model, "flat_params", None) is not None:
        return [(model.flat_params, model.flat_grads)]
    return [(p, g) for _, p, g in params]


class SGD:
    """Plain gradient descent, with optional (PyTorch-style) momentum:
    ``b = momentum b + g; p -= lr b``."""

    def __init__(self, model, lr, momentum=0.0):
        if not lr > 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.groups = _groups(model)
        self.lr, self.momentum = lr, momentum
        self._buf = [np.zeros_like(p) for p, _ in self.groups] if momentum else None

    def step(self):
        for i, (p, g) in enumerate(self.groups):
            t = p.dtype.type
            if self._buf is not None:
                b = self._buf[i]
                b *= t(self.momentum)
                b += g
                g = b
            p -= t(self.lr) * g


class Adam:
    """Adam (Kingma and Ba 2015) with PyTorch's defaults and update formula.

    The update itself runs on the backend: one fused compiled loop for
    ``"fastact"``, in-place NumPy operations for ``"numpy"``; on a
    :class:`fastact.nn.Network` one such update covers all its parameters.
    The compiled update stores first moments that would be subnormal as 0
    (when eps > 0), which changes a step by at most lr * tiny / eps and saves
    the CPU's slow subnormal arithmetic (see
    :func:`fastact.nn._kernels.adam_update`).
    """

    def __init__(self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, backend="numpy"):
        b1, b2 = betas
        if not lr > 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        if not eps >= 0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        self.groups = _groups(model)
        self.lr, self.beta1, self.beta2, self.eps = lr, b1, b2, eps
        self.backend = get_backend(backend)
        self.t = 0
        self._m = [np.zeros_like(p) for p, _ in self.groups]
        self._v = [np.zeros_like(p) for p, _ in self.groups]

    def step(self):
        self.t += 1
        step_size = self.lr / (1 - self.beta1 ** self.t)
        sqrt_bias2 = math.sqrt(1 - self.beta2 ** self.t)
        update = self.backend.adam_update
        for (p, g), m, v in zip(self.groups, self._m, self._v):
            update(p, g, m, v, step_size, sqrt_bias2, self.eps, self.beta1, self.beta2)


OPTIMIZERS = {"sgd": SGD, "adam": Adam}

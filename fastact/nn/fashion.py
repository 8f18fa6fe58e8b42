"""The Fashion-MNIST activation comparison.

The model mirrors the Keras one it is compared with: flatten 784 -> Dense(128,
activation) -> Dense(10) -> softmax, Glorot-uniform weights and zero biases,
sparse categorical cross-entropy, Adam at learning rate 1e-3 (Keras'
epsilon 1e-7), batches of 32, inputs scaled to [0, 1].
"""
from dataclasses import dataclass

import numpy as np

from .activations import parse_activation
from .datasets import load_fashion_mnist
from .losses import SoftmaxCrossEntropy
from .optim import SGD, Adam
from .train import build_mlp, fit


@dataclass
class RunResult:
    label: str  # the activation as asked for, e.g. "elu:alpha=0.5"
    activation: str
    params: dict
    backend: str
    history: object  # train.History
    model: object

    @property
    def seconds_per_epoch(self):
        secs = self.history["seconds"]
        return sum(secs) / len(secs)


def _warm_up(x, y, hidden, classes, name, params, backend, dtype):
    """One step of a throwaway copy of the model, so that compiling (or
    loading from the disk cache) the kernels is not counted in the first
    epoch's time."""
    model, (_, rng, _) = build_mlp(x.shape[1], (hidden,), classes, name, backend=backend, seed=0,
                                   dtype=dtype, **params)
    fit(model, SoftmaxCrossEntropy(backend), Adam(model, backend=backend), x, y, epochs=1,
        batch_size=len(x), rng=rng, x_test=x, y_test=y)


def train_fashion_mnist(activation="relu", *, data=None, data_dir=None, backend="fastact", epochs=10,
                        batch_size=32, lr=1e-3, eps=1e-7, seed=0, hidden=128, limit=None, scale=True,
                        dtype=np.float32, optimizer="adam", profile=False, on_step=None, on_epoch=None):
    """Train one model; ``activation`` is a name or ``"name:key=value,..."``.

    ``data`` is a ``(x_train, y_train, x_test, y_test)`` tuple already loaded
    (so several runs share one load); otherwise the files are read from
    ``data_dir`` (see :func:`fastact.nn.datasets.load_fashion_mnist`).
    ``optimizer`` is ``"adam"`` (with ``lr`` and ``eps``) or ``"sgd"`` (plain,
    with ``lr``).
    """
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"unknown optimizer {optimizer!r}; choose 'adam' or 'sgd'")
    name, params = parse_activation(activation)
    if data is None:
        data = load_fashion_mnist(data_dir, scale=scale, dtype=dtype, limit=limit)
    x_train, y_train, x_test, y_test = data
    classes = int(max(y_train.max(), y_test.max())) + 1
    classes = max(classes, 10)
    _warm_up(x_train[:4], y_train[:4], hidden, classes, name, params, backend, dtype)
    model, (_, shuffle_rng, _) = build_mlp(x_train.shape[1], (hidden,), classes, name,
                                           backend=backend, seed=seed, dtype=dtype, **params)
    loss = SoftmaxCrossEntropy(backend)
    opt = Adam(model, lr=lr, eps=eps, backend=backend) if optimizer == "adam" else SGD(model, lr=lr)
    history = fit(model, loss, opt, x_train, y_train, x_test=x_test, y_test=y_test,
                  epochs=epochs, batch_size=batch_size, rng=shuffle_rng, profile=profile,
                  on_step=on_step, on_epoch=on_epoch)
    return RunResult(activation, name, params, loss.backend.name, history, model)

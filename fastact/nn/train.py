"""Mini-batch training loop, evaluation, per-epoch history and the per-phase
time split."""
import time
from dataclasses import dataclass, field

import numpy as np

from .activations import Activation
from .layers import Dense, Network

PHASES = ("data", "matmul", "activation", "loss", "optimizer")


class PhaseTimer:
    """Adds the time since the previous ``lap`` to the named phase."""

    def __init__(self):
        self.totals = dict.fromkeys(PHASES, 0.0)
        self._t = time.perf_counter()

    def start(self):
        self._t = time.perf_counter()

    def lap(self, phase):
        now = time.perf_counter()
        self.totals[phase] = self.totals.get(phase, 0.0) + now - self._t
        self._t = now


def make_rngs(seed):
    """Independent generators for weight init, shuffling and activation noise,
    all derived from one seed, so that e.g. RReLU's draws never change the
    order the batches come in."""
    init, shuffle, noise = np.random.SeedSequence(seed).spawn(3)
    return (np.random.default_rng(init), np.random.default_rng(shuffle),
            np.random.default_rng(noise))


def build_mlp(in_features, hidden=(128,), classes=10, activation="relu", *, backend="fastact",
              seed=0, dtype=np.float32, bias=True, init="glorot_uniform", **act_params):
    """``in_features -> Dense(h, activation) ... -> Dense(classes)``, logits out.

    Keras-like initialisation: Glorot-uniform weights, zero biases; PReLU's
    weights start at 0.25 (one per unit).  Returns ``(network, rngs)`` where
    ``rngs`` is :func:`make_rngs`'s triple; the shuffle generator is meant for
    :func:`fit`.
    """
    init_rng, shuffle_rng, noise_rng = make_rngs(seed)
    layers, width = [], in_features
    for i, h in enumerate(hidden):
        layers.append(Dense(width, h, rng=init_rng, dtype=dtype, bias=bias, init=init,
                            input_grad=i > 0, backend=backend))
        layers.append(Activation(activation, backend, units=h, dtype=dtype, rng=noise_rng, **act_params))
        width = h
    layers.append(Dense(width, classes, rng=init_rng, dtype=dtype, bias=bias, init=init,
                        input_grad=bool(hidden), backend=backend))
    return Network(layers), (init_rng, shuffle_rng, noise_rng)


@dataclass
class History:
    """Per-epoch records (``train_loss``, ``train_acc``, ``test_loss``,
    ``test_acc``, ``seconds``: training time of the epoch, ``steps``, ``eval_seconds``)
    and, when profiled, the seconds spent in each phase of the training steps."""

    epochs: list = field(default_factory=list)
    profile: dict = None

    def __getitem__(self, key):
        """``history["test_acc"]`` -> the per-epoch list, as Keras' ``history.history``."""
        return [e[key] for e in self.epochs]

    @property
    def last(self):
        return self.epochs[-1] if self.epochs else {}


def _check_data(x, y, what, classes=None):
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 2:
        raise ValueError(f"{what} inputs must be 2-D (samples, features), got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"{what} labels must be 1-D with one label per sample: "
                         f"{len(x)} samples, labels of shape {y.shape}")
    if len(x) == 0:
        raise ValueError(f"{what} set is empty")
    if y.dtype.kind not in "iu":
        raise ValueError(f"{what} labels must be integers, got dtype {y.dtype}")
    if classes is not None and (y.min() < 0 or y.max() >= classes):
        raise ValueError(f"{what} labels must lie in [0, {classes - 1}], got {y.min()}..{y.max()}")
    return x, y.astype(np.intp, copy=False)


def evaluate(model, loss, x, y, batch_size=2000):
    """Mean loss and accuracy of ``model`` (in evaluation mode) on ``(x, y)``."""
    total, correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        out = model.forward(xb, training=False)
        total += loss.forward(out, yb, check=False) * len(yb)
        correct += int(np.count_nonzero(np.argmax(out, axis=1) == yb))
    return total / len(x), correct / len(x)


def fit(model, loss, optimizer, x, y, *, epochs=1, batch_size=32, x_test=None, y_test=None,
        rng=None, shuffle=True, profile=False, on_step=None, on_epoch=None, eval_batch_size=2000):
    """Train ``model`` on integer-labelled ``(x, y)`` with mini-batches and
    ``loss`` (a :class:`fastact.nn.SoftmaxCrossEntropy`, whose backend also
    gathers the batches).

    Each epoch visits the samples in a fresh random order drawn from ``rng``
    (a ``numpy.random.Generator``; pass the same one for the same order), the
    last batch possibly smaller.  The training loss and accuracy of an epoch
    are averaged over its batches as they are trained, as Keras reports them;
    the test ones are measured after the epoch in evaluation mode.

    ``profile=True`` times every phase of every step (data gathering, matrix
    products, activations, loss, optimizer) into ``history.profile``.
    ``on_step(done, total)`` is called after each step, ``on_epoch(epoch,
    record)`` after each epoch.
    """
    classes = getattr(model.layers[-1], "out_features", None) if hasattr(model, "layers") else None
    x, y = _check_data(x, y, "training", classes)
    if x_test is not None:
        x_test, y_test = _check_data(x_test, y_test, "test", classes)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if int(epochs) < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    batch_size = int(batch_size)
    rng = rng if rng is not None else np.random.default_rng()
    n = len(x)
    steps = (n + batch_size - 1) // batch_size
    backend = loss.backend
    x_buf = np.empty((min(batch_size, n), x.shape[1]), x.dtype)
    y_buf = np.empty(len(x_buf), y.dtype)
    history = History(profile=dict.fromkeys(PHASES, 0.0) if profile else None)
    timer = PhaseTimer() if profile else None
    for epoch in range(1, int(epochs) + 1):
        order = rng.permutation(n) if shuffle else np.arange(n)
        loss_sum, correct = 0.0, 0
        t0 = time.perf_counter()
        for s in range(steps):
            if timer is not None:
                timer.start()
            xb, yb = backend.take_batch(x, y, order[s * batch_size:(s + 1) * batch_size], x_buf, y_buf)
            if timer is not None:
                timer.lap("data")
            out = model.forward(xb, training=True, timer=timer)
            batch_loss, batch_correct, grad = loss.batch(out, yb)
            loss_sum += batch_loss
            correct += batch_correct
            if timer is not None:
                timer.lap("loss")
            model.backward(grad, timer=timer)
            optimizer.step()
            if timer is not None:
                timer.lap("optimizer")
            if on_step is not None:
                on_step(s + 1, steps)
        seconds = time.perf_counter() - t0
        record = {"epoch": epoch, "train_loss": loss_sum / n, "train_acc": correct / n,
                  "seconds": seconds, "steps": steps}
        if x_test is not None:
            t1 = time.perf_counter()
            record["test_loss"], record["test_acc"] = evaluate(model, loss, x_test, y_test,
                                                               eval_batch_size)
            record["eval_seconds"] = time.perf_counter() - t1
        history.epochs.append(record)
        if on_epoch is not None:
            on_epoch(epoch, record)
    if timer is not None:
        history.profile = dict(timer.totals)
    return history

"""Losses: ``forward(outputs, targets)`` returns the loss as a Python float and
keeps what ``backward()`` needs to return the gradient with respect to the
outputs."""
import numpy as np

from .backends import get_backend


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against integer labels, Keras'
    ``sparse_categorical_crossentropy`` on logits.

    Computed as ``-log_softmax(logits)[label]``: log_softmax subtracts the row
    maximum before exponentiating, so large logits neither overflow nor lose
    the loss to ``log(0)``.  The gradient goes through the backend's
    ``log_softmax_backward`` with the upstream gradient ``-1/n`` at each
    sample's label and 0 elsewhere, which works out to ``(softmax - onehot) / n``.
    """

    def __init__(self, backend="fastact"):
        self.backend = get_backend(backend)
        self._log_softmax = self.backend.function("log_softmax")
        self._log_softmax_backward = self.backend.function("log_softmax_backward")
        self._logp = None
        self._labels = None
        self._upstream = None
        self._rows = np.arange(0)

    def _index(self, n):
        if len(self._rows) < n:
            self._rows = np.arange(max(n, 2 * len(self._rows)))
        return self._rows[:n]

    def _check(self, logits, labels):
        if logits.ndim != 2:
            raise ValueError(f"logits must be 2-D (batch, classes), got shape {logits.shape}")
        labels = np.asarray(labels)
        if labels.shape != (logits.shape[0],):
            raise ValueError(f"labels must have shape ({logits.shape[0]},), got {labels.shape}")
        if labels.dtype.kind not in "iu":
            raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
        if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
            raise ValueError(f"labels must lie in [0, {logits.shape[1] - 1}], "
                             f"got values from {labels.min()} to {labels.max()}")
        return labels

    def forward(self, logits, labels, check=True):
        if check:
            labels = self._check(logits, labels)
        logp = self._log_softmax(logits, axis=-1)
        self._logp, self._labels = logp, labels
        picked = logp[self._index(len(labels)), labels]
        return -float(np.mean(picked, dtype=np.float64))

    def backward(self):
        logp, labels = self._logp, self._labels
        n = len(labels)
        up = self._upstream
        if up is None or up.shape != logp.shape or up.dtype != logp.dtype:
            up = self._upstream = np.zeros_like(logp)
        else:
            up.fill(0)
        up[self._index(n), labels] = -1.0 / n
        return self._log_softmax_backward(up, logp, axis=-1)

    def predictions(self):
        """Predicted class of each sample of the last forward."""
        return np.argmax(self._logp, axis=1)


class SumSquaredError:
    """``0.5 * sum((outputs - targets)^2)`` over the batch, no averaging: its
    gradient is ``outputs - targets``, so plain gradient descent with learning
    rate 1 is the update ``w += X.T @ ((y - out) * f')`` of the classic
    two-layer NumPy tutorial."""

    def __init__(self, backend=None):
        self._diff = None

    def forward(self, outputs, targets, check=True):
        targets = np.asarray(targets, dtype=outputs.dtype)
        if check and targets.shape != outputs.shape:
            raise ValueError(f"targets of shape {targets.shape} do not match outputs of shape {outputs.shape}")
        self._diff = outputs - targets
        return 0.5 * float(np.sum(self._diff * self._diff, dtype=np.float64))

    def backward(self):
        return self._diff


LOSSES = {"softmax_cross_entropy": SoftmaxCrossEntropy, "sum_squared_error": SumSquaredError}

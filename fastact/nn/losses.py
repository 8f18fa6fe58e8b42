"""Losses: ``forward(outputs, targets)`` returns the loss as a Python float and
keeps what ``backward()`` needs to return the gradient with respect to the
outputs."""
import numpy as np

from .backends import get_backend


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against integer labels, Keras'
    ``sparse_categorical_crossentropy`` on logits.

    Uses the backend's fused ``softmax_cross_entropy`` (log-sum-exp with the
    row maximum subtracted, so large logits neither overflow nor lose the loss
    to ``log(0)``) and its backward, ``(softmax - onehot) / n``.
    """

    def __init__(self, backend="fastact"):
        self.backend = get_backend(backend)
        self._loss = self.backend.function("softmax_cross_entropy")
        self._loss_backward = self.backend.function("softmax_cross_entropy_backward")
        self._logits = None
        self._labels = None
        self._grad = None

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
        self._logits, self._labels = logits, labels
        return float(self._loss(logits, labels, axis=-1, reduction="mean"))

    def backward(self):
        grad = self._loss_backward(1.0, self._logits, self._labels, axis=-1, reduction="mean")
        return grad.astype(self._logits.dtype, copy=False)

    def batch(self, logits, labels):
        """What a training step needs from the loss, in one call: ``(sum of
        the samples' losses, number of correct predictions, gradient of the
        mean loss)`` (see :meth:`fastact.nn.backends.Backend.cross_entropy_step`).
        The gradient may live in a buffer reused by the next call."""
        grad = self._grad
        if grad is None or grad.shape != logits.shape or grad.dtype != logits.dtype:
            grad = self._grad = np.empty_like(logits)
        return self.backend.cross_entropy_step(logits, labels, grad)

    def predictions(self):
        """Predicted class of each sample of the last forward."""
        return np.argmax(self._logits, axis=1)


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

"""A small reference trainer for fully connected networks, on fastact's
kernels or on plain NumPy.

Dense layers with any fastact activation (PReLU's weight learned, RReLU in
training and evaluation mode), softmax cross-entropy on integer labels, SGD
and Adam, mini-batches, deterministic seeding, per-epoch history and a
per-phase time split.  ``backend="fastact"`` runs activations, the loss's
log-softmax and Adam's update on compiled kernels; ``backend="numpy"`` runs
them on :mod:`fastact.reference`.  Matrix products are NumPy's in both.

>>> from fastact.nn import build_mlp, SoftmaxCrossEntropy, Adam, fit
>>> model, (_, shuffle_rng, _) = build_mlp(784, (128,), 10, "relu", backend="numpy", seed=0)
"""
from .activations import Activation, hidden_activations, parse_activation
from .backends import BACKENDS, Backend, get_backend
from .layers import Dense, Network
from .losses import SoftmaxCrossEntropy, SumSquaredError
from .optim import SGD, Adam
from .train import PHASES, History, build_mlp, evaluate, fit, make_rngs

__all__ = [
    "Activation", "hidden_activations", "parse_activation",
    "BACKENDS", "Backend", "get_backend",
    "Dense", "Network",
    "SoftmaxCrossEntropy", "SumSquaredError",
    "SGD", "Adam",
    "PHASES", "History", "build_mlp", "evaluate", "fit", "make_rngs",
]

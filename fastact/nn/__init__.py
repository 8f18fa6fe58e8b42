"""A small reference trainer for fully connected networks, on fastact's
kernels or on plain NumPy.

Dense layers with any fastact activation (PReLU's weight learned, RReLU in
training and evaluation mode), softmax cross-entropy on integer labels, SGD
and Adam, mini-batches, deterministic seeding, per-epoch history and a
per-phase time split.  ``backend="fastact"`` runs the activations on
fastact's compiled kernels and the rest of a step around the matrix products
(batch gather, loss with its gradient, bias gradients, Adam's update of all
parameters at once) on the trainer's own compiled loops; ``backend="numpy"``
runs them on :mod:`fastact.reference` and plain NumPy.  Matrix products are
NumPy's in both.

>>> from fastact.nn import build_mlp, SoftmaxCrossEntropy, Adam, fit
>>> model, (_, shuffle_rng, _) = build_mlp(784, (128,), 10, "relu", backend="numpy", seed=0)
"""
from .activations import Activation, hidden_activations, parse_activation
from .backends import BACKENDS, Backend, get_backend
from .layers import Dense, Network, pack_parameters
from .losses import SoftmaxCrossEntropy, SumSquaredError
from .optim import SGD, Adam
from .train import PHASES, History, build_mlp, evaluate, fit, make_rngs

__all__ = [
    "Activation", "hidden_activations", "parse_activation",
    "BACKENDS", "Backend", "get_backend",
    "Dense", "Network", "pack_parameters",
    "SoftmaxCrossEntropy", "SumSquaredError",
    "SGD", "Adam",
    "PHASES", "History", "build_mlp", "evaluate", "fit", "make_rngs",
]

"""Two toy problems on the four inputs (0,0), (0,1), (1,0), (1,1): the AND gate
and XOR.

The AND-gate network is the classic one-neuron NumPy example: two inputs, no
bias, weights drawn from U(-1, 1), full-batch updates
``w += X.T @ ((y - out) * f'(out))`` for 10000 iterations, i.e. gradient
descent with learning rate 1 on half the summed squared error.  With a
sigmoid it cannot learn AND (the input (0,0) always gives sigmoid(0) = 0.5),
and swapping in ReLU does not help: without a bias, outputs 0 for (1,0) and
(0,1) need w1 <= 0 and w2 <= 0, and then relu(w1 + w2) = 0, never 1.  With a
bias the gate is reachable (w1 = w2 = 1, b = -1 gives exactly 0, 0, 0, 1).

Many seeds are trained at once: every array carries a leading seed axis and
the seeds never interact, so seed ``k`` of a batch follows exactly the path it
would follow alone.  Activations run on the chosen backend through
:class:`fastact.nn.activations.Activation` (on a ``(samples, seeds * units)``
view, so PReLU learns one weight per unit of each seed).
"""
from dataclasses import dataclass

import numpy as np

from .activations import Activation, activation_entry, parse_activation

INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
TARGETS = {
    "and": np.array([0, 0, 0, 1], dtype=np.float64),
    "xor": np.array([0, 1, 1, 0], dtype=np.float64),
}


class GateEnsemble:
    """``len(seeds)`` independent copies of a small fully connected network.

    ``sizes`` are the layer widths, e.g. ``(2, 1)`` for one neuron or ``(2, 8,
    1)`` for one hidden layer; ``activation`` is used after every layer but
    the last, which uses ``output_activation`` (default: ``activation``).
    Each seed ``k`` draws its weights (then biases, layer by layer) from
    ``numpy.random.default_rng(k)`` as ``2 * rng.random(shape) - 1``.
    """

    def __init__(self, sizes, activation, *, output_activation=None, bias=False, seeds=(0,),
                 backend="numpy", dtype=np.float64, act_params=None, out_params=None):
        self.sizes = tuple(int(s) for s in sizes)
        if len(self.sizes) < 2 or min(self.sizes) < 1:
            raise ValueError(f"need at least an input and an output size, got {sizes}")
        self.seeds = tuple(int(s) for s in seeds)
        if not self.seeds:
            raise ValueError("need at least one seed")
        S = len(self.seeds)
        self.dtype = np.dtype(dtype)
        self.bias = bias
        self.W, self.b = [], []
        for a, c in zip(self.sizes[:-1], self.sizes[1:]):
            self.W.append(np.empty((S, a, c), dtype=self.dtype))
            self.b.append(np.zeros((S, 1, c), dtype=self.dtype) if bias else None)
        for k, seed in enumerate(self.seeds):
            rng = np.random.default_rng(seed)
            for W, b in zip(self.W, self.b):
                W[k] = 2 * rng.random(W.shape[1:]) - 1
                if b is not None:
                    b[k, 0] = 2 * rng.random(b.shape[2]) - 1
        noise_rng = np.random.default_rng(np.random.SeedSequence(self.seeds).spawn(1)[0])
        out_act = output_activation or activation
        self.acts = []
        for i, c in enumerate(self.sizes[1:]):
            last = i == len(self.sizes) - 2
            name = out_act if last else activation
            params = (out_params if last and output_activation else act_params) or {}
            self.acts.append(Activation(name, backend, units=S * c, dtype=self.dtype,
                                        rng=noise_rng, **params))
        self._inputs = None
        self.diverged = np.zeros(S, dtype=bool)

    @staticmethod
    def _flat(a3):  # (S, B, u) -> (B, S*u)
        S, B, u = a3.shape
        return np.ascontiguousarray(a3.transpose(1, 0, 2)).reshape(B, S * u)

    def _unflat(self, a2, u):  # (B, S*u) -> (S, B, u)
        B = a2.shape[0]
        return np.ascontiguousarray(a2.reshape(B, len(self.seeds), u).transpose(1, 0, 2))

    def forward(self, x, training=True):
        """Outputs of every seed, shape ``(seeds, samples, outputs)``."""
        h = np.asarray(x, dtype=self.dtype)
        self._inputs = []
        for W, b, act in zip(self.W, self.b, self.acts):
            self._inputs.append(h)
            z = np.matmul(h, W)
            if b is not None:
                z += b
            h = self._unflat(act.forward(self._flat(z), training), W.shape[2])
        return h

    def backward(self, grad):
        """Gradients ``[(param, grad), ...]`` of every weight, bias and
        activation parameter for the upstream ``grad`` (per seed)."""
        out = []
        for W, b, act, h in reversed(list(zip(self.W, self.b, self.acts, self._inputs))):
            dz = self._unflat(act.backward(self._flat(grad)), W.shape[2])
            out.append((W, np.matmul(np.swapaxes(h, -1, -2), dz)))
            if b is not None:
                out.append((b, dz.sum(axis=1, keepdims=True)))
            for _, p, g in act.parameters():
                out.append((p, g.copy()))
            grad = np.matmul(dz, np.swapaxes(W, -1, -2))
        return out

    def train(self, x, targets, iterations=10000, lr=1.0):
        """Full-batch gradient descent on ``0.5 * sum((out - targets)^2)``:
        every parameter moves by ``-lr * gradient`` each iteration."""
        x = np.asarray(x, dtype=self.dtype)
        t = np.asarray(targets, dtype=self.dtype).reshape(1, len(x), -1)
        S = len(self.seeds)
        # A learning rate that is too large makes some seeds diverge; that is
        # a result to report (see explain), not a warning.  A seed whose
        # parameters stop being finite is parked at zero and marked diverged,
        # so that it cannot disturb the others (PReLU refuses non-finite
        # weights).
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(int(iterations)):
                out = self.forward(x, training=True)
                finite = np.ones(S, dtype=bool)
                for p, g in self.backward(out - t):
                    p -= lr * g
                    finite &= np.isfinite(p.reshape(S, -1)).all(axis=1)
                if not finite.all():
                    self.diverged |= ~finite
                    for p in self._all_params():
                        p.reshape(S, -1)[self.diverged] = 0
        return self

    def _all_params(self):
        out = list(self.W) + [b for b in self.b if b is not None]
        for act in self.acts:
            out += [p for _, p, _ in act.parameters()]
        return out

    def dead_units(self, x, eps=1e-6):
        """Per seed: how many units are dead, i.e. on every input either
        their derivative is zero or their output is below ``eps`` in
        magnitude (a ReLU unit that is off, or only barely on, everywhere).
        Such a unit passes (almost) no gradient back and stops learning."""
        h = np.asarray(x, dtype=self.dtype)
        S = len(self.seeds)
        count = np.zeros(S, dtype=np.int64)
        for W, b, act in zip(self.W, self.b, self.acts):
            z = np.matmul(h, W)
            if b is not None:
                z += b
            y2 = act.forward(self._flat(z), training=False)
            d2 = act.backward(np.ones_like(y2))
            off = (d2 == 0) | (np.abs(y2) < eps)  # (B, S*u)
            u = W.shape[2]
            dead = np.all(off, axis=0).reshape(S, u)
            count += dead.sum(axis=1)
            h = self._unflat(y2, u)
        return count


@dataclass
class GateResult:
    problem: str
    activation: str
    bias: bool
    seeds: tuple
    outputs: np.ndarray  # (seeds, 4) network outputs after training, evaluation mode
    learned: np.ndarray  # (seeds,) every output within tol of its target
    separates: np.ndarray  # (seeds,) every output on the right side of 0.5
    dead_units: np.ndarray  # (seeds,) units off on every input (see GateEnsemble.dead_units)
    dead_at_init: np.ndarray  # (seeds,) the same, before training
    tol: float
    lr: float
    iterations: int

    @property
    def dead(self):
        """Seeds that failed with at least one dead unit."""
        return ~self.learned & (self.dead_units > 0)

    @property
    def max_error(self):
        return np.max(np.abs(self.outputs - TARGETS[self.problem]), axis=1)


def train_gate(problem="and", activation="sigmoid", *, bias=False, seeds=(0,), iterations=10000,
               lr=1.0, hidden=8, output_activation=None, backend="numpy", tol=0.25):
    """Train the toy network on ``problem`` ("and" or "xor") for every seed.

    AND: one neuron, two inputs (the classic example; ``bias=False`` is the
    original network).  XOR: one hidden layer of ``hidden`` units with
    ``activation`` and a sigmoid output unit (``output_activation``).  A seed
    has *learned* the gate when each of the four outputs is within ``tol`` of
    its target.
    """
    if problem not in TARGETS:
        raise ValueError(f"unknown problem {problem!r}; choose 'and' or 'xor'")
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol}")
    if int(iterations) < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    name, params = parse_activation(activation)
    out_name, out_params = None, None
    if problem == "and":
        sizes = (2, 1)
        if output_activation is not None:
            raise ValueError("the AND-gate network has a single neuron: use activation=, not output_activation=")
    else:
        sizes = (2, int(hidden), 1)
        out_name, out_params = parse_activation(output_activation or "sigmoid")
    activation_entry(name)
    net = GateEnsemble(sizes, name, output_activation=out_name, bias=bias, seeds=seeds,
                       backend=backend, act_params=params, out_params=out_params)
    target = TARGETS[problem]
    dead_at_init = net.dead_units(INPUTS)
    net.train(INPUTS, target, iterations=iterations, lr=lr)
    with np.errstate(over="ignore", invalid="ignore"):
        outputs = net.forward(INPUTS, training=False)[:, :, 0]
        dead = net.dead_units(INPUTS)
    outputs[net.diverged] = np.nan
    dead[net.diverged] = 0
    learned = np.all(np.abs(outputs - target) < tol, axis=1)
    separates = np.all((outputs > 0.5) == (target > 0.5), axis=1)
    return GateResult(problem, activation, bias, net.seeds, outputs, learned, separates, dead,
                      dead_at_init, tol, lr, int(iterations))


def stable_lr_limit(problem, bias):
    """For the one-neuron AND gate: the largest learning rate at which full-batch
    gradient descent on the summed squared error of a *linear* unit (slope 1,
    like ReLU on its active side) converges, ``2 / lambda_max(X^T X)`` with X
    the four inputs (and a column of ones for the bias).  None for XOR."""
    if problem != "and":
        return None
    X = np.hstack([INPUTS, np.ones((4, 1))]) if bias else INPUTS
    return 2.0 / float(np.linalg.eigvalsh(X.T @ X)[-1])


def explain(result, k=0):
    """A one-line verdict for seed number ``k`` of ``result``."""
    name = parse_activation(result.activation)[0]
    gate = result.problem.upper()
    if result.learned[k]:
        return f"learns {gate} (every output within {result.tol:g} of its target)"
    reasons = []
    if not np.all(np.isfinite(result.outputs[k])):
        reasons.append("diverged: the weights overflowed")
    if result.problem == "and" and not result.bias:
        if name == "sigmoid":
            reasons.append("without a bias the input (0,0) always gives sigmoid(0) = 0.5")
        elif name == "relu":
            reasons.append("without a bias, 0 for (1,0) and (0,1) needs w1 <= 0 and w2 <= 0, "
                           "and then relu(w1 + w2) = 0, never 1")
        else:
            reasons.append("without a bias the output for (1,1) is tied to those for (1,0) and (0,1)")
    if result.dead_units[k]:
        when = ("already at initialization" if result.dead_at_init[k] >= result.dead_units[k]
                else "died during training")
        reasons.append(f"{result.dead_units[k]} dead unit(s) ({when}): off on all four inputs, so no "
                       "gradient flows through them (dying ReLU)")
    limit = stable_lr_limit(result.problem, result.bias)
    if limit is not None and result.lr > limit:
        reasons.append(f"learning rate {result.lr:g} is above {limit:.2f}, the most a unit of slope 1 "
                       "takes on this problem without its steps overshooting")
    if not reasons:
        reasons.append("converged to outputs that do not fit the gate")
    head = f"separates {gate} at 0.5 but does not fit it" if result.separates[k] else f"fails to learn {gate}"
    return head + ": " + "; ".join(reasons)

"""Dense layers and a sequential network.

Matrix products are NumPy's (BLAS), written into preallocated buffers where
the batch shape allows.  Weights are ``(in_features, out_features)`` so a
forward is ``x @ W + b``.
"""
import numpy as np

from .backends import get_backend


def glorot_uniform(rng, fan_in, fan_out, dtype):
    """Keras' default kernel initializer: U(-l, l), l = sqrt(6 / (fan_in + fan_out))."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dtype)


def uniform_pm1(rng, fan_in, fan_out, dtype):
    """U(-1, 1), drawn as ``2 * rng.random(shape) - 1`` like the AND-gate question."""
    return (2 * rng.random((fan_in, fan_out)) - 1).astype(dtype)


INITIALIZERS = {"glorot_uniform": glorot_uniform, "uniform": uniform_pm1}


class Dense:
    """Fully connected layer ``x @ W + b``.

    ``init`` names the weight initializer (``"glorot_uniform"``, Keras'
    default, or ``"uniform"``, U(-1, 1)); the bias starts at zero unless
    ``bias_init="uniform"``.  ``bias=False`` leaves the bias out altogether.
    ``input_grad=False`` skips the product that only the layer below needs
    (for the first layer of a network).  The backend sums the bias's
    gradient over the batch.
    """

    phase = "matmul"

    def __init__(self, in_features, out_features, *, bias=True, rng=None, dtype=np.float32,
                 init="glorot_uniform", bias_init="zeros", input_grad=True, backend="fastact"):
        if int(in_features) < 1 or int(out_features) < 1:
            raise ValueError(f"Dense needs positive sizes, got {in_features} -> {out_features}")
        if init not in INITIALIZERS:
            raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITIALIZERS)}")
        if bias_init not in ("zeros", "uniform"):
            raise ValueError(f"unknown bias_init {bias_init!r}; choose 'zeros' or 'uniform'")
        rng = rng if rng is not None else np.random.default_rng()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.dtype = np.dtype(dtype)
        self.input_grad = input_grad
        self.backend = get_backend(backend)
        self.params = {"weight": INITIALIZERS[init](rng, self.in_features, self.out_features, self.dtype)}
        if bias:
            b = np.zeros(self.out_features, dtype=self.dtype)
            if bias_init == "uniform":
                b[:] = 2 * rng.random(self.out_features) - 1
            self.params["bias"] = b
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._x = None
        self._out = None

    def __repr__(self):
        return (f"Dense({self.in_features}, {self.out_features}, "
                f"bias={'bias' in self.params})")

    def forward(self, x, training=False):
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"Dense({self.in_features}, {self.out_features}) got input of shape {x.shape}")
        self._x = x
        out = self._out
        if out is None or out.shape[0] != x.shape[0]:
            out = self._out = np.empty((x.shape[0], self.out_features), dtype=self.dtype)
        np.matmul(x, self.params["weight"], out=out)
        if "bias" in self.params:
            out += self.params["bias"]
        # The buffer is reused by the next forward: the layer above may keep
        # a reference to it until its backward, which comes first.
        return out

    def backward(self, grad):
        x = self._x
        np.matmul(x.T, grad, out=self.grads["weight"])
        if "bias" in self.params:
            self.backend.column_sum(grad, self.grads["bias"])
        if self.input_grad:
            return grad @ self.params["weight"].T
        return None

    def parameters(self):
        return [(k, self.params[k], self.grads[k]) for k in self.params]


def pack_parameters(layers):
    """Moves the parameters of ``layers`` into one flat buffer and their
    gradients into another, leaving each layer views of them (its ``params``
    and ``grads`` entries are replaced), so that an optimizer can update
    everything in one call.  Returns ``(params, grads)``, or ``(None, None)``
    when there are no parameters or they differ in dtype."""
    items = [(layer, key) for layer in layers for key in getattr(layer, "params", {})]
    dtypes = {layer.params[key].dtype for layer, key in items}
    if len(dtypes) != 1:
        return None, None
    dtype = dtypes.pop()
    size = sum(layer.params[key].size for layer, key in items)
    flat_params, flat_grads = np.empty(size, dtype), np.zeros(size, dtype)
    start = 0
    for layer, key in items:
        p = layer.params[key]
        stop = start + p.size
        layer.params[key] = flat_params[start:stop].reshape(p.shape)
        layer.params[key][...] = p
        layer.grads[key] = flat_grads[start:stop].reshape(p.shape)
        start = stop
    return flat_params, flat_grads


class Network:
    """Layers applied in order.  ``forward(x, training)`` returns the last
    layer's output; ``backward(grad)`` propagates the loss gradient back and
    leaves every parameter's gradient in its layer.

    The layers' parameters and gradients are moved into two flat buffers,
    ``flat_params`` and ``flat_grads`` (see :func:`pack_parameters`): take a
    parameter from its layer after building the network, not before.
    """

    def __init__(self, layers):
        self.layers = list(layers)
        self.flat_params, self.flat_grads = pack_parameters(self.layers)

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Network([{inner}])"

    def forward(self, x, training=False, timer=None):
        for layer in self.layers:
            x = layer.forward(x, training)
            if timer is not None:
                timer.lap(layer.phase)
        return x

    def backward(self, grad, timer=None):
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
            if timer is not None:
                timer.lap(layer.phase)
        return grad

    def parameters(self):
        """``[(name, array, grad), ...]`` for every trainable array."""
        out = []
        for i, layer in enumerate(self.layers):
            for name, p, g in layer.parameters():
                out.append((f"{i}.{name}", p, g))
        return out

    def predict(self, x, batch_size=2048):
        """Outputs for ``x`` in evaluation mode, in batches."""
        outs = [self.forward(x[i:i + batch_size], training=False).copy()
                for i in range(0, len(x), batch_size)]
        return np.concatenate(outs) if outs else np.empty((0,))

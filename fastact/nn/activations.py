"""Activation layers, for every activation in fastact's one table.

The list of activations, their parameters and defaults, and whether each
backward needs the forward's input ``x`` or output ``y`` all come from
``fastact._registry.ACTIVATIONS``; nothing here is written per activation.
Two kinds need more than a forward and a backward, and the table says which:

* ``prelu``: its ``weight`` is learned.  The layer holds one weight per unit
  (initialised to the table's default, 0.25 as in He et al. 2015) and trains
  it with ``prelu_backward``'s ``grad_weight``.
* ``rrelu``: in training the negative slopes are drawn afresh for every element
  of every batch, from the layer's own random generator; in evaluation the
  fixed slope ``(lower + upper) / 2`` is used.
"""
import numpy as np

from .._registry import ACTIVATIONS as _TABLE
from .backends import get_backend

# Kinds of table entries that are normalisations over an axis, not hidden-layer
# activations; the loss uses the fused softmax_cross_entropy.
_NOT_HIDDEN = ("softmax",)


def hidden_activations():
    """Names of the activations a hidden layer can use, in table order."""
    return [name for name, entry in _TABLE.items() if entry.kind not in _NOT_HIDDEN]


def activation_entry(name):
    """The table entry of a hidden-layer activation, or a clear error."""
    entry = _TABLE.get(name)
    if entry is None or entry.kind in _NOT_HIDDEN:
        raise ValueError(f"unknown activation {name!r}; choose one of "
                         f"{', '.join(hidden_activations())}")
    return entry


def parse_activation(text):
    """``"elu"`` or ``"elu:alpha=0.5"`` or ``"rrelu:lower=0.1,upper=0.3"`` ->
    ``(name, {param: value})``, checked against the table (values are
    floats, or names for a variant parameter such as ``gelu:approximate=tanh``)."""
    name, _, rest = text.partition(":")
    entry = activation_entry(name.strip())
    params = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq:
            raise ValueError(f"bad activation parameter {item!r} in {text!r}; write NAME:KEY=VALUE")
        if key not in entry.params:
            allowed = ", ".join(entry.params) or "none"
            raise ValueError(f"activation {entry.name!r} has no parameter {key!r} (parameters: {allowed})")
        if key in entry.variants:  # a choice by name (gelu's approximate)
            choices = entry.variants[key]
            if value.strip() not in choices:
                raise ValueError(f"parameter {key!r} of {entry.name!r} must be one of {sorted(choices)}, "
                                 f"got {value!r}")
            params[key] = value.strip()
            continue
        try:
            params[key] = float(value)
        except ValueError:
            raise ValueError(f"parameter {key!r} of {entry.name!r} must be a number, got {value!r}") from None
    return entry.name, params


class Activation:
    """An activation layer: ``forward`` keeps what ``backward`` needs.

    ``units`` is the layer width (PReLU learns one weight per unit); ``rng``
    is the generator RReLU draws its training slopes from.  Extra keyword
    arguments override the table's parameter defaults.
    """

    phase = "activation"

    def __init__(self, name, backend="fastact", *, units=None, dtype=np.float32, rng=None, **params):
        entry = activation_entry(name)
        unknown = set(params) - set(entry.params)
        if unknown:
            raise ValueError(f"activation {name!r} has no parameter(s) {', '.join(sorted(unknown))} "
                             f"(parameters: {', '.join(entry.params) or 'none'})")
        self.name = name
        self.entry = entry
        self.backend = get_backend(backend)
        self.dtype = np.dtype(dtype)
        self.kwargs = {**entry.params, **params}
        required = [k for k, v in self.kwargs.items() if v is None]
        if required:
            example = ",".join(f"{k}=..." for k in required)
            raise ValueError(f"activation {name!r} has no default for {', '.join(required)}; "
                             f"give it, e.g. {name}:{example}")
        self._forward = self.backend.function(name)
        self._backward = self.backend.function(entry.backward_name)
        self.params, self.grads = {}, {}
        if entry.kind == "prelu":
            init = self.kwargs.pop("weight")
            self.params["weight"] = np.full(units or 1, init, dtype=self.dtype)
            self.grads["weight"] = np.zeros_like(self.params["weight"])
        if entry.kind == "rrelu":
            if not 0 <= self.kwargs["lower"] <= self.kwargs["upper"]:
                raise ValueError(f"rrelu needs 0 <= lower <= upper, got {self.kwargs}")
            self.rng = rng if rng is not None else np.random.default_rng()
        self._saved = None
        self._noise = None

    def __repr__(self):
        extra = ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v:g}" for k, v in self.kwargs.items())
        return f"Activation({self.name!r}{', ' + extra if extra else ''}, backend={self.backend.name!r})"

    def forward(self, x, training=False):
        kind = self.entry.kind
        self._noise = None
        if kind == "prelu":
            y = self._forward(x, self.params["weight"], axis=1)
        elif kind == "rrelu" and training:
            y, self._noise = self.backend.rrelu_train(
                x, self.kwargs["lower"], self.kwargs["upper"], self.rng)
        else:
            y = self._forward(x, **self.kwargs)
        self._saved = y if self.entry.backward_uses == "y" else x
        return y

    def backward(self, grad):
        kind = self.entry.kind
        saved = self._saved
        if kind == "prelu":
            grad_x, grad_w = self._backward(grad, saved, self.params["weight"], axis=1)
            self.grads["weight"][...] = grad_w
            return grad_x
        if kind == "rrelu" and self._noise is not None:
            return self._backward(grad, saved, self._noise)
        return self._backward(grad, saved, **self.kwargs)

    def parameters(self):
        return [(f"{self.name}.{k}", self.params[k], self.grads[k]) for k in self.params]

"""The one table of activations.

Each entry says what an activation is (formula, derivative, parameters and
their defaults), which kernels compute it, what its backward needs (the
forward's input ``x`` or output ``y``), its NumPy reference and its PyTorch
peer.  The public API (``fastact._api``), the tests, the benchmarks, the docs
generator and the CLI all iterate over ``ACTIVATIONS``: adding an activation
means one entry here, one scalar kernel in ``_elementwise`` (or a special
kernel in ``_kernels``) and one reference in ``reference``.
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Activation:
    name: str
    kind: str  # "elementwise", "prelu", "rrelu" or "softmax"
    summary: str
    formula: str
    derivative: str
    params: dict = field(default_factory=dict)  # hyperparameter -> default
    backward_uses: str = "x"  # which array the backward takes besides grad
    test_params: tuple = ()  # extra parameter sets the tests and docs exercise
    # (lo, hi) of inputs where the function has a kink, avoided by finite differences
    kinks: tuple = ()
    torch: str = ""  # PyTorch equivalent, as an expression in F, torch, x and the params
    notes: str = ""

    @property
    def backward_name(self):
        return self.name + "_backward"


_LIST = [
    Activation(
        "sigmoid", "elementwise", "Logistic function, squashing to (0, 1).",
        formula="sigma(x) = 1 / (1 + exp(-x))",
        derivative="sigma'(x) = y (1 - y),  y = sigma(x)",
        backward_uses="y", torch="torch.sigmoid(x)",
        notes="Computed as exp(x) / (1 + exp(x)) for x < 0, so tiny results keep their precision "
              "(sigmoid(-100) is 3.7e-44, not 0).",
    ),
    Activation(
        "tanh", "elementwise", "Hyperbolic tangent, squashing to (-1, 1).",
        formula="tanh(x) = (exp(2x) - 1) / (exp(2x) + 1)",
        derivative="tanh'(x) = 1 - y^2 = (1 - y)(1 + y),  y = tanh(x)",
        backward_uses="y", torch="torch.tanh(x)",
        notes="Computed from expm1(2|x|), accurate near 0; the backward uses (1 - y)(1 + y).",
    ),
    Activation(
        "relu", "elementwise", "Rectified linear unit.",
        formula="relu(x) = max(x, 0)",
        derivative="relu'(x) = 1 for x > 0, 0 for x <= 0 (0 at the kink, as PyTorch)",
        backward_uses="y", kinks=(0.0,), torch="torch.relu(x)",
        notes="relu(NaN) is NaN, as in PyTorch.",
    ),
    Activation(
        "leaky_relu", "elementwise", "ReLU with a small slope for negative inputs (Maas et al. 2013).",
        formula="f(x) = x for x > 0, negative_slope * x for x <= 0",
        derivative="f'(x) = 1 for x > 0, negative_slope for x <= 0",
        params={"negative_slope": 0.01}, test_params=({"negative_slope": 0.2},), kinks=(0.0,),
        torch="F.leaky_relu(x, negative_slope)",
    ),
    Activation(
        "elu", "elementwise", "Exponential linear unit (Clevert et al. 2016).",
        formula="elu(x) = x for x > 0, alpha (exp(x) - 1) for x <= 0",
        derivative="elu'(x) = 1 for x > 0, alpha exp(x) for x <= 0 (alpha at 0)",
        params={"alpha": 1.0}, test_params=({"alpha": 0.5},), kinks=(0.0,),
        torch="F.elu(x, alpha)",
        notes="Uses expm1, so elu stays accurate near 0; elu(-inf) = -alpha.",
    ),
    Activation(
        "prelu", "prelu", "Leaky ReLU with a learned slope per channel (He et al. 2015).",
        formula="f(x) = x for x > 0, a_c x for x <= 0, c the channel",
        derivative="df/dx = 1 for x > 0, a_c for x <= 0;  df/da_c = x for x <= 0, else 0",
        params={"weight": 0.25}, test_params=({"weight": -0.5},), kinks=(0.0,),
        torch="F.prelu(x, weight)",
        notes="weight has one entry or one per channel along `axis` (default 1, as PyTorch); "
              "prelu_backward returns (grad_x, grad_weight), grad_weight summed over every other axis.",
    ),
    Activation(
        "rrelu", "rrelu", "Randomized leaky ReLU (Xu et al. 2015).",
        formula="f(x) = x for x > 0, a x for x <= 0; a ~ U(lower, upper) per element in training, "
                "(lower + upper) / 2 in evaluation",
        derivative="f'(x) = 1 for x > 0, a for x <= 0 (the slope drawn in the forward)",
        params={"lower": 1 / 8, "upper": 1 / 3}, test_params=({"lower": 0.1, "upper": 0.3},),
        kinks=(0.0,), torch="F.rrelu(x, lower, upper, training=False)",
        notes="In training, rrelu(..., training=True) returns (y, noise) and rrelu_backward(grad, x, noise) "
              "uses the drawn slopes.",
    ),
    Activation(
        "softmax", "softmax", "Normalized exponential along an axis.",
        formula="softmax(x)_i = exp(x_i - max x) / sum_j exp(x_j - max x)",
        derivative="dx_i = y_i (g_i - sum_j g_j y_j)",
        backward_uses="y", torch="torch.softmax(x, dim=-1)",
        notes="A row of all -inf gives NaN, as in PyTorch.",
    ),
    Activation(
        "log_softmax", "softmax", "Logarithm of softmax, computed without forming softmax.",
        formula="log_softmax(x)_i = x_i - max x - log sum_j exp(x_j - max x)",
        derivative="dx_i = g_i - exp(y_i) sum_j g_j",
        backward_uses="y", torch="torch.log_softmax(x, dim=-1)",
    ),
]

ACTIVATIONS = {a.name: a for a in _LIST}
ELEMENTWISE = [a.name for a in _LIST if a.kind == "elementwise"]

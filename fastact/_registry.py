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

REQUIRED = None  # a parameter without a default (threshold's)


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
    # extra parameter checks: (params dict) -> error message or None
    validate: object = None
    # inputs where the derivative crosses zero through cancellation: there the
    # backward's error is small against its terms but not relative to the result
    grad_zeros: tuple = ()
    # a string parameter that selects the scalar kernel: {param: {choice: name
    # of the definition in _elementwise}}, e.g. gelu's approximate
    variants: dict = field(default_factory=dict)

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
        notes="A row of all -inf gives NaN, as in PyTorch.  softmax(x, axis, where=mask): only the "
              "elements where mask is True take part, the others get 0, and a slice with none gives 0.",
    ),
    Activation(
        "softmin", "softmax", "Normalized exponential of -x along an axis.",
        formula="softmin(x) = softmax(-x)",
        derivative="dx_i = -y_i (g_i - sum_j g_j y_j)",
        backward_uses="y", torch="F.softmin(x, dim=-1)",
        notes="softmin(x, axis, where=mask) as softmax.",
    ),
    Activation(
        "log_softmax", "softmax", "Logarithm of softmax, computed without forming softmax.",
        formula="log_softmax(x)_i = x_i - max x - log sum_j exp(x_j - max x)",
        derivative="dx_i = g_i - exp(y_i) sum_j g_j",
        backward_uses="y", torch="torch.log_softmax(x, dim=-1)",
    ),
]

def _ordered(lo, hi):
    def check(params):
        if params[lo] > params[hi]:
            return f"{lo} ({params[lo]}) must not exceed {hi} ({params[hi]})"
    return check


def _nonzero(name):
    def check(params):
        if params[name] == 0:
            return f"{name} must not be 0"
    return check


_LIST += [
    Activation(
        "silu", "elementwise", "Sigmoid-weighted linear unit (swish with beta = 1).",
        formula="silu(x) = x sigmoid(x)",
        derivative="silu'(x) = s (1 + x (1 - s)),  s = sigmoid(x)",
        torch="F.silu(x)", grad_zeros=(-1.2784645,),
        notes="The derivative has a zero near x = -1.278; there its relative error grows (cancellation).",
    ),
    Activation(
        "softplus", "elementwise", "Smooth ReLU.",
        formula="softplus(x) = log(1 + exp(beta x)) / beta, x where beta x > threshold",
        derivative="softplus'(x) = sigmoid(beta x), 1 where beta x > threshold",
        params={"beta": 1.0, "threshold": 20.0}, test_params=({"beta": 2.0, "threshold": 5.0},),
        torch="F.softplus(x, beta, threshold)", validate=_nonzero("beta"),
        notes="Written max(z, 0) + log1p(exp(-|z|)), so no input overflows.",
    ),
    Activation(
        "mish", "elementwise", "Self-regularized non-monotonic activation (Misra 2019).",
        formula="mish(x) = x tanh(softplus(x))",
        derivative="mish'(x) = t + x (1 - t^2) sigmoid(x),  t = tanh(softplus(x))",
        torch="F.mish(x)", grad_zeros=(-1.1924,),
        notes="The derivative has a zero near x = -1.192 (relative error grows there). "
              "tanh(softplus(x)) is computed as n / (n + 2) with n = e^x (e^x + 2): one exp.",
    ),
    Activation(
        "selu", "elementwise", "Scaled ELU (Klambauer et al. 2017), PyTorch's constants.",
        formula="selu(x) = scale x for x > 0, scale alpha (exp(x) - 1) for x <= 0; "
                "alpha = 1.6732632423543772, scale = 1.0507009873554805",
        derivative="selu'(x) = scale for x > 0, scale alpha exp(x) for x <= 0",
        kinks=(0.0,), torch="F.selu(x)",
    ),
    Activation(
        "celu", "elementwise", "Continuously differentiable ELU (Barron 2017).",
        formula="celu(x) = x for x > 0, alpha (exp(x / alpha) - 1) for x <= 0",
        derivative="celu'(x) = 1 for x > 0, exp(x / alpha) for x <= 0",
        params={"alpha": 1.0}, test_params=({"alpha": 0.5},), kinks=(0.0,),
        torch="F.celu(x, alpha)", validate=_nonzero("alpha"),
    ),
    Activation(
        "relu6", "elementwise", "ReLU capped at 6.",
        formula="relu6(x) = min(max(x, 0), 6)",
        derivative="relu6'(x) = 1 for 0 < x < 6, else 0 (0 at both kinks, as PyTorch)",
        kinks=(0.0, 6.0), torch="F.relu6(x)",
    ),
    Activation(
        "hardtanh", "elementwise", "Linear between min_val and max_val, clipped outside.",
        formula="hardtanh(x) = min(max(x, min_val), max_val)",
        derivative="hardtanh'(x) = 1 for min_val < x < max_val, else 0",
        params={"min_val": -1.0, "max_val": 1.0}, test_params=({"min_val": -2.0, "max_val": 0.5},),
        kinks=(-1.0, 1.0, -2.0, 0.5), torch="F.hardtanh(x, min_val, max_val)",
        validate=_ordered("min_val", "max_val"),
    ),
    Activation(
        "hardsigmoid", "elementwise", "Piecewise-linear sigmoid.",
        formula="hardsigmoid(x) = 0 for x <= -3, 1 for x >= 3, x / 6 + 1/2 between",
        derivative="hardsigmoid'(x) = 1/6 for -3 < x < 3, else 0",
        kinks=(-3.0, 3.0), torch="F.hardsigmoid(x)",
    ),
    Activation(
        "hardswish", "elementwise", "x hardsigmoid(x) (Howard et al. 2019).",
        formula="hardswish(x) = 0 for x <= -3, x for x >= 3, x (x + 3) / 6 between",
        derivative="hardswish'(x) = 0 for x <= -3, 1 for x >= 3, x / 3 + 1/2 between "
                   "(hardswish'(-3) = 0, hardswish'(3) = 1, as PyTorch)",
        kinks=(-3.0, 3.0), torch="F.hardswish(x)",
    ),
    Activation(
        "softsign", "elementwise", "x / (1 + |x|).",
        formula="softsign(x) = x / (1 + |x|)",
        derivative="softsign'(x) = 1 / (1 + |x|)^2",
        torch="F.softsign(x)",
    ),
    Activation(
        "logsigmoid", "elementwise", "log(sigmoid(x)), without overflow.",
        formula="logsigmoid(x) = min(x, 0) - log(1 + exp(-|x|))",
        derivative="logsigmoid'(x) = 1 - sigmoid(x)",
        torch="F.logsigmoid(x)", notes="logsigmoid(-1000) is -1000.",
    ),
    Activation(
        "threshold", "elementwise", "x where x > threshold, value elsewhere.",
        formula="threshold(x) = x for x > threshold, value otherwise",
        derivative="threshold'(x) = 1 for x > threshold, else 0",
        params={"threshold": REQUIRED, "value": REQUIRED},
        test_params=({"threshold": 0.5, "value": -2.0},), kinks=(0.5,),
        torch="F.threshold(x, threshold, value)",
    ),
]

_LIST += [
    Activation(
        "gelu", "elementwise", "Gaussian error linear unit (Hendrycks & Gimpel 2016).",
        formula="gelu(x) = x Phi(x) = x/2 erfc(-x/sqrt(2)), Phi the standard normal CDF; "
                "approximate='tanh': x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))",
        derivative="gelu'(x) = Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi); "
                   "approximate='tanh': sigma(2s) (1 + 2 x (1 - sigma(2s)) sqrt(2/pi) (1 + 3 * 0.044715 x^2)), "
                   "s = sqrt(2/pi) (x + 0.044715 x^3), sigma(2s) = (1 + tanh(s)) / 2",
        params={"approximate": "none"}, variants={"approximate": {"none": "gelu", "tanh": "gelu_tanh"}},
        test_params=({"approximate": "tanh"},), torch="F.gelu(x, approximate=approximate)",
        grad_zeros=(-0.7517915246935645, -0.7524614220710162),
        notes="The default is the exact form, as in PyTorch (JAX's jax.nn.gelu defaults to the tanh form). "
              "The exact form evaluates the normal tail Phi(-u) = exp(-u^2/2) S(u) and exp of the exact "
              "square: gelu(-30) is -1.5e-197, not 0. float64 evaluates S as one polynomial in "
              "4 / (u + 4) (the derivative's part is u / sqrt(2 pi) - S); float32 takes each from one "
              "rational function (a single division, about 2x faster in the forward, 1.5x in the backward). The derivative has a zero near x = -0.752: float64's "
              "relative error grows there, float32's backward factors the zero out and keeps about "
              "2 ulp of relative accuracy up to it. "
              "The tanh form's constants are the float64 numbers sqrt(2/pi) = 0.7978845608028654 and 0.044715.",
    ),
]

ACTIVATIONS = {a.name: a for a in _LIST}
ELEMENTWISE = [a.name for a in _LIST if a.kind == "elementwise"]

"""Scalar definitions of the elementwise activations.

Each function here is a factory: given a dtype ``T`` and the math namespace
``M`` of that dtype (``fastact._math.MATH[T]``), it returns the scalar
``forward(x, *params)`` and ``backward(grad, v, *params)``, where ``v`` is the
forward's input or output as the table in ``_registry`` says.  Constants are
made of type ``T`` so float32 work stays float32.  ``_kernels`` turns these
scalar functions into serial and parallel loops.

Conventions follow PyTorch: relu'(0) = 0, leaky_relu'(0) = negative_slope,
elu'(0) = alpha, and NaN propagates through every forward.
"""


def sigmoid(T, M):
    one, zero = T(1), T(0)
    exp, fabs = M.exp, M.fabs

    def forward(x):
        # exp(-|x|) never overflows; for x < 0 the result is e / (1 + e),
        # which keeps the tiny (even subnormal) values of sigmoid(-large).
        e = exp(-fabs(x))
        return (one if x >= zero else e) / (one + e)

    def backward(g, y):
        return g * (y * (one - y))

    return forward, backward


def tanh(T, M):
    one = T(1)
    tanh_ = M.tanh

    def forward(x):
        return tanh_(x)

    def backward(g, y):
        # 1 - y*y loses accuracy near |y| = 1; the factored form does not.
        return g * ((one - y) * (one + y))

    return forward, backward


def relu(T, M):
    zero = T(0)

    def forward(x):
        return zero if x <= zero else x  # NaN <= 0 is false: NaN passes

    def backward(g, y):
        return zero if y <= zero else g

    return forward, backward


def leaky_relu(T, M):
    zero = T(0)

    def forward(x, negative_slope):
        return x if x > zero else x * negative_slope

    def backward(g, x, negative_slope):
        return g if x > zero else g * negative_slope

    return forward, backward


def elu(T, M):
    zero = T(0)
    expm1, exp = M.expm1, M.exp

    def forward(x, alpha):
        return x if x > zero else alpha * expm1(x)

    def backward(g, x, alpha):
        return g if x > zero else g * (alpha * exp(x))

    return forward, backward


def product(T, M):
    """Not an activation: grad * noise, the backward of RReLU in training."""

    def forward(x):
        return x

    def backward(g, s):
        return g * s

    return forward, backward

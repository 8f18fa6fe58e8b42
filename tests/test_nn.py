"""The trainer: gradients, backends, optimizers, the toy gates, determinism."""
import numpy as np
import pytest

from fastact.nn import (SGD, Activation, Adam, Dense, SoftmaxCrossEntropy, build_mlp, fit,
                        get_backend, hidden_activations, parse_activation)
from fastact.nn.toys import INPUTS, TARGETS, GateEnsemble, explain, stable_lr_limit, train_gate

BACKENDS = ["fastact", "numpy"]
ACTS = hidden_activations()


def _params(name):
    """Parameters to train ``name`` with: the table's test values when a
    parameter has no default."""
    from fastact._registry import ACTIVATIONS
    entry = ACTIVATIONS[name]
    if any(v is None for v in entry.params.values()):
        return dict(entry.test_params[0])
    return {}


def _blobs(n=96, features=12, classes=4, seed=0, dtype=np.float32):
    """Separable classes: a class-dependent mean plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    centers = rng.standard_normal((classes, features)) * 2
    x = centers[y] + rng.standard_normal((n, features))
    return x.astype(dtype), y


def test_activation_list_comes_from_the_table():
    from fastact._registry import ACTIVATIONS
    assert set(ACTS) <= set(ACTIVATIONS)
    assert {"relu", "sigmoid", "tanh", "leaky_relu", "elu", "prelu", "rrelu"} <= set(ACTS)
    assert "softmax" not in ACTS and "log_softmax" not in ACTS


def test_parse_activation():
    assert parse_activation("elu") == ("elu", {})
    assert parse_activation("rrelu:lower=0.1, upper=0.3") == ("rrelu", {"lower": 0.1, "upper": 0.3})
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        parse_activation("swish")
    with pytest.raises(ValueError, match="no parameter 'alpha'"):
        parse_activation("relu:alpha=1")
    with pytest.raises(ValueError, match="must be a number"):
        parse_activation("elu:alpha=big")
    # a variant parameter is a name, checked against the table's choices
    assert parse_activation("gelu:approximate=tanh") == ("gelu", {"approximate": "tanh"})
    with pytest.raises(ValueError, match="must be one of"):
        parse_activation("gelu:approximate=fast")
    assert "approximate='tanh'" in repr(Activation("gelu", "numpy", approximate="tanh"))
    with pytest.raises(ValueError, match="unknown activation 'softmax'"):
        Activation("softmax", "numpy")
    needs = [n for n in ACTS if _params(n)]
    for name in needs:  # activations whose parameters have no default
        with pytest.raises(ValueError, match="no default for"):
            Activation(name, "numpy")


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'torch'"):
        get_backend("torch")


# --- gradients ---------------------------------------------------------------------

def _network_loss(model, loss, x, y, act_layers, noise_seed):
    for i, layer in enumerate(act_layers):  # the same RReLU draws on every call
        layer.rng = np.random.default_rng(noise_seed + i)
    return loss.forward(model.forward(x, training=True), y)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("act", ACTS)
def test_whole_network_gradient_matches_finite_differences(backend, act):
    """Every parameter's gradient (weights, biases, PReLU slopes) of a
    two-hidden-layer network against central differences, in float64."""
    x, y = _blobs(n=9, features=5, classes=3, seed=3, dtype=np.float64)
    model, _ = build_mlp(5, (6, 4), 3, act, backend=backend, seed=1, dtype=np.float64, **_params(act))
    acts = [layer for layer in model.layers if isinstance(layer, Activation)]
    if act == "prelu":  # make the slopes differ so a mix-up of units shows
        for layer in acts:
            layer.params["weight"][:] = np.linspace(-0.3, 0.6, layer.params["weight"].size)
    loss = SoftmaxCrossEntropy(backend)
    _network_loss(model, loss, x, y, acts, 7)
    model.backward(loss.backward())
    analytic = {name: g.copy() for name, _, g in model.parameters()}
    h = 1e-6
    checked = 0
    for name, p, _ in model.parameters():
        flat = p.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + h
            up = _network_loss(model, loss, x, y, acts, 7)
            flat[i] = old - h
            down = _network_loss(model, loss, x, y, acts, 7)
            flat[i] = old
            numeric = (up - down) / (2 * h)
            assert analytic[name].reshape(-1)[i] == pytest.approx(numeric, rel=1e-5, abs=1e-8), (name, i)
            checked += 1
    assert checked == sum(p.size for _, p, _ in model.parameters())
    if act == "prelu":
        assert any(np.any(analytic[n] != 0) for n in analytic if "prelu" in n)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cross_entropy_is_stable_and_correct(backend):
    loss = SoftmaxCrossEntropy(backend)
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 1.0, 2.0]], dtype=np.float32)
    y = np.array([2, 1])
    value = loss.forward(logits, y)
    row2 = -(1.0 - np.log(np.exp(0.0) + np.exp(1.0) + np.exp(2.0)))
    assert value == pytest.approx((2000.0 + row2) / 2, rel=1e-6)
    grad = loss.backward()
    assert np.all(np.isfinite(grad)) and grad.dtype == np.float32
    p = np.exp(logits[1] - logits[1].max())
    p /= p.sum()
    expected = (p - np.eye(3)[1]) / 2
    np.testing.assert_allclose(grad[1], expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad[0], [0.5, 0.0, -0.5], atol=1e-7)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        loss.forward(logits, np.array([0, 3]))
    with pytest.raises(ValueError, match="integers"):
        loss.forward(logits, np.array([0.0, 1.0]))


# --- the two backends ------------------------------------------------------------------

@pytest.mark.parametrize("act", ACTS)
def test_backends_agree(act):
    """Same seed, same data: the same training run on both backends."""
    x, y = _blobs()
    histories, weights = [], []
    for backend in BACKENDS:
        model, (_, shuffle, _) = build_mlp(12, (16,), 4, act, backend=backend, seed=5, **_params(act))
        h = fit(model, SoftmaxCrossEntropy(backend), Adam(model, lr=1e-2, backend=backend), x, y,
                epochs=3, batch_size=16, rng=shuffle, x_test=x[:20], y_test=y[:20])
        histories.append(h)
        weights.append([p.copy() for _, p, _ in model.parameters()])
    a, b = histories
    np.testing.assert_allclose(a["train_loss"], b["train_loss"], rtol=2e-5)
    np.testing.assert_allclose(a["test_loss"], b["test_loss"], rtol=2e-5)
    assert a["train_acc"] == b["train_acc"]
    for wa, wb in zip(*weights):
        np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-5)
    assert a["train_loss"][-1] < a["train_loss"][0]


def test_batch_helpers_agree_between_backends():
    """The compiled gather, loss step and bias sum against the NumPy ones."""
    fa, np_ = get_backend("fastact"), get_backend("numpy")
    rng = np.random.default_rng(4)
    x, y = rng.random((50, 7), dtype=np.float32), rng.integers(0, 5, 50)
    idx = rng.permutation(50)[:13]  # fewer rows than the buffers hold
    xb, yb = fa.take_batch(x, y, idx, np.empty((16, 7), np.float32), np.empty(16, y.dtype))
    np.testing.assert_array_equal(xb, x[idx])
    np.testing.assert_array_equal(yb, y[idx])
    logits = rng.standard_normal((13, 5)).astype(np.float32) * 4
    logits[0] = [1, 3, 3, 0, 0]  # a tie: the first maximum is the prediction
    yb[0] = 2
    loss, correct, grad = fa.cross_entropy_step(logits, yb, np.empty_like(logits))
    ref_loss, ref_correct, ref_grad = np_.cross_entropy_step(logits, yb, None)
    assert loss == pytest.approx(ref_loss, rel=1e-6)
    assert correct == ref_correct == np.count_nonzero(np.argmax(logits, axis=1) == yb)
    assert grad.dtype == ref_grad.dtype == np.float32
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(grad.sum(axis=1), 0, atol=1e-7)  # softmax and one-hot both sum to 1
    bad = yb.copy()
    bad[3] = 5
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\]"):
        fa.cross_entropy_step(logits, bad, grad)
    a = rng.standard_normal((32, 9)).astype(np.float32)
    sums = [np.full(9, np.nan, np.float32) for _ in range(2)]
    fa.column_sum(a, sums[0])
    np_.column_sum(a, sums[1])
    np.testing.assert_allclose(sums[0], sums[1], rtol=1e-6, atol=1e-6)


def test_network_keeps_its_parameters_in_one_buffer():
    model, _ = build_mlp(6, (5,), 3, "prelu", backend="numpy", seed=0)
    params = model.parameters()
    assert [n for n, _, _ in params] == ["0.weight", "0.bias", "1.prelu.weight", "2.weight", "2.bias"]
    assert model.flat_params.size == sum(p.size for _, p, _ in params) == 6 * 5 + 5 + 5 + 5 * 3 + 3
    for _, p, g in params:
        assert np.shares_memory(p, model.flat_params) and np.shares_memory(g, model.flat_grads)
    assert np.all(model.layers[1].params["weight"] == 0.25)  # values were moved, not reset
    model.flat_params[:] = 1.5
    assert all(np.all(p == 1.5) for _, p, _ in params)
    assert len(Adam(model).groups) == 1 and len(SGD(model, lr=0.1).groups) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_rrelu_training_and_evaluation(backend):
    layer = Activation("rrelu", backend, rng=np.random.default_rng(0), lower=0.1, upper=0.3)
    x = np.linspace(-2, 2, 40, dtype=np.float32).reshape(1, -1)  # no exact 0
    y_train = layer.forward(x, training=True)
    slopes = (y_train / x)[x < 0]
    assert np.all((slopes >= 0.1 - 1e-6) & (slopes <= 0.3 + 1e-6)) and slopes.std() > 0
    np.testing.assert_array_equal(y_train[x > 0], x[x > 0])
    g = layer.backward(np.ones_like(x))
    np.testing.assert_allclose(g[x < 0], slopes, rtol=1e-5)
    y_eval = layer.forward(x, training=False)
    np.testing.assert_allclose(y_eval[x < 0], 0.2 * x[x < 0], rtol=1e-6)


def test_prelu_weight_is_learned():
    x, y = _blobs()
    model, (_, shuffle, _) = build_mlp(12, (16,), 4, "prelu", backend="numpy", seed=0)
    w0 = model.layers[1].params["weight"].copy()
    assert w0.shape == (16,) and np.all(w0 == 0.25)
    fit(model, SoftmaxCrossEntropy("numpy"), Adam(model, lr=1e-2, backend="numpy"), x, y,
        epochs=2, rng=shuffle)
    assert np.any(model.layers[1].params["weight"] != w0)


# --- optimizers -----------------------------------------------------------------------

class _Params:
    def __init__(self, arrays):
        self.items = [(f"p{i}", a, np.zeros_like(a)) for i, a in enumerate(arrays)]

    def parameters(self):
        return self.items


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_matches_the_textbook_formula(backend, dtype):
    rng = np.random.default_rng(0)
    p = rng.standard_normal((7, 3)).astype(dtype)
    model = _Params([p])
    opt = Adam(model, lr=0.01, betas=(0.8, 0.99), eps=1e-6, backend=backend)
    ref, m, v = p.astype(np.float64), 0.0, 0.0
    for t in range(1, 6):
        g = rng.standard_normal(p.shape)
        model.items[0][2][...] = g
        opt.step()
        m = 0.8 * m + 0.2 * g
        v = 0.99 * v + 0.01 * g * g
        ref = ref - 0.01 * (m / (1 - 0.8 ** t)) / (np.sqrt(v / (1 - 0.99 ** t)) + 1e-6)
    assert p.dtype == dtype
    np.testing.assert_allclose(p, ref, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


def test_compiled_adam_flushes_subnormal_first_moments():
    """m that would be subnormal is stored as 0; the parameters move exactly
    as with the textbook update."""
    tiny = np.finfo(np.float32).tiny
    p = np.linspace(-1, 1, 6).astype(np.float32)
    m = np.array([tiny * 0.5, tiny * 1.05, -tiny * 3, 0.0, 1e-3, 1e-30], np.float32)
    g = np.array([0, 0, 0, 0, 0, 1e-3], np.float32)
    v = np.full(6, 1e-8, np.float32)
    states = [(p.copy(), m.copy(), v.copy()) for _ in BACKENDS]
    for backend, (pp, mm, vv) in zip(BACKENDS, states):
        get_backend(backend).adam_update(pp, g, mm, vv, 1e-3, 0.1, 1e-7, 0.9, 0.999)
    (pf, mf, vf), (pn, mn, vn) = states
    assert list(mf[:2] == 0) == [True, True] and mn[1] != 0  # 0.9 * 1.05 tiny is subnormal
    np.testing.assert_array_equal(mf[2:], mn[2:])
    np.testing.assert_array_equal(vf, vn)
    np.testing.assert_array_equal(pf, pn)


def test_adam_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    p = rng.standard_normal(50)
    model = _Params([p])
    opt = Adam(model, backend="fastact")
    tp = torch.tensor(p.copy(), requires_grad=True)
    topt = torch.optim.Adam([tp])
    for _ in range(20):
        g = rng.standard_normal(50)
        model.items[0][2][...] = g
        opt.step()
        tp.grad = torch.tensor(g)
        topt.step()
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_sgd_with_and_without_momentum():
    p = np.array([1.0, -2.0])
    model = _Params([p])
    model.items[0][2][...] = [0.5, 1.0]
    SGD(model, lr=0.1).step()
    np.testing.assert_allclose(p, [0.95, -2.1])
    opt = SGD(model, lr=0.1, momentum=0.5)
    opt.step()
    opt.step()  # buffer: g, then 0.5 g + g
    np.testing.assert_allclose(p, [0.95 - 0.05 - 0.075, -2.1 - 0.1 - 0.15])
    with pytest.raises(ValueError, match="learning rate"):
        SGD(model, lr=0)


# --- training loop -----------------------------------------------------------------------

def test_fit_is_deterministic_and_learns():
    x, y = _blobs(n=200)
    runs = []
    for seed in (3, 3, 4):
        model, (_, shuffle, _) = build_mlp(12, (16,), 4, "rrelu", backend="numpy", seed=seed)
        runs.append(fit(model, SoftmaxCrossEntropy("numpy"), Adam(model, lr=1e-2, backend="numpy"),
                        x, y, epochs=4, batch_size=32, rng=shuffle, x_test=x, y_test=y))
    assert runs[0]["train_loss"] == runs[1]["train_loss"]
    assert runs[0]["train_loss"] != runs[2]["train_loss"]
    assert runs[0]["test_acc"][-1] > 0.9  # well-separated blobs
    assert runs[0]["train_loss"][-1] < runs[0]["train_loss"][0]
    rec = runs[0].last
    assert set(rec) >= {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "steps"}
    assert rec["steps"] == 7  # ceil(200 / 32), the last batch smaller


def test_profile_splits_the_step_time():
    x, y = _blobs(n=64)
    model, (_, shuffle, _) = build_mlp(12, (16,), 4, "elu", backend="fastact", seed=0)
    h = fit(model, SoftmaxCrossEntropy("fastact"), Adam(model, backend="fastact"), x, y,
            epochs=2, batch_size=8, rng=shuffle, profile=True)
    assert set(h.profile) == {"data", "matmul", "activation", "loss", "optimizer"}
    assert all(v > 0 for v in h.profile.values())
    assert sum(h.profile.values()) <= sum(h["seconds"])


def test_fit_rejects_bad_data():
    model, _ = build_mlp(3, (4,), 2, "relu", backend="numpy")
    loss, opt = SoftmaxCrossEntropy("numpy"), SGD(model, lr=0.1)
    x = np.zeros((5, 3), np.float32)
    with pytest.raises(ValueError, match="one label per sample"):
        fit(model, loss, opt, x, np.zeros(4, int))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\]"):
        fit(model, loss, opt, x, np.array([0, 1, 2, 0, 1]))
    with pytest.raises(ValueError, match="Dense"):
        model.forward(np.zeros((2, 4), np.float32))


def test_glorot_uniform_init():
    d = Dense(300, 100, rng=np.random.default_rng(0))
    limit = np.sqrt(6 / 400)
    w = d.params["weight"]
    assert w.dtype == np.float32 and np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.95 * limit  # fills the range
    assert np.all(d.params["bias"] == 0)


# --- the toy gates -----------------------------------------------------------------------

def test_one_step_is_the_classic_update_rule():
    """The ensemble's sigmoid neuron follows ``syn0 += X.T @ ((y - l1) * l1 (1 - l1))``."""
    net = GateEnsemble((2, 1), "sigmoid", seeds=(11,), backend="numpy")
    syn0 = 2 * np.random.default_rng(11).random((2, 1)) - 1
    np.testing.assert_array_equal(net.W[0][0], syn0)
    y = TARGETS["and"].reshape(4, 1)
    for _ in range(200):
        l1 = 1 / (1 + np.exp(-INPUTS @ syn0))
        syn0 += INPUTS.T @ ((y - l1) * (l1 * (1 - l1)))
    net.train(INPUTS, TARGETS["and"], iterations=200, lr=1.0)
    np.testing.assert_allclose(net.W[0][0], syn0, rtol=1e-10)


@pytest.mark.parametrize("act", ["relu", "elu", "prelu", "rrelu"])
def test_seeds_train_independently(act):
    together = train_gate("xor", act, bias=True, seeds=(2, 5, 9), iterations=300, lr=0.5, hidden=3)
    alone = train_gate("xor", act, bias=True, seeds=(5,), iterations=300, lr=0.5, hidden=3)
    if act == "rrelu":  # the noise stream depends on the batch of seeds; evaluation outputs differ
        assert together.outputs.shape == (3, 4)
    else:
        np.testing.assert_allclose(together.outputs[1], alone.outputs[0], rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_and_gate_relu_needs_a_bias(backend):
    seeds = range(30)
    no_bias = train_gate("and", "relu", bias=False, seeds=seeds, lr=0.1, iterations=3000, backend=backend)
    # Impossible without a bias: 0 at (1,0) and (0,1) forces 0 at (1,1).
    assert not no_bias.learned.any()
    assert np.all(no_bias.outputs[:, 0] == 0)  # relu(0) for the input (0,0)
    with_bias = train_gate("and", "relu", bias=True, seeds=seeds, lr=0.1, iterations=3000, backend=backend)
    assert with_bias.learned.any()
    good = with_bias.outputs[with_bias.learned]
    # A live ReLU unit converges onto the gate itself, not just near it.
    np.testing.assert_allclose(good, np.broadcast_to(TARGETS["and"], good.shape), atol=1e-6)
    # Every seed that fails has a dead unit (dying ReLU).
    assert np.all(with_bias.dead_units[~with_bias.learned] > 0)
    assert "dead unit" in explain(with_bias, int(np.argmin(with_bias.learned)))


def test_and_gate_sigmoid_without_bias_cannot_fit_00():
    r = train_gate("and", "sigmoid", bias=False, seeds=range(5), iterations=2000)
    np.testing.assert_allclose(r.outputs[:, 0], 0.5)  # sigmoid(0), whatever the weights
    assert not r.learned.any() and "sigmoid(0) = 0.5" in explain(r)
    r = train_gate("and", "sigmoid", bias=True, seeds=range(5), iterations=2000)
    assert r.learned.all() and "learns AND" in explain(r)


def test_and_gate_learning_rate_limit():
    """Above the limit a linear unit's steps overshoot and grow; below they settle."""
    identity = "leaky_relu:negative_slope=1"
    for bias in (False, True):
        limit = stable_lr_limit("and", bias)
        below = train_gate("and", identity, bias=bias, seeds=(0,), iterations=2000, lr=0.9 * limit)
        above = train_gate("and", identity, bias=bias, seeds=(0,), iterations=2000, lr=1.1 * limit)
        assert np.abs(below.outputs).max() < 2
        assert np.abs(above.outputs).max() > 1e3
    r = train_gate("and", "leaky_relu", bias=True, seeds=range(5), iterations=500, lr=1.0)
    assert not r.learned.any() and "above 0.31" in explain(r)
    r = train_gate("and", "leaky_relu", bias=True, seeds=range(5), iterations=3000, lr=0.1)
    assert r.learned.all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_diverging_seeds_are_reported_not_fatal(backend):
    r = train_gate("and", "prelu", bias=True, seeds=range(6), iterations=300, lr=3.0, backend=backend)
    diverged = ~np.isfinite(r.outputs).all(axis=1)
    assert diverged.any() and not r.learned[diverged].any()
    assert "diverged" in explain(r, int(np.argmax(diverged)))
    # the other seeds are untouched by the diverged ones
    alone = train_gate("and", "prelu", bias=True, seeds=(int(np.argmin(diverged)),), iterations=300,
                       lr=3.0, backend=backend)
    if not diverged.all():
        np.testing.assert_allclose(r.outputs[np.argmin(diverged)], alone.outputs[0], rtol=1e-12)


def test_xor_learned_with_a_hidden_layer():
    r = train_gate("xor", "tanh", bias=True, seeds=range(10), iterations=3000, hidden=4, backend="fastact")
    assert r.learned.sum() >= 5
    learned = r.outputs[r.learned]
    assert np.all(np.abs(learned - TARGETS["xor"]) < 0.25)


def test_gate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown problem"):
        train_gate("nand")
    with pytest.raises(ValueError, match="single neuron"):
        train_gate("and", output_activation="sigmoid")


def test_real_fashion_mnist_learns():
    from fastact.nn import datasets
    from fastact.nn.fashion import train_fashion_mnist
    if not datasets.available():
        pytest.skip("Fashion-MNIST not installed (apt-get install -y dataset-fashion-mnist)")
    x, y, xt, yt = datasets.load_fashion_mnist(limit=3000)
    r = train_fashion_mnist("relu", data=(x, y, xt[:1000], yt[:1000]), epochs=1)
    assert r.history.last["test_acc"] > 0.7  # chance is 0.1

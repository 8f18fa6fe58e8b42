"""One training epoch of the Fashion-MNIST model, per backend and against PyTorch.

784 -> Dense(128, relu) -> Dense(10), softmax cross-entropy, Adam (lr 1e-3,
eps 1e-7), batches of 32, float32: ``fastact.nn`` on the fastact backend, on
the numpy backend, and the same model in ``torch.nn`` on the CPU (same number
of threads as Numba).  Every round is one full epoch; the model keeps
training from round to round.

    pytest bench/test_train.py --benchmark-only --benchmark-enable     # timed
    pytest bench/test_train.py                                         # smoke run, once each

The "fashion-mnist" cases need the dataset and run only when timing (skipped
otherwise); the "synthetic" cases train on 512 random images of the same
shape, so that CI can run every code path in a second.  BLAS threads are NumPy's default; on a
busy machine pin them (``OPENBLAS_NUM_THREADS=1``) for stable timings.
"""
import numba
import numpy as np
import pytest

from fastact.nn import Adam, SoftmaxCrossEntropy, build_mlp, fit
from fastact.nn.datasets import available, load_fashion_mnist

BATCH = 32
LR, EPS = 1e-3, 1e-7


@pytest.fixture(scope="module", params=["synthetic", "fashion-mnist"])
def data(request):
    if request.param == "fashion-mnist":
        opt = request.config.getoption
        if opt("benchmark_disable", default=False) and not opt("benchmark_enable", default=False):
            pytest.skip("full Fashion-MNIST epochs only when timing (--benchmark-enable)")
        if not available():
            pytest.skip("Fashion-MNIST not installed (apt-get install -y dataset-fashion-mnist)")
        x, y, _, _ = load_fashion_mnist()
        return request.param, x, y
    rng = np.random.default_rng(0)
    x = rng.random((512, 784), dtype=np.float32)
    y = rng.integers(0, 10, 512)
    return request.param, x, y


def _fastact_epoch(backend, x, y):
    model, (_, shuffle, _) = build_mlp(x.shape[1], (128,), 10, "relu", backend=backend, seed=0)
    loss, opt = SoftmaxCrossEntropy(backend), Adam(model, lr=LR, eps=EPS, backend=backend)
    fit(model, loss, opt, x[:64], y[:64], epochs=1, batch_size=BATCH, rng=shuffle)  # compile

    def epoch():
        return fit(model, loss, opt, x, y, epochs=1, batch_size=BATCH, rng=shuffle).last["train_loss"]
    return epoch


def _torch_epoch(x, y):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(numba.get_num_threads())
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=LR, eps=EPS)
    loss_fn = torch.nn.CrossEntropyLoss()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    rng = np.random.default_rng(0)

    def epoch():
        order = torch.from_numpy(rng.permutation(len(x)))
        total = 0.0
        for s in range(0, len(x), BATCH):
            idx = order[s:s + BATCH]
            xb, yb = tx[idx], ty[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        return total / len(x)
    return epoch


@pytest.mark.parametrize("impl", ["fastact", "numpy", "torch"])
def test_train_epoch(benchmark, data, impl):
    name, x, y = data
    epoch = _torch_epoch(x, y) if impl == "torch" else _fastact_epoch(impl, x, y)
    benchmark.group = f"train one epoch: {name} {len(x)}x{x.shape[1]}, batch {BATCH}"
    benchmark.extra_info.update(impl=impl, samples=len(x), threads=numba.get_num_threads())
    loss = benchmark.pedantic(epoch, rounds=3 if name == "fashion-mnist" else 5, iterations=1)
    assert np.isfinite(loss) and 0 < loss < np.log(10) * 2
    benchmark.extra_info["train_loss"] = loss


def _interleaved(rounds, impls, x, y):
    """Epoch times with the implementations taking turns, so that a change
    in the machine's load hits all of them alike."""
    import time
    epochs = {impl: _torch_epoch(x, y) if impl == "torch" else _fastact_epoch(impl, x, y)
              for impl in impls}
    times = {impl: [] for impl in impls}
    for _ in range(rounds):
        for impl in impls:
            t0 = time.perf_counter()
            epochs[impl]()
            times[impl].append(time.perf_counter() - t0)
    return times


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Time one Fashion-MNIST epoch per implementation, "
                                                 "interleaved; prints min and median seconds.")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--impls", default="fastact,numpy,torch")
    args = parser.parse_args()
    x, y, _, _ = load_fashion_mnist()
    impls = args.impls.split(",")
    if "torch" in impls:
        try:
            import torch  # noqa: F401
        except ImportError:
            impls.remove("torch")
    times = _interleaved(args.rounds, impls, x, y)
    best = {k: min(v) for k, v in times.items()}
    print(f"one epoch, {len(x)} images, batch {BATCH}, {numba.get_num_threads()} Numba thread(s), "
          f"{args.rounds} rounds")
    print(f"{'impl':8s} {'min s':>7s} {'median s':>9s} {'min vs fastact':>15s}")
    for impl in impls:
        v = sorted(times[impl])
        print(f"{impl:8s} {v[0]:7.3f} {v[len(v) // 2]:9.3f} {v[0] / best.get('fastact', v[0]):14.2f}x")

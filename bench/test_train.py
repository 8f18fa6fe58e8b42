"""One training epoch of the Fashion-MNIST model, per backend and against PyTorch.

784 -> Dense(128, relu) -> Dense(10), softmax cross-entropy, Adam (lr 1e-3,
eps 1e-7), batches of 32, float32: ``fastact.nn`` on the fastact backend, on
the numpy backend, and the same model in ``torch.nn`` on the CPU (as many
threads as NumPy's BLAS, see ``bench.train_speed.threads``).  Every round is
one full epoch; the model keeps training from round to round.

    pytest bench/test_train.py --benchmark-only --benchmark-enable     # timed
    pytest bench/test_train.py                                         # smoke run, once each
    python -m bench.train_speed --rounds 5                             # interleaved, min and median

The "fashion-mnist" cases need the dataset and run only when timing (skipped
otherwise); the "synthetic" cases train on 512 random images of the same
shape, so that CI can run every code path in a second.  BLAS threads are NumPy's default; on a
busy machine pin them (``OPENBLAS_NUM_THREADS=1``) for stable timings.
"""
import numba
import numpy as np
import pytest

from fastact.nn.datasets import available, load_fashion_mnist

from .train_speed import BATCH, fastact_epoch, threads, torch_epoch


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


@pytest.mark.parametrize("impl", ["fastact", "numpy", "torch"])
def test_train_epoch(benchmark, data, impl):
    name, x, y = data
    if impl == "torch":
        pytest.importorskip("torch")
    epoch = torch_epoch(x, y) if impl == "torch" else fastact_epoch(impl, x, y)
    benchmark.group = f"train one epoch: {name} {len(x)}x{x.shape[1]}, batch {BATCH}"
    benchmark.extra_info.update(impl=impl, samples=len(x), threads=threads(),
                               numba_threads=numba.get_num_threads())
    loss = benchmark.pedantic(epoch, rounds=3 if name == "fashion-mnist" else 5, iterations=1)
    assert np.isfinite(loss) and 0 < loss < np.log(10) * 2
    benchmark.extra_info["train_loss"] = loss


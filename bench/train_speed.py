"""Seconds per training epoch of the Fashion-MNIST model, three ways.

784 -> Dense(128, relu) -> Dense(10), softmax cross-entropy, Adam (lr 1e-3,
eps 1e-7), batches of 32, float32: ``fastact.nn`` on the fastact backend, on
the numpy backend, and the same model in ``torch.nn`` on the CPU with as many
threads as NumPy's BLAS (:func:`threads`).  The implementations take turns, one epoch each per round,
so that a change in the machine's load hits all of them alike; every model
keeps training from round to round.

    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python -m bench.train_speed --rounds 5
    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python -m bench.train_speed --rounds 5 --profile

``--profile`` also splits each step of the two fastact.nn backends into its
phases (``fit(profile=True)``; the timer itself adds a few microseconds).

``bench/test_train.py`` times the same epochs with pytest-benchmark, and
``fastact demo`` prints :func:`summary` (one round).  Needs no pytest.
"""
import argparse
import os
import time

import numba
import numpy as np

from fastact.nn import Adam, SoftmaxCrossEntropy, build_mlp, fit

IMPLS = ("fastact", "numpy", "torch")
BATCH = 32
LR, EPS = 1e-3, 1e-7


def threads():
    """The thread count NumPy's BLAS uses: ``OPENBLAS_NUM_THREADS`` (or
    ``OMP_NUM_THREADS``) when set, else Numba's count, which like OpenBLAS's
    default is the number of CPUs.  PyTorch gets the same."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return numba.get_num_threads()


def torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def fastact_epoch(backend, x, y, profile=False):
    """A function that trains one more epoch of one model and returns its
    training loss; the kernels are compiled before it is returned.  With
    ``profile``, each epoch's microseconds per step in each phase are appended
    to the function's ``profiles`` list."""
    model, (_, shuffle, _) = build_mlp(x.shape[1], (128,), 10, "relu", backend=backend, seed=0)
    loss, opt = SoftmaxCrossEntropy(backend), Adam(model, lr=LR, eps=EPS, backend=backend)
    fit(model, loss, opt, x[:64], y[:64], epochs=1, batch_size=BATCH, rng=shuffle)

    def epoch():
        h = fit(model, loss, opt, x, y, epochs=1, batch_size=BATCH, rng=shuffle, profile=profile)
        if profile:
            epoch.profiles.append({k: 1e6 * v / h.last["steps"] for k, v in h.profile.items()})
        return h.last["train_loss"]
    epoch.profiles = []
    return epoch


def torch_epoch(x, y):
    """The same for the model in ``torch.nn`` (ImportError without PyTorch)."""
    import torch

    torch.set_num_threads(threads())
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


def make_epoch(impl, x, y, profile=False):
    return torch_epoch(x, y) if impl == "torch" else fastact_epoch(impl, x, y, profile)


def interleaved(rounds, impls, x, y, profiles=None):
    """``{impl: [seconds of each round's epoch]}``, the implementations taking
    turns.  Given a dict, ``profiles`` receives ``{impl: [per-phase
    microseconds per step of each round]}`` for the fastact.nn backends."""
    epochs = {impl: make_epoch(impl, x, y, profile=profiles is not None) for impl in impls}
    times = {impl: [] for impl in impls}
    for _ in range(rounds):
        for impl in impls:
            t0 = time.perf_counter()
            epochs[impl]()
            times[impl].append(time.perf_counter() - t0)
    if profiles is not None:
        profiles.update({impl: fn.profiles for impl, fn in epochs.items() if getattr(fn, "profiles", None)})
    return times


def default_impls():
    return [i for i in IMPLS if i != "torch" or torch_available()]


def summary(x, y, rounds=1, impls=None):
    """One line per implementation: seconds per epoch and the ratio to the
    fastact backend (best of ``rounds``)."""
    impls = list(impls or default_impls())
    times = interleaved(rounds, impls, x, y)
    best = {k: min(v) for k, v in times.items()}
    names = {"fastact": "fastact.nn, fastact backend", "numpy": "fastact.nn, numpy backend",
             "torch": "PyTorch torch.nn (CPU)"}
    lines = [f"training speed, one epoch of {len(x)} images at batch {BATCH} (relu, Adam; "
             f"{'best of ' + str(rounds) + ' rounds' if rounds > 1 else 'one round'}, "
             f"{threads()} BLAS and PyTorch thread(s)):"]
    for impl in impls:
        ratio = best[impl] / best["fastact"] if "fastact" in best else float("nan")
        lines.append(f"  {names.get(impl, impl):30s} {best[impl]:6.2f} s/epoch   {ratio:5.2f}x the fastact time")
    return "\n".join(lines)


def main(argv=None):
    from fastact.nn.datasets import load_fashion_mnist

    parser = argparse.ArgumentParser(description="Time one Fashion-MNIST epoch per implementation, "
                                                 "interleaved; prints min and median seconds.")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--impls", default=",".join(default_impls()),
                        help="comma-separated, from fastact,numpy,torch (default: those installed)")
    parser.add_argument("--data", metavar="DIR", default=None, help="Fashion-MNIST directory")
    parser.add_argument("--profile", action="store_true",
                        help="also split the steps of the fastact.nn backends into phases")
    args = parser.parse_args(argv)
    x, y, _, _ = load_fashion_mnist(args.data)
    impls = args.impls.split(",")
    profiles = {} if args.profile else None
    times = interleaved(args.rounds, impls, x, y, profiles)
    best = {k: min(v) for k, v in times.items()}
    print(f"one epoch, {len(x)} images, batch {BATCH}, {threads()} BLAS and PyTorch thread(s), "
          f"{numba.get_num_threads()} Numba thread(s), {args.rounds} rounds")
    print(f"{'impl':8s} {'min s':>7s} {'median s':>9s} {'min vs fastact':>15s}")
    for impl in impls:
        v = sorted(times[impl])
        print(f"{impl:8s} {v[0]:7.3f} {v[len(v) // 2]:9.3f} {v[0] / best.get('fastact', v[0]):14.2f}x")
    if profiles:
        print("\nmicroseconds per step in each phase, the round with the smallest total:")
        phases = list(next(iter(profiles.values()))[0])
        print(f"{'impl':8s} " + " ".join(f"{p:>10s}" for p in phases) + f" {'total':>8s}")
        for impl, rounds in profiles.items():
            p = min(rounds, key=lambda r: sum(r.values()))
            print(f"{impl:8s} " + " ".join(f"{p[k]:10.0f}" for k in phases) + f" {sum(p.values()):8.0f}")


if __name__ == "__main__":
    main()

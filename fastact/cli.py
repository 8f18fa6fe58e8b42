"""The ``fastact`` command.

    fastact train and-gate --activation relu
    fastact train xor --activation relu sigmoid
    fastact train fashion-mnist --activation relu sigmoid --epochs 10 --plot curves.png
    fastact demo                   # relu vs sigmoid, 10 epochs, benchmark summary

Subcommands are registered through :data:`SUBCOMMANDS`; see there to add one.
"""
import argparse
import json
import sys
import time

# Hook for the short benchmark summary that ``fastact demo`` prints after its
# training table: a function that prints its own output, called with the
# loaded Fashion-MNIST ``(x_train, y_train, x_test, y_test)`` (None when the
# dataset is missing).  None skips it.
BENCH_SUMMARY = None


class CommandError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


# --- output helpers ------------------------------------------------------------

def _table(headers, rows, aligns=None):
    """Plain-text table, columns padded to their widest cell."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    aligns = aligns or ["<"] + [">"] * (len(headers) - 1)
    lines = []
    for j, row in enumerate(cells):
        lines.append("  ".join(f"{c:{a}{w}}" for c, a, w in zip(row, aligns, widths)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


class _PlainBar:
    """A minimal progress bar on stderr, for when tqdm is not installed."""

    def __init__(self, total, desc, stream):
        self.total, self.desc, self.stream = total, desc, stream
        self.n = 0
        self.every = max(1, total // 50)
        self.tty = hasattr(stream, "isatty") and stream.isatty()

    def update(self, n):
        self.n = n
        if self.tty and (n % self.every == 0 or n == self.total):
            filled = int(30 * n / self.total)
            self.stream.write(f"\r{self.desc} [{'#' * filled}{'.' * (30 - filled)}] {n}/{self.total}")
            self.stream.flush()

    def close(self):
        if self.tty:
            self.stream.write("\r" + " " * (len(self.desc) + 45) + "\r")
            self.stream.flush()


class _TqdmBar:
    def __init__(self, tqdm, total, desc, stream):
        # disable=None: tqdm switches itself off when the stream is not a terminal
        self.bar = tqdm(total=total, desc=desc, unit="batch", leave=False, file=stream,
                        mininterval=0.2, disable=None)
        self.n = 0

    def update(self, n):
        self.bar.update(n - self.n)
        self.n = n

    def close(self):
        self.bar.close()


def _progress_factory(enabled, stream=None):
    """``make(total, desc)`` -> a bar with ``update(done)`` and ``close()``, or
    None when progress is off."""
    if not enabled:
        return None
    stream = stream or sys.stderr
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return lambda total, desc: _PlainBar(total, desc, stream)
    return lambda total, desc: _TqdmBar(tqdm, total, desc, stream)


# --- toy gates -----------------------------------------------------------------

def _gate_variants(args):
    biases = {"no": [False], "yes": [True], "both": [False, True]}[args.bias]
    return [(b, lr) for b in biases for lr in args.lr]


def _variant_name(bias, lr):
    return f"{'bias' if bias else 'no bias'}, lr {lr:g}"


def _run_gate(args, problem):
    import numpy as np

    from .nn.activations import parse_activation
    from .nn.toys import INPUTS, TARGETS, explain, train_gate

    for act in args.activation:
        parse_activation(act)  # fail before any training on a bad name
    if args.seeds < 0:
        raise CommandError("--seeds must be >= 0")
    if args.iterations < 0:
        raise CommandError("--iterations must be >= 0")
    if any(not lr > 0 for lr in args.lr):
        raise CommandError("--lr values must be positive")
    variants = _gate_variants(args)
    gate = problem.upper()
    extra = {} if problem == "and" else {"hidden": args.hidden, "output_activation": args.output_activation}
    net = ("one neuron, 2 inputs" if problem == "and" else
           f"2 inputs -> {args.hidden} hidden units -> 1 {args.output_activation} output")
    print(f"{gate} gate: {net}; full-batch gradient descent on 0.5 * sum of squared errors, "
          f"{args.iterations} iterations, weights from U(-1, 1), backend {args.backend}")
    for act in args.activation:
        results = []
        for bias, lr in variants:
            seeds = sorted({args.seed, *range(args.seeds)})
            r = train_gate(problem, act, bias=bias, seeds=seeds, iterations=args.iterations, lr=lr,
                           backend=args.backend, tol=args.tol, **extra)
            results.append((bias, lr, r, seeds.index(args.seed), seeds))
        print(f"\n== {act}: outputs after training, seed {args.seed} ==")
        headers = ["input", "target"] + [_variant_name(b, lr) for b, lr, *_ in results]
        rows = []
        for i, (x, t) in enumerate(zip(INPUTS, TARGETS[problem])):
            rows.append([f"({x[0]:.0f}, {x[1]:.0f})", f"{t:.0f}"] +
                        [f"{r.outputs[k, i]:.4f}" for _, _, r, k, _ in results])
        print(_table(headers, rows))
        for bias, lr, r, k, _ in results:
            print(f"  {_variant_name(bias, lr)}: {explain(r, k)}")
        if args.seeds:
            print(f"\n   over seeds 0..{args.seeds - 1}: how many learn {gate} "
                  f"(every output within {args.tol:g} of its target)")
            rows = []
            for bias, lr, r, k, seeds in results:
                sel = [i for i, s in enumerate(seeds) if s < args.seeds]
                learned = int(r.learned[sel].sum())
                sep = int(r.separates[sel].sum())
                dead = int(r.dead[sel].sum())
                diverged = int((~np.isfinite(r.outputs[sel])).any(axis=1).sum())
                rows.append([_variant_name(bias, lr), f"{learned}/{len(sel)}", f"{sep}/{len(sel)}",
                             f"{diverged}/{len(sel)}",
                             f"{dead}/{len(sel)}" + ("  <- dying ReLU" if dead else "")])
            print(_table(["variant", "learn", "separate at 0.5", "diverged", "failed with a dead unit"],
                         rows))
    return 0


def _gate_parser(sub, name, problem, help_text, default_acts, default_bias, default_lr):
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--activation", nargs="+", default=default_acts, metavar="NAME[:K=V,...]",
                   help=f"activations to try (default: {' '.join(default_acts)})")
    p.add_argument("--bias", choices=("no", "yes", "both"), default=default_bias,
                   help=f"train without a bias, with one, or both (default: {default_bias})")
    p.add_argument("--lr", nargs="+", type=float, default=default_lr,
                   help="learning rate(s); 1 is the classic example's update "
                        f"(default: {' '.join(f'{x:g}' for x in default_lr)})")
    p.add_argument("--iterations", type=int, default=10000, help="full-batch updates (default: 10000)")
    p.add_argument("--seed", type=int, default=0, help="seed whose outputs are printed (default: 0)")
    p.add_argument("--seeds", type=int, default=100,
                   help="count successes over seeds 0..N-1, 0 to skip (default: 100)")
    p.add_argument("--tol", type=float, default=0.25,
                   help="an output counts as right within this distance of its target (default: 0.25)")
    p.add_argument("--backend", choices=("fastact", "numpy"), default="fastact")
    if problem == "xor":
        p.add_argument("--hidden", type=int, default=4, help="hidden units (default: 4)")
        p.add_argument("--output-activation", default="sigmoid", help="output unit's activation (default: sigmoid)")
    p.set_defaults(func=lambda args: _run_gate(args, problem))


# --- Fashion-MNIST -----------------------------------------------------------------

def _check_plot_available():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CommandError("--plot needs matplotlib, an optional dependency: pip install matplotlib") from None


def save_plot(results, path, title="Fashion-MNIST"):
    """Loss and accuracy per epoch of every run, train solid and test dashed."""
    _check_plot_available()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, r in enumerate(results):
        color = f"C{i % 10}"
        ep = r.history["epoch"]
        ax_loss.plot(ep, r.history["train_loss"], "-", color=color, label=f"{r.label} train")
        ax_loss.plot(ep, r.history["test_loss"], "--", color=color, label=f"{r.label} test")
        ax_acc.plot(ep, [100 * a for a in r.history["train_acc"]], "-", color=color, label=f"{r.label} train")
        ax_acc.plot(ep, [100 * a for a in r.history["test_acc"]], "--", color=color, label=f"{r.label} test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title=f"{title}: loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title=f"{title}: accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    ax_acc.legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _results_table(results):
    rows = []
    for r in results:
        last = r.history.last
        rows.append([r.label, f"{100 * last['train_acc']:.2f}", f"{100 * last['test_acc']:.2f}",
                     f"{last['train_loss']:.4f}", f"{last['test_loss']:.4f}",
                     f"{r.seconds_per_epoch:.2f}", r.backend])
    return _table(["activation", "train acc %", "test acc %", "train loss", "test loss",
                   "s/epoch", "backend"], rows)


def _profile_table(results):
    from .nn.train import PHASES
    rows = []
    for r in results:
        prof = r.history.profile
        total = sum(prof.values())
        steps = sum(r.history["steps"])
        rows.append([r.label] + [f"{prof[p]:.2f} ({100 * prof[p] / total:.0f}%)" for p in PHASES] +
                    [f"{1e6 * total / steps:.0f}"])
    return _table(["activation"] + [f"{p} s" for p in PHASES] + ["us/step"], rows)


def _load_fashion(data_dir, scale=True, limit=None):
    from .nn.datasets import load_fashion_mnist

    t0 = time.perf_counter()
    data = load_fashion_mnist(data_dir, scale=scale, limit=limit)
    print(f"Fashion-MNIST: {len(data[0])} training and {len(data[2])} test images "
          f"({'scaled to [0, 1]' if scale else 'raw 0..255 pixels'}), loaded in "
          f"{time.perf_counter() - t0:.1f} s")
    return data


def _run_fashion(activations, *, backend, epochs, batch_size, lr, seed, data_dir, limit, hidden,
                 scale, progress, profile, plot, json_path, optimizer="adam", data=None):
    from .nn.activations import parse_activation
    from .nn.fashion import train_fashion_mnist

    for act in activations:
        parse_activation(act)
    if epochs < 1:
        raise CommandError("--epochs must be >= 1")
    if batch_size < 1:
        raise CommandError("--batch-size must be >= 1")
    if limit is not None and limit < 1:
        raise CommandError("--limit must be >= 1")
    if not lr > 0:
        raise CommandError("--lr must be positive")
    if plot:
        _check_plot_available()
    if data is None:
        data = _load_fashion(data_dir, scale, limit)
    print(f"model: {data[0].shape[1]} -> Dense({hidden}, activation) -> Dense(10) -> softmax; "
          f"{'Adam' if optimizer == 'adam' else 'SGD'} lr {lr:g}, batch {batch_size}, {epochs} epoch(s), seed {seed}, backend {backend}")
    make_bar = _progress_factory(progress)
    results = []
    for act in activations:
        state = {}

        def on_step(done, total, _act=act, _state=state):
            bar = _state.get("bar")
            if bar is None and make_bar is not None:
                bar = _state["bar"] = make_bar(total, f"{_act} epoch {_state.get('epoch', 1)}/{epochs}")
            if bar is not None:
                bar.update(done)

        def on_epoch(epoch, rec, _act=act, _state=state):
            bar = _state.pop("bar", None)
            if bar is not None:
                bar.close()
            _state["epoch"] = epoch + 1
            print(f"{_act} epoch {epoch}/{epochs}: train loss {rec['train_loss']:.4f} "
                  f"acc {100 * rec['train_acc']:.2f}% | test loss {rec['test_loss']:.4f} "
                  f"acc {100 * rec['test_acc']:.2f}% | {rec['seconds']:.2f} s", flush=True)

        r = train_fashion_mnist(act, data=data, backend=backend, epochs=epochs, batch_size=batch_size,
                                lr=lr, seed=seed, hidden=hidden, profile=profile, optimizer=optimizer,
                                on_step=on_step if make_bar is not None else None, on_epoch=on_epoch)
        results.append(r)
    print()
    print(_results_table(results))
    if profile:
        print("\ntime per phase of the training steps (all epochs):")
        print(_profile_table(results))
    if plot:
        save_plot(results, plot)
        print(f"\nplot saved to {plot}")
    if json_path:
        payload = [{"activation": r.label, "backend": r.backend, "epochs": r.history.epochs,
                    "profile": r.history.profile, "seed": seed, "batch_size": batch_size,
                    "optimizer": optimizer, "lr": lr, "scale": scale, "limit": limit} for r in results]
        with open(json_path, "w") as fh:
            json.dump(payload, fh, indent=1)
        print(f"history saved to {json_path}")
    return results


def _add_fashion_options(p, epochs_default):
    p.add_argument("--backend", choices=("fastact", "numpy"), default="fastact",
                   help="fastact's compiled kernels or the NumPy reference (default: fastact)")
    p.add_argument("--epochs", type=int, default=epochs_default, help=f"(default: {epochs_default})")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="directory with the four IDX files (default: $FASTACT_DATA, "
                        "else /usr/share/datasets/fashion-mnist)")
    p.add_argument("--seed", type=int, default=0, help="seed for init, shuffling and noise (default: 0)")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="use only the first N training and N test images (quick runs)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def _register_train(sub):
    p = sub.add_parser("train", help="train a network (AND gate, XOR, Fashion-MNIST)",
                       description="Train a small network with fastact's activations.")
    tsub = p.add_subparsers(dest="problem", metavar="PROBLEM")
    tsub.required = True
    _gate_parser(tsub, "and-gate", "and", "one neuron learning the AND gate (with and without a bias)",
                 ["sigmoid", "relu", "leaky_relu", "elu"], "both", [1.0, 0.1])
    _gate_parser(tsub, "xor", "xor", "one hidden layer learning XOR",
                 ["sigmoid", "relu", "leaky_relu", "elu"], "yes", [1.0])

    f = tsub.add_parser("fashion-mnist", help="784 -> Dense(128, act) -> Dense(10) on Fashion-MNIST",
                        description="Compare activations on Fashion-MNIST: flatten 784 -> Dense(128, "
                                    "activation) -> Dense(10) -> softmax, Adam, sparse categorical "
                                    "cross-entropy, inputs scaled to [0, 1].")
    f.add_argument("--activation", nargs="+", default=["relu", "sigmoid"], metavar="NAME[:K=V,...]",
                   help="activations to compare, e.g. relu sigmoid leaky_relu:negative_slope=0.1 "
                        "(default: relu sigmoid)")
    _add_fashion_options(f, 10)
    f.add_argument("--batch-size", type=int, default=32, help="(default: 32)")
    f.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                   help="Adam (eps 1e-7, as Keras) or plain SGD (default: adam)")
    f.add_argument("--lr", type=float, default=1e-3, help="learning rate (default: 0.001)")
    f.add_argument("--hidden", type=int, default=128, help="hidden units (default: 128)")
    f.add_argument("--no-scale", dest="scale", action="store_false",
                   help="feed raw 0..255 pixels instead of scaling them to [0, 1]")
    f.add_argument("--profile", action="store_true",
                   help="print the time spent in each phase of the training steps")
    f.add_argument("--plot", metavar="FILE.png", help="save loss and accuracy curves (needs matplotlib)")
    f.add_argument("--json", metavar="FILE", help="save every run's per-epoch history as JSON")

    def run(args):
        _run_fashion(args.activation, backend=args.backend, epochs=args.epochs, batch_size=args.batch_size,
                     lr=args.lr, seed=args.seed, data_dir=args.data, limit=args.limit, hidden=args.hidden,
                     scale=args.scale, progress=args.progress, profile=args.profile, plot=args.plot,
                     json_path=args.json, optimizer=args.optimizer)
        return 0

    f.set_defaults(func=run)


def _register_demo(sub):
    p = sub.add_parser("demo", aliases=["main"],
                       help="ReLU vs sigmoid on Fashion-MNIST with the fastact backend, then a benchmark summary",
                       description="ReLU vs sigmoid on Fashion-MNIST (fastact backend, the full "
                                   "10 epochs by default; --epochs 2 for a quick look), then a short "
                                   "benchmark summary: activation kernels against NumPy and "
                                   "PyTorch, and one training epoch per implementation.")
    _add_fashion_options(p, 10)

    def run(args):
        status, data = 0, None
        if args.epochs < 1:
            raise CommandError("--epochs must be >= 1")
        try:
            data = _load_fashion(args.data, limit=args.limit)
            _run_fashion(["relu", "sigmoid"], backend=args.backend, epochs=args.epochs, batch_size=32,
                         lr=1e-3, seed=args.seed, data_dir=args.data, limit=args.limit, hidden=128,
                         scale=True, progress=args.progress, profile=False, plot=None, json_path=None,
                         data=data)
        except FileNotFoundError as exc:  # the dataset is missing: still show the benchmark
            print(f"fastact: {exc}", file=sys.stderr)
            status = 2
        if BENCH_SUMMARY is not None:
            print()
            BENCH_SUMMARY(data)
        return status

    p.set_defaults(func=run)


def _register_data(sub):
    p = sub.add_parser("data", help="is Fashion-MNIST installed? where it is, or how to get it",
                       description="Look for the four Fashion-MNIST files and say where they are; "
                                   "exit status 2, with instructions, when they are missing.")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="directory to look in (default: $FASTACT_DATA, else /usr/share/datasets/fashion-mnist)")

    def run(args):
        from .nn.datasets import data_dir, locate

        paths = locate(args.data)  # DatasetNotFoundError says what is missing and how to get it
        print(f"Fashion-MNIST found in {data_dir(args.data)}:")
        for path in paths.values():
            print(f"  {path}")
        return 0

    p.set_defaults(func=run)


def _register_info(sub):
    p = sub.add_parser("info", help="versions, threads, Numba threading layer, CPU",
                       description="Print what fastact runs on.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--functions", action="store_true", help="also list the activations of the table")

    def run(args):
        from . import info
        from ._registry import ACTIVATIONS

        data = info()
        if args.functions:
            data["functions"] = list(ACTIVATIONS)
        if args.json:
            print(json.dumps(data, indent=2))
        else:
            width = max(map(len, data))
            for key, value in data.items():
                if isinstance(value, list):
                    value = ", ".join(value)
                print(f"{key:<{width}}  {value}")
        return 0

    p.set_defaults(func=run)


def _register_bench(sub):
    p = sub.add_parser("bench", help="run the benchmark report (needs the repository's bench/ folder)",
                       description="Run the pytest-benchmark suite and write docs/benchmarks.md; "
                                   "arguments after 'bench' go to python -m bench.report.")
    p.add_argument("report_args", nargs=argparse.REMAINDER, help="options of bench.report (e.g. --quick)")

    def run(args):
        report = _bench_report()
        return int(report.main(args.report_args) or 0)

    p.set_defaults(func=run)


def _bench_report(module="report"):
    """bench.report (or another bench module) from the source tree (the
    benchmarks are not installed with the package)."""
    import importlib
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.isdir(os.path.join(root, "bench")):
        raise CommandError("the benchmarks live in the repository's bench/ folder; "
                           "run this from a source checkout")
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(f"bench.{module}")


def _bench_summary(data=None):
    """The short benchmark summary of ``fastact demo``: the activation
    kernels, then (given the data) one training epoch per implementation."""
    try:
        report = _bench_report()
    except CommandError as exc:
        print(f"(no benchmark summary: {exc})")
        return
    print("activation kernels, forward and backward, float32:", flush=True)
    print(report.summary())
    if data is not None:
        print(flush=True)
        print(_bench_report("train_speed").summary(data[0], data[1]))


BENCH_SUMMARY = _bench_summary


# ---------------------------------------------------------------------------------
# Subcommand registrars: name -> function(subparsers) that adds the subcommand's
# parser and sets ``func`` (called with the parsed args, returns the exit
# status).  To add a subcommand, add an entry here (or, from another module,
# ``SUBCOMMANDS["name"] = register`` before ``main`` runs).  Order = help order.
SUBCOMMANDS = {
    "train": _register_train,
    "demo": _register_demo,
    "data": _register_data,
    "info": _register_info,
    "bench": _register_bench,
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastact", description="fastact: compiled activation functions for NumPy.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in SUBCOMMANDS.values():
        register(sub)
    return parser


def main(argv=None):
    """Entry point of the ``fastact`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    from .nn.idx import IdxError
    try:
        return int(args.func(args) or 0)
    except (CommandError, IdxError, FileNotFoundError, ImportError, ValueError) as exc:
        print(f"fastact: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fastact: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

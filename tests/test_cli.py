"""The ``fastact`` command on tiny data written here."""
import json
import subprocess
import sys

import pytest

from fastact import cli
from fastact.nn.idx import read_idx, write_idx

from test_idx import write_tiny_fashion


@pytest.fixture
def tiny(tmp_path):
    return write_tiny_fashion(tmp_path / "fm", n_train=60, n_test=30)


def run(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_and_gate_relu(capsys):
    status, out, _ = run(capsys, "train", "and-gate", "--activation", "relu", "--seeds", "8",
                         "--iterations", "2000", "--backend", "numpy")
    assert status == 0
    for row in ("(0, 0)", "(0, 1)", "(1, 0)", "(1, 1)"):
        assert row in out
    assert "no bias, lr 1:" in out and "bias, lr 0.1:" in out
    assert "relu(w1 + w2) = 0" in out  # the reason a bias-free ReLU neuron cannot fit AND
    assert "over seeds 0..7" in out
    no_bias_rows = [line for line in out.splitlines() if line.startswith("no bias, lr")]
    assert no_bias_rows and all(line.split()[4] == "0/8" for line in no_bias_rows)


def test_and_gate_single_variant_and_sigmoid(capsys):
    status, out, _ = run(capsys, "train", "and-gate", "--activation", "sigmoid", "--bias", "yes",
                         "--lr", "1", "--seeds", "0", "--iterations", "3000")
    assert status == 0
    assert "learns AND" in out and "no bias" not in out and "over seeds" not in out


def test_xor(capsys):
    status, out, _ = run(capsys, "train", "xor", "--activation", "tanh", "elu:alpha=0.5",
                         "--seeds", "4", "--iterations", "1500", "--hidden", "3")
    assert status == 0
    assert "== tanh:" in out and "== elu:alpha=0.5:" in out and "XOR gate" in out


def test_fashion_mnist_tiny(capsys, tiny, tmp_path):
    pytest.importorskip("matplotlib")
    plot, hist = tmp_path / "curves.png", tmp_path / "h.json"
    status, out, err = run(capsys, "train", "fashion-mnist", "--activation", "relu", "prelu",
                           "--epochs", "3", "--data", str(tiny), "--plot", str(plot), "--json",
                           str(hist), "--profile", "--seed", "2")
    assert status == 0, err
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = out[out.index("activation  train acc"):]
    assert "relu" in table and "prelu" in table and "fastact" in table
    assert "matmul s" in out  # the profile table
    runs = json.loads(hist.read_text())
    assert [r["activation"] for r in runs] == ["relu", "prelu"]
    assert all(len(r["epochs"]) == 3 and r["seed"] == 2 for r in runs)
    # The tiny classes are separable (one bright pixel per class): it learns.
    assert runs[0]["epochs"][-1]["train_loss"] < runs[0]["epochs"][0]["train_loss"]


def test_fashion_mnist_backends_agree_through_the_cli(capsys, tiny, tmp_path):
    results = []
    for backend in ("fastact", "numpy"):
        path = tmp_path / f"{backend}.json"
        status, _, _ = run(capsys, "train", "fashion-mnist", "--activation", "rrelu", "--epochs", "2",
                           "--data", str(tiny), "--backend", backend, "--json", str(path), "--no-progress")
        assert status == 0
        results.append(json.loads(path.read_text())[0])
    a, b = (r["epochs"] for r in results)
    assert [r["backend"] for r in results] == ["fastact", "numpy"]
    for ea, eb in zip(a, b):
        assert ea["train_loss"] == pytest.approx(eb["train_loss"], rel=1e-5)
        assert ea["test_acc"] == eb["test_acc"]


def test_plain_progress_bar_without_tqdm(capsys, tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    status, out, _ = run(capsys, "train", "fashion-mnist", "--activation", "sigmoid", "--epochs", "1",
                         "--data", str(tiny), "--limit", "20", "--backend", "numpy")
    assert status == 0 and "20 training and 20 test images" in out


def test_unscaled_inputs(capsys, tiny):
    status, out, _ = run(capsys, "train", "fashion-mnist", "--epochs", "1", "--data", str(tiny),
                         "--no-scale", "--activation", "relu", "--no-progress")
    assert status == 0 and "raw 0..255 pixels" in out


def test_missing_data_explains_how_to_get_it(capsys, tmp_path):
    status, _, err = run(capsys, "train", "fashion-mnist", "--data", str(tmp_path / "none"), "--epochs", "1")
    assert status == 2
    assert "apt-get install -y dataset-fashion-mnist" in err and "Traceback" not in err


def test_data_command(capsys, tiny, tmp_path):
    status, out, _ = run(capsys, "data", "--data", str(tiny))
    assert status == 0 and str(tiny) in out and "t10k-labels-idx1-ubyte.gz" in out
    (tiny / "t10k-labels-idx1-ubyte.gz").unlink()
    status, out, err = run(capsys, "data", "--data", str(tiny))
    assert status == 2 and "missing t10k-labels-idx1-ubyte[.gz]" in err
    assert "apt-get install -y dataset-fashion-mnist" in err


def test_corrupt_data_names_the_file(capsys, tiny):
    path = tiny / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-30])
    status, _, err = run(capsys, "train", "fashion-mnist", "--data", str(tiny), "--epochs", "1")
    assert status == 2 and "train-images-idx3-ubyte.gz" in err


def test_label_out_of_range_through_the_cli(capsys, tiny):
    labels = read_idx(tiny / "train-labels-idx1-ubyte.gz")
    labels[0] = 12
    write_idx(tiny / "train-labels-idx1-ubyte.gz", labels)
    status, _, err = run(capsys, "train", "fashion-mnist", "--data", str(tiny), "--epochs", "1")
    assert status == 2 and "label 12" in err


@pytest.mark.parametrize("argv, message", [
    (["train", "fashion-mnist", "--activation", "swish"], "unknown activation 'swish'"),
    (["train", "fashion-mnist", "--epochs", "0"], "--epochs must be >= 1"),
    (["train", "and-gate", "--activation", "relu:alpha=2"], "no parameter 'alpha'"),
    (["train", "and-gate", "--lr", "-1"], "--lr values must be positive"),
])
def test_bad_arguments(capsys, tiny, argv, message):
    status, _, err = run(capsys, *argv, *(["--data", str(tiny)] if "fashion-mnist" in argv else []))
    assert status == 2 and message in err


def test_missing_matplotlib_is_a_clear_error(capsys, tiny, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    status, out, err = run(capsys, "train", "fashion-mnist", "--data", str(tiny), "--epochs", "1",
                           "--plot", str(tmp_path / "p.png"))
    assert status == 2 and "pip install matplotlib" in err
    assert "epoch 1/1" not in out  # checked before any training


def test_demo_calls_the_benchmark_hook(capsys, tiny, monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "BENCH_SUMMARY", lambda data: calls.append(data) or print("BENCH"))
    status, out, _ = run(capsys, "demo", "--data", str(tiny), "--epochs", "1", "--no-progress")
    assert status == 0 and len(calls) == 1
    assert [len(a) for a in calls[0]] == [60, 60, 30, 30]  # the data it trained on
    assert "relu" in out and "sigmoid" in out and out.rstrip().endswith("BENCH")
    assert "epoch 1/1" in out and "epoch 2/" not in out
    status, out, err = run(capsys, "main", "--data", str(tiny / "nope"), "--epochs", "1")
    assert status == 2 and len(calls) == 2 and calls[1] is None  # still the kernel summary
    assert "apt-get install -y dataset-fashion-mnist" in err


def test_demo_trains_ten_epochs_by_default():
    args = cli.build_parser().parse_args(["demo"])
    assert args.epochs == 10 and args.backend == "fastact"


def test_training_speed_summary(tiny):
    """The demo's training-speed lines, on the tiny data (no timing asserted)."""
    from fastact.nn.datasets import load_fashion_mnist

    x, y, _, _ = load_fashion_mnist(tiny)
    text = cli._bench_report("train_speed").summary(x, y, impls=["fastact", "numpy"])
    lines = text.splitlines()
    assert "one epoch of 60 images at batch 32" in lines[0]
    assert "fastact backend" in lines[1] and lines[1].rstrip().endswith("1.00x the fastact time")
    assert "numpy backend" in lines[2] and len(lines) == 3


def test_subcommand_registry_is_extensible(capsys, monkeypatch):
    def register(sub):
        p = sub.add_parser("hello")
        p.add_argument("--name", default="x")
        p.set_defaults(func=lambda args: print(f"hello {args.name}") or 0)

    monkeypatch.setitem(cli.SUBCOMMANDS, "hello", register)
    status, out, _ = run(capsys, "hello", "--name", "fastact")
    assert status == 0 and out.strip() == "hello fastact"


def test_no_command_prints_help(capsys):
    status, out, _ = run(capsys)
    assert status == 2 and "train" in out and "demo" in out


def test_python_dash_m():
    proc = subprocess.run([sys.executable, "-m", "fastact", "train", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert "fashion-mnist" in proc.stdout and "and-gate" in proc.stdout

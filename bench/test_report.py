"""The report's analysis (python -m bench.report) on made-up timings."""
import json

import numpy as np

import pytest

from . import report
from ._cases import Selection


def _results(torch_factor=2.0, numpy_factor=10.0, sizes="4,10,14,20"):
    """fastact takes 1 ns per element; PyTorch and NumPy take torch_factor and numpy_factor times that."""
    sel = Selection.from_options(sizes=sizes, functions="relu,softmax", dtypes="float32", huge=False,
                                 shapes="32x10,256x1000,4096x1000,64x50257")
    factor = {"torch": torch_factor, "numpy": numpy_factor, "numpy-ufunc": numpy_factor,
              "fastact-serial": 1.5, "fastact-parallel": 1.0}
    records = [dict(c.info(), time=1e-9 * c.size * factor.get(c.impl, 1.0)) for c in sel.cases()]
    records += [dict(c.info(), time=1e-9 * c.size) for c in sel.copy_cases()]
    return report.Results(records, dict(stat="min"))


def _status(res):
    return {t.name.split(":")[0]: t.status for t in report.targets(res)}


def test_targets_met():
    status = _status(_results())
    assert status["every activation, forward and backward, float32 and float64, sizes >= 2^14"] == "met"
    assert status["median speed-up over PyTorch on that matrix >= 1.3x"] == "met"
    assert status["small arrays (2^4..2^10)"] == "met"
    assert status[">= 5x the NumPy reference on sigmoid, tanh, elu, softmax at 2^20"] == "met"
    assert status["2^27 float32 forwards >= 85% of the copy roof, in place and out of place (out=)"] == "not measured"


def test_targets_not_met():
    res = _results(torch_factor=1.2, numpy_factor=3)
    status = _status(res)
    assert status["median speed-up over PyTorch on that matrix >= 1.3x"] == "NOT met"
    assert status[">= 5x the NumPy reference on sigmoid, tanh, elu, softmax at 2^20"] == "NOT met"
    assert any("1.20x" in t.detail() for t in report.targets(res))


def test_ratios_and_roof():
    res = _results()
    assert res.ratio("relu", "forward", "float32", "2^20", "torch") == pytest.approx(2.0)
    rec = res.record("relu", "forward", "float32", "2^20")
    assert res.roof_share(rec) == pytest.approx(1.0)  # same time per element as the copy, same bytes
    hdr, rows = report.crossovers(res)
    assert rows and all(r[1] == "2^4" for r in rows)


def test_render_and_summary(tmp_path):
    res = _results()
    text = report.render(res)
    md = report.render(res, markdown=True)
    assert "Targets" in text and "| status |" in md and "<details>" in md
    assert "median 2.00x" in report.summary(res)
    pytest.importorskip("matplotlib")
    assert report.plot(res, str(tmp_path / "bench_throughput.png"), "float32")
    assert (tmp_path / "bench_throughput.png").stat().st_size > 0


def _fused(unfused_factor=2.0, torch_factor=1.5, numpy_factor=4.0):
    """The fused operations' records as bench/bench_fused.py writes them:
    fastact takes 1 ns per element, the peers their factor times that."""
    from . import bench_fused as bf

    factor = {"fastact": 1.0, "fastact-unfused": unfused_factor, "torch": torch_factor, "numpy": numpy_factor}
    cells = [("glu", None, (1 << k) // bf.ROW, k) for k in (14, 22)]
    cells += [("bias_act", act, (1 << k) // bf.ROW, k) for act in ("relu", "gelu") for k in (14, 22)]
    records = []
    for dtype in ("float32", "float64"):
        for direction in ("forward", "backward"):
            for impl in bf.IMPLS:
                for function, act, rows, log2 in cells:
                    records.append(bf.info(function, direction, dtype, (rows, bf.ROW), impl, log2, act))
            for impl in bf.CE_IMPLS:
                for shape in bf.CE_SHAPES:
                    records.append(bf.info("softmax_cross_entropy", direction, dtype, shape, impl))
    return [dict(r, time=1e-9 * r["size"] * factor[r["impl"]]) for r in records]


def _training(numpy_s=2.5, torch_s=3.0):
    return dict(samples=60000, batch=32, rounds=2, blas_threads=1, numba_threads=1, load_before=[0.1, 0.1, 0.1],
                load_after=[0.2, 0.1, 0.1], times={"fastact": [1.1, 1.0], "numpy": [numpy_s, numpy_s + 0.2],
                                                   "torch": [torch_s, torch_s + 0.1]},
                profiles={"fastact": dict(data=40, matmul=400, activation=30, loss=15, optimizer=200),
                          "numpy": dict(data=80, matmul=800, activation=150, loss=400, optimizer=600)})


def _target(targets, prefix):
    (t,) = [t for t in targets if t.name.startswith(prefix)]
    return t


def test_fused_results_and_targets():
    fres = report.FusedResults(_fused())
    assert [s[0] for s in fres.series()][:5] == ["glu", "glu", "bias_act(relu)", "bias_act(relu)", "bias_act(gelu)"]
    assert fres.ratio("softmax_cross_entropy", "backward", "float64", "64x50257", "numpy") == pytest.approx(4.0)
    rows = report.fused_rows(fres, "float32")
    assert ["glu", "forward", "2^22", "4.19 ms", "2.00x", "1.50x", "-"] in rows
    assert ["softmax_cross_entropy", "backward", "32x10", "320 ns", "2.00x", "1.50x", "4.00x"] in rows
    unfused, torch = report.fused_targets(fres)
    assert unfused.status == "met" and len(unfused.checks) == 2 * 2 * (1 + 2 + 1)  # 2^22 and 4096x1000
    assert torch.status == "met" and not any("32x10" in c[0] for c in torch.checks)

    unfused, torch = report.fused_targets(report.FusedResults(_fused(unfused_factor=1.2, torch_factor=0.9)))
    assert unfused.status == torch.status == "NOT met"
    assert "failing: " in unfused.detail() and "1.20x" in unfused.detail() and "more)" in unfused.detail()
    assert [t.status for t in report.fused_targets(None)] == ["not measured"] * 2
    assert "--no-fused" in report.fused_targets(None)[0].detail()


def test_training_target_and_text():
    assert report.training_target(_training()).status == "met"
    t = report.training_target(_training(torch_s=1.5))
    assert t.status == "NOT met" and "PyTorch 1.50x (1.50 s vs 1.00 s)" in t.detail()
    lines, tables = report.training_text(_training())
    assert "60000 images" in lines[0] and len(tables) == 2
    (hdr, rows), (phdr, prows) = tables
    assert rows[1] == ["fastact.nn, numpy backend", "2.50", "2.60", "2.50x"]
    assert phdr[-1] == "total" and prows[0][-1] == "685"
    missing = dict(missing="Fashion-MNIST not found in /nowhere (directory does not exist).\nOn Debian ...")
    assert report.training_target(missing).status == "not measured"
    assert report.training_text(missing) == (["Not measured: " + missing["missing"]], [])


def test_render_fused_and_training():
    res = _results()
    fres = report.FusedResults(_fused(torch_factor=0.9))
    text = report.render(res, fused=fres, training=_training())
    md = report.render(res, markdown=True, fused=fres, training=_training())
    for out in (text, md):
        assert "Fused operations" in out and "Training (Fashion-MNIST, one epoch)" in out
        assert "fastact.nn, fastact backend" in out and "microseconds per step" in out
        assert out.index("Fused operations") < out.index("Per activation and size")
    assert "[NOT met] fused operations, sizes >= 2^14: >= PyTorch" in text
    assert "| met | training (Fashion-MNIST, one epoch)" in md and "### float64" in md
    plain = report.render(res)
    assert "Fused operations" not in plain and "Training (" not in plain
    assert "[not measured] training (Fashion-MNIST" in plain
    missing = report.render(res, markdown=True, training=dict(missing="Fashion-MNIST not found.\n    apt-get ..."))
    assert "```\nNot measured: Fashion-MNIST not found.\n    apt-get ...\n```" in missing


def _benchmark_json(path, records):
    """A pytest-benchmark JSON of these records (the statistics all the record's time)."""
    machine_info = dict(fastact=dict(cpu="test", threads=1), torch=None, load_before=[0.1], load_after=[0.1])
    benchmarks = [dict(extra_info={k: v for k, v in r.items() if k != "time"},
                       stats={s: r["time"] for s in ("min", "median", "mean")}) for r in records]
    path.write_text(json.dumps(dict(machine_info=machine_info, datetime="2026-01-01", benchmarks=benchmarks)))


def test_main_from_saved_json(tmp_path, capsys):
    _benchmark_json(tmp_path / "run.json", _results().records)
    _benchmark_json(tmp_path / "run.fused.json", _fused())
    (tmp_path / "run.train.json").write_text(json.dumps(_training()))
    assert report.sibling(str(tmp_path / "run.json"), ".fused.json") == str(tmp_path / "run.fused.json")
    assert report.main(["--from-json", str(tmp_path / "run.json"), "--no-docs", "--no-compile-cost"]) == 0
    out = capsys.readouterr().out
    assert "== Fused operations ==" in out and "== Training (Fashion-MNIST, one epoch) ==" in out
    assert "[met] fused operations >= 1.5x the unfused sequence" in out
    report.main(["--from-json", str(tmp_path / "run.json"), "--no-docs", "--no-compile-cost", "--no-fused",
                 "--no-train"])
    out = capsys.readouterr().out
    assert "Fused operations ==" not in out and "Training (" not in out and "not run (--no-fused)" in out


def _compile_cost():
    """A compile-cost result (bench.compile_cost.measure's form) for relu."""
    keys = ("forward_small", "forward_large", "backward_small", "backward_large")
    one = dict(numba_init=0.05, **{k: 0.5 for k in keys}, **{k + "_steady": 1e-5 for k in keys})
    return {"dtype": "float32", "import": dict(numpy=0.05, numba=0.2, fastact=0.1, total=0.35),
            "functions": {"relu": {"cold": one, "warm": dict(one)}}}


def _sweep_rows():
    """Threshold sweep rows (bench.threshold.sweep's form): parallel wins from 2^16."""
    return [dict(function="relu", direction="forward", dtype="float32", size=1 << k,
                 serial=float(1 << k), parallel=(1 << k) * (0.5 if k >= 16 else 2.0)) for k in range(10, 22, 2)]


def test_save_json_keeps_compile_cost_and_threshold(tmp_path, monkeypatch, capsys):
    """--save-json writes the compile costs and the threshold sweep beside the
    run; --from-json reads them back instead of measuring again."""
    from . import compile_cost, threshold

    def fake_suite(path, **kw):
        _benchmark_json(tmp_path / "run.json", _results().records)

    monkeypatch.setattr(report, "run_suite", fake_suite)
    monkeypatch.setattr(compile_cost, "measure", lambda functions=None: _compile_cost())
    monkeypatch.setattr(threshold, "sweep", lambda functions=None: _sweep_rows())
    run = str(tmp_path / "run.json")
    assert report.main(["--save-json", run, "--no-docs", "--no-fused", "--no-train", "--no-accuracy",
                        "--threshold"]) == 0
    saved = capsys.readouterr().out
    assert json.loads((tmp_path / "run.compile.json").read_text())["functions"].keys() == {"relu"}
    assert len(json.loads((tmp_path / "run.threshold.json").read_text())["rows"]) == len(_sweep_rows())

    def fail(*args, **kw):
        raise AssertionError("measured again")

    monkeypatch.setattr(compile_cost, "measure", fail)
    monkeypatch.setattr(threshold, "sweep", fail)
    assert report.main(["--from-json", run, "--no-docs", "--no-fused", "--no-train", "--no-accuracy"]) == 0
    again = capsys.readouterr().out
    for section in ("== Threshold sweep", "== Import and compile cost"):
        assert section in saved and section in again
    assert "Import and compile cost" not in report.render(report.Results.from_json(run))
    # --no-compile-cost leaves the saved costs out
    assert report.main(["--from-json", run, "--no-docs", "--no-fused", "--no-train", "--no-accuracy",
                        "--no-compile-cost"]) == 0
    assert "Import and compile cost" not in capsys.readouterr().out


def test_measure_training_without_the_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTACT_DATA", str(tmp_path / "none"))
    result = report.measure_training(1, json_path=str(tmp_path / "train.json"))
    assert "Fashion-MNIST not found" in result["missing"] and "apt-get" in result["missing"]
    assert report.load_training(str(tmp_path / "train.json")) == result


def test_busy_warning_allows_for_the_runs_own_threads():
    """The load after a run includes its own threads: 2 threads on 2 cores
    leave a load near 2 behind without anything else running."""
    assert report._busy([0.4, 1, 1], [1.9, 1, 1], 2, 2) is None
    assert report._busy(None, None, 2, 2) is None
    assert "before the run" in report._busy([1.5, 1, 1], [1.9, 1, 1], 2, 2)
    assert "during the run" in report._busy([0.4, 1, 1], [3.2, 1, 1], 2, 2)
    header = report._header_lines(dict(machine=dict(cores=2, threads=2), load_before=[0.4], load_after=[1.9]))
    assert not any("WARNING" in line for line in header)
    header = report._header_lines(dict(machine=dict(cores=2, threads=2), load_before=[1.6], load_after=[1.9]))
    assert any(line.startswith("WARNING: the machine was busy before the run") for line in header)


def test_shortfall_tables():
    res = _results(torch_factor=0.8)
    failing = report._failing_torch_cells(res)
    assert set(failing) == {(f, d) for f in ("relu", "softmax") for d in ("forward", "backward")}
    assert all(r == pytest.approx(0.8) for cells in failing.values() for _, _, r in cells)
    texts, tables = report.shortfall_tables(res, [])
    assert len(texts) == len(tables) == 1  # no accuracy measured, no 2^27 run
    hdr, rows = tables[0]
    assert hdr[-1] == "forward + backward speed-up" and rows and all(r[-1] == "0.80x" for r in rows)
    acc = [dict(function="softmax", direction="backward", shape=[1024, 1024],
                fastact=dict(max=2.0, share=0.0), torch=dict(max=1e5, share=0.05))]
    texts, tables = report.shortfall_tables(res, acc)
    hdr, rows = tables[0]
    assert rows == [["softmax.backward", str(len(failing[("softmax", "backward")])), rows[0][2], "2", "0.00%",
                     "1e+05", "5.00%"]]
    assert "Where the targets fall short" in report.render(res, markdown=True, accuracy=acc)
    assert "Where the targets fall short" not in report.render(_results(), markdown=True, accuracy=[])


def test_shortfall_roof_table():
    sel = Selection.from_options(sizes="14,20", functions="relu", dtypes="float32", huge=True, shapes="none")
    records = []
    for c in sel.cases():
        slow = c.log2 == 27 and c.variant == "out"  # half the copy roof's rate
        records.append(dict(c.info(), time=1e-9 * c.size * (2.0 if slow else 1.0)))
    records += [dict(c.info(), time=1e-9 * c.size) for c in sel.copy_cases()]
    res = report.Results(records, dict(stat="min"))
    texts, tables = report.shortfall_tables(res, [])
    (hdr, rows), = [t for t in tables if t[0][0] == "forward"]
    assert rows == [["relu", "50%", rows[0][2], rows[0][3], "no"]]  # its other sizes reach the roof


def test_measure_accuracy_against_pytorch():
    pytest.importorskip("torch")  # an optional peer
    rows = report.measure_accuracy(_results(torch_factor=0.8, sizes="14"))
    by = {(r["function"], r["direction"]): r for r in rows}
    assert set(by) == {(f, d) for f in ("relu", "softmax") for d in ("forward", "backward")}
    assert by[("relu", "forward")]["fastact"] == by[("relu", "forward")]["torch"] == dict(max=0.0, share=0.0)
    assert by[("softmax", "backward")]["fastact"]["max"] <= report.ACCURACY_ULPS
    # PyTorch's y (g - sum(g y)) in float32 cancels: far off on some of the 2^20 elements
    assert by[("softmax", "backward")]["torch"]["max"] > 100 * report.ACCURACY_ULPS


def _retimed(res, below):
    """bench.retime's results on the cells short of a target against
    PyTorch: those in ``below`` at 0.7x, the others at 1.5x."""
    return [dict(cell=c, ratio=0.7 if c in below else 1.5, lo=0.6, hi=1.6, calls=3, fastact=[1.0], torch=[1.0])
            for c in report.retime_cells(report.targets(res))]


def test_retimed_cells_in_targets_and_tables():
    res = _results(torch_factor=0.8, numpy_factor=0.9)
    cells = report.retime_cells(report.targets(res))
    # from the three targets against PyTorch and relu's against np.maximum, each cell once
    for c in ("relu.forward float32 2^14", "softmax.backward float32 256x1000", "relu.forward float32 2^4",
              "softmax.forward float32 32x10", "relu.forward float32 2^10 vs numpy"):
        assert c in cells
    assert len(cells) == len(set(cells))
    relu_np = _target(report.targets(res, _retimed(res, set())), "small arrays (2^4..2^10): relu")
    assert "failing: relu.forward float32 2^4 " in relu_np.detail()
    assert f"0 of the {len(relu_np.checks)} so timed slower than np.maximum(x, 0)" in relu_np.detail()
    below = {"relu.forward float32 2^20", "softmax.backward float32 256x1000"}
    retimed = _retimed(res, below)
    tl = report.targets(res, retimed)
    first = tl[0]
    assert first.status == "NOT met"  # the note does not change the sweep's verdict
    assert (f"1 of the {len(first.checks)} so timed below PyTorch, lowest relu.forward float32 2^20 0.70x"
            in first.detail())
    shapes = _target(tl, "softmax / log_softmax")
    assert (f"1 of the {len(shapes.checks)} so timed below 1.3x PyTorch, lowest softmax.backward float32 "
            "256x1000 0.70x") in shapes.detail()
    small = _target(tl, "small arrays (2^4..2^10): every")
    assert f"0 of the {len(small.checks)} so timed below PyTorch" in small.detail()
    assert "timed again" not in report.targets(res)[0].detail()
    # only the softmax shapes timed again: no note on the sweep sizes' target
    shapes_only = [r for r in retimed if "^" not in r["cell"]]
    assert "timed again" not in report.targets(res, shapes_only)[0].detail()
    acc = [dict(function="relu", direction="forward", shape=[1 << 20],
                fastact=dict(max=0.0, share=0.0), torch=dict(max=0.0, share=0.0))]
    texts, tables = report.shortfall_tables(res, acc, retimed)
    assert texts[0].startswith("Timed again in turn")
    hdr, rows = tables[0]
    assert hdr == report.RETIMED_HEADERS and len(rows) == len(cells)
    # the furthest short of its target first: 0.70x of 1.3x, then 0.70x of 1.00x
    assert rows[:2] == [["softmax.backward float32 256x1000", "1.30x", "0.80x", "0.70x", "0.60-1.60"],
                        ["relu.forward float32 2^20", "1.00x", "0.80x", "0.70x", "0.60-1.60"]]
    hdr, rows = tables[1]
    n_relu = sum(1 for c in first.checks if c[0].startswith("relu.forward"))
    assert hdr[1].endswith("(below in turn too)") and rows[0][:2] == ["relu.forward", f"{n_relu} (1)"]
    # a cell missing from the results (it failed) is not counted as below
    missing = [r for r in retimed if r["cell"] != "relu.forward float32 2^20"]
    texts, tables = report.shortfall_tables(res, acc, missing)
    assert tables[1][1][0][:2] == ["relu.forward", f"{n_relu} (0)"]


def test_main_reads_saved_retime(tmp_path, capsys):
    res = _results(torch_factor=0.8)
    _benchmark_json(tmp_path / "run.json", res.records)
    (tmp_path / "run.retime.json").write_text(json.dumps(_retimed(res, {"relu.forward float32 2^20"})))
    args = ["--from-json", str(tmp_path / "run.json"), "--no-docs", "--no-compile-cost", "--no-fused",
            "--no-train", "--no-accuracy"]
    assert report.main(args) == 0
    out = capsys.readouterr().out
    assert "Timed again in turn" in out and "timed again in turn (python -m bench.retime): 1 of the" in out
    assert report.main(args + ["--no-retime"]) == 0
    assert "Timed again in turn" not in capsys.readouterr().out


def test_retime_parses_cells():
    from . import retime

    assert retime.parse_cell("softmax.backward float64 256x1000") == ("softmax", "backward", "float64",
                                                                      (256, 1000), None, "torch")
    assert retime.parse_cell("relu.forward float32 2^14") == ("relu", "forward", "float32", (1 << 14,), 14, "torch")
    c = retime.parse_cell("log_softmax.forward float32 2^20")
    assert c.shape == (1024, 1024) and c.log2 == 20  # the sweep's rows of 1024
    # the fused operations, against PyTorch or (" vs unfused") the unfused fastact calls
    assert retime.parse_cell("bias_act(silu).backward float64 2^22") == (
        "bias_act(silu)", "backward", "float64", (4096, 1024), 22, "torch")
    assert retime.parse_cell("glu.forward float32 2^20 vs unfused").peer == "fastact-unfused"
    assert retime.parse_cell("softmax_cross_entropy.forward float32 4096x1000").shape == (4096, 1000)
    assert retime.parse_cell(" glu.forward float32 2^20 vs unfused ").peer == "fastact-unfused"
    assert retime.parse_cell("relu.forward float64 2^6 vs numpy") == ("relu", "forward", "float64", (64,), 6,
                                                                      "numpy-ufunc")
    for bad in ("nosuch.forward float32 2^14", "relu.sideways float32 2^14", "relu.forward float32 2^14 vs unfused",
                "bias_act(tanh).forward float32 2^14", "glu(relu).forward float32 2^14", "relu float32 2^14",
                "relu.forward float32", "relu.backward float32 2^6 vs numpy", "glu.forward float32 2^20 vs numpy"):
        with pytest.raises(ValueError, match="unknown cell"):
            retime.parse_cell(bad)
    # the fused operations' sizes as bench_fused takes them
    for bad, why in (("glu.forward float32 32x10", r"2\^k elements"), ("bias_act(relu).forward float32 2^9", "k >= 10"),
                     ("softmax_cross_entropy.forward float32 2^20", "a shape RxC")):
        with pytest.raises(ValueError, match=why):
            retime.parse_cell(bad)


def test_retime_takes_turns(monkeypatch):
    """The sides alternate, fastact first in even turns; the ratio is the
    median of the per-turn ratios (made-up times: PyTorch 2x slower in every
    turn but one, where it is 10x slower)."""
    from . import _peers, retime

    impl_of = {}

    def build(case):
        def fn():
            pass
        impl_of[fn] = case.impl
        return _peers.Call(fn)

    order = []
    times = iter([1.0, 2.0, 2.0, 1.0, 1.0, 10.0])

    def fake_turn(fn, calls):
        order.append(impl_of[fn])
        return next(times)

    monkeypatch.setattr(_peers, "build", build)
    monkeypatch.setattr(retime, "_turn", fake_turn)
    r = retime.retime_cell(retime.Cell("relu", "backward", "float32", (1 << 10,), 10), pairs=3)
    assert order == ["fastact", "torch", "torch", "fastact", "fastact", "torch"]
    assert r["fastact"] == [1.0, 1.0, 1.0] and r["torch"] == [2.0, 2.0, 10.0] and r["peer"] == "torch"
    assert (r["ratio"], r["lo"], r["hi"]) == (2.0, 2.0, 10.0)


def test_retime_main(tmp_path, capsys):
    """A real run on a small cell; a cell that fails is left out, and only
    when every cell fails is the exit status 1."""
    pytest.importorskip("torch")  # an optional peer
    from . import retime

    cells = tmp_path / "cells.json"
    cells.write_text(json.dumps(["relu.backward float32 2^12", "relu.backward float32 2^1000"]))
    out = tmp_path / "out.json"
    assert retime.main(["--cells-from", str(cells), "--json", str(out), "--pairs", "2"]) == 0
    (r,) = json.loads(out.read_text())
    assert r["cell"] == "relu.backward float32 2^12" and len(r["fastact"]) == len(r["torch"]) == 2
    assert r["lo"] <= r["ratio"] <= r["hi"] and min(r["fastact"] + r["torch"]) > 0
    assert "2^1000: failed" in capsys.readouterr().err
    assert retime.main(["nosuch.forward float32 2^4"]) == 1


def test_retime_fused_cells(tmp_path):
    """A fused cell against the unfused fastact calls (no PyTorch needed):
    the calls are bench_fused's, on its inputs."""
    from . import bench_fused as bf
    from . import retime

    cell = retime.parse_cell("bias_act(relu).forward float32 2^14 vs unfused")
    calls = retime._calls(cell)
    assert set(calls) == {"fastact", "fastact-unfused"}
    x, b, _ = bf._inputs(14, "float32")
    for fn in calls.values():
        np.testing.assert_array_equal(fn(), np.maximum(x + b, 0))
    out = tmp_path / "out.json"
    assert retime.main(["glu.backward float32 2^14 vs unfused", "--json", str(out), "--pairs", "2"]) == 0
    (r,) = json.loads(out.read_text())
    assert r["peer"] == "fastact-unfused" and len(r["fastact-unfused"]) == 2 and r["lo"] <= r["ratio"] <= r["hi"]


def test_fused_cells_timed_again():
    """The fused cells short of a target are timed again; the targets get a
    note (their status stays the sweep's) and the fused section a table."""
    from .retime import UNFUSED

    fres = report.FusedResults(_fused(unfused_factor=1.2, torch_factor=0.9))
    unfused, torch = report.fused_targets(fres)
    cells = report.retime_cells([unfused, torch])
    assert len(cells) == len(unfused.checks) + len(torch.checks)  # every check fails
    assert "glu.forward float32 2^22" + UNFUSED in cells and "glu.forward float32 2^22" in cells
    # timed again: one unfused cell stays below 1.5x, every PyTorch cell comes out ahead
    retimed = [dict(cell=c, ratio=1.3 if c == "glu.backward float64 2^22" + UNFUSED else
                    (1.6 if c.endswith(UNFUSED) else 1.1), lo=1.0, hi=2.0, calls=1, fastact=[1.0]) for c in cells]
    unfused, torch = report.fused_targets(fres, retimed)
    assert unfused.status == torch.status == "NOT met"
    assert (f"1 of the {len(unfused.checks)} so timed below 1.5x the unfused calls, lowest "
            "glu.backward float64 2^22 1.30x") in unfused.detail()
    assert f"0 of the {len(torch.checks)} so timed below PyTorch" in torch.detail()
    rows = report.retimed_rows([unfused, torch], retimed)
    assert len(rows) == len(cells)
    assert rows[0] == ["glu.backward float64 2^22" + UNFUSED, "1.50x", "1.20x", "1.30x", "1.00-2.00"]
    md = report.render(_results(), markdown=True, fused=fres, retimed=retimed)
    assert "### Timed again in turn" in md and "| glu.backward float64 2^22 vs unfused | 1.50x | 1.20x | 1.30x |" in md
    assert "Timed again in turn" not in report.render(_results(), fused=fres)

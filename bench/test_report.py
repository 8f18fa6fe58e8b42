"""The report's analysis (python -m bench.report) on made-up timings."""
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

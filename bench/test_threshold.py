"""The serial/parallel threshold analysis (python -m bench.threshold):
the crossover and recommendation logic on made-up timings, and a tiny real sweep."""
import math

from . import threshold


def _rows(serial, parallel, function="f"):
    return [dict(function=function, direction="forward", dtype="float32", size=1 << k, serial=s, parallel=p)
            for k, s, p in zip(range(10, 10 + len(serial)), serial, parallel)]


def test_crossover_is_the_start_of_the_last_parallel_win():
    # parallel wins at 2^11 by noise, loses at 2^12, wins from 2^13 on
    rows = _rows([1, 2, 4, 8, 16], [2, 1.9, 5, 6, 9])
    assert threshold.crossover(rows) == 1 << 13
    assert threshold.crossover(_rows([1, 2], [3, 4])) is None


def test_recommendation_minimizes_the_slowdown():
    # f: parallel from 2^13 gains 25% at 2^12 if left serial; g gains 2.5% at 2^12
    rows = _rows([1, 2, 4, 8, 16], [3, 4, 5, 6, 9]) + _rows([1, 2, 4, 8, 16], [3, 4, 3.9, 6, 9], "g")
    result = threshold.analyse(rows)
    assert result["best"] == 1 << 13
    assert result["power_of_two"] == 1 << 13
    assert math.isclose(result["best_slowdown"], (4 / 3.9) ** (1 / 10))
    assert result["crossovers"] == {"f/forward/float32": 1 << 13, "g/forward/float32": 1 << 12}
    assert "PARALLEL_THRESHOLD = 1 << 13" in threshold.format_text(rows, result)


def test_tiny_sweep_runs():
    rows = threshold.sweep(["relu"], ["float32"], ["forward"], (10, 11), budget=0.001)
    assert [r["size"] for r in rows] == [1 << 10, 3 << 9, 1 << 11]
    assert all(r["serial"] > 0 and r["parallel"] > 0 for r in rows)
    threshold.format_text(rows)

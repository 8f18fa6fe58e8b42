"""The thread-scaling sweep (python -m bench.scaling): its analysis on made-up
timings, and a tiny real sweep."""
import numba
import pytest

from . import scaling


def test_thread_counts_double_up_to_the_limit():
    assert scaling.thread_counts(1) == [1]
    assert scaling.thread_counts(2) == [1, 2]
    assert scaling.thread_counts(12) == [1, 2, 4, 8, 12]
    assert scaling.thread_counts(16) == [1, 2, 4, 8, 16]


def _rows():
    """relu scales perfectly and PyTorch's lead shrinks by sqrt(2) per
    doubling; the prange copy does not scale, np.copyto is twice as fast from
    two threads on: the roof is the faster of the two at each count."""
    rows = []
    size, nbytes = 1 << 20, 8 << 20
    for t in (1, 2, 4):
        rows.append(dict(function="relu", direction="forward", dtype="float32", size=size, threads=t,
                         impl="fastact", nbytes=nbytes, time=1e-3 / t))
        rows.append(dict(function="relu", direction="forward", dtype="float32", size=size, threads=t,
                         impl="torch", nbytes=nbytes, time=2e-3 / t ** 0.5 / t))
        rows.append(dict(function="copy", direction="forward", dtype="float32", size=size, threads=t,
                         impl="copy-prange", nbytes=nbytes, time=1e-3))
        rows.append(dict(function="copy", direction="forward", dtype="float32", size=size, threads=t,
                         impl="copy-copyto", nbytes=nbytes, time=2e-3 if t == 1 else 0.5e-3))
    return rows


def test_analysis_of_made_up_timings():
    (a,) = scaling.analyse(_rows())
    assert a["threads"] == [1, 2, 4]
    (s,) = a["series"]
    assert s["speedup"] == pytest.approx({1: 1.0, 2: 2.0, 4: 4.0})
    assert s["vs_torch"] == pytest.approx({1: 2.0, 2: 2 ** 0.5, 4: 1.0})
    assert s["gbs"][4] == pytest.approx(8 * 2 ** 20 / 0.25e-3 / 1e9)
    # the roof is the faster copy at each thread count
    assert a["copy_gbs"] == pytest.approx({t: 8 * 2 ** 20 / 1e-3 / 1e9 * (1 if t == 1 else 2) for t in (1, 2, 4)})
    assert a["median_vs_torch"][4] == pytest.approx(1.0)
    text = scaling.format_markdown([a])
    assert "| relu.forward | 1 ms | 2.00x | 4.00x |" in text
    assert "| relu.forward | 2.00x | 1.41x | 1.00x |" in text
    assert "| copy roof | 8.4 GB/s | 2.00x | 2.00x | 16.8 |" in text


def test_tiny_sweep_runs_and_restores_the_threads():
    before = numba.get_num_threads()
    threads = scaling.thread_counts(min(2, numba.config.NUMBA_NUM_THREADS))
    rows = scaling.sweep(threads, ["relu"], ["float32"], ["forward"], (12,), budget=0.001)
    assert numba.get_num_threads() == before
    fast = [r for r in rows if r["impl"] == "fastact"]
    assert [r["threads"] for r in fast] == threads
    assert all(r["time"] > 0 and r["size"] == 1 << 12 for r in rows)
    assert {r["impl"] for r in rows if r["function"] == "copy"} == {"copy-prange", "copy-copyto"}
    scaling.format_markdown(scaling.analyse(rows))


def test_recorded_command_names_no_output_file():
    argv = ["--sizes", "20", "--markdown", "x.md", "--json=r.json", "--append", "--variant", "out"]
    assert scaling._measurement_options(argv) == ["--sizes", "20", "--variant", "out"]

"""Every activation of ``fastact.ACTIVATIONS``, forward and backward, against
the NumPy references and PyTorch, plus a parallel copy as the bandwidth roof.

The cases come from bench/conftest.py (``bench_case`` and ``copy_case``).  In the
plain test run (benchmarks disabled) each runs once and its result is checked
against the NumPy reference, so the peers are known to compute the same thing.
"""
import time

import numpy as np

from . import _peers

# Rounds of an in-place benchmark (restored input before each run): about this
# many seconds of timed work, at least MIN_ROUNDS runs.
INPLACE_SECONDS = 0.5
MIN_ROUNDS = 5
# A NumPy reference call slower than this (the erf-based ones take seconds
# at 2^22) is timed over about SLOW_SECONDS in all, at least once, rather
# than over pytest-benchmark's minimum of rounds.
SLOW_CALL = 0.2
SLOW_SECONDS = 1.0


def _check_against_reference(case, result):
    from dataclasses import replace

    expected = _peers.build(replace(case, impl="numpy", variant="alloc")).fn()
    got, want = _peers.as_numpy(result), _peers.as_numpy(expected)
    assert len(got) == len(want), case.id
    # loose: this checks that the peers compute the same function (the accuracy
    # of fastact is the business of tests/); PyTorch rounds some float64
    # constants to float32 (hardsigmoid's 1/6)
    rtol, atol = (2e-4, 2e-5) if case.dtype == "float32" else (1e-6, 1e-9)
    for g, e in zip(got, want):
        # absolute error relative to the largest value (PReLU's weight gradient is a sum)
        scale = max(1.0, float(np.max(np.abs(e))))
        np.testing.assert_allclose(g, e.reshape(g.shape), rtol=rtol, atol=atol * scale, err_msg=case.id)


def test_activation(benchmark, bench_case):
    case = bench_case
    call = _peers.build(case)
    benchmark.group = case.group
    benchmark.extra_info.update(case.info())
    with _peers.mode_context(call):
        if call.reset is None:
            t0 = time.perf_counter()
            result = call.fn()  # compiles fastact's kernels before any timing
            first = time.perf_counter() - t0
            if benchmark.disabled:
                _check_against_reference(case, result)
            if case.impl == "numpy" and first > SLOW_CALL and not benchmark.disabled:
                benchmark.pedantic(call.fn, rounds=max(1, int(SLOW_SECONDS / first)), warmup_rounds=0)
                return
            benchmark(call.fn)
            return
        call.reset()
        call.fn()
        call.reset()
        t0 = time.perf_counter()
        call.fn()
        once = time.perf_counter() - t0
        rounds = max(MIN_ROUNDS, min(1000, int(INPLACE_SECONDS / max(once, 1e-6))))
        benchmark.pedantic(call.fn, setup=call.reset, rounds=rounds, warmup_rounds=1)


def test_copy_roof(benchmark, copy_case):
    call = _peers.build_copy(copy_case)
    benchmark.group = copy_case.group
    benchmark.extra_info.update(copy_case.info())
    call.fn()
    benchmark(call.fn)

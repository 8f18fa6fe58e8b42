"""fastact allocates its output and nothing else of the input's size.

Measured with tracemalloc, which sees NumPy's array allocations (memory
that Numba's runtime allocates inside a kernel is not traced; the kernels
only allocate per-row scratch there).  Every activation of the table is
checked, forward and backward, on a 2**20-element float32 input (above the
parallel threshold), plus softmax-kind activations on (4096, 1000); out= and
in place must allocate nothing of the input's size.
"""
import tracemalloc

import pytest

from fastact import ACTIVATIONS

from . import _peers
from ._cases import DIRECTIONS, Case, layout

SIZE = 1 << 20
# Bookkeeping allowed beyond the output: Python objects, views, PReLU's
# float64 partial sums of the weight gradient (one per 256 rows and channel).
SLACK = 64 * 1024


def _peak_allocation(fn):
    """(bytes allocated at the peak of fn() beyond what was live before, fn's result)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - before, result


def _cases():
    out = []
    for name, entry in ACTIVATIONS.items():
        shapes = [layout(entry.kind, SIZE)] + ([(4096, 1000)] if entry.kind == "softmax" else [])
        for shape in shapes:
            for direction in DIRECTIONS:
                out.append(Case(name, direction, "float32", shape, "fastact"))
            out += [Case(name, "forward", "float32", shape, "fastact", v) for v in ("out", "inplace")]
    return out


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c.id)
def test_allocates_at_most_its_output(case):
    call = _peers.build(case)
    with _peers.mode_context(call):
        if call.reset:
            call.reset()
        call.fn()  # compile, and let any lazily created state exist before tracing
        if call.reset:
            call.reset()
        allocated, result = _peak_allocation(call.fn)
    if case.variant == "alloc":
        output = sum(a.nbytes for a in _peers.as_numpy(result))
    else:
        output = 0  # written into an existing array
    assert allocated <= output + SLACK, (
        f"{case.id}: allocated {allocated} bytes at the peak; the output is {output} bytes "
        f"(the input is {case.size * 4} bytes)")


# The fused operations on float32 (rows, C): bias_act's float64 partial sums
# of the bias gradient are at most half of grad_x from 4 rows on (one block
# per at least BIAS_BLOCK_ROWS rows), as large as grad_x for 2 or 3 rows, and
# a single row takes no sums of its length (grad_bias is its grad_x).
FUSED_SHAPES = ((1024, 1024), (1, SIZE), (2, SIZE // 2), (5, SIZE // 4), (64, SIZE // 64))


def _fused_calls(shape):
    import numpy as np

    import fastact as fa

    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    g = rng.standard_normal(shape, dtype=np.float32)
    b = rng.standard_normal(shape[-1], dtype=np.float32)
    half = rng.standard_normal(shape[:-1] + (shape[-1] // 2,), dtype=np.float32)
    calls = {f"bias_act({a})": (lambda a=a: fa.bias_act(x, b, a)) for a in ("relu", "silu", "gelu")}
    calls.update({f"bias_act_backward({a})": (lambda a=a: fa.bias_act_backward(g, x, b, a))
                  for a in ("relu", "silu", "gelu")})
    calls["glu"] = lambda: fa.glu(x)
    calls["glu_backward"] = lambda: fa.glu_backward(half, x)
    return calls


@pytest.mark.parametrize("shape", FUSED_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_fused_temporaries_at_most_the_output(shape):
    for name, fn in _fused_calls(shape).items():
        fn()
        allocated, result = _peak_allocation(fn)
        outputs = _peers.as_numpy(result)
        total = sum(a.nbytes for a in outputs)
        largest = max(a.nbytes for a in outputs)
        assert allocated - total <= largest + SLACK, (
            f"{name} on {shape}: {allocated} bytes allocated at the peak, outputs {total} bytes "
            f"(largest {largest})")
        if shape[0] == 1 or not name.startswith("bias_act_backward"):
            # nothing beyond the outputs
            assert allocated <= total + SLACK, f"{name} on {shape}: {allocated} bytes for outputs of {total}"

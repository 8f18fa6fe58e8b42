"""Property tests over arbitrary floats (NaN, +-inf, -0.0, subnormals,
extremes): every forward within its ulp bound of the reference evaluated in
long double, NaN exactly where the reference has NaN, no warnings; serial
and parallel bitwise equal for every forward and backward."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastact as fa
from util import (BLOCK, F32, F64, FNS_ALL, ULP_BOUND, assert_bitwise, assert_ulp, nan_positions_equal,
                  no_fp_warnings, params)

DTYPES = [F32, F64]


def _floats(dtype):
    return st.floats(width=8 * dtype.itemsize, allow_nan=True, allow_infinity=True, allow_subnormal=True)


def _arrays(fn, dtype):
    """1-d arrays; rows (2-d) for the softmax family."""
    if fn.op.kind == "softmax":
        shape = hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=9)
    else:
        shape = hnp.array_shapes(min_dims=1, max_dims=1, min_side=0, max_side=40)
    return hnp.arrays(dtype, shape, elements=_floats(dtype))


FORWARDS = [f for f in FNS_ALL if not f.backward]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("fn", params(FORWARDS))
@given(data=st.data())
def test_forward_within_ulp_bound_of_reference(fn, dtype, data):
    x = data.draw(_arrays(fn, dtype), label="x")
    with no_fp_warnings():
        y = fn(x)
    exact = fn.exact(x)
    nan_positions_equal(y, exact, fn.name)
    assert_ulp(y, exact, dtype, ULP_BOUND[dtype], (x,), f"{fn.id} {dtype}")


def _tile(a, n):
    """a repeated to at least n elements (rows kept whole for 2-d)."""
    if a.size == 0:
        return a
    k = -(-n // a.size)
    return np.concatenate([a] * k, axis=0)


# parallel runs are slow on a busy machine: a third of the profile's examples
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("fn", params(FNS_ALL))
@settings(max_examples=max(5, settings().max_examples // 3))
@given(data=st.data())
def test_serial_equals_parallel(fn, dtype, data):
    """On arrays tiled to a few parallel blocks (with inputs of arbitrary floats)."""
    arrays = [data.draw(_arrays(fn, dtype), label="x")]
    if fn.backward:
        arrays.insert(0, data.draw(hnp.arrays(dtype, arrays[0].shape, elements=_floats(dtype)), label="grad"))
    arrays = [_tile(a, 2 * BLOCK + 1) for a in arrays]
    with fa.config(mode="serial"):
        s = fn.result(fn(*arrays))
    with fa.config(mode="parallel"):
        p = fn.result(fn(*arrays))
    assert_bitwise(s, p, f"{fn.name} serial vs parallel")

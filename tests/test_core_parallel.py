"""Serial and parallel kernels give bitwise identical results, whatever the
thread count; concurrent calls from Python threads; fa.config and fa.info."""
import inspect
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest

import fastact as fa
from fastact import _jit, _kernels
from util import (BIG, BLOCK, F32, F64, FLOATS, FNS, FNS_ALL, OPS, assert_bitwise, nan_positions_equal, params,
                  values)

MAX_THREADS = numba.config.NUMBA_NUM_THREADS
SIZES = [(BIG,), (4099, 11), (3, 5, 2731)]


def _all_modes(fn, arrays):
    """{setting: result} for serial, parallel with 1 and with all threads, and auto."""
    res = {}
    for name, kw in [("serial", dict(mode="serial")), ("parallel-1", dict(mode="parallel", threads=1)),
                     (f"parallel-{MAX_THREADS}", dict(mode="parallel", threads=MAX_THREADS)),
                     ("parallel-2", dict(mode="parallel", threads=min(2, MAX_THREADS))), ("auto", dict(mode="auto"))]:
        with fa.config(**kw):
            res[name] = fn.result(fn(*arrays))
    return res


@pytest.mark.parametrize("shape", SIZES, ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("fn", params(FNS_ALL))
def test_serial_equals_parallel_bitwise(fn, dtype, shape, rng):
    arrays = fn.inputs(shape, dtype, rng, "wide")
    res = _all_modes(fn, arrays)
    for name, r in res.items():
        assert_bitwise(r, res["serial"], f"{fn.name} {dtype} {shape}: {name} vs serial")
    with np.errstate(all="ignore"):
        want = fn.expected(*arrays)
    nan_positions_equal(res["serial"], want, fn.name)


def test_parallel_threshold_is_above_a_few_blocks():
    """The sizes above are big enough for auto mode to go parallel."""
    assert BIG >= _jit.PARALLEL_THRESHOLD and BIG > 4 * BLOCK
    assert 4099 * 11 >= _jit.PARALLEL_THRESHOLD


# (name, forward heavy, backward heavy): whether the scalar definition
# evaluates an exp, log, tanh or erf per element, which starts the parallel
# kernel at two blocks instead of 256 KiB (_jit.elementwise_threshold)
HEAVINESS = [("sigmoid", True, False), ("tanh", True, False), ("relu", False, False), ("leaky_relu", False, False),
             ("elu", True, True), ("silu", True, True), ("softplus", True, True), ("mish", True, True),
             ("selu", True, True), ("celu", True, True), ("hardtanh", False, False), ("relu6", False, False),
             ("hardsigmoid", False, False), ("hardswish", False, False), ("softsign", False, False),
             ("logsigmoid", True, True), ("threshold", False, False), ("product", False, False),
             ("gelu", True, True), ("gelu_tanh", True, True)]


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("name, fwd, bwd", HEAVINESS, ids=[h[0] for h in HEAVINESS])
def test_elementwise_heavy_finds_the_transcendental_helpers(name, fwd, bwd, dtype):
    assert _kernels.elementwise_heavy(name, np.dtype(dtype).type) == (fwd, bwd)


def test_heaviness_table_covers_every_scalar_definition():
    from fastact import _elementwise
    defs = {n for n, f in vars(_elementwise).items()
            if inspect.isfunction(f) and f.__module__ == _elementwise.__name__ and not n.startswith("_")}
    assert defs == {h[0] for h in HEAVINESS}


@pytest.mark.parametrize("op", params([o for o in OPS if o.kind == "elementwise"]))
def test_parallel_mode_runs_the_parallel_kernels(op, rng):
    """mode='parallel' really runs the parallel kernels (they get compiled)."""
    for T in (np.float32, np.float64):
        x = values((BIG,), T, rng)
        with fa.config(mode="parallel"):
            y = op.forward(x)
            op.backward(x, x if op.uses == "x" else y)
        kernels = _kernels.elementwise(op.name, T)
        assert kernels[1].signatures and kernels[3].signatures, f"{op.name}: parallel kernels never ran"
    assert _jit.use_parallel(10) is False
    with fa.config(mode="parallel"):
        assert _jit.use_parallel(10) is True
    with fa.config(mode="serial"):
        assert _jit.use_parallel(10 ** 9) is False


PRELU_SHAPES = [((3, 7, 2003), 1), ((20011, 5), 1), ((7, 6007), 0), ((5, 3, 2, 1367), -1), ((BIG,), None),
                ((2, 9, 2501), 2)]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("case", PRELU_SHAPES, ids=str)
def test_prelu_per_channel_serial_equals_parallel(case, dtype, rng):
    shape, axis = case
    kw = {} if axis is None else {"axis": axis}
    C = 1 if axis is None else shape[axis]
    w = np.linspace(-0.5, 0.7, C)
    x = values(shape, dtype, rng, "wide")
    g = values(shape, dtype, rng)
    res = []
    for settings in (dict(mode="serial"), dict(mode="parallel", threads=1),
                     dict(mode="parallel", threads=MAX_THREADS), dict(mode="auto")):
        with fa.config(**settings):
            res.append((fa.prelu(x, w, **kw), *fa.prelu_backward(g, x, w, **kw)))
    for r in res[1:]:
        for a, b, what in zip(r, res[0], ("y", "grad_x", "grad_weight")):
            assert_bitwise(a, b, f"prelu {shape} {what}")


def test_concurrent_calls_from_python_threads(rng):
    """Several Python threads calling every function at once (big arrays:
    the parallel kernels, in auto mode; some threads forcing a mode) get the
    serial results."""
    jobs = []
    for i, fn in enumerate(FNS):
        arrays = fn.inputs((BIG,) if fn.op.kind != "softmax" else (4099, 11), [F32, F64][i % 2], rng, "wide")
        with fa.config(mode="serial"):
            want = fn.result(fn(*arrays))
        jobs.append((fn, arrays, want, ["auto", "parallel", "serial"][i % 3]))

    def work(job):
        fn, arrays, want, mode = job
        for _ in range(3):
            with fa.config(mode=mode):
                got = fn.result(fn(*arrays))
            assert_bitwise(got, want, f"{fn.name} in a thread ({mode})")
        return True

    with ThreadPoolExecutor(max_workers=4) as ex:
        results = list(ex.map(work, jobs * 2))
    assert len(results) == 2 * len(jobs) and all(results)


def test_concurrent_rrelu_training_with_own_generators(rng):
    x = values((BIG,), F64, rng)
    want = [fa.rrelu(x, training=True, rng=s) for s in range(8)]

    def work(s):
        return fa.rrelu(x, training=True, rng=s)

    with ThreadPoolExecutor(max_workers=4) as ex:
        got = list(ex.map(work, range(8)))
    for (y, n), (wy, wn) in zip(got, want):
        assert_bitwise(y, wy)
        assert_bitwise(n, wn)


# ---------------------------------------------------------------------------
# fa.config


def test_config_sets_and_restores():
    n0 = numba.get_num_threads()
    assert _jit.get_mode() == "auto"
    with fa.config(mode="serial", threads=1):
        assert _jit.get_mode() == "serial" and numba.get_num_threads() == 1
        with fa.config(mode="parallel"):
            assert _jit.get_mode() == "parallel" and numba.get_num_threads() == 1
        assert _jit.get_mode() == "serial"
    assert _jit.get_mode() == "auto" and numba.get_num_threads() == n0
    with pytest.raises(RuntimeError):
        with fa.config(mode="serial", threads=MAX_THREADS):
            raise RuntimeError("boom")
    assert _jit.get_mode() == "auto" and numba.get_num_threads() == n0


@pytest.mark.parametrize("kw", [dict(mode="fast"), dict(mode=""), dict(mode=1), dict(mode="Serial"), dict(threads=0),
                                dict(threads=-1), dict(threads=MAX_THREADS + 1), dict(threads=1.5), dict(threads="2"),
                                dict(threads=None, mode="parralel")], ids=str)
def test_config_validates(kw):
    n0 = numba.get_num_threads()
    with pytest.raises(ValueError) as exc:
        with fa.config(**kw):
            pass
    assert ("mode" in kw and "mode" in str(exc.value)) or ("threads" in str(exc.value))
    assert _jit.get_mode() == "auto" and numba.get_num_threads() == n0


def test_config_accepts_numpy_integers():
    with fa.config(threads=np.int64(1)):
        assert numba.get_num_threads() == 1


def test_config_is_per_thread():
    seen = {}
    inside = threading.Event()
    release = threading.Event()

    def other():
        with fa.config(mode="serial"):
            seen["other"] = _jit.get_mode()
            inside.set()
            release.wait(10)

    t = threading.Thread(target=other)
    t.start()
    inside.wait(10)
    seen["main"] = _jit.get_mode()
    release.set()
    t.join()
    assert seen == {"other": "serial", "main": "auto"}


# ---------------------------------------------------------------------------
# fa.info


def test_info():
    info = fa.info()
    assert info["fastact"] == fa.__version__
    assert info["numba"] == numba.__version__
    assert info["numpy"] == np.__version__
    assert isinstance(info["python"], str) and info["python"].count(".") == 2
    assert isinstance(info["threads"], int) and 1 <= info["threads"] <= info["max_threads"]
    assert info["threads"] == numba.get_num_threads()
    assert info["max_threads"] == MAX_THREADS
    assert info["threading_layer"] in ("omp", "tbb", "workqueue")
    assert info["threading_layer"] == fa.threading_layer()
    assert isinstance(info["cpu"], str) and info["cpu"]
    assert isinstance(info["cores"], int) and info["cores"] >= 1
    assert info["parallel_threshold"] == _jit.PARALLEL_THRESHOLD
    assert info["softmax_parallel_threshold"] == _jit.ROWS_THRESHOLD
    with fa.config(threads=1):
        assert fa.info()["threads"] == 1

"""The NumPy-compatible API of every public function (every forward and
backward of the table): shapes x layouts x dtypes against fastact.reference,
the dtype rules, scalars and lists, out=, and the validation of arguments
(nothing is written to out when validation fails)."""
import numpy as np
import pytest

import fastact as fa
import fastact.reference as ref
from util import (BIG, BLOCK, F16, F32, F64, FLOATS, FNS, FNS_ALL, LAYOUTS, OPS, SHAPES, Fn, assert_bitwise, assert_close,
                  check_params, in_layout, param_sets, params, rule, sentinel, sweep, unchanged, values)

DT_IDS = [str(d) for d in FLOATS]


# ---------------------------------------------------------------------------
# shapes x layouts x dtypes against the reference


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=DT_IDS)
@pytest.mark.parametrize("fn", params(FNS_ALL))
def test_matches_reference(fn, dtype, shape, rng):
    """Every layout (LAYOUTS) of the inputs, with the inputs left untouched."""
    arrays = fn.inputs(shape, dtype, rng)
    want = fn.expected(*arrays)
    for layout in LAYOUTS:
        laid = [in_layout(a, layout) for a in arrays]
        before = [a.copy() for a in laid]
        got = fn.result(fn(*laid))
        assert_close(got, want, f"{fn.name} {dtype} {shape} {layout}")
        for a, b in zip(laid, before):
            assert_bitwise(a, b, f"{fn.name} modified its input ({layout})")


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=DT_IDS)
@pytest.mark.parametrize("fn", params(FNS))
def test_in_place(fn, dtype, shape, rng):
    """out= may be any input itself (x; for a backward grad or x/y), in every layout."""
    arrays = fn.inputs(shape, dtype, rng)
    want = fn.expected(*arrays)
    for layout in LAYOUTS:
        for k in range(fn.nargs):
            laid = [in_layout(a, layout) for a in arrays]
            raw = fn(*laid, out=laid[k])
            assert fn.result(raw) is laid[k], f"{fn.name} did not return out"
            assert_close(laid[k], want, f"{fn.name} {dtype} {shape} {layout} in place on argument {k}")


# ---------------------------------------------------------------------------
# dtype rules


# float32 kernels that work in float64 on purpose: the only way found to stay
# within 4 ulp (with float32's exp the result of g - exp(y) sum(g), which
# cancels, is off by more)
FLOAT32_IN_FLOAT64 = {"log_softmax_backward"}


@pytest.mark.parametrize("fn", params(FNS))
def test_float32_is_computed_in_float32(fn, rng):
    """float32 stays float32, and is computed in float32: either the result
    differs somewhere from the float64 computation rounded to float32, or
    the function is exact in float32 (then it equals NumPy's float32 result
    bitwise).  The kernels of FLOAT32_IN_FLOAT64 give the float64 result
    rounded, to within an ulp (the float64 kernel sums in double-double)."""
    arrays = fn.inputs((4000,), F32, rng, "finite-wide")
    r32 = fn.result(fn(*arrays))
    assert r32.dtype == F32
    r64 = fn.result(fn(*[a.astype(F64) for a in arrays]))
    assert r64.dtype == F64
    with np.errstate(all="ignore"):
        rounded = r64.astype(F32)
    if fn.name in FLOAT32_IN_FLOAT64:
        from fastact.testing import ulp_error
        with np.errstate(all="ignore"):
            err = ulp_error(r32, r64.astype(np.longdouble), F32)
        assert float(np.nanmax(err)) <= 1.0, f"{fn.name}: {float(np.nanmax(err))} ulp from the float64 result"
        return
    differs = not np.array_equal(r32, rounded, equal_nan=True)
    numpy32 = fn.expected(*arrays)
    assert differs or np.array_equal(r32, numpy32, equal_nan=True), (
        f"{fn.name}: the float32 result is the float64 result rounded everywhere, and is not NumPy's float32 result")


@pytest.mark.parametrize("fn", params(FNS))
def test_float64_stays_float64(fn, rng):
    arrays = fn.inputs((3, 5), F64, rng)
    r = fn.result(fn(*arrays))
    assert r.dtype == F64
    assert_close(r, fn.expected(*arrays))


@pytest.mark.parametrize("fn", params(FNS))
def test_float16_computed_in_float32(fn, rng):
    """float16 is computed in float32 and returned as float16: bitwise the
    float32 result rounded to float16."""
    arrays = fn.inputs((6, 7), F16, rng, "wide")
    r16 = fn.result(fn(*arrays))
    assert r16.dtype == F16
    r32 = fn.result(fn(*[a.astype(F32) for a in arrays]))
    with np.errstate(all="ignore"):
        assert_bitwise(r16, r32.astype(F16), fn.name)


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint8, np.int32, np.int64, np.uint64], ids=str)
@pytest.mark.parametrize("fn", params(FNS))
def test_bool_and_int_give_float64(fn, dtype, rng):
    arrays = fn.inputs((4, 5), dtype, rng)
    assert all(a.dtype == np.dtype(dtype) for a in arrays)
    r = fn.result(fn(*arrays))
    assert r.dtype == F64
    assert_bitwise(r, fn.result(fn(*[a.astype(F64) for a in arrays])), fn.name)
    assert_close(r, fn.expected(*arrays))


MIXED = [(F16, F32), (F32, F16), (F32, F64), (F64, F32), (F16, F64), (np.dtype(np.int32), F32)]


@pytest.mark.parametrize("dts", MIXED, ids=lambda d: f"{d[0]}-{d[1]}")
@pytest.mark.parametrize("fn", params([f for f in FNS if f.backward]))
def test_backward_mixed_dtypes(fn, dts, rng):
    """grad and x/y of different dtypes: the result type of the two, then the rules."""
    g, v = fn.inputs((3, 4), F64, rng)
    g, v = g.astype(dts[0]), v.astype(dts[1])
    ct, rdt = rule(np.result_type(g.dtype, v.dtype))
    r = fn.result(fn(g, v))
    assert r.dtype == rdt
    assert_bitwise(r, fn.result(fn(g.astype(ct), v.astype(ct))).astype(rdt), fn.name)


BAD_INPUTS = [
    # (id, dtype named in the message, maker of n elements)
    ("complex128", "complex128", lambda n: np.ones(n, np.complex128)),
    ("complex64", "complex64", lambda n: np.ones(n, np.complex64)),
    ("object", "object", lambda n: np.ones(n, dtype=object)),
    ("str", "<U3", lambda n: np.array(["1.0"] * n)),
    ("bytes", "|S3", lambda n: np.array([b"1.0"] * n)),
    ("datetime64", "datetime64[D]", lambda n: np.array(["2020-01-01"] * n, dtype="datetime64[D]")),
    ("timedelta64", "timedelta64[s]", lambda n: np.ones(n, "timedelta64[s]")),
    ("complex-list", "complex128", lambda n: [1j] * n),  # a list, converted first
]


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=lambda b: b[0])
@pytest.mark.parametrize("fn", params(FNS))
def test_unsupported_dtypes_raise(fn, bad, rng):
    """complex, object, string, datetime inputs raise TypeError naming the function and the dtype."""
    _, name, make = bad
    arrays = fn.inputs((3,), F64, rng)
    for k in range(fn.nargs):
        args = list(arrays)
        args[k] = make(3)
        with pytest.raises(TypeError) as exc:
            fn(*args)
        msg = str(exc.value)
        assert fn.name in msg and name in msg, f"message {msg!r} should name {fn.name} and {name}"


SCALARS = [
    (1.5, F64), (-2.0, F64), (3, F64), (True, F64), (np.float64(-0.75), F64), (np.float32(-0.75), F32),
    (np.float16(0.5), F16), (np.int16(-3), F64), (np.array(-1.25), F64), (np.array(0.5, np.float32), F32),
]


@pytest.mark.parametrize("scalar", SCALARS, ids=lambda s: f"{type(s[0]).__name__}({s[0]})")
@pytest.mark.parametrize("fn", params(FNS))
def test_scalar_in_numpy_scalar_out(fn, scalar):
    """Like a ufunc: a scalar (or 0-d array) in gives a NumPy scalar of the result dtype out."""
    s, rdt = scalar
    args = [s] * fn.nargs
    raw = fn(*args)
    items = raw if isinstance(raw, tuple) else (raw,)
    for r in items:
        assert isinstance(r, np.generic) and not isinstance(r, np.ndarray), (
            f"{fn.name}{tuple(args)} returned {type(r).__name__} {r!r}, expected a NumPy scalar")
        assert r.dtype == rdt
    want = fn.expected(*[np.asarray(a) for a in args])
    assert_close(fn.result(raw), want)


@pytest.mark.parametrize("fn", params(FNS))
def test_lists_in(fn, rng):
    arrays = fn.inputs((2, 3), F64, rng)
    r = fn.result(fn(*[a.tolist() for a in arrays]))
    assert type(r) is np.ndarray and r.dtype == F64 and r.shape == (2, 3)
    assert_bitwise(r, fn.result(fn(*arrays)), fn.name)


@pytest.mark.parametrize("fn", params(FNS))
def test_ragged_list_raises_type_error(fn):
    args = [[[1.0, 2.0], [3.0]]] * fn.nargs
    with pytest.raises((TypeError, ValueError)) as exc:
        fn(*args)
    assert fn.name in str(exc.value)


# ---------------------------------------------------------------------------
# out=


@pytest.mark.parametrize("dtype", FLOATS, ids=DT_IDS)
@pytest.mark.parametrize("fn", params(FNS))
def test_out_is_returned(fn, dtype, rng):
    arrays = fn.inputs((5, 6), dtype, rng)
    out = sentinel((5, 6), dtype)
    raw = fn(*arrays, out=out)
    assert fn.result(raw) is out
    assert_close(out, fn.expected(*arrays))


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("shape", [(37,), (BIG,), (6, 7)], ids=["small", "big", "2d"])
@pytest.mark.parametrize("fn", params(FNS))
def test_out_fast_path_agrees_with_a_new_array(fn, shape, dtype, rng):
    """out= on a C-contiguous aligned array of the input's dtype (the
    elementwise functions' fast path, once a first call has compiled the
    kernel) writes bitwise what a new array gets, and returns out; so do a
    strided out (the general path) and, for the forwards, out=x."""
    arrays = fn.inputs(shape, dtype, rng)
    want = fn.result(fn(*arrays))
    for _ in range(2):
        out = sentinel(shape, dtype)
        assert fn.result(fn(*arrays, out=out)) is out
        assert_bitwise(out, want, f"{fn.name} out=")
    strided = sentinel(shape[:-1] + (2 * shape[-1],), dtype)[..., ::2]
    assert fn.result(fn(*arrays, out=strided)) is strided
    assert_bitwise(strided, want, f"{fn.name} strided out=")
    if not fn.backward:  # in place, out=x: a fast path of its own once the in-place kernel has run
        for _ in range(2):
            x = arrays[0].copy()
            assert fn.result(fn(x, *arrays[1:], out=x)) is x
            assert_bitwise(x, want, f"{fn.name} in place")


@pytest.mark.parametrize("fn", params(FNS))
def test_out_wrong_shape(fn, rng):
    arrays = fn.inputs((5, 6), F64, rng)
    for shape in [(5, 7), (30,), (6, 5), (1, 5, 6), ()]:
        out = sentinel(shape, F64)
        with pytest.raises(ValueError) as exc:
            fn(*arrays, out=out)
        msg = str(exc.value)
        assert fn.name in msg and "(5, 6)" in msg, f"message {msg!r} should name {fn.name} and the expected shape"
        assert unchanged(out), f"{fn.name} wrote to an out it rejected"


@pytest.mark.parametrize("dtypes", [(F64, F32), (F32, F64), (F16, F32), (F32, F16), (F64, np.dtype(np.int64)),
                                    (np.dtype(np.int32), F32)], ids=lambda d: f"{d[0]}-out-{d[1]}")
@pytest.mark.parametrize("fn", params(FNS))
def test_out_wrong_dtype(fn, dtypes, rng):
    dt, odt = dtypes
    arrays = fn.inputs((5, 6), dt, rng)
    out = sentinel((5, 6), odt) if odt.kind == "f" else np.full((5, 6), 7, odt)
    before = out.copy()
    with pytest.raises(TypeError) as exc:
        fn(*arrays, out=out)
    msg = str(exc.value)
    expected = str(rule(dt)[1])
    assert fn.name in msg and expected in msg, f"message {msg!r} should name {fn.name} and {expected}"
    assert np.array_equal(out, before), f"{fn.name} wrote to an out it rejected"


@pytest.mark.parametrize("fn", params(FNS))
def test_out_not_an_array(fn, rng):
    arrays = fn.inputs((4,), F64, rng)
    outs = [[0.0] * 4, 3.0, np.float64(1.0), np.float64(1.0).data]
    if not fn.backward:  # (prelu_backward takes a tuple (grad_x, grad_weight))
        outs.append((0.0,) * 4)
    for out in outs:
        with pytest.raises(TypeError) as exc:
            fn(*arrays, out=out)
        msg = str(exc.value)
        assert fn.name in msg and "ndarray" in msg, f"message {msg!r} should name {fn.name} and say ndarray"


@pytest.mark.parametrize("fn", params(FNS))
def test_out_read_only(fn, rng):
    arrays = fn.inputs((4, 3), F64, rng)
    out = sentinel((4, 3), F64)
    out.flags.writeable = False
    with pytest.raises(ValueError) as exc:
        fn(*arrays, out=out)
    msg = str(exc.value)
    assert fn.name in msg and ("read-only" in msg or "writ" in msg), msg
    assert unchanged(out)
    # read-only inputs are fine
    for a in arrays:
        a.flags.writeable = False
    assert_close(fn.result(fn(*arrays)), fn.expected(*arrays))


@pytest.mark.parametrize("n, shift", [(40, 3), (40, -3), (BIG, 5), (BIG, -(BLOCK - 1))],
                         ids=["small+3", "small-3", "big+5", "big-block"])
@pytest.mark.parametrize("fn", params(FNS))
def test_overlapping_out(fn, n, shift, rng):
    """out overlapping an input (neither the same array nor disjoint) gives
    the result computed from the original input, as NumPy ufuncs do."""
    arrays = fn.inputs((n,), F64, rng)
    want = fn.expected(*arrays)
    with fa.config(mode="auto"):
        for k in range(fn.nargs):
            buf = np.zeros(n + abs(shift))
            src = buf[:n] if shift > 0 else buf[-shift:]
            out = buf[shift:] if shift > 0 else buf[:n]
            src[...] = arrays[k]
            args = list(arrays)
            args[k] = src
            raw = fn(*args, out=out)
            assert fn.result(raw) is out
            assert_close(out, want, f"{fn.name}: out overlapping argument {k} by {shift}")


# ---------------------------------------------------------------------------
# hyperparameters


# the real-valued hyperparameters (a variant parameter selects a kernel by name)
BAD_PARAMS = [(op, p) for op in OPS for p in op.params if p not in op.entry.variants]
VARIANTS = [(op, p) for op in OPS for p in op.entry.variants]


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("op_p", BAD_PARAMS, ids=[f"{o.name}-{p}" for o, p in BAD_PARAMS])
def test_non_finite_param_raises_and_writes_nothing(op_p, bad, direction, rng):
    op, pname = op_p
    bad_op = op.with_({pname: bad})
    fn = Fn(bad_op, direction)
    arrays = Fn(op, direction).inputs((3, 4), F64, rng)
    out = sentinel((3, 4), F64)
    with pytest.raises(ValueError) as exc:
        fn(*arrays, out=out)
    msg = str(exc.value)
    assert fn.name in msg and pname in msg, f"message {msg!r} should name {fn.name} and {pname}"
    assert unchanged(out), f"{fn.name} wrote to out before rejecting {pname}={bad}"


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("bad", ["0.1", None, 1j, [0.1, "a"]], ids=["str", "None", "complex", "mixed-list"])
@pytest.mark.parametrize("op_p", BAD_PARAMS, ids=[f"{o.name}-{p}" for o, p in BAD_PARAMS])
def test_non_real_param_raises_type_error(op_p, bad, direction, rng):
    op, pname = op_p
    fn = Fn(op.with_({pname: bad}), direction)
    arrays = Fn(op, direction).inputs((3, 4), F64, rng)
    out = sentinel((3, 4), F64)
    with pytest.raises(TypeError) as exc:
        fn(*arrays, out=out)
    assert fn.name in str(exc.value) and pname in str(exc.value), str(exc.value)
    assert unchanged(out)


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("bad", ["nonsense", None, 1.0, "TANH"], ids=["unknown", "None", "float", "case"])
@pytest.mark.parametrize("op_p", VARIANTS, ids=[f"{o.name}-{p}" for o, p in VARIANTS])
def test_unknown_variant_raises_and_writes_nothing(op_p, bad, direction, rng):
    op, pname = op_p
    fn = Fn(op.with_({pname: bad}), direction)
    arrays = Fn(op, direction).inputs((3, 4), F64, rng)
    out = sentinel((3, 4), F64)
    with pytest.raises(ValueError) as exc:
        fn(*arrays, out=out)
    msg = str(exc.value)
    assert fn.name in msg and pname in msg, msg
    assert all(repr(choice) in msg for choice in op.entry.variants[pname]), f"{msg!r} should list the choices"
    assert unchanged(out)


def _alternatives(op):
    """(param, other value) pairs: the values of the table's other parameter
    sets, else a scaled default; only those the table's validation accepts."""
    alts = []
    for pname, value in op.params.items():
        others = {p[pname] for p in param_sets(op.entry)} - {value}
        if not others:
            others = {value * 1.5 if value else 0.5}
        for o in sorted(others):
            if check_params(op.entry, {**op.params, pname: o}) is None:
                alts.append((pname, o))
    return alts


@pytest.mark.parametrize("op", params([o for o in OPS if o.params]))
def test_params_are_used(op, rng):
    """Every parameter changes the result (the kernels do not ignore it),
    matching the reference with the changed value, forward and backward."""
    alts = _alternatives(op)
    assert {p for p, _ in alts} == set(op.params), f"no valid alternative value for some parameter of {op.id}"
    for pname, other in alts:
        changed = op.with_({pname: other})
        differs = []
        for d in ("forward", "backward"):
            fn_a, fn_b = Fn(op, d), Fn(changed, d)
            arrays = fn_a.inputs((400,), F64, rng)
            a, b = fn_a.result(fn_a(*arrays)), fn_b.result(fn_b(*arrays))
            differs.append(not np.array_equal(a, b))
            assert_close(b, fn_b.expected(*arrays), f"{fn_b.name} with {pname}={other}")
        assert any(differs), f"{op.name}: changing {pname} to {other} changed nothing"


def _invalid_sets(entry):
    """Parameter sets the table's validate hook rejects, found by perturbing
    a valid set (swapping, zeroing, negating, offsetting each parameter)."""
    if entry.validate is None:
        return []
    found = []
    for base in param_sets(entry):
        names = list(base)
        cands = []
        for i, a in enumerate(names):
            for v in (0.0, -base[a], base[a] + 10, base[a] - 10):
                cands.append({**base, a: v})
            for b in names[i + 1:]:
                cands.append({**base, a: base[b], b: base[a]})
                cands.append({**base, a: base[b] + 1.0})
        for c in cands:
            if check_params(entry, c) is not None and c not in found:
                found.append(c)
    return found


INVALID = [(op, p) for op in OPS for p in _invalid_sets(op.entry)]


def test_every_validate_hook_is_exercised():
    for op in OPS:
        if op.entry.validate is not None:
            assert any(o.name == op.name for o, _ in INVALID), f"found no invalid parameters for {op.name}"


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("op_p", INVALID, ids=[f"{o.name}-" + ",".join(f"{k}={v}" for k, v in p.items())
                                               for o, p in INVALID])
def test_invalid_param_combination_raises_and_writes_nothing(op_p, direction, rng):
    """The table's validate hook is enforced by the forward and the backward,
    with its message, before anything is written to out."""
    op, bad = op_p
    fn = Fn(op.with_(bad), direction)
    arrays = Fn(op, direction).inputs((3, 4), F64, rng)
    out = sentinel((3, 4), F64)
    with pytest.raises(ValueError) as exc:
        fn(*arrays, out=out)
    msg = str(exc.value)
    assert fn.name in msg and check_params(op.entry, bad) in msg, msg
    assert unchanged(out), f"{fn.name} wrote to out before rejecting {bad}"


@pytest.mark.parametrize("fn", params(FNS))
def test_empty_inputs(fn):
    for shape in [(0,), (0, 5), (5, 0), (2, 0, 3)]:
        for dt in FLOATS:
            args = [np.empty(shape, dt)] * fn.nargs
            r = fn.result(fn(*args))
            assert type(r) is np.ndarray and r.shape == shape and r.dtype == dt
            out = np.empty(shape, dt)
            assert fn.result(fn(*args, out=out)) is out


@pytest.mark.parametrize("fn", params(FNS))
def test_inputs_are_not_modified_on_big_arrays(fn, rng):
    arrays = fn.inputs((BIG,), F32, rng, "wide")
    before = [a.copy() for a in arrays]
    for mode in ("serial", "parallel"):
        with fa.config(mode=mode):
            fn(*arrays)
        for a, b in zip(arrays, before):
            assert_bitwise(a, b, f"{fn.name} ({mode}) modified an input")


def test_every_table_entry_is_public():
    for op in OPS:
        for name in (op.name, op.entry.backward_name):
            assert callable(getattr(fa, name)), name
            assert name in fa.__all__


def test_generators_are_sound(rng):
    """The shared generators: layouts really differ in memory, values really
    cover the edge cases (so the tests above exercise them)."""
    a = values((2, 3, 4, 5), F32, rng)
    assert in_layout(a, "contiguous").flags.c_contiguous
    assert in_layout(a, "fortran").flags.f_contiguous and not in_layout(a, "fortran").flags.c_contiguous
    s = in_layout(a, "swapped")
    assert not s.flags.c_contiguous and not s.flags.f_contiguous
    assert not in_layout(a, "strided").flags.forc
    assert all(st < 0 for st in in_layout(a, "reversed").strides)
    for dt in (F32, F64):
        w = sweep(dt)
        fi = np.finfo(dt)
        assert np.isnan(w).any() and np.isposinf(w).any() and np.isneginf(w).any()
        assert np.any((w != 0) & (np.abs(w) < fi.tiny)) and np.any(np.abs(w) == fi.max)
        assert np.any((w == 0) & np.signbit(w))
        fin = np.abs(w[np.isfinite(w) & (w != 0)])
        assert fin.min() <= fi.smallest_subnormal * 2 and fin.max() >= fi.max / 2


@pytest.mark.parametrize("fn", params([f for f in FNS if f.backward]))
def test_backward_grad_not_broadcastable_writes_nothing(fn, rng):
    _, v = fn.inputs((3, 4), F64, rng)
    out = sentinel((3, 4), F64)
    for gshape in [(3, 5), (4, 3), (2, 3, 4)]:
        with pytest.raises(ValueError) as exc:
            fn(values(gshape, F64, rng), v, out=out)
        assert fn.name in str(exc.value), str(exc.value)
        assert unchanged(out)


def test_signed_zero_parameters_are_not_confused():
    """A parameter of -0.0 after a call with 0.0 (equal as values and as
    cache keys) is still -0.0."""
    x = np.array([-1.0, 0.25, 2.0])
    a = fa.threshold(x, 0.5, 0.0)
    b = fa.threshold(x, 0.5, -0.0)
    assert np.signbit(b[0]) and not np.signbit(a[0]), (a, b)
    assert np.signbit(fa.leaky_relu(np.array([-1.0]), 0.0)[0])  # -1 * 0.0 = -0.0
    assert not np.signbit(fa.leaky_relu(np.array([-1.0]), -0.0)[0])  # -1 * -0.0 = +0.0


def _unaligned(a):
    """A copy of a whose data pointer is not aligned to its itemsize."""
    buf = np.zeros(a.nbytes + 1, np.uint8)
    u = np.frombuffer(buf.data, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    u[...] = a
    assert not u.flags.aligned
    return u


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_prelu_fast_and_general_paths_agree(dtype, rng):
    """PReLU's fast paths (direct entry points for (N, C) inputs, serial and,
    from the parallel threshold, parallel) give bitwise the results of the
    general path (out=), for one and many channels, and unaligned inputs take
    a path that handles them."""
    from fastact._api import _prelu_entry

    for C, rows in ((1, 300), (2, 300), (16, 300), (16, 4101), (3, 20000)):
        x = rng.uniform(-2, 2, (rows, C)).astype(dtype)
        g = rng.uniform(-1, 1, (rows, C)).astype(dtype)
        w = rng.uniform(-1, 1, C).astype(dtype)
        for _ in range(2):  # the first call enables the fast path, the second takes it
            y = fa.prelu(x, w)
            gx, gw = fa.prelu_backward(g, x, w)
        y2 = fa.prelu(x, w, out=np.empty_like(x))
        gx2, gw2 = fa.prelu_backward(g, x, w, out=(np.empty_like(x), np.empty_like(w)))
        for a, b in ((y, y2), (gx, gx2), (gw, gw2)):
            assert_bitwise(a, b, f"prelu C={C}")
        yu = fa.prelu(_unaligned(x), _unaligned(w))
        gxu, gwu = fa.prelu_backward(_unaligned(g), _unaligned(x), _unaligned(w))
        for a, b in ((y, yu), (gx, gxu), (gw, gwu)):
            assert_bitwise(a, b, f"prelu unaligned C={C}")
    if fa.threading_layer() != "workqueue":  # that layer never takes the parallel entry points
        entries = _prelu_entry.p32 if dtype == F32 else _prelu_entry.p64
        assert all(e is not None for e in entries), "the parallel entry points were not enabled"
    for _ in range(2):
        with pytest.raises(ValueError, match="weight is empty"):
            fa.prelu(np.ones((3, 0), dtype), np.ones(0, dtype))



@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_prelu_single_weight_fast_paths(dtype, rng):
    """A single weight (nn.PReLU()'s default) takes leaky_relu's kernels
    forward (out= and in place too) and the one-row entry point backward:
    bitwise the general path's results (a strided out=) and the reference's
    forward, on every shape of weight
    (0-d, (1,), (1, 1)) and of x, below and above one BLOCK, with NaN, inf
    and signed zeros in x; a weight that is not finite still raises."""
    from fastact._kernels import BLOCK

    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-40], dtype)
    for shape in ((7,), (4, 3, 5), (BLOCK,), (BLOCK + 5,), (3, BLOCK)):
        x = rng.uniform(-3, 3, shape).astype(dtype)
        x.reshape(-1)[:specials.size] = specials
        g = rng.uniform(-1, 1, shape).astype(dtype)
        for w0 in (0.25, -0.5, -0.0):
            for wshape in ((), (1,), (1, 1)):
                w = np.full(wshape, w0, dtype)
                for _ in range(2):  # the first call enables the entry point, the second takes it
                    y = fa.prelu(x, w)
                    gx, gw = fa.prelu_backward(g, x, w)
                label = f"shape={shape} w={w0} wshape={wshape}"
                assert_bitwise(y, ref.prelu(x, w.reshape(1)), label)
                assert_bitwise(y, fa.prelu(x, w, out=np.empty_like(x)), label)  # out= fast path
                strided = np.empty(shape[:-1] + (2 * shape[-1],), dtype)[..., ::2]
                assert_bitwise(y, fa.prelu(x, w, out=strided), label)  # the general path
                xi = x.copy()
                assert fa.prelu(xi, w, out=xi) is xi
                assert_bitwise(xi, y, label + " in place")
                gx2, gw2 = fa.prelu_backward(g, x, w, out=(np.empty_like(x), np.empty_like(w)))
                assert_bitwise(gx, gx2, label)
                assert np.shape(gw) == wshape and np.asarray(gw).dtype == dtype, label
                assert_bitwise(np.asarray(gw), np.asarray(gw2), label)
    for bad in (np.inf, np.nan):
        with pytest.raises(ValueError, match="weight must be finite"):
            fa.prelu(np.ones(5, dtype), np.array([bad], dtype))
        with pytest.raises(ValueError, match="weight must be finite"):
            fa.prelu_backward(np.ones(5, dtype), np.ones(5, dtype), np.array([bad], dtype))

@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_prelu_few_channels_joined_rows(dtype, rng):
    """Rows of few channels are joined PRELU_TILE // C at a time with the
    weight repeated: every row count (tiles only, tiles and a remainder, too
    few rows to join) gives bitwise the reference's result, new array, out=
    and in place, serial and parallel."""
    from fastact._kernels import PRELU_TILE

    for C in (2, 3, 16, 100, PRELU_TILE // 2 + 1):
        t = PRELU_TILE // C
        w = rng.uniform(-1, 1, C).astype(dtype)
        for outer in (1, 2 * t - 1, 2 * t, 5 * t + 3, 40000 // C + 7):
            x = rng.uniform(-2, 2, (outer, C)).astype(dtype)
            want = ref.prelu(x, w)
            for mode in ("serial", "parallel"):
                with fa.config(mode=mode):
                    assert_bitwise(fa.prelu(x, w), want, f"prelu C={C} rows={outer} {mode}")
                    assert_bitwise(fa.prelu(x, w, out=np.empty_like(x)), want, f"out= C={C} rows={outer}")
                    xi = x.copy()
                    assert fa.prelu(xi, w, out=xi) is xi
                    assert_bitwise(xi, want, f"in place C={C} rows={outer} {mode}")


def test_prelu_backward_bad_out_tuple():
    x = np.ones((2, 3))
    for bad in ((np.empty((2, 3)),), (np.empty((2, 3)), np.empty(3), np.empty(3))):
        with pytest.raises(ValueError, match="prelu_backward: out must be"):
            fa.prelu_backward(x, x, np.ones(3), out=bad)


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("n", [7, BIG], ids=["small", "big"])
def test_rrelu_fast_and_general_paths_agree(dtype, n, rng):
    """rrelu's evaluation forward and rrelu_backward (with and without noise)
    take a fast path on plain arrays; out= and a strided view take the
    general one: all must agree bitwise, and bad bounds still raise."""
    x = rng.standard_normal(2 * n).astype(dtype)
    g = rng.standard_normal(2 * n).astype(dtype)
    _, noise = fa.rrelu(x, training=True, rng=1)
    for lo, up in ((1 / 8, 1 / 3), (0.0, 0.0), (-0.5, 0.25)):
        fast = fa.rrelu(x, lo, up)
        assert_bitwise(fast, fa.rrelu(x, lo, up, out=np.empty_like(x)))
        assert_bitwise(fast[::2], fa.rrelu(x[::2], lo, up))
        for nz in (None, noise):
            fast = fa.rrelu_backward(g, x, nz, lo, up)
            assert fast.dtype == dtype
            assert_bitwise(fast, fa.rrelu_backward(g, x, nz, lo, up, out=np.empty_like(x)))
            assert_bitwise(fast[::2], fa.rrelu_backward(g[::2], x[::2], None if nz is None else nz[::2], lo, up))
    assert_bitwise(fa.rrelu_backward(g, x, noise), g * noise)
    for lo, up in ((0.5, 0.25), (np.nan, 0.3), (0.1, np.inf)):
        with pytest.raises(ValueError):
            fa.rrelu(x, lo, up)
        with pytest.raises(ValueError):
            fa.rrelu_backward(g, x, None, lo, up)
        with pytest.raises(ValueError):
            fa.rrelu_backward(g, x, noise, lo, up)
    with pytest.raises(ValueError, match="noise"):
        fa.rrelu_backward(g, x, noise[:-1])


def test_rrelu_huge_bounds_do_not_overflow():
    """The evaluation slope (lower + upper) / 2 of finite bounds is finite, on
    the fast and the general path, forward and backward."""
    x = np.array([-1.0, 2.0])
    slope = 0.5 * 1e308 + 0.5 * 1.7e308  # about 1.35e308
    want = np.array([-slope, 2.0])
    np.testing.assert_array_equal(fa.rrelu(x, 1e308, 1.7e308), want)
    np.testing.assert_array_equal(fa.rrelu(x, 1e308, 1.7e308, out=np.empty(2)), want)
    g = np.ones(2)
    np.testing.assert_array_equal(fa.rrelu_backward(g, x, None, 1e308, 1.7e308), [slope, 1.0])
    np.testing.assert_array_equal(fa.rrelu_backward(g, x, None, 1e308, 1.7e308, out=np.empty(2)), [slope, 1.0])

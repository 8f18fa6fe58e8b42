"""Fresh Python processes: importing fastact compiles nothing; compiled
kernels are cached on disk (NUMBA_CACHE_DIR) and a second process loads
them instead of compiling; processes compiling into a cold cache at the same
time both succeed."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 600

IMPORT_SCRIPT = textwrap.dedent("""
    import gc, json, os, time
    t0 = time.perf_counter()
    import numba
    t1 = time.perf_counter()
    import fastact
    t2 = time.perf_counter()
    from numba.core.dispatcher import Dispatcher
    ds = [o for o in gc.get_objects() if isinstance(o, Dispatcher)]
    ours = [d for d in ds if (getattr(d.py_func, "__module__", "") or "").startswith("fastact")]
    print(json.dumps({
        "dispatchers": len(ours),
        "compiled": [d.py_func.__qualname__ for d in ds if d.signatures],
        "import_s": t2 - t1,
        "numba_s": t1 - t0,
        "cache_files": sorted(f for _, _, fs in os.walk(os.environ["NUMBA_CACHE_DIR"]) for f in fs),
    }))
""")

KERNEL_SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    import fastact as fa
    from fastact import _kernels
    x = np.linspace(-30, 30, 100003)
    with fa.config(mode="parallel"):
        y = fa.sigmoid(x)
        dy = fa.sigmoid_backward(np.ones_like(x), y)
    ok = bool(np.allclose(y, 1 / (1 + np.exp(-x)), rtol=1e-14, atol=0)
              and np.allclose(dy, y * (1 - y), rtol=1e-14, atol=0))
    stats = {}
    for i, name in enumerate(["fwd_serial", "fwd_parallel", "bwd_serial", "bwd_parallel"]):
        d = _kernels.elementwise("sigmoid", np.float64)[i]
        stats[name] = {"hits": sum(d.stats.cache_hits.values()), "misses": sum(d.stats.cache_misses.values()),
                       "signatures": len(d.signatures)}
    print(json.dumps({"ok": ok, "stats": stats}))
""")


def _env(cache_dir):
    env = dict(os.environ)
    env["NUMBA_CACHE_DIR"] = str(cache_dir)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NUMBA_DISABLE_JIT", None)
    return env


def _start(script, cache_dir):
    return subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=_env(cache_dir),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc):
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, f"subprocess failed ({proc.returncode}):\n{err[-3000:]}"
    return json.loads(out.strip().splitlines()[-1])


def _run(script, cache_dir):
    return _finish(_start(script, cache_dir))


def _files(d):
    return sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs)


def test_import_compiles_nothing(tmp_path):
    res = _run(IMPORT_SCRIPT, tmp_path)
    assert res["dispatchers"] > 0, "no fastact dispatcher found: the check would be vacuous"
    assert res["compiled"] == [], f"import compiled {res['compiled']}"
    assert res["cache_files"] == [], f"import wrote to the cache: {res['cache_files']}"
    assert res["import_s"] < 2.0, f"import fastact took {res['import_s']:.2f} s (after numba)"


@pytest.mark.slow
def test_second_process_loads_kernels_from_the_cache(tmp_path):
    first = _run(KERNEL_SCRIPT, tmp_path)
    assert first["ok"]
    for name, s in first["stats"].items():
        assert s["signatures"] == 1, (name, s)
        assert s["misses"] >= 1 and s["hits"] == 0, f"cold cache, {name}: {s}"
    files = _files(tmp_path)
    assert files, "nothing was cached"
    stamps = {f: os.stat(tmp_path / f).st_mtime_ns for f in files}

    second = _run(KERNEL_SCRIPT, tmp_path)
    assert second["ok"]
    _assert_warm(second)
    assert _files(tmp_path) == files, "the second process wrote new cache files"
    assert {f: os.stat(tmp_path / f).st_mtime_ns for f in files} == stamps, "cache files were rewritten"


@pytest.mark.slow
def test_concurrent_processes_on_a_cold_cache(tmp_path):
    procs = [_start(KERNEL_SCRIPT, tmp_path) for _ in range(2)]
    results = [_finish(p) for p in procs]
    assert all(r["ok"] for r in results)
    # and the cache they left is usable
    third = _run(KERNEL_SCRIPT, tmp_path)
    assert third["ok"]
    _assert_warm(third)


def _assert_warm(res):
    """The parallel kernels that ran came from the cache; nothing compiled
    (the serial kernels, inlined in the cached parallel ones, need not load)."""
    for name, s in res["stats"].items():
        assert s["misses"] == 0, f"warm cache, {name} was compiled: {s}"
        if "parallel" in name:
            assert s["hits"] >= 1 and s["signatures"] == 1, f"warm cache, {name} not loaded from the cache: {s}"


WIDTH_SCRIPT = textwrap.dedent("""
    import json, re
    import numpy as np
    import fastact as fa
    from fastact import _jit, _kernels
    x = np.linspace(-5, 5, 4099, dtype=np.float32)
    serial, parallel = _kernels.elementwise("sigmoid", np.float32)[:2]
    out = np.empty_like(x)
    serial(x, out)
    parallel(x, out)
    ok = bool(np.array_equal(out, fa.sigmoid(x)))
    counts = {}
    for name, d in (("serial", serial), ("parallel", parallel)):
        asm = "\\n".join(d.inspect_asm().values())
        arith = r"^\\s*v(?:fn?m(?:add|sub)\\w*|mul|add|sub|div|max|min)ps\\s[^\\n]*%"
        counts[name] = {r: len(re.findall(arith + r + "mm", asm, re.M)) for r in "xyz"}
    print(json.dumps({"ok": ok, "width": _jit.VECTOR_WIDTH, "counts": counts}))
""")


def _host_features():
    import llvmlite.binding as llvm

    return llvm.get_host_cpu_features()


@pytest.mark.parametrize("setting", ["128", "256", "auto"])
def test_vector_width_reaches_the_kernels(tmp_path, monkeypatch, setting):
    """FASTACT_VECTOR_WIDTH sets the register width of the compiled loops,
    the serial kernel's and the one the parallel kernel runs per block: 128
    leaves no float32 arithmetic on ymm or zmm registers; 256 (on
    AVX2) uses ymm and no zmm; auto asks for zmm on AVX-512 only.  Counted:
    packed float32 arithmetic (a spill of a 32-byte struct to the stack
    uses a ymm move whatever the width)."""
    features = _host_features()
    if not features.get("avx"):
        pytest.skip("the check counts AVX (VEX-encoded) instructions, which this CPU lacks")
    monkeypatch.setenv("FASTACT_VECTOR_WIDTH", setting)
    res = _run(WIDTH_SCRIPT, tmp_path)
    assert res["ok"]
    wide = bool(features.get("avx512f"))
    assert res["width"] == {"128": 128, "256": 256, "auto": 512 if wide else None}[setting]
    for name, c in res["counts"].items():
        if setting == "128":
            assert c["x"] > 0 and c["y"] == 0 and c["z"] == 0, (name, c)
        elif setting == "256" and features.get("avx2"):
            assert c["y"] > 0 and c["z"] == 0, (name, c)
        elif setting == "auto" and wide:
            assert c["z"] > 0, (name, c)
        elif setting == "auto" and features.get("avx2"):
            assert c["y"] > 0 and c["z"] == 0, (name, c)


def test_vector_width_is_part_of_the_cache_key(tmp_path, monkeypatch):
    """A process with another FASTACT_VECTOR_WIDTH compiles its own kernels
    rather than loading those of the first from the same cache (code loaded
    from the cache cannot be inspected: its counts would be zero)."""
    features = _host_features()
    if not features.get("avx2"):
        pytest.skip("the check counts AVX2 (ymm) instructions, which this CPU lacks")
    monkeypatch.setenv("FASTACT_VECTOR_WIDTH", "128")
    assert _run(WIDTH_SCRIPT, tmp_path)["ok"]
    monkeypatch.setenv("FASTACT_VECTOR_WIDTH", "256")
    res = _run(WIDTH_SCRIPT, tmp_path)
    assert res["ok"] and res["width"] == 256
    assert res["counts"]["serial"]["y"] > 0, res["counts"]


def test_vector_width_setting_is_checked():
    from fastact._jit import vector_width_setting

    assert vector_width_setting("256") == 256
    assert vector_width_setting(" LLVM ") is None
    with pytest.raises(ValueError, match="FASTACT_VECTOR_WIDTH must be one of"):
        vector_width_setting("1024")


CALL_SCRIPT = textwrap.dedent("""
    import json, re
    import numpy as np
    from fastact import _fused, _kernels
    res = {}
    x = np.linspace(-5, 5, 1 << 16, dtype=np.float32)
    out = np.empty_like(x)
    serial, parallel = _kernels.elementwise("silu", np.float32)[2:]
    parallel(x, x, out)
    (glu_serial, _), _ = _fused.glu_kernels(np.float64)
    glu_serial(np.ones((4, 2, 64)), np.empty((4, 64)))
    row = glu_serial.py_func.__globals__["row"]
    for name, caller, callee in (("parallel", parallel, serial), ("glu", glu_serial, row)):
        ir = "\\n".join(caller.inspect_llvm().values())
        sym = re.escape(callee.py_func.__qualname__)
        res[name] = len(re.findall(r"call [^\\n]*@\\S*" + sym + r"\\S*\\(", ir))
    print(json.dumps(res))
""")


def test_kernels_called_out_of_line(tmp_path):
    """The parallel elementwise kernel calls the serial one, and glu's loop
    over rows calls its row loop, rather than compiling an inlined copy
    (_jit.not_inlined): inlined, silu's float32 backward and glu's float64
    forward ran 20-25 % slower.
    Counted: calls left in the compiled code (a fresh cache: code loaded
    from the cache cannot be inspected)."""
    res = _run(CALL_SCRIPT, tmp_path)
    assert res == {"parallel": 1, "glu": 1}, res


INPLACE_SCRIPT = textwrap.dedent("""
    import json, re
    import numpy as np
    from fastact import _kernels
    x0 = np.linspace(-3, 3, 4099, dtype=np.float32)
    res = {}
    for name, p in (("relu", None), ("leaky_relu", (np.float32(0.01),)), ("elu", (np.float32(1.0),)),
                    ("threshold", (np.float32(0.5), np.float32(-1.0)))):
        ip = _kernels.elementwise_inplace(name, np.float32, 0, 0)[0]
        new = _kernels.elementwise(name, np.float32)[0]
        x, out = x0.copy(), np.empty_like(x0)
        ip(*((x,) + ((p,) if p else ())))
        new(*((x0, out) + ((p,) if p else ())))
        asm = "\\n".join(ip.inspect_asm().values())
        # AT&T order: a masked store is vmaskmovps reg, mask, mem (AVX) or
        # a packed move to memory under a mask register {%k} (AVX-512)
        masked = re.findall(r"^\\s*vmaskmovp[sd]\\s+%[xyz]mm\\d+, %[xyz]mm\\d+, [^%\\n]*\\(", asm, re.M)
        masked += re.findall(r"^\\s*vmov\\w*p[sd]\\s+%[yz]mm\\d+, [^%\\n]*\\([^\\n]*\\{%k", asm, re.M)
        packed = re.findall(r"^\\s*vmov\\w*p[sd]\\s+%[yz]mm\\d+, [^%\\n]*\\(", asm, re.M)
        res[name] = {"same": bool(np.array_equal(x, out)), "masked": len(masked), "packed": len(packed)}
    print(json.dumps(res))
""")


def test_inplace_kernels_store_every_element(tmp_path):
    """Written over their input, relu and the others that return x on part
    of their range store every element with plain vector stores: LLVM
    otherwise stores only the elements that change, with masked stores that
    made in-place relu three to five times slower than out= on AMD Zen
    (see _jit.opaque_store_value)."""
    if not _host_features().get("avx2"):
        pytest.skip("the check reads AVX2 (ymm) or AVX-512 stores, which this CPU lacks")
    res = _run(INPLACE_SCRIPT, tmp_path)
    for name, r in res.items():
        assert r["same"], f"{name}: in place differs from a new array"
        assert r["packed"] > 0, f"{name}: the in-place loop was not vectorized: {r}"
        assert r["masked"] == 0, f"{name}: the in-place loop stores through a mask: {r}"

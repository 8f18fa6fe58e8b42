"""Check that the serial kernels compile to packed SIMD code with no libm calls.

    python tools/check_asm.py

For every kernel it prints the number of packed (ymm/zmm) instructions, the
number of scalar float/integer conversions (a vectorized loop has none: one
that AVX2 lacks, double <-> int64, is done element by element) and any call
to a named function in the compiled loop (a libm call such as expf would
block vectorization).  Exit status 1 if a kernel has no packed code.
"""
import os
import re
import sys
import tempfile

# compile afresh: code loaded from the on-disk cache cannot be inspected
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="fastact-asm-")

import numpy as np  # noqa: E402

from fastact import _kernels, _softmax  # noqa: E402
from fastact._registry import ACTIVATIONS, ELEMENTWISE  # noqa: E402

SIGS = {np.float32: "float32", np.float64: "float64"}


def report(name, dispatcher, args):
    if args is not None:
        dispatcher(*args)
    asm = "\n".join(dispatcher.inspect_asm().values())
    packed = len(re.findall(r"\b[vV]\w+\s+.*%[yz]mm", asm))
    scalar_cvt = len(re.findall(r"^\s*vcvtt?s[sd]2si|^\s*vcvtsi2s[sd]", asm, re.M))
    calls = sorted(set(re.findall(r"^\s*call\w*\s+([A-Za-z_][\w@.]*)", asm, re.M)) - {"NRT_MemInfo_call_dtor"})
    print(f"{name:40s} packed={packed:5d} scalar_cvt={scalar_cvt:3d} calls={calls}")
    return packed > 0


def main():
    ok = True
    for T in (np.float32, np.float64):
        x = np.linspace(-5, 5, 1000).astype(T)
        o = np.empty_like(x)
        # scalar definitions: the table's, every variant's, and product
        kernels = [(n, ACTIVATIONS[n]) for n in ELEMENTWISE]
        kernels += [(k, ACTIVATIONS[n]) for n in ELEMENTWISE for choices in ACTIVATIONS[n].variants.values()
                    for k in choices.values() if k != n]
        for name, entry in kernels + [("product", None)]:
            fs, _, bs, _ = _kernels.elementwise(name, T)
            floats = [v for p, v in entry.params.items() if p not in entry.variants] if entry else []
            extra = (tuple(T(v) for v in floats),) if floats else ()
            ok &= report(f"{name} forward {SIGS[T]}", fs, (x, o, *extra))
            ok &= report(f"{name} backward {SIGS[T]}", bs, (x, x, o, *extra))
        x2 = x.reshape(10, 100)
        o2 = o.reshape(10, 100)
        for name in _softmax.ROWS:
            s, _ = _softmax.rowwise(name, T)
            args = (x2, x2 > 0, o2) if name.endswith("masked") else (x2, o2) if "backward" not in name else (x2, x2, o2)
            s(*args)
            # the driver calls the row kernel; the row kernel has the loops
            ok &= report(f"{name} {SIGS[T]}", s.py_func.__globals__["row"], None)
            short = s.py_func.__globals__["short_rows"]
            if short is not _softmax._no_long_row:  # rows of 10 go to the short kernel
                s(*(a[:, :10].copy() for a in args))
                ok &= report(f"{name} short {SIGS[T]}", short, None)
                if "short_pass" in short.py_func.__code__.co_names:
                    ok &= report(f"{name} short_pass {SIGS[T]}", short.py_func.__globals__["short_pass"], None)
        s = _softmax.cross_entropy(T)[0][0]
        s(x2[:, :10].copy(), np.zeros(10, np.int64), np.empty(10))
        ok &= report(f"cross_entropy short {SIGS[T]}", s.py_func.__globals__["ce_short_rows"], None)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

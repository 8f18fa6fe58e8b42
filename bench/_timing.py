"""In-process timing of benchmark cases, for the threshold sweep and the
quick summary (the report proper runs pytest-benchmark)."""
import gc
import time
from contextlib import contextmanager

from . import _peers


@contextmanager
def gc_paused():
    """The garbage collector off for the block (as pytest-benchmark's
    --benchmark-disable-gc), and back on after it if it was on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def time_call(call, budget=0.02, repeat=5):
    """Seconds per call: the minimum over ``repeat`` batches, each batch about
    ``budget / repeat`` seconds, after a warm-up call (which compiles)."""
    with _peers.mode_context(call):
        if call.reset is not None:
            call.reset()
        call.fn()
        t0 = time.perf_counter()
        call.fn()
        once = max(time.perf_counter() - t0, 1e-7)
        number = max(1, int(budget / repeat / once)) if call.reset is None else 1
        best = float("inf")
        with gc_paused():
            for _ in range(max(repeat, 3)):
                if call.reset is not None:
                    call.reset()
                t0 = time.perf_counter()
                for _ in range(number):
                    call.fn()
                best = min(best, (time.perf_counter() - t0) / number)
    return best


def measure(cases, budget=0.02, copy_cases=(), progress=None):
    """Records (the cases' info plus 'time') for cases and copy cases."""
    records = []
    items = [(c, _peers.build) for c in cases] + [(c, _peers.build_copy) for c in copy_cases]
    for i, (case, build) in enumerate(items):
        try:
            call = build(case)
        except Exception as exc:  # e.g. PyTorch missing: pytest.skip raises
            if type(exc).__name__ == "Skipped":
                continue
            raise
        records.append(dict(case.info(), time=time_call(call, budget)))
        if progress:
            progress(i + 1, len(items))
    return records

"""Options and parametrization of the benchmarks (see bench/_cases.py).

    pytest bench                                   # smoke run: every benchmark once, few sizes
    pytest bench --benchmark-only --benchmark-enable --bench-full [--huge]
    pytest bench --benchmark-only --benchmark-enable --bench-functions relu,elu --bench-sizes 10-20:2
"""
import os

import pytest

from ._cases import Selection

OPTIONS = [
    ("--bench-full", dict(action="store_true", default=None,
                          help="sweep 2**4 .. 2**24 elements and every softmax shape "
                               "(default: a few sizes; env FASTACT_BENCH_FULL=1)")),
    ("--huge", dict(action="store_true", default=None,
                    help="add 2**27-element float32 benchmarks, far beyond the L3 cache "
                         "(env FASTACT_BENCH_HUGE=1)")),
    ("--bench-sizes", dict(default=None, help="log2 sizes: '4-24', '4-24:2' or '4,10,20'")),
    ("--bench-functions", dict(default=None, help="comma-separated activations (default: all)")),
    ("--bench-directions", dict(default=None, help="forward,backward (default: both)")),
    ("--bench-dtypes", dict(default=None, help="float32,float64 (default: both)")),
    ("--bench-impls", dict(default=None,
                           help="fastact,fastact-serial,fastact-parallel,numpy,numpy-ufunc,torch")),
    ("--bench-shapes", dict(default=None,
                            help="softmax shapes as RxC,RxC or 'none' (default: by --bench-full)")),
]


def pytest_addoption(parser):
    group = parser.getgroup("fastact benchmarks")
    for name, kwargs in OPTIONS:
        try:
            group.addoption(name, **kwargs)
        except ValueError:  # already registered by another conftest
            pass


def _flag(config, option, env):
    value = config.getoption(option, default=None)
    if value is None:
        value = os.environ.get(env, "").strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def selection(config):
    sel = getattr(config, "_fastact_bench_selection", None)
    if sel is None:
        opt = config.getoption
        sel = Selection.from_options(
            full=_flag(config, "--bench-full", "FASTACT_BENCH_FULL"),
            huge=_flag(config, "--huge", "FASTACT_BENCH_HUGE"),
            sizes=opt("--bench-sizes", default=None),
            functions=opt("--bench-functions", default=None),
            directions=opt("--bench-directions", default=None),
            dtypes=opt("--bench-dtypes", default=None),
            impls=opt("--bench-impls", default=None),
            shapes=opt("--bench-shapes", default=None),
        )
        config._fastact_bench_selection = sel
    return sel


def _load_average():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def pytest_sessionstart(session):
    session.config._fastact_load_before = _load_average()


def pytest_benchmark_update_machine_info(config, machine_info):
    """fastact.info(), PyTorch's version and threads and the load average
    (other work on the machine skews timings), for the report."""
    import fastact as fa

    from ._peers import load_torch

    machine_info["load_before"] = getattr(config, "_fastact_load_before", None)
    machine_info["load_after"] = _load_average()
    machine_info["fastact"] = fa.info()
    torch = load_torch()
    machine_info["torch"] = {"version": torch.__version__, "threads": torch.get_num_threads()} if torch else None


def _params(cases):
    return [pytest.param(c, id=c.id, marks=[pytest.mark.huge] if c.huge else []) for c in cases]


def pytest_generate_tests(metafunc):
    if "bench_case" in metafunc.fixturenames:
        metafunc.parametrize("bench_case", _params(selection(metafunc.config).cases()))
    if "copy_case" in metafunc.fixturenames:
        metafunc.parametrize("copy_case", _params(selection(metafunc.config).copy_cases()))

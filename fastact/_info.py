"""fastact.info(): what fastact runs on."""
import os
import platform


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def info():
    """A dict of versions, threads, threading layer and CPU (``fastact info``
    prints it)."""
    import llvmlite.binding as llvm
    import numba
    import numpy as np

    from . import __version__
    from ._jit import PARALLEL_THRESHOLD, ROWS_THRESHOLD, VECTOR_WIDTH, threading_layer

    return {
        "fastact": __version__,
        "numba": numba.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cpu": _cpu_name(),
        "llvm_cpu": llvm.get_host_cpu_name(),
        "cores": os.cpu_count(),
        "threads": numba.get_num_threads(),
        "max_threads": numba.config.NUMBA_NUM_THREADS,
        "threading_layer": threading_layer(),
        "vector_width": VECTOR_WIDTH or "llvm default",
        "parallel_threshold": PARALLEL_THRESHOLD,
        "softmax_parallel_threshold": ROWS_THRESHOLD,
        "cache_dir": numba.config.CACHE_DIR or "(next to the package, in __pycache__)",
    }

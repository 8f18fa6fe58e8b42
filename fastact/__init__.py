"""fastact: compiled activation functions for NumPy.

    import fastact as fa
    y = fa.relu(x)
    dx = fa.relu_backward(dy, y)

Every activation has a forward and a ``<name>_backward``, serial and parallel
Numba kernels chosen by array size, and a plain NumPy reference in
``fastact.reference``.  Kernels compile on first use and are cached on disk.
"""
from ._api import *  # noqa: F401,F403
from ._api import __all__ as _api_all
from ._fused import *  # noqa: F401,F403
from ._fused import __all__ as _fused_all
from ._info import info
from ._jit import config, threading_layer
from ._registry import ACTIVATIONS

__version__ = "0.1.0"

__all__ = _api_all + _fused_all + ["ACTIVATIONS", "config", "info", "threading_layer", "__version__"]

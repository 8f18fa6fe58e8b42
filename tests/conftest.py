"""pytest configuration of the test suite.

Hypothesis profiles: "fastact" (default: few examples, no deadline, since
kernels compile on first use), "thorough" (many more examples).  Pick one
with HYPOTHESIS_PROFILE=thorough.

The shared data generators and helpers are in tests/util.py.
"""
import os
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "fastact", max_examples=40, deadline=None, derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fastact"))


@pytest.fixture
def rng(request):
    """A Generator seeded from the test's id: reproducible per test."""
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)

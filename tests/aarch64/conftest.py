"""The aarch64 tests run under tests/aarch64/run.sh only: that script builds
the extension for aarch64 and runs them in emulation. Elsewhere (the x86
suite's `pytest tests`) they are not collected.

Under run.sh this conftest takes the place of tests/conftest.py (kept out by
--confcutdir): the same `backend` fixture and parametrization
(tests/backends.py, on the path), here over neon and scalar, and the int8
kernels (neondot where the emulated CPU has the dot product, neon, scalar)."""
import platform

import pytest
import torch

if platform.machine() not in ("aarch64", "arm64"):
    collect_ignore_glob = ["test_*.py"]
else:
    import backends
    from backends import backend  # noqa: F401  (the fixture)

    def pytest_configure(config):
        backends.configure(config)

    def pytest_generate_tests(metafunc):
        backends.parametrize(metafunc)
        if "int8_isa" in metafunc.fixturenames:  # tests/test_int8_ops.py, on every int8 kernel here
            import sqbert_kernels

            metafunc.parametrize("int8_isa", sqbert_kernels.cpu_isas("int8"))

    @pytest.fixture(autouse=True)
    def _seed():
        torch.manual_seed(0)

import os

# Triton kernels (a later issue) must see this before any kernel module loads.
os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

import sqbert_kernels  # noqa: E402
import backends  # noqa: E402
from backends import backend  # noqa: E402,F401  (the fixture: every backend of this suite)


def pytest_configure(config):
    backends.configure(config)


def pytest_generate_tests(metafunc):
    # Every test that takes `isa` runs once per CPU kernel this machine has
    # (selected for the test), `int8_isa` once per int8 kernel (named);
    # every test that takes `backend` once per backend (tests/backends.py).
    if "isa" in metafunc.fixturenames:
        metafunc.parametrize("isa", sqbert_kernels.cpu_isas(), indirect=True)
    if "int8_isa" in metafunc.fixturenames:
        metafunc.parametrize("int8_isa", sqbert_kernels.cpu_isas("int8"))
    backends.parametrize(metafunc)


@pytest.fixture
def isa(request):
    with backends.selected_cpu_isa(request.param):
        yield request.param


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)

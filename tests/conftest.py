import os

# Triton kernels (a later issue) must see this before any kernel module loads.
os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

import sqbert_kernels  # noqa: E402


def pytest_generate_tests(metafunc):
    # Every test that takes `isa` runs once per CPU kernel this machine has.
    if "isa" in metafunc.fixturenames:
        metafunc.parametrize("isa", sqbert_kernels.cpu_isas(), indirect=True)


@pytest.fixture
def isa(request):
    previous = sqbert_kernels.set_cpu_isa(request.param)
    yield request.param
    sqbert_kernels.set_cpu_isa(previous)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)

"""torch.ops.sqbert.* with the NEON kernels, on aarch64.

tests/aarch64/run.sh cross-compiles the extension (for ARMv8.0) and runs this
file with PyPI's aarch64 torch under qemu-user on an emulated Cortex-A76
(ARMv8.2: PyPI's torch itself needs ARMv8.1 atomics). Emulated compute is
about 100x slower than native, so the shapes are small: around the NEON tile
(mr = 8 output channels by nr = 8 positions) and the scalar one (4 by 4),
judged against conv1d in float64.

The tests are the x86 suite's own: tests/test_shared_ops.py, imported below,
run here once per backend of this suite (tests/backends.py: neon and
scalar; no Triton), and tests/test_int8_ops.py once per int8 kernel. Here
only what is aarch64's: the build and its kernels.
tests/ is on the path (the shared helpers and tests); the x86 suite's
conftest is not loaded (tests/aarch64/conftest.py takes its place).
"""
import platform

import pytest

import sqbert_kernels as sk
from test_int8_ops import *  # noqa: F401,F403  (the int8 ops' tests, here on the NEON int8 kernels)
from test_shared_ops import *  # noqa: F401,F403  (every backend's tests, here on neon and scalar)

TILES = {"neon": [8, 8], "scalar": [4, 4]}


def test_aarch64_build_dispatches_neon():
    assert platform.machine() == "aarch64"
    assert sk._C.__file__.endswith("_C.cpython-311-aarch64-linux-gnu.so"), sk._C.__file__
    assert sk.cpu_isas() == ["neon", "scalar"]
    assert sk.cpu_isa() == "neon"
    assert sk.cpu_gemm_tile() == TILES["neon"]
    # run.sh's default CPU (Cortex-A76) has the ARMv8.2 dot product.
    assert sk.cpu_isas("int8") == ["neondot", "neon", "scalar"]
    assert sk.cpu_isa("int8") == "neondot"


def test_set_cpu_isa_selects_the_kernel(backend):
    assert sk.cpu_isa() == backend.name
    assert sk.cpu_gemm_tile() == TILES[backend.name] == list(backend.tile)


def test_set_cpu_isa_refuses_x86_kernels():
    with pytest.raises(RuntimeError, match=r"expected one of the ISAs this build and CPU support \(neon, scalar\), "
                                           r"got 'avx2'"):
        sk.set_cpu_isa("avx2")
    assert sk.cpu_isa() == "neon"

"""The backends a test suite runs the ops on, and the ``backend`` fixture.

A test that takes ``backend`` runs once per backend of the suite it is in:

- every CPU kernel the build and CPU have (``sqbert_kernels.cpu_isas()``:
  avx2 and scalar on x86; neon and scalar under tests/aarch64/run.sh), the
  kernel selected with ``set_cpu_isa`` while the test runs;
- ``triton``: the Triton kernels, where triton is installed (the x86 suite:
  Triton's interpreter on CPU tensors, tests/conftest.py sets
  TRITON_INTERPRET=1; with ``TRITON_INTERPRET=0`` on a CUDA GPU, the compiled
  kernels behind the ops' CUDA dispatch). They have ``grouped_pw_conv``,
  ``fused_attention`` and ``fused_attention_varlen`` only.

The tests call the ops through the backend (``backend.grouped_pw_conv(...)``)
on CPU tensors and get CPU tensors back. Two marks narrow a test's backends:
``@pytest.mark.ops("grouped_pw_conv_packed", ...)`` to those with every op
named, ``@pytest.mark.cpu_only`` to the CPU kernels (sweeps the Triton tests
cover with their own sizes and dtypes, at the interpreter's cost).

Both suites' conftests (tests/conftest.py, tests/aarch64/conftest.py) import
the fixture and call :func:`configure` and :func:`parametrize`; the shared
tests are in test_shared_ops.py.
"""
import contextlib
import dataclasses
from typing import FrozenSet, List, Optional, Tuple

import pytest
import torch

import sqbert_kernels as sk

CPU_OPS = frozenset({"grouped_pw_conv", "pack_pw_weight", "grouped_pw_conv_packed", "grouped_pw_ffn_packed",
                     "fused_attention", "fused_attention_varlen", "add_layernorm", "autograd"})
# In the interpreter the tests call the Triton functions themselves (the ops
# dispatch CPU tensors to the C++ kernels): no autograd. On a GPU they call
# the ops, which dispatch CUDA tensors to the Triton kernels.
TRITON_OPS = frozenset({"grouped_pw_conv", "fused_attention", "fused_attention_varlen"})


@dataclasses.dataclass(frozen=True)
class Backend:
    name: str  # the CPU kernel's ISA, or "triton"
    device: str  # where the inputs go
    ops: FrozenSet[str]
    tile: Tuple[int, int]  # output channels x positions of its smallest tile (the remainders go around it)
    tol: float  # the float32 tolerance it needs at least (the Triton kernels sum in another order)

    def __str__(self):
        return self.name

    @property
    def is_cpu(self) -> bool:
        return self.name != "triton"

    def has(self, *ops: str) -> bool:
        return set(ops) <= self.ops

    def _device(self, t):
        return None if t is None else t.to(self.device)

    def _run(self, name, *args):
        assert self.has(name), f"{self.name} has no {name} (mark the test @pytest.mark.ops({name!r}))"
        args = [self._device(a) if isinstance(a, torch.Tensor) else a for a in args]
        if self.is_cpu or self.device != "cpu":
            out = getattr(torch.ops.sqbert, name)(*args)
        else:
            out = getattr(sk.triton_ops, name)(*args)
        assert out.device.type == torch.device(self.device).type and out.is_contiguous()
        return out.cpu()

    def grouped_pw_conv(self, x, weight, bias, groups, activation="none"):
        return self._run("grouped_pw_conv", x, weight, bias, groups, activation)

    def fused_attention(self, q, k, v, mask, num_heads):
        return self._run("fused_attention", q, k, v, mask, num_heads)

    def fused_attention_varlen(self, q, k, v, seq_offsets, num_heads):
        return self._run("fused_attention_varlen", q, k, v, seq_offsets, num_heads)

    def add_layernorm(self, x, residual, weight, bias, eps):
        return self._run("add_layernorm", x, residual, weight, bias, eps)

    def pack_pw_weight(self, weight, bias, groups):
        assert self.has("pack_pw_weight")
        return sk.pack_pw_weight(weight, bias, groups, self.name)

    def grouped_pw_conv_packed(self, x, packed_weight, out_channels, activation="none"):
        return self._run("grouped_pw_conv_packed", x, packed_weight, out_channels, activation)

    def grouped_pw_ffn_packed(self, x, packed_w1, packed_w2, hidden_channels, out_channels, activation="none"):
        return self._run("grouped_pw_ffn_packed", x, packed_w1, packed_w2, hidden_channels, out_channels,
                         activation)

    def assert_close(self, y, ref, rtol=1e-5, atol=1e-5):
        """y (float32, from this backend) against a float64 reference, at the
        tolerances given or the backend's, whichever is wider."""
        assert y.dtype == torch.float32 and y.shape == ref.shape and y.is_contiguous()
        torch.testing.assert_close(y.double(), ref, rtol=max(rtol, self.tol), atol=max(atol, self.tol))


def _triton_backend() -> Optional[Backend]:
    T = getattr(sk, "triton_ops", None)  # None: triton is not installed
    if T is None:
        return None
    if T.INTERPRET:
        return Backend("triton", "cpu", TRITON_OPS, (16, 16), 2e-5)
    if torch.cuda.is_available():
        tol = 1e-2 if torch.backends.cuda.matmul.allow_tf32 else 1e-4
        return Backend("triton", "cuda", TRITON_OPS | {"autograd"}, (16, 16), tol)
    return None


def suite_backends() -> List[Backend]:
    """The backends of this suite: the CPU kernels, fastest first, then the
    Triton kernels where they run."""
    backends = [Backend(isa, "cpu", CPU_OPS, tuple(sk.cpu_gemm_tile(isa)), 1e-5) for isa in sk.cpu_isas()]
    triton = _triton_backend()
    return backends + ([triton] if triton is not None else [])


@contextlib.contextmanager
def selected_cpu_isa(isa: str):
    """The CPU kernel of isa selected, the previous one again after."""
    previous = sk.set_cpu_isa(isa)
    try:
        yield isa
    finally:
        sk.set_cpu_isa(previous)


@pytest.fixture
def backend(request):
    """The backend the test runs on (parametrized by :func:`parametrize`)."""
    b = request.param
    if b.is_cpu:
        with selected_cpu_isa(b.name):
            yield b
    else:
        yield b


def configure(config):
    """For pytest_configure: the marks that narrow a test's backends."""
    config.addinivalue_line("markers", "ops(*names): runs on the backends that have every op named")
    config.addinivalue_line("markers", "cpu_only: runs on the CPU kernels only, not the Triton ones")


def parametrize(metafunc):
    """For pytest_generate_tests: a test that takes ``backend`` runs on each
    backend of the suite its marks allow."""
    if "backend" not in metafunc.fixturenames:
        return
    ops = [name for mark in metafunc.definition.iter_markers("ops") for name in mark.args]
    cpu_only = metafunc.definition.get_closest_marker("cpu_only") is not None
    chosen = [b for b in suite_backends() if b.has(*ops) and (b.is_cpu or not cpu_only)]
    metafunc.parametrize("backend", chosen, indirect=True, ids=str)

"""What the Triton kernels' launches share: whether they run in Triton's
interpreter, block sizes, the GPU's limits, the dot precision, and retries
with smaller configurations where a GPU lacks the resources."""
import contextlib
import functools
from typing import Tuple

import torch
import triton
from torch import Tensor

#: Whether the kernels were defined under ``TRITON_INTERPRET`` (Triton
#: decides when ``@triton.jit`` runs, i.e. when this package is imported).
INTERPRET: bool = bool(triton.knobs.runtime.interpret)


def _pow2(n: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, triton.next_power_of_2(max(1, n))))


@functools.lru_cache(maxsize=None)
def _device_limits(device: torch.device) -> Tuple[int, int]:
    """(multiprocessor count, shared memory per block in bytes) of a GPU."""
    props = torch.cuda.get_device_properties(device)
    smem = getattr(props, "shared_memory_per_block_optin", 0) or 99 * 1024
    return props.multi_processor_count, smem


def _dot_precision(dtype: torch.dtype) -> str:
    if dtype != torch.float32:
        return "ieee"  # ignored for half-precision operands
    return "tf32" if torch.backends.cuda.matmul.allow_tf32 else "ieee"


def _run_with_fallback(launch, cfg: dict, blocks: Tuple[str, ...]) -> None:
    """Launches ``launch(**cfg)``; if the GPU lacks the shared memory or
    registers for it, retries with fewer pipeline stages, then halves the
    given blocks (largest first, not below 16)."""
    cfg = dict(cfg)
    while True:
        try:
            return launch(**cfg)
        except triton.runtime.errors.OutOfResources:
            if cfg["num_stages"] > 1:
                cfg["num_stages"] -= 1
                continue
            name = max(blocks, key=lambda b: cfg[b])
            if cfg[name] <= 16:
                raise
            cfg[name] //= 2


def _device_guard(t: Tensor):
    return torch.cuda.device(t.device) if t.is_cuda else contextlib.nullcontext()

"""Triton kernels for ``sqbert::grouped_pw_conv`` and ``sqbert::fused_attention``.

The GPU implementation of the two ops, with the semantics of the C++ CPU
kernels: the same arguments, NCW activations ``[batch, channels, length]``
(any strides; positions contiguous is the fast case) and the same mask rules.

* :func:`grouped_pw_conv` (:mod:`.conv`) -- the grouped 1x1 convolution,
  optionally through the exact GELU;
* :func:`fused_attention` (:mod:`.attention`) -- FlashAttention-style
  attention on NCW q, k, v, the context written back in NCW;
* :func:`fused_attention_varlen` (:mod:`.attention`) -- the same over
  variable-length sequences packed one after another (``seq_offsets``).

float32, float16 and bfloat16 inputs; dots accumulate in float32 and outputs
have the input dtype. float32 dots use TF32 tensor cores when PyTorch allows
TF32 for float32 matmuls (``torch.backends.cuda.matmul.allow_tf32``, or
``torch.set_float32_matmul_precision("high")``) and full float32 otherwise,
as PyTorch's own matmuls do.

Importing this package registers the Triton kernels as the CUDA kernels of
``torch.ops.sqbert.grouped_pw_conv``, ``torch.ops.sqbert.fused_attention`` and
``torch.ops.sqbert.fused_attention_varlen``
(:func:`register_cuda_kernels`), so a model whose tensors live on a GPU uses
them with no code change; the fake (meta) and autograd registrations of
``sqbert_kernels.ops`` are shared with the CPU kernels. The CPU kernels stay
the C++ ones. ``torch.ops.sqbert.add_layernorm`` gets a CUDA kernel made of
stock PyTorch ops (no Triton kernel yet); the packed-weight ops
(``pack_pw_weight``, ``grouped_pw_conv_packed``) stay CPU-only.

On a machine without a GPU, set ``TRITON_INTERPRET=1`` before this package is
imported (Triton reads it when the kernels are defined): the functions here
then run the same kernels on CPU tensors in Triton's interpreter (slowly;
for tests). ``TRITON_INTERPRET=0`` or unset means real GPU execution, which
needs CUDA tensors.
"""
from typing import Optional

import torch
from torch import Tensor

from .. import ops as _ops  # the op schemas, fake and autograd registrations
# The launchers take the block sizes as arguments: tests run them with their own.
from .attention import (  # noqa: F401
    MAX_HEAD_DIM,
    _launch_fused_attention,
    _launch_fused_attention_varlen,
    fused_attention,
    fused_attention_varlen,
)
from .conv import _launch_grouped_pw_conv, grouped_pw_conv  # noqa: F401
from .launch import INTERPRET

__all__ = [
    "INTERPRET",
    "MAX_HEAD_DIM",
    "fused_attention",
    "fused_attention_varlen",
    "grouped_pw_conv",
    "register_cuda_kernels",
]

_registered = False


def _add_layernorm_cuda(x: Tensor, residual: Optional[Tensor], weight: Tensor, bias: Tensor,
                        eps: float) -> Tensor:
    # No Triton kernel yet: stock PyTorch ops, contiguous like the fake kernel.
    return _ops.add_layernorm_reference(x, residual, weight, bias, eps).contiguous()


def register_cuda_kernels() -> None:
    """Registers :func:`grouped_pw_conv`, :func:`fused_attention` and
    :func:`fused_attention_varlen` as the CUDA kernels of
    ``torch.ops.sqbert.grouped_pw_conv``, ``torch.ops.sqbert.fused_attention``
    and ``torch.ops.sqbert.fused_attention_varlen`` (and, until it has a Triton kernel,
    the stock-PyTorch composition as the CUDA kernel of
    ``torch.ops.sqbert.add_layernorm``, so that a whole layer runs on a GPU).
    Called when this package is imported; calling it again does nothing. The
    CPU kernels stay the C++ ones, and the packed-weight ops stay CPU-only.
    """
    global _registered
    if _registered:
        return
    torch.library.register_kernel("sqbert::grouped_pw_conv", "cuda", grouped_pw_conv)
    torch.library.register_kernel("sqbert::fused_attention", "cuda", fused_attention)
    torch.library.register_kernel("sqbert::fused_attention_varlen", "cuda", fused_attention_varlen)
    torch.library.register_kernel("sqbert::add_layernorm", "cuda", _add_layernorm_cuda)
    _registered = True


register_cuda_kernels()

"""SqueezeBERT kernels: grouped pointwise convolution ops for PyTorch.

Importing this package loads the compiled extension, which registers
``torch.ops.sqbert.*``, and the Python-side fake, autograd and FLOP
registrations of those ops.
"""
import torch  # noqa: F401  (loads libtorch, which the extension links against)

from . import _C  # noqa: F401  (registers the ops' schemas and CPU kernels)
from . import model, ops

try:
    from . import triton_ops  # noqa: F401  (Triton kernels as the ops' CUDA kernels)
except ImportError:  # triton not installed
    triton_ops = None
from .model import (
    SqueezeBertConfig,
    SqueezeBertForMaskedLM,
    SqueezeBertForQuestionAnswering,
    SqueezeBertForSequenceClassification,
    SqueezeBertForTokenClassification,
    SqueezeBertModel,
    optimize,
    repack,
)
from .ops import (
    add_layernorm,
    add_layernorm_reference,
    attention_reference,
    fused_attention,
    cpu_gemm_tile,
    cpu_isa,
    cpu_isas,
    grouped_pw_conv,
    grouped_pw_conv_packed,
    grouped_pw_ffn_packed,
    pack_pw_weight,
    set_cpu_isa,
)

__all__ = [
    "SqueezeBertConfig",
    "SqueezeBertForMaskedLM",
    "SqueezeBertForQuestionAnswering",
    "SqueezeBertForSequenceClassification",
    "SqueezeBertForTokenClassification",
    "SqueezeBertModel",
    "model",
    "optimize",
    "repack",
    "add_layernorm",
    "add_layernorm_reference",
    "attention_reference",
    "fused_attention",
    "cpu_gemm_tile",
    "cpu_isa",
    "cpu_isas",
    "grouped_pw_conv",
    "grouped_pw_conv_packed",
    "grouped_pw_ffn_packed",
    "ops",
    "pack_pw_weight",
    "set_cpu_isa",
]

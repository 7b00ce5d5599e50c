"""SqueezeBERT kernels: PyTorch ops for SqueezeBERT, and a drop-in SqueezeBERT on them.

Importing this package loads the compiled extension, which registers
``torch.ops.sqbert.*`` (grouped 1x1 convolutions, on packed weights too,
and the feed-forward block; the fused attention; residual + LayerNorm over
channels) with their CPU kernels, and the Python-side fake, autograd and
FLOP registrations of those ops (:mod:`.ops`); where Triton is installed,
their CUDA kernels too (:mod:`.triton_ops`). :mod:`.model` is the drop-in
SqueezeBERT (Hugging Face's modules and state-dict keys), and ``sqbert-bench``
(:mod:`.bench`) times both against stock PyTorch and Hugging Face.
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

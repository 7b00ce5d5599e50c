"""SqueezeBERT kernels: PyTorch ops for SqueezeBERT, and a drop-in SqueezeBERT on them.

Importing this package loads the compiled extension, which registers
``torch.ops.sqbert.*`` (grouped 1x1 convolutions, on packed weights too,
and the feed-forward block; the fused attention, also over variable-length
sequences; residual + LayerNorm over
channels) with their CPU kernels, and the Python-side fake, autograd and
FLOP registrations of those ops (:mod:`.ops`); where Triton is installed,
their CUDA kernels too (:mod:`.triton_ops`). :mod:`.model` is the drop-in
SqueezeBERT (Hugging Face's modules and state-dict keys), and ``sqbert-bench``
(:mod:`.bench`) times both against stock PyTorch and Hugging Face.
"""
from importlib import metadata as _metadata

try:  # setup.py's version is the one source: the installed package's metadata
    __version__ = _metadata.version("sqbert-kernels")
except _metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

import torch  # noqa: F401  (loads libtorch, which the extension links against)

try:
    from . import _C  # noqa: F401  (registers the ops' schemas and CPU kernels)
except ImportError as e:
    import glob as _glob
    import os as _os

    _here = _os.path.dirname(_os.path.abspath(__file__))
    if _glob.glob(_os.path.join(_here, "_C.*")):  # built, but failed to load
        raise
    # Python's "cannot import name '_C' from partially initialized module
    # (most likely due to a circular import)" hides what happened.
    raise ImportError(
        f"sqbert_kernels was imported from {_here}, which has no built extension "
        "(_C.*.so): the sqbert_kernels folder of a source tree shadows the installed "
        "package when Python runs from the tree's root (the current folder comes first "
        "on sys.path). Build in place with `pip install --no-build-isolation -e .`, or "
        "run from another folder."
    ) from e
from . import model, ops

try:
    from . import triton_ops  # noqa: F401  (Triton kernels as the ops' CUDA kernels)
except ImportError:  # triton not installed
    triton_ops = None
from .model import (
    SqueezeBertConfig,
    SqueezeBertForMaskedLM,
    SqueezeBertForMultipleChoice,
    SqueezeBertForQuestionAnswering,
    SqueezeBertForSequenceClassification,
    SqueezeBertForTokenClassification,
    SqueezeBertModel,
    optimize,
    quantize,
    repack,
)
from .ops import (
    add_layernorm,
    add_layernorm_reference,
    attention_reference,
    fused_attention,
    fused_attention_varlen,
    cpu_gemm_tile,
    cpu_isa,
    cpu_isas,
    cpu_threading,
    grouped_pw_conv,
    grouped_pw_conv_packed,
    grouped_pw_conv_q8,
    grouped_pw_conv_q8_reference,
    grouped_pw_convs_packed,
    grouped_pw_convs_q8,
    grouped_pw_ffn_packed,
    grouped_pw_ffn_q8,
    pack_pw_weight,
    pool_scope,
    quantize_pw_weight,
    set_cpu_isa,
    set_cpu_threading,
)

__all__ = [
    "__version__",
    "SqueezeBertConfig",
    "SqueezeBertForMaskedLM",
    "SqueezeBertForMultipleChoice",
    "SqueezeBertForQuestionAnswering",
    "SqueezeBertForSequenceClassification",
    "SqueezeBertForTokenClassification",
    "SqueezeBertModel",
    "model",
    "optimize",
    "quantize",
    "repack",
    "add_layernorm",
    "add_layernorm_reference",
    "attention_reference",
    "fused_attention",
    "fused_attention_varlen",
    "cpu_gemm_tile",
    "cpu_isa",
    "cpu_isas",
    "cpu_threading",
    "grouped_pw_conv",
    "grouped_pw_conv_packed",
    "grouped_pw_conv_q8",
    "grouped_pw_conv_q8_reference",
    "grouped_pw_ffn_packed",
    "grouped_pw_ffn_q8",
    "grouped_pw_convs_packed",
    "grouped_pw_convs_q8",
    "ops",
    "pack_pw_weight",
    "pool_scope",
    "quantize_pw_weight",
    "set_cpu_isa",
    "set_cpu_threading",
]

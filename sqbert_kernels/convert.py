"""Conversion of a ``transformers`` SqueezeBERT model, in place, to run its
encoder layers on ``torch.ops.sqbert``, and of a float model to int8."""
from typing import Optional

import torch.nn.functional as F
from torch import nn

from . import ops
from .conv import SqueezeBertConv1d
from .encoder import (ConvActivation, ConvDropoutLayerNorm, SqueezeBertLayerNorm, SqueezeBertModule,
                      SqueezeBertSelfAttention)


def optimize(model: nn.Module) -> nn.Module:
    """Converts a ``transformers`` SqueezeBERT model (any head) in place to run
    its encoder layers on ``torch.ops.sqbert`` and returns it.

    Each Hugging Face encoder layer, and its attention, convolution and
    LayerNorm blocks, gets this package's class of the same name in place:
    the attributes and forward signatures are the same, so parameters, state
    dict keys and the rest of the transformers model stay as they were."""
    swapped = 0
    for layer in model.modules():
        if type(layer).__name__ != "SqueezeBertModule" or not type(layer).__module__.startswith("transformers."):
            continue
        layer.intermediate.act_name = _hf_activation_name(layer.intermediate.act)
        layer.__class__ = SqueezeBertModule
        layer.attention.__class__ = SqueezeBertSelfAttention
        layer.intermediate.__class__ = ConvActivation
        for block in (layer.post_attention, layer.output):
            block.__class__ = ConvDropoutLayerNorm
            block.layernorm.__class__ = SqueezeBertLayerNorm
        for conv in (layer.attention.query, layer.attention.key, layer.attention.value, layer.post_attention.conv1d,
                     layer.intermediate.conv1d, layer.output.conv1d):
            conv.__class__ = SqueezeBertConv1d
        swapped += 1
    if swapped == 0:
        raise ValueError(f"optimize: expected a transformers SqueezeBERT model, found no SqueezeBertModule "
                         f"in {type(model).__name__}")
    return model


def quantize(model: nn.Module, isa: Optional[str] = None) -> nn.Module:
    """Makes every convolution of ``model``'s encoder (query, key, value,
    post-attention, feed-forward) run in int8 at CPU inference, in place,
    and returns the model: weights quantized per output channel, activations
    per position and group as each op runs (README, "int8"), so no
    calibration data is needed. Embeddings, LayerNorm, attention and the
    heads stay float32, as do training and GPUs, which run the float weights
    (kept as they are: the int8 ones are packed from them, and again when
    they change). ``model`` is this package's SqueezeBERT, any head, or
    Hugging Face's, which is converted first (:func:`optimize`). ``isa``
    names the int8 kernels (one of ``cpu_isas("int8")``; default
    ``cpu_isa("int8")``, the fastest beside the selected float kernels)."""
    isa = isa or ops.cpu_isa("int8")
    if isa not in ops.cpu_isas("int8"):
        raise ValueError(f"quantize: expected one of the int8 kernels this build and CPU have "
                         f"({', '.join(ops.cpu_isas('int8'))}), got {isa!r}")
    if any(type(m).__name__ == "SqueezeBertModule" and type(m).__module__.startswith("transformers.")
           for m in model.modules()):
        optimize(model)
    convs = [m for m in model.modules() if isinstance(m, SqueezeBertConv1d)]
    if not convs:
        raise ValueError(f"quantize: expected a SqueezeBERT model, found no encoder convolution "
                         f"in {type(model).__name__}")
    for conv in convs:
        conv.int8 = isa
    return model


def _hf_activation_name(act):
    """"gelu" for the exact GELU, which then runs in the convolution's
    epilogue; None for any other activation transformers maps (ACT2FN): the
    converted layer keeps transformers' module and calls it."""
    if type(act).__name__ == "GELUActivation" and getattr(act, "act", None) in (F.gelu, None):
        return "gelu"
    if not callable(act):
        raise ValueError(f"optimize: unsupported activation {type(act).__name__}")
    return None

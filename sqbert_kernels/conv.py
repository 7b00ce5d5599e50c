"""SqueezeBERT's 1x1 convolution module, and the cache of its packed weights.

:class:`SqueezeBertConv1d` is an ``nn.Conv1d`` whose forward calls
``torch.ops.sqbert``; at inference on the CPU it runs on weights packed for
the selected kernel, packed again whenever they change. :func:`_runs_packed`
and :func:`_plain` decide, for the encoder layer too, when packed weights
and fused kernels apply.
"""
import weakref
from typing import Optional

import torch
from torch import Tensor, nn
from torch.nn.modules.module import _global_forward_hooks, _global_forward_pre_hooks

from . import ops


def _runs_packed(x: Tensor, *params: Optional[Tensor]) -> bool:
    """Whether a convolution with weights ``params`` runs on x with packed
    weights: at inference on the CPU (packed weights are a CPU kernel's
    layout; GPUs run the Triton kernel), not when gradients are wanted or
    under torch.compile (the weights are then read in place,
    differentiably)."""
    if not x.is_cpu or torch.compiler.is_compiling():
        return False
    if not torch.is_grad_enabled():
        return True
    return not (x.requires_grad or any(p is not None and p.requires_grad for p in params))


def _plain(*modules: nn.Module) -> bool:
    """Whether calling the modules runs nothing but their forward (no
    forward hooks or pre-hooks, theirs or global), so that fusing them into
    one kernel call skips nothing a user attached."""
    if _global_forward_hooks or _global_forward_pre_hooks:
        return False
    return not any(m._forward_hooks or m._forward_pre_hooks for m in modules)


def _runs_int8(conv: nn.Conv1d, x: Tensor, w: Tensor, b: Optional[Tensor]) -> bool:
    """Whether a convolution that :func:`~sqbert_kernels.quantize` marked runs
    in int8: at inference on the CPU (training and GPUs run float32)."""
    if conv.int8 is None or not x.is_cpu:
        return False
    if not torch.is_grad_enabled():
        return True
    return not (x.requires_grad or w.requires_grad or (b is not None and b.requires_grad))


class SqueezeBertConv1d(nn.Conv1d):
    """The 1x1 ``nn.Conv1d`` of SqueezeBERT on this package's ops. ``forward``
    reads ``self.weight`` and ``self.bias`` as ``nn.Conv1d`` does, so hooks,
    parametrizations, pruning and weight norm apply as they do there; at
    inference on the CPU the weights run packed (packed again whenever they
    change). ``activation="gelu"`` fuses the exact GELU into the epilogue.
    ``int8`` names the int8 kernels it runs at CPU inference, once
    :func:`~sqbert_kernels.quantize` has set it (None: float32)."""

    int8: Optional[str] = None

    def forward(self, x: Tensor, activation: str = "none") -> Tensor:
        w, b = self.weight, self.bias
        if _runs_int8(self, x, w, b):
            # Under torch.compile the weights are quantized in the graph: the
            # cache below is Python state a graph cannot hold.
            packed = (ops.quantize_pw_weight(w, b, self.groups, self.int8) if torch.compiler.is_compiling()
                      else _packed_weight(self, w, b, int8=True))
            return ops.grouped_pw_conv_q8(x, packed, self.out_channels, activation)
        if _runs_packed(x, w, b):
            return ops.grouped_pw_conv_packed(x, _packed_weight(self, w, b), self.out_channels, activation)
        return ops.grouped_pw_conv(x, w, b, self.groups, activation)


def _packed_weight(conv: nn.Conv1d, w: Tensor, b: Optional[Tensor], isa: Optional[str] = None,
                   int8: bool = False) -> Tensor:
    """conv's weights w and b packed for the CPU kernel ``isa`` (default:
    the selected one; ops that take two packings read it once), or with
    ``int8`` quantized for conv's int8 kernels, packed again whenever they
    changed since: another tensor (a new Parameter, a parametrization's or
    weight norm's output), an in-place update (optimizer step,
    load_state_dict, ``mul_`` under no_grad: the version counter), new
    storage (``.data =``) or another kernel selected. The cache holds weak
    references: a new tensor at a freed tensor's address is not mistaken
    for it. In-place writes through ``.data``, and to weights created under
    ``torch.inference_mode()`` (inference tensors have no version counter),
    go unseen: call :func:`repack` after those."""
    key = ("int8", conv.int8) if int8 else isa or ops.cpu_isa()
    cached = conv.__dict__.get("_sqbert_packed")
    if cached is None or not cached.holds(w, b, key):
        with torch.no_grad():
            packed = (ops.quantize_pw_weight(w, b, conv.groups, conv.int8) if int8
                      else ops.pack_pw_weight(w, b, conv.groups, key))
        cached = _PackedCache(w, b, key, packed)
        conv.__dict__["_sqbert_packed"] = cached
    return cached.packed


class _PackedCache:
    __slots__ = ("w", "b", "key", "packed")

    def __init__(self, w: Tensor, b: Optional[Tensor], isa, packed: Tensor):
        self.w = weakref.ref(w)
        self.b = None if b is None else weakref.ref(b)
        self.key = _version_key(w, b, isa)
        self.packed = packed

    def holds(self, w: Tensor, b: Optional[Tensor], isa) -> bool:
        return (self.w() is w and (b is None if self.b is None else self.b() is b)
                and self.key == _version_key(w, b, isa))


def _version_key(w: Tensor, b: Optional[Tensor], isa):
    return _tensor_key(w), None if b is None else _tensor_key(b), isa


def _tensor_key(t: Tensor):
    # An inference tensor has no version counter (reading it raises).
    return None if t.is_inference() else t._version, t.data_ptr()


def repack(model: nn.Module) -> nn.Module:
    """Drops the packed weights of every convolution in ``model``, so the next
    inference packs them anew (needed only after writes through ``.data`` or
    to weights created under ``torch.inference_mode()``)."""
    for module in model.modules():
        module.__dict__.pop("_sqbert_packed", None)
    return model

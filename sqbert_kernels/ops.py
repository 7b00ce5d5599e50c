"""Python side of the ``torch.ops.sqbert`` ops: thin wrappers, fake (meta)
implementations for ``torch.compile`` and ``torch.export``, autograd, and
FLOP formulas for ``torch.utils.flop_counter.FlopCounterMode``."""
import contextlib
from typing import Callable, Iterator, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.flop_counter import register_flop_formula

from . import _C  # noqa: F401  (registers the ops)

# The header at the start of every row of a packed weight tensor
# (csrc/operators/packed_weights.h).
PACKED_HEADER_BYTES = 64


def grouped_pw_conv(x: Tensor, weight: Tensor, bias: Optional[Tensor], groups: int,
                    activation: str = "none") -> Tensor:
    """``conv1d(x, weight, bias, groups=groups)`` for kernel size 1.

    x: ``[B, Cin, L]``; weight: ``[Cout, Cin/groups, 1]`` or ``[Cout, Cin/groups]``;
    bias: ``[Cout]`` or None. Returns a contiguous ``[B, Cout, L]``. float32.
    ``activation="gelu"`` applies the exact GELU in the kernel's epilogue.
    """
    return torch.ops.sqbert.grouped_pw_conv(x, weight, bias, groups, activation)


def pack_pw_weight(weight: Tensor, bias: Optional[Tensor], groups: int, isa: Optional[str] = None) -> Tensor:
    """Packs weight and bias once for :func:`grouped_pw_conv_packed`.

    Returns uint8 ``[groups, bytes per group]``: each row a header (format
    version, data type, kernel, tile, sizes, checksum) and that group's
    weights laid out for the CPU kernel of ``isa`` (default: the selected
    one, :func:`cpu_isa`). The packed ops run it on that kernel whatever
    :func:`set_cpu_isa` selects later, and refuse a tensor whose header does
    not match its bytes, or that names a kernel this machine lacks.
    """
    return torch.ops.sqbert.pack_pw_weight(weight, bias, groups, isa)


def grouped_pw_conv_packed(x: Tensor, packed_weight: Tensor, out_channels: int,
                           activation: str = "none") -> Tensor:
    """:func:`grouped_pw_conv` with prepacked weights, for inference: with grad
    mode on, an ``x`` that requires grad is a RuntimeError (train with
    :func:`grouped_pw_conv`, which is differentiable)."""
    return torch.ops.sqbert.grouped_pw_conv_packed(x, packed_weight, out_channels, activation)


def grouped_pw_ffn_packed(x: Tensor, packed_w1: Tensor, packed_w2: Tensor, hidden_channels: int,
                          out_channels: int, activation: str = "none") -> Tensor:
    """Two packed grouped 1x1 convolutions with the same groups, the second on
    the first's output through ``activation`` ("none" or "gelu"): a
    transformer's feed-forward block,
    ``grouped_pw_conv_packed(act(grouped_pw_conv_packed(x, packed_w1, hidden_channels)), packed_w2, out_channels)``,
    run one block of positions at a time so the hidden activations stay in
    cache. Weights from :func:`pack_pw_weight`; inference only: with grad mode
    on, an ``x`` that requires grad is a RuntimeError (train with two
    :func:`grouped_pw_conv` calls, which are differentiable).
    """
    return torch.ops.sqbert.grouped_pw_ffn_packed(x, packed_w1, packed_w2, hidden_channels, out_channels,
                                                  activation)


def grouped_pw_convs_packed(x: Tensor, packed_weights: List[Tensor], out_channels: int) -> List[Tensor]:
    """``[grouped_pw_conv_packed(x, p, out_channels) for p in packed_weights]``
    (one to three, packed alike: one kernel, groups and channel counts) in
    one call, each block of ``x`` copied once for all of them: attention's
    query, key and value. Inference only, as :func:`grouped_pw_conv_packed`."""
    return torch.ops.sqbert.grouped_pw_convs_packed(x, packed_weights, out_channels)


def quantize_pw_weight(weight: Tensor, bias: Optional[Tensor], groups: int, isa: Optional[str] = None) -> Tensor:
    """Quantizes weight to int8 (symmetric, one scale per output channel) and
    packs it with its scales, row sums and bias for :func:`grouped_pw_conv_q8`.

    Returns uint8 ``[groups, bytes per group]`` in the packed format of
    :func:`pack_pw_weight`, its header naming the int8 data type and the int8
    kernel ``isa`` (one of ``cpu_isas("int8")``; default: ``cpu_isa("int8")``,
    the fastest beside the selected float kernels). The weights must be finite.
    """
    return torch.ops.sqbert.quantize_pw_weight(weight, bias, groups, isa)


def grouped_pw_conv_q8(x: Tensor, packed_weight: Tensor, out_channels: int, activation: str = "none") -> Tensor:
    """:func:`grouped_pw_conv` in int8, on weights from :func:`quantize_pw_weight`:
    float32 ``x`` in, float32 out. The activations are quantized inside the op,
    one scale and zero point per position and group (README, "int8");
    :func:`grouped_pw_conv_q8_reference` is the scheme in stock PyTorch.
    Inference only: with grad mode on, an input that requires grad is a
    RuntimeError."""
    return torch.ops.sqbert.grouped_pw_conv_q8(x, packed_weight, out_channels, activation)


def grouped_pw_convs_q8(x: Tensor, packed_weights: List[Tensor], out_channels: int) -> List[Tensor]:
    """:func:`grouped_pw_convs_packed` in int8, on weights from
    :func:`quantize_pw_weight`: each block of ``x`` quantized once for all of
    them, the same bits as :func:`grouped_pw_conv_q8` on each."""
    return torch.ops.sqbert.grouped_pw_convs_q8(x, packed_weights, out_channels)


def grouped_pw_ffn_q8(x: Tensor, packed_w1: Tensor, packed_w2: Tensor, hidden_channels: int,
                      out_channels: int, activation: str = "none") -> Tensor:
    """:func:`grouped_pw_ffn_packed` in int8: ``grouped_pw_conv_q8(act(grouped_pw_conv_q8(x, packed_w1,
    hidden_channels)), packed_w2, out_channels)`` one block of positions at a time, the hidden activations
    quantized again in cache. Weights from :func:`quantize_pw_weight`; inference only."""
    return torch.ops.sqbert.grouped_pw_ffn_q8(x, packed_w1, packed_w2, hidden_channels, out_channels, activation)


def quantize_weight_reference(weight: Tensor) -> Tuple[Tensor, Tensor]:
    """The int8 scheme's weights in stock PyTorch: ``(wq, scale)`` for a
    ``[out_channels, depth]`` float32 weight, wq integral in [-127, 127] (as
    float32) and ``weight ~ wq * scale[:, None]``."""
    amax = weight.abs().amax(dim=1) if weight.shape[1] else weight.new_zeros(weight.shape[0])
    inv = torch.where(amax > 0, 127.0 / amax, torch.zeros_like(amax))
    return torch.round(weight * inv[:, None]).clamp(-127, 127), amax / 127.0


def quantize_activation_reference(x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """The int8 scheme's activations in stock PyTorch: ``(xq, scale, zero)``
    for x ``[batch, depth, length]`` (one group), one scale and zero point
    per position over the depth: ``x ~ (xq - zero) * scale``, xq and zero
    integral in [0, 127] (as float32). A position with a non-finite input or
    span gets scale NaN, zero 0 and xq 0."""
    lo = x.amin(dim=1, keepdim=True).clamp(max=0) if x.shape[1] else x.new_zeros(x.shape[0], 1, x.shape[2])
    hi = x.amax(dim=1, keepdim=True).clamp(min=0) if x.shape[1] else lo
    span = hi - lo
    bad = ~(torch.isfinite(x).all(dim=1, keepdim=True) & torch.isfinite(span))
    span = torch.where(bad, torch.zeros_like(span), span)
    inv = torch.where(span > 0, 127.0 / span, torch.zeros_like(span))
    zero = torch.round(-lo * inv).clamp(0, 127)
    zero = torch.where(bad, torch.zeros_like(zero), zero)
    xq = (torch.round(torch.where(bad, torch.zeros_like(x), x) * inv) + zero).clamp(0, 127)
    scale = torch.where(bad, torch.full_like(span, float("nan")), span / 127.0)
    return xq, scale, zero


def grouped_pw_conv_q8_reference(x: Tensor, weight: Tensor, bias: Optional[Tensor], groups: int,
                                 activation: str = "none") -> Tensor:
    """:func:`grouped_pw_conv_q8` of ``quantize_pw_weight(weight, bias, groups)``
    in stock PyTorch: the same quantized values, integer sums (exact, in
    float64), and the epilogue ``(acc - zero * row_sum) * (w_scale * x_scale)
    + bias`` in float64 rounded once to float32, as the kernels' fused
    multiply-add does (the kernels can differ in the last bit only where
    float64's rounding meets a float32 tie)."""
    out_channels, depth = weight.shape[:2]
    weight = weight.reshape(out_channels, depth)
    m = out_channels // groups
    wq, w_scale = quantize_weight_reference(weight)
    ys = []
    for g in range(groups):
        xq, x_scale, zero = quantize_activation_reference(x[:, g * depth:(g + 1) * depth])
        wg = wq[g * m:(g + 1) * m].double()
        acc = torch.einsum("ck,bkl->bcl", wg, xq.double()) - zero.double() * wg.sum(dim=1)[None, :, None]
        scale = (w_scale[g * m:(g + 1) * m, None] * x_scale).double()  # float32 product, as the kernels
        y = acc.float().double() * scale
        if bias is not None:
            y = y + bias[g * m:(g + 1) * m, None].double()
        ys.append(y.float())
    y = torch.cat(ys, dim=1) if ys else x.new_empty(x.shape[0], 0, x.shape[2])
    return F.gelu(y) if activation == "gelu" else y


def add_layernorm(x: Tensor, residual: Optional[Tensor], weight: Tensor, bias: Tensor, eps: float) -> Tensor:
    """LayerNorm over the channels of NCW ``x + residual`` (``[B, C, L]``), as
    SqueezeBERT normalizes, without permuting to ``[B, L, C]`` and back."""
    return torch.ops.sqbert.add_layernorm(x, residual, weight, bias, eps)


def add_layernorm_reference(x: Tensor, residual: Optional[Tensor], weight: Tensor, bias: Tensor,
                            eps: float) -> Tensor:
    """:func:`add_layernorm` composed of stock PyTorch ops (differentiable)."""
    z = x if residual is None else x + residual
    return F.layer_norm(z.transpose(1, 2), (z.shape[1],), weight, bias, eps).transpose(1, 2)


def fused_attention(q: Tensor, k: Tensor, v: Tensor, mask: Optional[Tensor], num_heads: int) -> Tensor:
    """Multi-head attention on NCW ``[B, C, L]`` q, k, v, returning the NCW context.

    Head h uses channels ``h*d .. h*d+d-1`` (``d = C / num_heads``); ``mask`` is
    None or an additive float mask broadcastable to ``[B, num_heads, L, L]``.
    Equals Hugging Face SqueezeBERT's attention (scores / sqrt(d) + mask,
    softmax, context laid back as ``transpose_output`` does). float32.
    """
    return torch.ops.sqbert.fused_attention(q, k, v, mask, num_heads)


def attention_reference(q: Tensor, k: Tensor, v: Tensor, mask: Optional[Tensor], num_heads: int,
                        dropout: Optional[Callable[[Tensor], Tensor]] = None) -> Tensor:
    """:func:`fused_attention` composed of stock PyTorch ops, the way Hugging
    Face's SqueezeBERT computes it (differentiable, any dtype and device);
    ``dropout``, if given, applies to the attention probabilities."""
    return attention_reference_with_scores(q, k, v, mask, num_heads, dropout)[0]


def attention_reference_with_scores(q: Tensor, k: Tensor, v: Tensor, mask: Optional[Tensor], num_heads: int,
                                    dropout: Optional[Callable[[Tensor], Tensor]] = None) -> Tuple[Tensor, Tensor]:
    """:func:`attention_reference`, and what transformers' SqueezeBERT returns
    as its attentions: the scaled scores with the mask added, before the
    softmax, ``[B, heads, L, L]``."""
    batch, channels, length = q.shape
    d = channels // num_heads
    q_h = q.reshape(batch, num_heads, d, length).transpose(2, 3)
    k_h = k.reshape(batch, num_heads, d, length)
    v_h = v.reshape(batch, num_heads, d, length).transpose(2, 3)
    scores = torch.matmul(q_h, k_h) / d**0.5
    if mask is not None:
        scores = scores + mask
    probs = torch.softmax(scores, dim=-1)
    context = torch.matmul(probs if dropout is None else dropout(probs), v_h)
    return context.transpose(2, 3).reshape(batch, channels, length), scores


def fused_attention_varlen(q: Tensor, k: Tensor, v: Tensor, seq_offsets: Tensor, num_heads: int) -> Tensor:
    """Variable-length multi-head attention: the sequences of a batch one after
    another along the positions of NCW ``[1, C, T]`` q, k, v, each query
    attending to the keys of its own sequence only (no mask, no padding).

    ``seq_offsets``: int32 or int64 ``[B + 1]``, on q's device, as
    FlashAttention's ``cu_seqlens``: sequence s is positions
    ``seq_offsets[s] .. seq_offsets[s + 1] - 1``; the offsets start at 0,
    never decrease (a repeated offset is an empty sequence) and end at T.
    Heads as in :func:`fused_attention`; returns the NCW context ``[1, C, T]``,
    each sequence's part equal to :func:`fused_attention` on that sequence
    alone. float32 on CPU; autograd for q, k, v.
    """
    return torch.ops.sqbert.fused_attention_varlen(q, k, v, seq_offsets, num_heads)


def attention_varlen_reference(q: Tensor, k: Tensor, v: Tensor, seq_offsets: Tensor, num_heads: int,
                               dropout: Optional[Callable[[Tensor], Tensor]] = None) -> Tensor:
    """:func:`fused_attention_varlen` composed of stock PyTorch ops:
    :func:`attention_reference` on each sequence (differentiable, any dtype
    and device; reads the offsets on the host); ``dropout``, if given,
    applies to the attention probabilities."""
    bounds = seq_offsets.tolist()
    parts = [attention_reference(q[:, :, a:b], k[:, :, a:b], v[:, :, a:b], None, num_heads, dropout)
             for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    return torch.cat(parts, dim=2) if parts else q.new_zeros(q.shape)


def cpu_isas(dtype: str = "float32") -> List[str]:
    """The ISAs this build and CPU have kernels for, fastest first: the float
    kernel sets (``"avx512f"``, ``"avx2"``, ``"neon"``, ``"scalar"``), or with ``"int8"`` the
    int8 kernels (``"avx512vnni"``, ``"avxvnni"``, ``"avx2"``, ``"neondot"``, ``"neon"``,
    ``"scalar"``)."""
    return torch.ops.sqbert.cpu_isas(dtype)


def cpu_isa(dtype: str = "float32") -> str:
    """The ISA of the CPU kernels in use: ``"avx512f"``, ``"avx2"``, ``"neon"``
    or ``"scalar"``; with ``"int8"``, the int8 kernels that
    :func:`quantize_pw_weight` packs for by default (the fastest beside the
    selected float kernels)."""
    return torch.ops.sqbert.cpu_isa(dtype)


def cpu_gemm_tile(isa: Optional[str] = None, dtype: str = "float32") -> List[int]:
    """``[mr, nr]``: output channels and positions per micro-kernel tile of
    ``isa``'s kernel (default: the selected one), float32 or int8."""
    return torch.ops.sqbert.cpu_gemm_tile(isa, dtype)


def set_cpu_isa(isa: str) -> str:
    """Selects the CPU kernels' ISA (to compare backends) for the unpacked ops
    and for weights packed from now on; returns the previous one. Weights
    packed before keep running on the kernel they were packed for."""
    return torch.ops.sqbert.set_cpu_isa(isa)


def cpu_threading() -> str:
    """The runtime the CPU ops' tasks run on: ``"pool"`` (the package's own,
    the default: tasks claimed dynamically, so a fast thread takes over a
    slow or preempted one's) or ``"openmp"`` (torch's ``at::parallel_for``,
    a static split). Both use ``torch.get_num_threads()`` threads."""
    return torch.ops.sqbert.cpu_threading()


def set_cpu_threading(runtime: str) -> str:
    """Selects the runtime of the CPU ops' tasks, ``"pool"`` or ``"openmp"``
    (see :func:`cpu_threading`; ``SQBERT_THREADS=openmp`` in the environment
    selects it at load time), and returns the previous one."""
    return torch.ops.sqbert.set_cpu_threading(runtime)


def _set_slow_thread(thread: int, factor: float) -> None:
    """Test and benchmark knob, a simulated little core: thread ``thread``
    (0: the caller, 1..: the pool's workers, or OpenMP's thread numbers)
    runs each range of tasks ``factor`` times slower (it spin-waits the
    difference); ``factor <= 1`` turns it off. ``SQBERT_SLOW_THREAD=1:2``
    sets it at load time."""
    torch.ops.sqbert._set_slow_thread(thread, factor)


@contextlib.contextmanager
def pool_scope() -> Iterator[None]:
    """On the pool (:func:`set_cpu_threading`), runs torch's own ops inside
    on this thread alone and the package's ops on the pool with torch's
    thread count. With two runtimes each holding threads, OpenMP's, spinning
    for milliseconds after every torch op, take the core a pool worker needs
    (the model at two threads ran 10-25% slower when idle). Only the calling
    thread's OpenMP thread count changes, not torch's process-wide setting.
    Nothing changes with OpenMP, at one thread, when nested, or under
    torch.compile. The models run their forward inside it."""
    if torch.compiler.is_compiling() or torch.get_num_threads() == 1 or cpu_threading() != "pool":
        yield
        return
    threads = torch.get_num_threads()
    previous = torch.ops.sqbert._set_op_threads(threads, 1)
    try:
        yield
    finally:
        torch.ops.sqbert._set_op_threads(previous, threads)


def _thread_pool_stats(reset: bool = False) -> dict:
    """The pool's counters since the last reset: calls, calls whose caller
    waited for a range a worker had claimed, the time those waits took (ns),
    the tasks workers ran, all tasks, the times a worker took up a call on
    its caller's CPU, the waits in which the caller slept."""
    keys = ("calls", "waited_calls", "wait_ns", "worker_tasks", "tasks", "shared_cpu", "caller_slept")
    return dict(zip(keys, torch.ops.sqbert._thread_pool_stats(reset)))


def _out_channels_per_group(weight_size0, groups):
    torch._check(groups > 0, lambda: f"grouped_pw_conv: expected groups > 0, got {groups}")
    torch._check(
        weight_size0 % groups == 0,
        lambda: f"grouped_pw_conv: expected out_channels ({weight_size0}) divisible by groups ({groups})",
    )


@torch.library.register_fake("sqbert::grouped_pw_conv")
def _grouped_pw_conv_fake(x, weight, bias, groups, activation="none"):
    torch._check(x.dim() == 3, lambda: f"grouped_pw_conv: expected x of shape [batch, in_channels, length], got {tuple(x.shape)}")
    devices = [t.device for t in (x, weight, bias) if t is not None]
    torch._check(
        all(d == devices[0] for d in devices),
        lambda: f"grouped_pw_conv: expected x, weight and bias on one device, got {devices}",
    )
    _out_channels_per_group(weight.shape[0], groups)
    torch._check(
        x.shape[1] == weight.shape[1] * groups,
        lambda: f"grouped_pw_conv: expected x with {weight.shape[1] * groups} channels, got {x.shape[1]}",
    )
    return x.new_empty(x.shape[0], weight.shape[0], x.shape[2])


@torch.library.register_fake("sqbert::pack_pw_weight")
def _pack_pw_weight_fake(weight, bias, groups, isa=None):
    _out_channels_per_group(weight.shape[0], groups)
    mr = cpu_gemm_tile(isa)[0]
    panels = (weight.shape[0] // groups + mr - 1) // mr
    return weight.new_empty(groups, PACKED_HEADER_BYTES + panels * (weight.shape[1] + 1) * mr * 4, dtype=torch.uint8)


def _ncw_out_fake(op: str, x, out_channels):
    """The output of a packed convolution or feed-forward op on x: [batch,
    out_channels, length] (the packed weights' sizes are in their bytes)."""
    torch._check(x.dim() == 3, lambda: f"{op}: expected x of shape [batch, in_channels, length], got {tuple(x.shape)}")
    return x.new_empty(x.shape[0], out_channels, x.shape[2])


@torch.library.register_fake("sqbert::grouped_pw_conv_packed")
def _grouped_pw_conv_packed_fake(x, packed_weight, out_channels, activation="none"):
    return _ncw_out_fake("grouped_pw_conv_packed", x, out_channels)


@torch.library.register_fake("sqbert::grouped_pw_ffn_packed")
def _grouped_pw_ffn_packed_fake(x, packed_w1, packed_w2, hidden_channels, out_channels, activation="none"):
    return _ncw_out_fake("grouped_pw_ffn_packed", x, out_channels)


@torch.library.register_fake("sqbert::grouped_pw_conv_q8")
def _grouped_pw_conv_q8_fake(x, packed_weight, out_channels, activation="none"):
    return _ncw_out_fake("grouped_pw_conv_q8", x, out_channels)


@torch.library.register_fake("sqbert::grouped_pw_ffn_q8")
def _grouped_pw_ffn_q8_fake(x, packed_w1, packed_w2, hidden_channels, out_channels, activation="none"):
    return _ncw_out_fake("grouped_pw_ffn_q8", x, out_channels)


@torch.library.register_fake("sqbert::grouped_pw_convs_packed")
def _grouped_pw_convs_packed_fake(x, packed_weights, out_channels):
    return [_ncw_out_fake("grouped_pw_convs_packed", x, out_channels) for _ in packed_weights]


@torch.library.register_fake("sqbert::grouped_pw_convs_q8")
def _grouped_pw_convs_q8_fake(x, packed_weights, out_channels):
    return [_ncw_out_fake("grouped_pw_convs_q8", x, out_channels) for _ in packed_weights]


@torch.library.register_fake("sqbert::quantize_pw_weight")
def _quantize_pw_weight_fake(weight, bias, groups, isa=None):
    _out_channels_per_group(weight.shape[0], groups)
    mr = cpu_gemm_tile(isa, "int8")[0]
    panels = (weight.shape[0] // groups + mr - 1) // mr
    # A panel: mr row sums, scales and biases, then ceil(depth / 4) x mr x 4 bytes.
    panel_bytes = mr * 12 + (weight.shape[1] + 3) // 4 * mr * 4
    return weight.new_empty(groups, PACKED_HEADER_BYTES + panels * panel_bytes, dtype=torch.uint8)


@torch.library.register_fake("sqbert::fused_attention")
def _fused_attention_fake(q, k, v, mask, num_heads):
    torch._check(q.dim() == 3, lambda: f"fused_attention: expected q of shape [batch, channels, length], got {tuple(q.shape)}")
    torch._check(k.shape == q.shape and v.shape == q.shape,
                 lambda: f"fused_attention: expected q, k, v of one shape, got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    torch._check(num_heads > 0 and q.shape[1] % num_heads == 0,
                 lambda: f"fused_attention: expected channels ({q.shape[1]}) divisible by num_heads ({num_heads})")
    return q.new_empty(q.shape)


def _check_varlen_fake(q, k, v, seq_offsets, num_heads):
    op = "fused_attention_varlen"
    torch._check(q.dim() == 3, lambda: f"{op}: expected q of shape [batch, channels, length], got {tuple(q.shape)}")
    torch._check(k.shape == q.shape and v.shape == q.shape,
                 lambda: f"{op}: expected q, k, v of one shape, got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    torch._check(q.shape[0] == 1, lambda: f"{op}: expected q of shape [1, channels, total_length] (the sequences "
                                          f"one after another in a batch of 1), got {list(q.shape)}")
    torch._check(num_heads > 0 and q.shape[1] % num_heads == 0,
                 lambda: f"{op}: expected channels ({q.shape[1]}) divisible by num_heads ({num_heads})")
    torch._check(seq_offsets.device == q.device,
                 lambda: f"{op}: expected seq_offsets on q's device ({q.device}), got it on {seq_offsets.device}")
    torch._check(seq_offsets.dtype in (torch.int32, torch.int64),
                 lambda: f"{op}: expected seq_offsets of dtype int32 or int64, got {str(seq_offsets.dtype).split('.')[-1]}")
    torch._check(seq_offsets.dim() == 1 and seq_offsets.shape[0] >= 1,
                 lambda: f"{op}: expected seq_offsets of shape [num_sequences + 1], got {list(seq_offsets.shape)}")


@torch.library.register_fake("sqbert::fused_attention_varlen")
def _fused_attention_varlen_fake(q, k, v, seq_offsets, num_heads):
    # The offsets' values are not known here: the kernels check them.
    _check_varlen_fake(q, k, v, seq_offsets, num_heads)
    return q.new_empty(q.shape)


@torch.library.register_fake("sqbert::fused_attention_varlen_backward")
def _fused_attention_varlen_backward_fake(grad, q, k, v, seq_offsets, num_heads):
    _check_varlen_fake(q, k, v, seq_offsets, num_heads)
    return q.new_empty(q.shape), k.new_empty(k.shape), v.new_empty(v.shape)


@torch.library.register_fake("sqbert::add_layernorm")
def _add_layernorm_fake(x, residual, weight, bias, eps):
    torch._check(x.dim() == 3, lambda: f"add_layernorm: expected x of shape [batch, channels, length], got {tuple(x.shape)}")
    return x.new_empty(x.shape)


def _add_layernorm_setup_context(ctx, inputs, output):
    x, residual, weight, bias, eps = inputs
    ctx.save_for_backward(x, residual, weight, bias)
    ctx.eps = eps


def _add_layernorm_backward(ctx, grad):
    saved = ctx.saved_tensors
    inputs = [None if t is None else t.detach().requires_grad_(needs)
              for t, needs in zip(saved, ctx.needs_input_grad)]
    with torch.enable_grad():
        out = add_layernorm_reference(*inputs, ctx.eps)
    wanted = [t for t in inputs if t is not None and t.requires_grad]
    grads = iter(torch.autograd.grad(out, wanted, grad))
    return (*[next(grads) if t is not None and t.requires_grad else None for t in inputs], None)


torch.library.register_autograd("sqbert::add_layernorm", _add_layernorm_backward,
                                setup_context=_add_layernorm_setup_context)


def _attention_setup_context(ctx, inputs, output):
    q, k, v, mask, num_heads = inputs
    ctx.save_for_backward(q, k, v, mask)
    ctx.num_heads = num_heads


def _attention_backward(ctx, grad):
    # The backward recomputes the reference composition and differentiates it:
    # what FlashAttention's backward does, without a hand-written kernel.
    q, k, v, mask = ctx.saved_tensors
    inputs = [t.detach().requires_grad_(needs) for t, needs in zip((q, k, v), ctx.needs_input_grad)]
    wants_mask = mask is not None and ctx.needs_input_grad[3]
    if wants_mask:
        mask = mask.detach().requires_grad_(True)
    with torch.enable_grad():
        out = attention_reference(*inputs, mask, ctx.num_heads)
    wanted = [t for t in inputs if t.requires_grad] + ([mask] if wants_mask else [])
    grads = iter(torch.autograd.grad(out, wanted, grad))
    result = [next(grads) if t.requires_grad else None for t in inputs]
    return (*result, next(grads) if wants_mask else None, None)


torch.library.register_autograd("sqbert::fused_attention", _attention_backward,
                                setup_context=_attention_setup_context)


def _fused_attention_varlen_backward_kernel(grad, q, k, v, seq_offsets, num_heads):
    # FlashAttention's backward per sequence, in stock PyTorch (float32 at
    # least): the probabilities recomputed from q and k, then
    #   dv = g p,  dp = g^T v,  ds = p * (dp - rowsum(dp * p)),
    #   dq = scale k ds^T,  dk = scale q ds
    # on [heads, d, n] views (the NCW layout: channels, then positions).
    channels, length = q.shape[1], q.shape[2]
    d = channels // num_heads
    scale = d ** -0.5
    dtype = torch.promote_types(q.dtype, torch.float32)
    dq, dk, dv = q.new_zeros(q.shape), k.new_zeros(k.shape), v.new_zeros(v.shape)
    bounds = seq_offsets.tolist()
    for a, b in zip(bounds[:-1], bounds[1:]):
        n = b - a
        if n == 0:
            continue
        qh, kh, vh, gh = (t[0, :, a:b].to(dtype).reshape(num_heads, d, n) for t in (q, k, v, grad))
        p = torch.softmax(torch.matmul(qh.transpose(1, 2), kh) * scale, dim=-1)  # [heads, queries, keys]
        dp = torch.matmul(gh.transpose(1, 2), vh)
        ds = p * (dp - (dp * p).sum(dim=-1, keepdim=True))
        dq[0, :, a:b] = (torch.matmul(kh, ds.transpose(1, 2)) * scale).reshape(channels, n)
        dk[0, :, a:b] = (torch.matmul(qh, ds) * scale).reshape(channels, n)
        dv[0, :, a:b] = torch.matmul(gh, p).reshape(channels, n)
    return dq, dk, dv


torch.library.register_kernel("sqbert::fused_attention_varlen_backward", ("cpu", "cuda"),
                              _fused_attention_varlen_backward_kernel)


def _no_double_backward(ctx, *grads):
    raise RuntimeError("fused_attention_varlen: double backward (gradients of gradients) is not supported; "
                       "differentiate sqbert_kernels.ops.attention_varlen_reference for that")


torch.library.register_autograd("sqbert::fused_attention_varlen_backward", _no_double_backward)


def _attention_varlen_setup_context(ctx, inputs, output):
    q, k, v, seq_offsets, num_heads = inputs
    ctx.save_for_backward(q, k, v, seq_offsets)
    ctx.num_heads = num_heads


def _attention_varlen_backward(ctx, grad):
    q, k, v, seq_offsets = ctx.saved_tensors
    grads = torch.ops.sqbert.fused_attention_varlen_backward(grad, q, k, v, seq_offsets, ctx.num_heads)
    return (*[g if needs else None for g, needs in zip(grads, ctx.needs_input_grad)], None, None)


torch.library.register_autograd("sqbert::fused_attention_varlen", _attention_varlen_backward,
                                setup_context=_attention_varlen_setup_context)


def _setup_context(ctx, inputs, output):
    x, weight, bias, groups, activation = inputs
    ctx.save_for_backward(x, weight, bias)
    ctx.groups = groups
    ctx.activation = activation


def _backward(ctx, grad):
    # y_g = W_g x_g per group, so dx_g = W_g^T dy_g (itself a grouped 1x1
    # convolution) and dW_g = sum over batch and positions of dy_g x_g^T.
    x, weight, bias = ctx.saved_tensors
    groups = ctx.groups
    if ctx.activation == "gelu":
        # Through the GELU first: gelu'(u) = Phi(u) + u phi(u), u recomputed.
        u = torch.ops.sqbert.grouped_pw_conv(x, weight, bias, groups)
        cdf = 0.5 * (1.0 + torch.erf(u * 0.5**0.5))
        pdf = torch.exp(-0.5 * u * u) * (2.0 * torch.pi) ** -0.5
        grad = grad * (cdf + u * pdf)
    batch, cin, length = x.shape
    cout = weight.shape[0]
    m, k = cout // groups, cin // groups
    grad = grad.contiguous()
    grad_x = grad_weight = grad_bias = None
    if ctx.needs_input_grad[0]:
        weight_t = weight.reshape(groups, m, k).transpose(1, 2).reshape(cin, m)
        grad_x = torch.ops.sqbert.grouped_pw_conv(grad, weight_t, None, groups)
    if ctx.needs_input_grad[1]:
        grad_weight = torch.einsum(
            "bgml,bgkl->gmk", grad.view(batch, groups, m, length), x.reshape(batch, groups, k, length)
        ).reshape(weight.shape)
    if bias is not None and ctx.needs_input_grad[2]:
        grad_bias = grad.sum(dim=(0, 2))
    return grad_x, grad_weight, grad_bias, None, None


torch.library.register_autograd("sqbert::grouped_pw_conv", _backward, setup_context=_setup_context)


@register_flop_formula(torch.ops.sqbert.grouped_pw_conv)
def _grouped_pw_conv_flops(x_shape, w_shape, *args, out_shape=None, **kwargs) -> int:
    batch, _, length = x_shape
    return 2 * batch * length * w_shape[0] * w_shape[1]


@register_flop_formula([torch.ops.sqbert.grouped_pw_conv_packed, torch.ops.sqbert.grouped_pw_conv_q8])
def _grouped_pw_conv_packed_flops(x_shape, packed_shape, out_channels, *args, out_shape=None, **kwargs) -> int:
    batch, in_channels, length = x_shape
    return 2 * batch * length * out_channels * (in_channels // packed_shape[0])


@register_flop_formula([torch.ops.sqbert.grouped_pw_convs_packed, torch.ops.sqbert.grouped_pw_convs_q8])
def _grouped_pw_convs_flops(x_shape, packed_shapes, out_channels, *args, out_shape=None, **kwargs) -> int:
    return sum(_grouped_pw_conv_packed_flops(x_shape, shape, out_channels) for shape in packed_shapes)


@register_flop_formula([torch.ops.sqbert.grouped_pw_ffn_packed, torch.ops.sqbert.grouped_pw_ffn_q8])
def _grouped_pw_ffn_packed_flops(x_shape, w1_shape, w2_shape, hidden_channels, out_channels, *args, out_shape=None,
                                 **kwargs) -> int:
    batch, in_channels, length = x_shape
    groups = w1_shape[0]
    return 2 * batch * length * (hidden_channels * (in_channels // groups) + out_channels * (hidden_channels // groups))


@register_flop_formula(torch.ops.sqbert.fused_attention)
def _fused_attention_flops(q_shape, *args, out_shape=None, **kwargs) -> int:
    batch, channels, length = q_shape
    return 4 * batch * channels * length * length


def _sum_of_squared_lengths(seq_offsets: Tensor, length: int) -> int:
    """sum(len_i^2) over the sequences; where the offsets have no values
    (fake or meta tensors), length^2, the most it can be."""
    if seq_offsets.device.type == "meta" or isinstance(seq_offsets, torch._subclasses.FakeTensor):
        return length * length
    lengths = seq_offsets.diff().long()
    return int((lengths * lengths).sum())


@register_flop_formula(torch.ops.sqbert.fused_attention_varlen, get_raw=True)
def _fused_attention_varlen_flops(q, k, v, seq_offsets, num_heads, *args, out_val=None, **kwargs) -> int:
    # Each sequence's attention: 4 * C * len^2 (the scores and the context).
    return 4 * q.shape[1] * _sum_of_squared_lengths(seq_offsets, q.shape[2])


@register_flop_formula(torch.ops.sqbert.fused_attention_varlen_backward, get_raw=True)
def _fused_attention_varlen_backward_flops(grad, q, k, v, seq_offsets, num_heads, *args, out_val=None,
                                           **kwargs) -> int:
    # Five [len, len] x d products per head: the scores, dp, dv, dq, dk.
    return 10 * q.shape[1] * _sum_of_squared_lengths(seq_offsets, q.shape[2])

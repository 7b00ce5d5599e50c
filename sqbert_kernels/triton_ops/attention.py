"""``sqbert::fused_attention`` and ``sqbert::fused_attention_varlen`` in
Triton: a FlashAttention-style forward on NCW q, k, v.

One program per (batch * head, block of queries), an online softmax over key
blocks, the additive mask read in place through its broadcast strides, and
the context written back in NCW (``out[b, h*d + c, i]``), the layout Hugging
Face SqueezeBERT's ``transpose_output`` produces. The varlen version is the
same kernel with the batch entries replaced by the sequences of a
``[1, C, T]`` batch (``VARLEN``): one program per (sequence * head, block of
queries) up to the longest sequence's blocks, each reading its sequence's
start and length from the offsets, and those past their sequence's end
returning at once.
"""
import functools
import math
from typing import Optional

import torch
import triton
import triton.language as tl
from torch import Tensor

from .checks import _DTYPE_NAMES, _DTYPES, _check, _check_devices, _check_tensor, _shape
from .launch import INTERPRET, _device_guard, _device_limits, _dot_precision, _pow2, _run_with_fallback

#: The largest head dimension :func:`fused_attention` supports.
MAX_HEAD_DIM = 256


@triton.jit
def _fused_attention_kernel(
    q_ptr, k_ptr, v_ptr, mask_ptr, out_ptr, offsets_ptr,
    sm_scale,
    L, D, heads, tiles_q,
    stride_qb, stride_qc, stride_ql,
    stride_kb, stride_kc, stride_kl,
    stride_vb, stride_vc, stride_vl,
    stride_mb, stride_mh, stride_mi, stride_mj,
    stride_ob, stride_oc, stride_ol,
    HAS_MASK: tl.constexpr,
    MAP_MASK_LOWEST: tl.constexpr,
    MASK_LOWEST: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
    DOT_UPCAST: tl.constexpr,
    BLOCK_Q: tl.constexpr,
    BLOCK_KV: tl.constexpr,
    BLOCK_D: tl.constexpr,
    EVEN_L: tl.constexpr,  # L a multiple of BLOCK_Q and BLOCK_KV: no position bounds checks
    EVEN_D: tl.constexpr,  # D == BLOCK_D: no channel bounds checks
    VARLEN: tl.constexpr,  # sequences at offsets_ptr[s] .. offsets_ptr[s+1]-1 of batch entry 0, in place of batch entries
):
    # Program order: query blocks of one (batch, head) are adjacent (they
    # read the same keys and values).
    pid = tl.program_id(0)
    pid_q = pid % tiles_q
    bh = pid // tiles_q
    h = (bh % heads).to(tl.int64)  # 64-bit batch, head and sequence offsets; tile offsets stay 32-bit
    if VARLEN:
        b = 0
        start = tl.load(offsets_ptr + bh // heads).to(tl.int64)
        L = (tl.load(offsets_ptr + bh // heads + 1) - start).to(tl.int32)  # this sequence's length
        if pid_q * BLOCK_Q >= L:  # past the sequence's last query block
            return
    else:
        b = (bh // heads).to(tl.int64)
        start = 0

    offs_i = pid_q * BLOCK_Q + tl.arange(0, BLOCK_Q)  # queries
    offs_c = tl.arange(0, BLOCK_D)  # channels of the head
    offs_j0 = tl.arange(0, BLOCK_KV)  # keys within a block
    mask_i = offs_i < L
    mask_c = offs_c < D

    # q tile [BLOCK_Q, BLOCK_D]: q[b, h*D + c, start + i], read transposed in place.
    q_base = q_ptr + b * stride_qb + (h * D) * stride_qc + start * stride_ql
    q_ptrs = q_base + offs_i[:, None] * stride_ql + offs_c[None, :] * stride_qc
    if EVEN_L and EVEN_D:
        qt = tl.load(q_ptrs)
    else:
        qt = tl.load(q_ptrs, mask=mask_i[:, None] & mask_c[None, :], other=0.0)
    if DOT_UPCAST:
        qt = qt.to(tl.float32)
    # k tiles [BLOCK_D, BLOCK_KV] (NCW as stored); v tiles [BLOCK_KV, BLOCK_D].
    k_base = k_ptr + b * stride_kb + (h * D) * stride_kc + start * stride_kl + offs_c[:, None] * stride_kc
    v_base = v_ptr + b * stride_vb + (h * D) * stride_vc + start * stride_vl + offs_c[None, :] * stride_vc
    m_base = mask_ptr + b * stride_mb + h * stride_mh + offs_i[:, None] * stride_mi  # unused without a mask

    m_i = tl.full((BLOCK_Q,), float("-inf"), dtype=tl.float32)  # running max
    l_i = tl.zeros((BLOCK_Q,), dtype=tl.float32)  # running sum
    acc = tl.zeros((BLOCK_Q, BLOCK_D), dtype=tl.float32)
    for j0 in range(0, L, BLOCK_KV):
        offs_j = j0 + offs_j0
        mask_j = offs_j < L
        k_ptrs = k_base + offs_j[None, :] * stride_kl
        if EVEN_L and EVEN_D:
            kt = tl.load(k_ptrs)
        else:
            kt = tl.load(k_ptrs, mask=mask_c[:, None] & mask_j[None, :], other=0.0)
        if DOT_UPCAST:
            kt = kt.to(tl.float32)
        s = tl.dot(qt, kt, input_precision=DOT_PRECISION) * sm_scale
        if HAS_MASK:
            m_ptrs = m_base + offs_j[None, :] * stride_mj
            if EVEN_L:
                am = tl.load(m_ptrs).to(tl.float32)
            else:
                am = tl.load(m_ptrs, mask=mask_i[:, None] & mask_j[None, :], other=0.0).to(tl.float32)
            if MAP_MASK_LOWEST:
                # A half-precision mask's minimum is float32's minimum here, so
                # a row masked with it throughout attends uniformly, as in
                # Hugging Face's half-precision softmax; -inf stays -inf.
                am = tl.where(am == MASK_LOWEST, -3.4028234663852886e38, am)
            s = s + am
        if not EVEN_L:
            s = tl.where(mask_j[None, :], s, float("-inf"))

        m_new = tl.maximum(m_i, tl.max(s, 1))
        # While every score seen is -inf, exponentiate against 0: exp(-inf) = 0.
        m_ref = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp(m_i - m_ref)
        p = tl.exp(s - m_ref[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)

        v_ptrs = v_base + offs_j[:, None] * stride_vl
        if EVEN_L and EVEN_D:
            vt = tl.load(v_ptrs)
        else:
            vt = tl.load(v_ptrs, mask=mask_j[:, None] & mask_c[None, :], other=0.0)
        p = p.to(v_ptr.dtype.element_ty)
        if DOT_UPCAST:
            vt = vt.to(tl.float32)
            p = p.to(tl.float32)
        acc = acc * alpha[:, None]
        acc = tl.dot(p, vt, acc, input_precision=DOT_PRECISION)
        m_i = m_new

    # A query whose keys were all -inf attends to nothing: its p were all 0,
    # so acc is 0; dividing by 1 keeps it 0, not NaN.
    acc = acc / tl.where(l_i > 0.0, l_i, 1.0)[:, None]
    o = (out_ptr + b * stride_ob + (h * D) * stride_oc + start * stride_ol + offs_i[:, None] * stride_ol
         + offs_c[None, :] * stride_oc)
    if EVEN_L and EVEN_D:
        tl.store(o, acc.to(out_ptr.dtype.element_ty))
    else:
        tl.store(o, acc.to(out_ptr.dtype.element_ty), mask=mask_i[:, None] & mask_c[None, :])


def _attention_config(L: int, D: int, programs_per_block: int, dtype: torch.dtype,
                      device: torch.device) -> dict:
    """Block sizes, warps and pipeline stages for the attention. Chosen so
    that sm_80 and sm_90 builds keep everything in registers (no spills)."""
    block_d = _pow2(D, 16, MAX_HEAD_DIM)
    if INTERPRET:
        b = _pow2(L, 16, 128)
        return dict(BLOCK_Q=b, BLOCK_KV=b, BLOCK_D=block_d, num_warps=4, num_stages=1)
    half = dtype != torch.float32
    if block_d <= 64:
        bq, bkv, warps, stages = 128, 64, 8, 2
        if -(-L // bq) * programs_per_block < _device_limits(device)[0]:
            bq, warps = 64, 4  # small problems: more programs
    elif block_d <= 128:
        bq, bkv, warps, stages = (64, 64, 8, 2) if half else (64, 32, 4, 2)
    else:
        bq, bkv, warps, stages = (64, 32, 8, 1) if half else (32, 32, 8, 1)
    bq, bkv = min(bq, _pow2(L, 16, 128)), min(bkv, _pow2(L, 16, 128))
    return dict(BLOCK_Q=bq, BLOCK_KV=bkv, BLOCK_D=block_d, num_warps=warps, num_stages=stages)


def _check_heads(op, channels, num_heads):
    """The head dimension, after checking num_heads divides the channels
    into heads the kernel can hold."""
    _check(num_heads > 0, f"{op}: expected num_heads > 0, got {num_heads}")
    _check(channels % num_heads == 0,
           f"{op}: expected channels ({channels}) divisible by num_heads ({num_heads})")
    d = channels // num_heads
    _check(d <= MAX_HEAD_DIM,
           f"{op}: expected a head dimension (channels / num_heads) of at most {MAX_HEAD_DIM} "
           f"for the Triton kernel, got {d}")
    return d


def fused_attention(q: Tensor, k: Tensor, v: Tensor, mask: Optional[Tensor], num_heads: int) -> Tensor:
    """Multi-head attention on NCW ``[B, C, L]`` q, k, v, in Triton.

    Head h uses channels ``h*d .. h*d+d-1`` (``d = C / num_heads``, at most
    :data:`MAX_HEAD_DIM`); ``out[b, h*d + c, i] = sum_j softmax_j(q[:, i] .
    k[:, j] / sqrt(d) + mask[b, h, i, j]) v[c, j]``. ``mask`` is None or an
    additive float mask broadcastable to ``[B, num_heads, L, L]``, read in
    place. q, k, v share a dtype (float32, float16 or bfloat16) and the
    context has it; the mask may have any of those dtypes. A row masked
    throughout with the mask dtype's minimum attends uniformly (as Hugging
    Face's softmax does); a row of -inf gives 0, never NaN. Returns a
    contiguous ``[B, C, L]``. Raises RuntimeError on bad arguments, with the
    CPU op's messages.
    """
    op = "fused_attention"
    _check_tensor(op, q, "q")
    _check(q.dim() == 3, f"{op}: expected q of shape [batch, channels, length], got {_shape(q)}")
    for name, t in (("k", k), ("v", v)):
        _check_tensor(op, t, name, q.dtype)
        _check(t.shape == q.shape, f"{op}: expected {name} of the same shape as q {_shape(q)}, got {_shape(t)}")
    batch, channels, length = q.shape
    d = _check_heads(op, channels, num_heads)
    full = [batch, num_heads, length, length]
    if mask is not None:
        _check(isinstance(mask, Tensor) and mask.dtype in _DTYPES,
               f"{op}: expected an additive mask of dtype {_DTYPE_NAMES}, got "
               f"{str(getattr(mask, 'dtype', type(mask).__name__)).split('.')[-1]}")
        _check_tensor(op, mask, "mask")
        fits = mask.dim() <= 4 and all(s == 1 or s == f for s, f in zip(reversed(mask.shape), reversed(full)))
        _check(fits, f"{op}: expected a mask broadcastable to [batch, num_heads, length, length] = "
                     f"{full}, got {_shape(mask)}")
    _check_devices(op, q, k, v, mask)

    out = torch.empty(batch, channels, length, dtype=q.dtype, device=q.device)
    if out.numel() == 0:
        return out
    cfg = _attention_config(length, d, batch * num_heads, q.dtype, q.device)
    launch = functools.partial(_launch_fused_attention, q, k, v, mask, num_heads, out)
    _run_with_fallback(launch, cfg, ("BLOCK_Q", "BLOCK_KV"))
    return out


def _launch_fused_attention(q, k, v, mask, num_heads, out, BLOCK_Q, BLOCK_KV, BLOCK_D,
                            num_warps=4, num_stages=2):
    batch, channels, length = q.shape
    d = channels // num_heads
    if mask is not None:
        mask = mask.expand(batch, num_heads, length, length)  # stride 0 on broadcast axes
        mask_strides = mask.stride()
    else:
        mask_strides = (0, 0, 0, 0)
    map_lowest = mask is not None and mask.dtype != torch.float32
    tiles_q = triton.cdiv(length, BLOCK_Q)
    grid = (tiles_q * batch * num_heads,)
    with _device_guard(q):
        _fused_attention_kernel[grid](
            q, k, v, q if mask is None else mask, out, q,
            1.0 / math.sqrt(d),
            length, d, num_heads, tiles_q,
            q.stride(0), q.stride(1), q.stride(2),
            k.stride(0), k.stride(1), k.stride(2),
            v.stride(0), v.stride(1), v.stride(2),
            *mask_strides,
            out.stride(0), out.stride(1), out.stride(2),
            HAS_MASK=mask is not None,
            MAP_MASK_LOWEST=map_lowest,
            MASK_LOWEST=float(torch.finfo(mask.dtype).min) if map_lowest else 0.0,
            DOT_PRECISION=_dot_precision(q.dtype),
            DOT_UPCAST=INTERPRET and q.dtype == torch.bfloat16,
            BLOCK_Q=BLOCK_Q, BLOCK_KV=BLOCK_KV, BLOCK_D=BLOCK_D,
            EVEN_L=length % BLOCK_Q == 0 and length % BLOCK_KV == 0, EVEN_D=d == BLOCK_D, VARLEN=False,
            num_warps=num_warps, num_stages=num_stages,
        )
    return out


def _check_varlen_offsets(op: str, seq_offsets, q: Tensor, length: int) -> int:
    """Checks the offsets as the CPU op does (on the host); returns the
    longest sequence's length."""
    _check(isinstance(seq_offsets, Tensor),
           f"{op}: expected seq_offsets to be a Tensor, got {type(seq_offsets).__name__}")
    _check(seq_offsets.device == q.device,
           f"{op}: expected seq_offsets on q's device ({q.device}), got it on {seq_offsets.device}")
    _check(seq_offsets.dtype in (torch.int32, torch.int64),
           f"{op}: expected seq_offsets of dtype int32 or int64, got {str(seq_offsets.dtype).split('.')[-1]}")
    _check(seq_offsets.dim() == 1 and seq_offsets.shape[0] >= 1,
           f"{op}: expected seq_offsets of shape [num_sequences + 1], got {_shape(seq_offsets)}")
    bounds = seq_offsets.tolist()  # one copy to the host: the launch needs the longest sequence
    for i, o in enumerate(bounds):
        _check(0 <= o <= length, f"{op}: expected seq_offsets in [0, {length}] (q's length), got seq_offsets[{i}] = {o}")
    for i in range(1, len(bounds)):
        _check(bounds[i] >= bounds[i - 1], f"{op}: expected non-decreasing seq_offsets, got seq_offsets[{i}] = "
                                           f"{bounds[i]} < seq_offsets[{i - 1}] = {bounds[i - 1]}")
    _check(bounds[0] == 0,
           f"{op}: expected seq_offsets[0] == 0 (the first sequence starts at position 0), got {bounds[0]}")
    _check(bounds[-1] == length, f"{op}: expected seq_offsets[-1] == q's length ({length}): the sequences cover "
                                 f"every position, got {bounds[-1]}")
    return max((b - a for a, b in zip(bounds[:-1], bounds[1:])), default=0)


def fused_attention_varlen(q: Tensor, k: Tensor, v: Tensor, seq_offsets: Tensor, num_heads: int) -> Tensor:
    """Variable-length multi-head attention on NCW ``[1, C, T]`` q, k, v, in
    Triton: sequence s is positions ``seq_offsets[s] .. seq_offsets[s+1]-1``
    (int32 or int64 ``[B + 1]`` from 0 to T, never decreasing) and its queries
    attend to its keys only. Otherwise as :func:`fused_attention` without a
    mask (dtypes, head dimensions, errors). Reads the offsets on the host
    once, to check them and size the launch. Returns a contiguous
    ``[1, C, T]``.
    """
    op = "fused_attention_varlen"
    _check_tensor(op, q, "q")
    _check(q.dim() == 3, f"{op}: expected q of shape [batch, channels, length], got {_shape(q)}")
    for name, t in (("k", k), ("v", v)):
        _check_tensor(op, t, name, q.dtype)
        _check(t.shape == q.shape, f"{op}: expected {name} of the same shape as q {_shape(q)}, got {_shape(t)}")
    _check(q.shape[0] == 1, f"{op}: expected q of shape [1, channels, total_length] (the sequences one after "
                            f"another in a batch of 1), got {_shape(q)}")
    _, channels, length = q.shape
    d = _check_heads(op, channels, num_heads)
    _check_devices(op, q, k, v)
    max_length = _check_varlen_offsets(op, seq_offsets, q, length)

    out = torch.empty(1, channels, length, dtype=q.dtype, device=q.device)
    if out.numel() == 0:
        return out
    sequences = seq_offsets.shape[0] - 1
    cfg = _attention_config(max_length, d, sequences * num_heads, q.dtype, q.device)
    launch = functools.partial(_launch_fused_attention_varlen, q, k, v, seq_offsets, num_heads, max_length, out)
    _run_with_fallback(launch, cfg, ("BLOCK_Q", "BLOCK_KV"))
    return out


def _launch_fused_attention_varlen(q, k, v, seq_offsets, num_heads, max_length, out, BLOCK_Q, BLOCK_KV, BLOCK_D,
                                   num_warps=4, num_stages=2):
    _, channels, length = q.shape
    d = channels // num_heads
    sequences = seq_offsets.shape[0] - 1
    tiles_q = triton.cdiv(max_length, BLOCK_Q)
    grid = (tiles_q * sequences * num_heads,)
    with _device_guard(q):
        _fused_attention_kernel[grid](
            q, k, v, q, out, seq_offsets,
            1.0 / math.sqrt(d),
            length, d, num_heads, tiles_q,
            q.stride(0), q.stride(1), q.stride(2),
            k.stride(0), k.stride(1), k.stride(2),
            v.stride(0), v.stride(1), v.stride(2),
            0, 0, 0, 0,
            out.stride(0), out.stride(1), out.stride(2),
            HAS_MASK=False, MAP_MASK_LOWEST=False, MASK_LOWEST=0.0,
            DOT_PRECISION=_dot_precision(q.dtype),
            DOT_UPCAST=INTERPRET and q.dtype == torch.bfloat16,
            BLOCK_Q=BLOCK_Q, BLOCK_KV=BLOCK_KV, BLOCK_D=BLOCK_D,
            EVEN_L=False, EVEN_D=d == BLOCK_D, VARLEN=True,
            num_warps=num_warps, num_stages=num_stages,
        )
    return out

"""Triton kernels for ``sqbert::grouped_pw_conv`` and ``sqbert::fused_attention``.

The GPU implementation of the two ops, with the semantics of the C++ CPU
kernels: the same arguments, NCW activations ``[batch, channels, length]``
(any strides; positions contiguous is the fast case) and the same mask rules.

* :func:`grouped_pw_conv` -- ``y[b, g*M + m, l] = bias[g*M + m] +
  sum_k W[g*M + m, k] x[b, g*K + k, l]`` (``K = Cin / groups``, ``M = Cout /
  groups``), optionally through the exact (erf) GELU. One program computes a
  ``BLOCK_M x BLOCK_N`` tile of one (batch, group): ``BLOCK_M`` output
  channels of the group by ``BLOCK_N`` positions, ``tl.dot`` over the group's
  input channels in ``BLOCK_K`` steps, bias and activation in the epilogue.
* :func:`fused_attention` -- FlashAttention-style forward on NCW q, k, v: one
  program per (batch * head, block of queries), an online softmax over key
  blocks, the additive mask read in place through its broadcast strides, and
  the context written back in NCW (``out[b, h*d + c, i]``), the layout
  Hugging Face SqueezeBERT's ``transpose_output`` produces.

float32, float16 and bfloat16 inputs; dots accumulate in float32 and outputs
have the input dtype. float32 dots use TF32 tensor cores when PyTorch allows
TF32 for float32 matmuls (``torch.backends.cuda.matmul.allow_tf32``, or
``torch.set_float32_matmul_precision("high")``) and full float32 otherwise,
as PyTorch's own matmuls do.

Importing this module registers the Triton kernels as the CUDA kernels of
``torch.ops.sqbert.grouped_pw_conv`` and ``torch.ops.sqbert.fused_attention``
(:func:`register_cuda_kernels`), so a model whose tensors live on a GPU uses
them with no code change; the fake (meta) and autograd registrations of
``sqbert_kernels.ops`` are shared with the CPU kernels. The CPU kernels stay
the C++ ones. ``torch.ops.sqbert.add_layernorm`` gets a CUDA kernel made of
stock PyTorch ops (no Triton kernel yet); the packed-weight ops
(``pack_pw_weight``, ``grouped_pw_conv_packed``) stay CPU-only.

On a machine without a GPU, set ``TRITON_INTERPRET=1`` before this module is
imported (Triton reads it when the kernels are defined): the functions here
then run the same kernels on CPU tensors in Triton's interpreter (slowly;
for tests). ``TRITON_INTERPRET=0`` or unset means real GPU execution, which
needs CUDA tensors.
"""
import contextlib
import functools
import math
from typing import Optional, Tuple

import torch
import triton
import triton.language as tl
from torch import Tensor

from . import ops as _ops  # noqa: F401  (the op schemas, fake and autograd registrations)

__all__ = [
    "INTERPRET",
    "MAX_HEAD_DIM",
    "fused_attention",
    "grouped_pw_conv",
    "register_cuda_kernels",
]

#: Whether the kernels below were defined under ``TRITON_INTERPRET`` (Triton
#: decides when ``@triton.jit`` runs, i.e. when this module is imported).
INTERPRET: bool = bool(triton.knobs.runtime.interpret)

#: The largest head dimension :func:`fused_attention` supports.
MAX_HEAD_DIM = 256

_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_DTYPE_NAMES = "float32, float16 or bfloat16"


# --------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------


@triton.jit
def _grouped_pw_conv_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr,
    M, K, L, tiles_m, tiles_n, groups,
    stride_xb, stride_xc, stride_xl,
    stride_wo, stride_wk,
    stride_b,
    stride_yb, stride_yc, stride_yl,
    HAS_BIAS: tl.constexpr,
    GELU: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
    DOT_UPCAST: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    EVEN_M: tl.constexpr,  # M % BLOCK_M == 0: no channel bounds checks
    EVEN_N: tl.constexpr,  # L % BLOCK_N == 0: no position bounds checks
    EVEN_K: tl.constexpr,  # K % BLOCK_K == 0: no input-channel bounds checks
):
    # Program order: output-channel tiles fastest (they share the x tile),
    # then position tiles, groups, batch.
    pid = tl.program_id(0)
    pid_m = pid % tiles_m
    rest = pid // tiles_m
    pid_n = rest % tiles_n
    rest = rest // tiles_n
    g = rest % groups
    b = (rest // groups).to(tl.int64)  # 64-bit batch offsets; tile offsets stay 32-bit

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)  # channels within the group
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)  # positions
    offs_k = tl.arange(0, BLOCK_K)
    mask_m = offs_m < M
    mask_n = offs_n < L

    w_rows = w_ptr + (g * M + offs_m)[:, None] * stride_wo
    x_base = x_ptr + b * stride_xb + (g * K).to(tl.int64) * stride_xc + offs_n[None, :] * stride_xl

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        kk = k0 + offs_k
        mask_k = kk < K
        w_ptrs = w_rows + kk[None, :] * stride_wk
        x_ptrs = x_base + kk[:, None] * stride_xc
        if EVEN_M and EVEN_K:
            w = tl.load(w_ptrs)
        else:
            w = tl.load(w_ptrs, mask=mask_m[:, None] & mask_k[None, :], other=0.0)
        if EVEN_N and EVEN_K:
            xt = tl.load(x_ptrs)
        else:
            xt = tl.load(x_ptrs, mask=mask_k[:, None] & mask_n[None, :], other=0.0)
        if DOT_UPCAST:  # the interpreter's bfloat16 dot is wrong: multiply in float32
            w = w.to(tl.float32)
            xt = xt.to(tl.float32)
        acc = tl.dot(w, xt, acc, input_precision=DOT_PRECISION)

    if HAS_BIAS:
        if EVEN_M:
            bias = tl.load(b_ptr + (g * M + offs_m) * stride_b)
        else:
            bias = tl.load(b_ptr + (g * M + offs_m) * stride_b, mask=mask_m, other=0.0)
        acc += bias.to(tl.float32)[:, None]
    if GELU:  # exact GELU: x * Phi(x)
        acc = 0.5 * acc * (1.0 + tl.erf(acc * 0.7071067811865476))

    y = (y_ptr + b * stride_yb + (g * M).to(tl.int64) * stride_yc
         + offs_m[:, None] * stride_yc + offs_n[None, :] * stride_yl)
    if EVEN_M and EVEN_N:
        tl.store(y, acc.to(y_ptr.dtype.element_ty))
    else:
        tl.store(y, acc.to(y_ptr.dtype.element_ty), mask=mask_m[:, None] & mask_n[None, :])


@triton.jit
def _fused_attention_kernel(
    q_ptr, k_ptr, v_ptr, mask_ptr, out_ptr,
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
):
    # Program order: query blocks of one (batch, head) are adjacent (they
    # read the same keys and values).
    pid = tl.program_id(0)
    pid_q = pid % tiles_q
    bh = pid // tiles_q
    b = (bh // heads).to(tl.int64)  # 64-bit batch and head offsets; tile offsets stay 32-bit
    h = (bh % heads).to(tl.int64)

    offs_i = pid_q * BLOCK_Q + tl.arange(0, BLOCK_Q)  # queries
    offs_c = tl.arange(0, BLOCK_D)  # channels of the head
    offs_j0 = tl.arange(0, BLOCK_KV)  # keys within a block
    mask_i = offs_i < L
    mask_c = offs_c < D

    # q tile [BLOCK_Q, BLOCK_D]: q[b, h*D + c, i], read transposed in place.
    q_base = q_ptr + b * stride_qb + (h * D) * stride_qc
    q_ptrs = q_base + offs_i[:, None] * stride_ql + offs_c[None, :] * stride_qc
    if EVEN_L and EVEN_D:
        qt = tl.load(q_ptrs)
    else:
        qt = tl.load(q_ptrs, mask=mask_i[:, None] & mask_c[None, :], other=0.0)
    if DOT_UPCAST:
        qt = qt.to(tl.float32)
    # k tiles [BLOCK_D, BLOCK_KV] (NCW as stored); v tiles [BLOCK_KV, BLOCK_D].
    k_base = k_ptr + b * stride_kb + (h * D) * stride_kc + offs_c[:, None] * stride_kc
    v_base = v_ptr + b * stride_vb + (h * D) * stride_vc + offs_c[None, :] * stride_vc
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
    o = out_ptr + b * stride_ob + (h * D) * stride_oc + offs_i[:, None] * stride_ol + offs_c[None, :] * stride_oc
    if EVEN_L and EVEN_D:
        tl.store(o, acc.to(out_ptr.dtype.element_ty))
    else:
        tl.store(o, acc.to(out_ptr.dtype.element_ty), mask=mask_i[:, None] & mask_c[None, :])


# --------------------------------------------------------------------------
# Launch configuration
# --------------------------------------------------------------------------


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


def _conv_config(M: int, K: int, L: int, programs_per_tile: int, dtype: torch.dtype,
                 device: torch.device) -> dict:
    """Block sizes, warps and pipeline stages for the grouped convolution
    (no autotuning: one heuristic choice per shape)."""
    if INTERPRET:
        # Each program costs Python time in the interpreter: few, large tiles.
        return dict(BLOCK_M=_pow2(M, 16, 256), BLOCK_N=_pow2(L, 16, 256), BLOCK_K=_pow2(K, 16, 256),
                    num_warps=4, num_stages=1)
    elem = dtype.itemsize
    # 128 output channels per tile unless 64 wastes fewer padded rows
    # (M = 192: the SqueezeBERT q/k/v and output convolutions' groups).
    bm = 128 if -(-M // 128) * 128 <= -(-M // 64) * 64 else 64
    bn = 128
    bk = 32 if elem == 4 else 64
    bm, bn, bk = min(bm, _pow2(M, 16, 128)), min(bn, _pow2(L, 16, 128)), min(bk, _pow2(K, 16, 64))
    sms, smem = _device_limits(device)
    # Small problems: smaller tiles, so that every multiprocessor has work.
    while -(-M // bm) * -(-L // bn) * programs_per_tile < sms and max(bm, bn) > 32:
        if bn >= bm:
            bn //= 2
        else:
            bm //= 2
    stage = (bm * bk + bk * bn) * elem
    stages = max(2, min(4, (smem - 16 * 1024) // stage))
    warps = 8 if bm * bn >= 128 * 128 else 4
    return dict(BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, num_warps=warps, num_stages=stages)


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


# --------------------------------------------------------------------------
# Argument checks (messages in the style of the C++ ops' TORCH_CHECKs)
# --------------------------------------------------------------------------


def _shape(t: Tensor) -> str:
    return str(list(t.shape))


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise RuntimeError(message)


def _check_tensor(op: str, t: Tensor, name: str, dtype: Optional[torch.dtype] = None) -> None:
    _check(isinstance(t, Tensor), f"{op}: expected {name} to be a Tensor, got {type(t).__name__}")
    _check(t.dtype in _DTYPES,
           f"{op}: expected {name} of dtype {_DTYPE_NAMES}, got {str(t.dtype).split('.')[-1]}")
    if dtype is not None:
        _check(t.dtype == dtype,
               f"{op}: expected {name} of the same dtype as the input ({str(dtype).split('.')[-1]}), "
               f"got {str(t.dtype).split('.')[-1]}")
    if not INTERPRET:
        _check(t.is_cuda,
               f"{op}: expected {name} on a CUDA device (Triton kernels), got it on {t.device}; "
               "to run them on CPU tensors, set TRITON_INTERPRET=1 before importing "
               "sqbert_kernels.triton_ops")


def _check_devices(op: str, *tensors: Optional[Tensor]) -> None:
    devices = [t.device for t in tensors if t is not None]
    _check(all(d == devices[0] for d in devices),
           f"{op}: expected all tensors on one device, got {devices}")


# --------------------------------------------------------------------------
# Ops
# --------------------------------------------------------------------------


def grouped_pw_conv(x: Tensor, weight: Tensor, bias: Optional[Tensor], groups: int,
                    activation: str = "none") -> Tensor:
    """``conv1d(x, weight, bias, groups=groups)`` for kernel size 1, in Triton.

    x: ``[B, Cin, L]`` (any strides); weight: ``[Cout, Cin/groups, 1]`` or
    ``[Cout, Cin/groups]`` (any strides); bias: ``[Cout]`` or None.
    ``activation="gelu"`` applies the exact GELU in the epilogue. All of one
    dtype (float32, float16 or bfloat16) and on one device. Returns a
    contiguous ``[B, Cout, L]`` in that dtype. Raises RuntimeError on bad
    arguments, with the CPU op's messages.
    """
    op = "grouped_pw_conv"
    _check_tensor(op, x, "x")
    _check(x.dim() == 3, f"{op}: expected x of shape [batch, in_channels, length], got {_shape(x)}")
    _check(activation in ("none", "gelu"), f'{op}: expected activation "none" or "gelu", got "{activation}"')
    _check(groups > 0, f"{op}: expected groups > 0, got {groups}")
    _check_tensor(op, weight, "weight", x.dtype)
    _check(weight.dim() == 2 or (weight.dim() == 3 and weight.shape[2] == 1),
           f"{op}: expected weight of shape [out_channels, in_channels/groups] or "
           f"[out_channels, in_channels/groups, 1], got {_shape(weight)}")
    cout = weight.shape[0]
    _check(cout % groups == 0, f"{op}: expected out_channels ({cout}) divisible by groups ({groups})")
    if bias is not None:
        _check_tensor(op, bias, "bias", x.dtype)
        _check(bias.dim() == 1 and bias.shape[0] == cout,
               f"{op}: expected bias of shape [{cout}], got {_shape(bias)}")
    batch, cin, length = x.shape
    _check(cin % groups == 0, f"{op}: expected in_channels ({cin}) divisible by groups ({groups})")
    k = cin // groups
    _check(weight.shape[1] == k,
           f"{op}: expected weight of shape [out_channels, {k}] or [out_channels, {k}, 1] for x with "
           f"{cin} channels and groups={groups}, got {_shape(weight)}")
    _check_devices(op, x, weight, bias)

    y = torch.empty(batch, cout, length, dtype=x.dtype, device=x.device)
    if y.numel() == 0:
        return y
    cfg = _conv_config(cout // groups, k, length, batch * groups, x.dtype, x.device)
    launch = functools.partial(_launch_grouped_pw_conv, x, weight, bias, groups, activation == "gelu", y)
    _run_with_fallback(launch, cfg, ("BLOCK_M", "BLOCK_N", "BLOCK_K"))
    return y


def _launch_grouped_pw_conv(x, weight, bias, groups, gelu, y, BLOCK_M, BLOCK_N, BLOCK_K,
                            num_warps=4, num_stages=2):
    batch, cin, length = x.shape
    m, k = weight.shape[0] // groups, cin // groups
    tiles_m, tiles_n = triton.cdiv(m, BLOCK_M), triton.cdiv(length, BLOCK_N)
    grid = (tiles_m * tiles_n * groups * batch,)
    with _device_guard(x):
        _grouped_pw_conv_kernel[grid](
            x, weight, x if bias is None else bias, y,
            m, k, length, tiles_m, tiles_n, groups,
            x.stride(0), x.stride(1), x.stride(2),
            weight.stride(0), weight.stride(1),
            0 if bias is None else bias.stride(0),
            y.stride(0), y.stride(1), y.stride(2),
            HAS_BIAS=bias is not None,
            GELU=gelu,
            DOT_PRECISION=_dot_precision(x.dtype),
            DOT_UPCAST=INTERPRET and x.dtype == torch.bfloat16,
            BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, BLOCK_K=BLOCK_K,
            EVEN_M=m % BLOCK_M == 0, EVEN_N=length % BLOCK_N == 0, EVEN_K=k % BLOCK_K == 0,
            num_warps=num_warps, num_stages=num_stages,
        )
    return y


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
    _check(num_heads > 0, f"{op}: expected num_heads > 0, got {num_heads}")
    _check(channels % num_heads == 0,
           f"{op}: expected channels ({channels}) divisible by num_heads ({num_heads})")
    d = channels // num_heads
    _check(d <= MAX_HEAD_DIM,
           f"{op}: expected a head dimension (channels / num_heads) of at most {MAX_HEAD_DIM} "
           f"for the Triton kernel, got {d}")
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
            q, k, v, q if mask is None else mask, out,
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
            EVEN_L=length % BLOCK_Q == 0 and length % BLOCK_KV == 0, EVEN_D=d == BLOCK_D,
            num_warps=num_warps, num_stages=num_stages,
        )
    return out


# --------------------------------------------------------------------------
# Registration as the ops' CUDA kernels
# --------------------------------------------------------------------------

_registered = False


def _add_layernorm_cuda(x: Tensor, residual: Optional[Tensor], weight: Tensor, bias: Tensor,
                        eps: float) -> Tensor:
    # No Triton kernel yet: stock PyTorch ops, contiguous like the fake kernel.
    return _ops.add_layernorm_reference(x, residual, weight, bias, eps).contiguous()


def register_cuda_kernels() -> None:
    """Registers :func:`grouped_pw_conv` and :func:`fused_attention` as the
    CUDA kernels of ``torch.ops.sqbert.grouped_pw_conv`` and
    ``torch.ops.sqbert.fused_attention`` (and, until it has a Triton kernel,
    the stock-PyTorch composition as the CUDA kernel of
    ``torch.ops.sqbert.add_layernorm``, so that a whole layer runs on a GPU).
    Called when this module is imported; calling it again does nothing. The
    CPU kernels stay the C++ ones, and the packed-weight ops stay CPU-only.
    """
    global _registered
    if _registered:
        return
    torch.library.register_kernel("sqbert::grouped_pw_conv", "cuda", grouped_pw_conv)
    torch.library.register_kernel("sqbert::fused_attention", "cuda", fused_attention)
    torch.library.register_kernel("sqbert::add_layernorm", "cuda", _add_layernorm_cuda)
    _registered = True


register_cuda_kernels()

"""``sqbert::grouped_pw_conv`` in Triton: ``y[b, g*M + m, l] = bias[g*M + m]
+ sum_k W[g*M + m, k] x[b, g*K + k, l]`` (``K = Cin / groups``, ``M = Cout /
groups``), optionally through the exact (erf) GELU.

One program computes a ``BLOCK_M x BLOCK_N`` tile of one (batch, group):
``BLOCK_M`` output channels of the group by ``BLOCK_N`` positions, ``tl.dot``
over the group's input channels in ``BLOCK_K`` steps, bias and activation in
the epilogue.
"""
import functools
from typing import Optional

import torch
import triton
import triton.language as tl
from torch import Tensor

from .checks import _check, _check_devices, _check_tensor, _shape
from .launch import INTERPRET, _device_guard, _device_limits, _dot_precision, _pow2, _run_with_fallback


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

"""sqbert_kernels.triton_ops (the Triton kernels) against the CPU ops.

On a machine without a GPU these run the kernels on CPU tensors in Triton's
interpreter (tests/conftest.py sets TRITON_INTERPRET=1 when it is unset):
sizes stay small, blocks large. On a GPU, run them with the interpreter off,
``TRITON_INTERPRET=0 pytest tests/test_triton_ops.py``: the same tests then
run the compiled kernels on CUDA tensors, still against the C++ CPU ops, and
the GPU-only tests check the ops' CUDA dispatch, autograd and opcheck.

The tests that every backend runs (sizes around the tiles, the GELU
epilogue's tails, empty and bad input, masks, NaN) are in test_shared_ops.py,
on the ``triton`` backend among others (tests/backends.py); here, what only
the Triton kernels have: half-precision dtypes, their own block sizes.
"""
import math
import os

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("triton")

import sqbert_kernels  # noqa: E402,F401
from sqbert_kernels import triton_ops as T  # noqa: E402
from cases import make  # noqa: E402

if T.INTERPRET:
    DEVICE = "cpu"
elif torch.cuda.is_available():
    DEVICE = "cuda"
else:
    pytest.skip("TRITON_INTERPRET is off and there is no CUDA GPU", allow_module_level=True)

on_gpu = pytest.mark.skipif(DEVICE != "cuda", reason="needs a CUDA GPU and TRITON_INTERPRET=0")
conv_op = torch.ops.sqbert.grouped_pw_conv
attention_op = torch.ops.sqbert.fused_attention
HALF = [torch.float32, torch.float16]
ALL = HALF + [torch.bfloat16]


def tolerance(dtype):
    if dtype == torch.float16:
        return 3e-3
    if dtype == torch.bfloat16:
        return 3e-2
    if DEVICE == "cuda":
        return 1e-2 if torch.backends.cuda.matmul.allow_tf32 else 1e-4
    return 2e-5


def dev(t, dtype=None):
    """t (made on the CPU, float32) rounded to dtype, on the test device."""
    if t is None:
        return None
    return t.to(device=DEVICE, dtype=t.dtype if dtype is None else dtype)


def cpu32(t):
    return None if t is None else t.detach().to("cpu", torch.float32)


def assert_close(out, ref, dtype):
    assert out.dtype == dtype and out.device.type == DEVICE
    assert out.shape == ref.shape and out.is_contiguous()
    tol = tolerance(dtype)
    torch.testing.assert_close(cpu32(out), ref.float(), rtol=tol, atol=tol)


# --------------------------------------------------------------------------
# grouped_pw_conv
# --------------------------------------------------------------------------


def make_conv(batch, cin, cout, groups, length, dtype=torch.float32, bias=True):
    return tuple(dev(t, dtype) for t in make(batch, cin, cout, groups, length, bias))


def conv_reference(x, w, b, groups, activation="none"):
    """The C++ CPU op on float32 copies of the (rounded) inputs."""
    return conv_op(cpu32(x), cpu32(w), cpu32(b), groups, activation)


# (batch, groups, in per group K, out per group M, length): none a multiple of
# the blocks; M > 256 and K > 256 take two tiles / steps in the interpreter.
RAGGED_CONV = [(2, 3, 5, 7, 19), (1, 4, 40, 33, 130), (3, 1, 17, 300, 37), (2, 2, 300, 20, 20), (1, 1, 1, 1, 1)]


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("case", RAGGED_CONV)
def test_conv_ragged_sizes(case, dtype):
    batch, groups, k, m, length = case
    x, w, b = make_conv(batch, groups * k, groups * m, groups, length, dtype)
    assert_close(T.grouped_pw_conv(x, w, b, groups), conv_reference(x, w, b, groups), dtype)


@pytest.mark.parametrize("case", [(2, 3, 5, 7, 19), (1, 4, 40, 33, 130)])
def test_conv_bfloat16(case):
    batch, groups, k, m, length = case
    x, w, b = make_conv(batch, groups * k, groups * m, groups, length, torch.bfloat16)
    assert_close(T.grouped_pw_conv(x, w, b, groups), conv_reference(x, w, b, groups), torch.bfloat16)


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("case", [(2, 3, 37, 21, 45), (1, 2, 32, 48, 32)], ids=["ragged", "even"])
def test_conv_small_blocks(case, dtype):
    # 16x16x16 tiles: several output-channel and position tiles and several
    # steps over the input channels, with and without bounds checks.
    batch, groups, k, m, length = case
    x, w, b = make_conv(batch, groups * k, groups * m, groups, length, dtype)
    y = torch.empty(batch, groups * m, length, dtype=dtype, device=DEVICE)
    T._launch_grouped_pw_conv(x, w, b, groups, False, y, BLOCK_M=16, BLOCK_N=16, BLOCK_K=16)
    assert_close(y, conv_reference(x, w, b, groups), dtype)


@pytest.mark.parametrize("dtype", HALF)
def test_conv_gelu_epilogue(dtype):
    x, w, b = make_conv(2, 4 * 9, 4 * 13, 4, 33, dtype)
    x = x * 2
    out = T.grouped_pw_conv(x, w, b, 4, "gelu")
    assert_close(out, conv_reference(x, w, b, 4, "gelu"), dtype)


@pytest.mark.parametrize("dtype", HALF)
def test_conv_non_contiguous_inputs(dtype):
    x_t = dev(torch.randn(2, 21, 16), dtype).transpose(1, 2)  # [B, L, C] viewed as [B, C, L]
    x_sliced = dev(torch.randn(4, 40, 30), dtype)[::2, 3:19, 5:26]
    w = dev(torch.randn(8, 12, 3), dtype)[:, ::3, 1:2]  # [8, 4, 1], strided
    b = dev(torch.randn(16), dtype)[::2]
    for x in (x_t, x_sliced):
        assert not x.is_contiguous() and not w.is_contiguous()
        assert_close(T.grouped_pw_conv(x, w, b, 4), conv_reference(x, w, b, 4), dtype)
    w2 = dev(torch.randn(4, 8), dtype).t()  # [8, 4] with stride (1, 8)
    assert_close(T.grouped_pw_conv(x_sliced, w2, None, 4), conv_reference(x_sliced, w2, None, 4), dtype)


@pytest.mark.parametrize("cin,cout,dtype", [(768, 768, torch.float32), (768, 3072, torch.float32),
                                            (3072, 768, torch.float32), (768, 768, torch.float16)])
def test_conv_squeezebert_shapes(cin, cout, dtype):
    x, w, b = make_conv(1, cin, cout, 4, 128, dtype)
    assert_close(T.grouped_pw_conv(x, w, b, 4), conv_reference(x, w, b, 4), dtype)


@pytest.mark.parametrize("which", ["x", "weight", "bias"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.int32])
def test_conv_bad_dtypes(which, dtype):
    args = dict(zip(["x", "weight", "bias"], make_conv(1, 8, 8, 4, 5)))
    args[which] = args[which].to(dtype)
    name = str(dtype).split(".")[-1]
    with pytest.raises(RuntimeError, match=f"{which} of dtype float32, float16 or bfloat16, got {name}"):
        T.grouped_pw_conv(args["x"], args["weight"], args["bias"], 4)


def test_conv_mixed_half_dtypes():
    x, w, b = make_conv(1, 8, 8, 4, 5)
    with pytest.raises(RuntimeError, match=r"weight of the same dtype as the input \(float32\), got float16"):
        T.grouped_pw_conv(x, w.half(), b, 4)


def test_conv_mixed_devices():
    x, w, b = make_conv(1, 8, 8, 4, 5)
    with pytest.raises(RuntimeError, match=r"one device|on a CUDA device"):
        T.grouped_pw_conv(x, w.to("meta"), b, 4)


# --------------------------------------------------------------------------
# fused_attention
# --------------------------------------------------------------------------

MIN32 = torch.finfo(torch.float32).min


def qkv(batch, channels, length, dtype=torch.float32):
    return [dev(torch.randn(batch, channels, length), dtype) for _ in range(3)]


def attention_reference(q, k, v, mask, heads):
    """The C++ CPU op on float32 copies of the (rounded) inputs."""
    return attention_op(cpu32(q), cpu32(k), cpu32(v), cpu32(mask), heads)


def padding_mask(lengths, length, four_d, dtype=torch.float32):
    """transformers' additive masks, [B, 1, 1, L] (4.x) or [B, 1, L, L] (5.x),
    with the dtype's minimum on padded keys."""
    keep = torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]
    mask = torch.zeros(len(lengths), 1, 1, length).masked_fill(~keep[:, None, None, :], torch.finfo(dtype).min)
    mask = mask.expand(-1, 1, length, -1).contiguous() if four_d else mask
    return dev(mask, dtype)


# (batch, heads, head dim, length): head dims padded to a power of two
# (8 -> 16, 24 -> 32, 96 -> 128, 160 -> 256), lengths past one key block.
RAGGED_ATTENTION = [(2, 4, 16, 7), (2, 2, 32, 130), (1, 3, 24, 33), (1, 1, 96, 20), (1, 2, 128, 17),
                    (2, 1, 8, 5), (1, 1, 160, 9), (1, 2, 64, 1)]


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("case", RAGGED_ATTENTION)
def test_attention_matches_cpu_op(case, dtype):
    batch, heads, d, length = case
    q, k, v = qkv(batch, heads * d, length, dtype)
    assert_close(T.fused_attention(q, k, v, None, heads), attention_reference(q, k, v, None, heads), dtype)


@pytest.mark.parametrize("case", [(2, 4, 16, 7), (2, 2, 32, 130)])
def test_attention_bfloat16(case):
    batch, heads, d, length = case
    q, k, v = qkv(batch, heads * d, length, torch.bfloat16)
    mask = padding_mask([length, length // 2 + 1], length, four_d=False, dtype=torch.bfloat16)
    assert_close(T.fused_attention(q, k, v, mask, heads), attention_reference(q, k, v, mask, heads), torch.bfloat16)


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("length,d", [(45, 24), (48, 32)], ids=["ragged", "even"])
def test_attention_small_blocks(length, d, dtype):
    # 16x16 blocks: several query blocks and an online softmax over several
    # key blocks, with and without bounds checks.
    q, k, v = qkv(2, 2 * d, length, dtype)
    mask = dev(torch.randn(2, 1, length, length) * 3)
    mask[1, :, :, length // 3:] = MIN32
    out = torch.empty_like(q)
    T._launch_fused_attention(q, k, v, mask, 2, out, BLOCK_Q=16, BLOCK_KV=16, BLOCK_D=triton_pow2(d))
    assert_close(out, attention_reference(q, k, v, mask, 2), dtype)


def triton_pow2(n):
    return max(16, 1 << (n - 1).bit_length())


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("length", [7, 130])
@pytest.mark.parametrize("four_d", [False, True])
def test_padding_masks_per_batch_row(length, four_d, dtype):
    lengths = [length, max(1, length // 2), max(1, length - 3)]
    mask = padding_mask(lengths, length, four_d, dtype)
    q, k, v = qkv(3, 2 * 32, length, dtype)
    assert_close(T.fused_attention(q, k, v, mask, 2), attention_reference(q, k, v, mask, 2), dtype)


@pytest.mark.parametrize("shape", [(1, 1, 1, 33), (2, 1, 33, 33), (2, 3, 33, 33), (33, 33), (33,), (2, 3, 1, 33)])
def test_broadcast_mask_shapes(shape):
    q, k, v = qkv(2, 3 * 16, 33)
    mask = dev(torch.randn(shape) * 3)
    assert_close(T.fused_attention(q, k, v, mask, 3), attention_reference(q, k, v, mask, 3), torch.float32)


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("length", [20, 130])
def test_fully_masked_rows_attend_uniformly(length, dtype):
    # A batch row with every key padded with the dtype's minimum attends
    # uniformly, as Hugging Face's softmax does; never NaN.
    q, k, v = qkv(2, 64, length, dtype)
    mask = padding_mask([length, 0], length, four_d=True, dtype=dtype)
    out = T.fused_attention(q, k, v, mask, 2)
    assert not out.isnan().any()
    tol = tolerance(dtype)
    torch.testing.assert_close(cpu32(out[1]), cpu32(v[1]).mean(dim=1, keepdim=True).expand(64, length),
                               rtol=tol, atol=tol)
    assert_close(out[:1], attention_reference(q[:1], k[:1], v[:1], mask[:1], 2), dtype)
    if dtype == torch.float32:
        assert_close(out, attention_reference(q, k, v, mask, 2), dtype)


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("length", [9, 130])
def test_minus_infinity_rows_give_zero(length, dtype):
    q, k, v = qkv(1, 32, length, dtype)
    mask = dev(torch.zeros(1, 1, length, length), dtype)
    mask[..., 4, :] = float("-inf")
    mask[..., 6, 2:] = float("-inf")
    mask[..., 7, :length // 2] = float("-inf")  # -inf over the first key block only
    out = T.fused_attention(q, k, v, mask, 1)
    assert not out.isnan().any()
    assert (cpu32(out[..., 4]) == 0).all()
    keep = [i for i in range(length) if i != 4]
    assert_close(out[..., keep].contiguous(), attention_reference(q, k, v, mask, 1)[..., keep], dtype)


@pytest.mark.parametrize("dtype,mask_dtype", [(torch.float16, torch.float32), (torch.float32, torch.float16)])
def test_mask_of_another_dtype(dtype, mask_dtype):
    q, k, v = qkv(2, 64, 37, dtype)
    mask = padding_mask([37, 20], 37, four_d=False, dtype=mask_dtype)
    assert_close(T.fused_attention(q, k, v, mask, 2), attention_reference(q, k, v, mask, 2), dtype)


@pytest.mark.parametrize("dtype", HALF)
def test_attention_non_contiguous_inputs(dtype):
    base = dev(torch.randn(3, 2, 40, 64), dtype)
    q = base[0].transpose(1, 2)  # positions strided
    k = dev(torch.randn(2, 128, 40), dtype)[:, ::2]
    v = dev(torch.randn(2, 64, 50), dtype)[..., 5:45]
    mask = dev(torch.randn(2, 1, 40, 80))[..., ::2]
    for t in (q, k, v, mask):
        assert not t.is_contiguous()
    assert_close(T.fused_attention(q, k, v, mask, 4), attention_reference(q, k, v, mask, 4), dtype)


@pytest.mark.parametrize("dtype", HALF)
def test_attention_squeezebert_size(dtype):
    q, k, v = qkv(1, 768, 128, dtype)
    mask = padding_mask([100], 128, four_d=True, dtype=dtype)
    assert_close(T.fused_attention(q, k, v, mask, 12), attention_reference(q, k, v, mask, 12), dtype)


@pytest.mark.parametrize("which", [0, 1, 2, 3])
def test_attention_bad_dtypes(which):
    args = qkv(1, 8, 5) + [dev(torch.zeros(1, 1, 1, 5))]
    args[which] = args[which].to(torch.float64) if which < 3 else args[which].bool()
    name = ["q", "k", "v", "mask"][which]
    with pytest.raises(RuntimeError, match=f"{name} of (dtype|the same dtype as).*got (float64|bool)"):
        T.fused_attention(*args, 2)


def test_attention_bad_head_dim_and_mixed_dtypes():
    q, k, v = qkv(1, 2 * 264, 3)
    with pytest.raises(RuntimeError, match=r"head dimension .* at most 256 .*got 264"):
        T.fused_attention(q, k, v, None, 2)
    q, k, v = qkv(1, 8, 3)
    with pytest.raises(RuntimeError, match=r"v of the same dtype as the input \(float32\), got float16"):
        T.fused_attention(q, k, v.half(), None, 2)


def test_attention_empty():
    q, k, v = qkv(0, 8, 5)
    assert T.fused_attention(q, k, v, None, 2).shape == (0, 8, 5)
    q, k, v = qkv(2, 8, 0)
    assert T.fused_attention(q, k, v, None, 2).shape == (2, 8, 0)


# --------------------------------------------------------------------------
# fused_attention_varlen
# --------------------------------------------------------------------------

varlen_op = torch.ops.sqbert.fused_attention_varlen


def offsets_of(lengths, dtype=torch.int64):
    return dev(torch.tensor([0] + list(lengths), dtype=torch.int64).cumsum(0).to(dtype))


def varlen_reference(q, k, v, seq_offsets, heads):
    """The C++ CPU op on float32 copies of the (rounded) inputs."""
    return varlen_op(cpu32(q), cpu32(k), cpu32(v), seq_offsets.cpu(), heads)


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("heads,d", [(2, 16), (1, 24), (3, 64)])
def test_varlen_matches_cpu_op(heads, d, dtype):
    lengths = [0, 1, 7, 130, 0, 16, 33]
    q, k, v = qkv(1, heads * d, sum(lengths), dtype)
    seq_offsets = offsets_of(lengths, torch.int32)
    assert_close(T.fused_attention_varlen(q, k, v, seq_offsets, heads),
                 varlen_reference(q, k, v, seq_offsets, heads), dtype)


@pytest.mark.parametrize("dtype", HALF)
def test_varlen_small_blocks(dtype):
    # 16x16 blocks: sequences of several query and key blocks, and programs
    # past a short sequence's last query block (they return at once).
    lengths = [45, 3, 0, 16, 33, 1]
    q, k, v = qkv(1, 2 * 24, sum(lengths), dtype)
    seq_offsets = offsets_of(lengths)
    out = torch.empty_like(q)
    T._launch_fused_attention_varlen(q, k, v, seq_offsets, 2, max(lengths), out, BLOCK_Q=16, BLOCK_KV=16,
                                     BLOCK_D=32)
    assert_close(out, varlen_reference(q, k, v, seq_offsets, 2), dtype)


def test_varlen_bad_dtypes():
    q, k, v = qkv(1, 8, 5)
    with pytest.raises(RuntimeError, match=r"k of the same dtype as the input \(float32\), got float16"):
        T.fused_attention_varlen(q, k.half(), v, offsets_of([5]), 2)
    with pytest.raises(RuntimeError, match=r"seq_offsets on q's device"):
        T.fused_attention_varlen(q, k, v, offsets_of([5]).to("meta"), 2)


# --------------------------------------------------------------------------
# Registration and the interpreter switch
# --------------------------------------------------------------------------


def test_registered_as_the_cuda_kernels_only():
    for name in ("sqbert::grouped_pw_conv", "sqbert::fused_attention", "sqbert::fused_attention_varlen",
                 "sqbert::add_layernorm"):
        assert torch._C._dispatch_has_kernel_for_dispatch_key(name, "CUDA")
    T.register_cuda_kernels()  # again: a no-op
    # The CPU kernels are still the C++ ones (float32 only).
    x, w, b = make_conv(1, 8, 8, 4, 5)
    with pytest.raises(RuntimeError, match=r"x of dtype float32, got float16"):
        conv_op(cpu32(x).half(), cpu32(w).half(), None, 4)
    with pytest.raises(RuntimeError, match=r"q of dtype float32, got float16"):
        attention_op(*(cpu32(t).half() for t in qkv(1, 8, 5)), None, 2)


def test_interpreter_follows_the_environment():
    value = os.environ.get("TRITON_INTERPRET", "0").strip().lower()
    assert T.INTERPRET == (value in ("1", "true", "on", "yes"))


@on_gpu
@pytest.mark.parametrize("dtype", ALL)
def test_ops_dispatch_to_triton_on_cuda(dtype):
    x, w, b = make_conv(2, 64, 96, 4, 50, dtype)
    assert_close(conv_op(x, w, b, 4), conv_reference(x, w, b, 4), dtype)
    assert_close(conv_op(x, w, b, 4, "gelu"), conv_reference(x, w, b, 4, "gelu"), dtype)
    q, k, v = qkv(2, 4 * 16, 50, dtype)
    mask = padding_mask([50, 30], 50, four_d=True, dtype=dtype)
    assert_close(attention_op(q, k, v, mask, 4), attention_reference(q, k, v, mask, 4), dtype)


@on_gpu
def test_autograd_through_the_cuda_ops():
    x, w, b = (t.requires_grad_(True) for t in make_conv(2, 12, 15, 3, 11))
    grad = dev(torch.randn(2, 15, 11))
    ours = torch.autograd.grad(conv_op(x, w, b, 3), (x, w, b), grad)
    ref = torch.autograd.grad(F.conv1d(x, w, b, groups=3), (x, w, b), grad)
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r, rtol=1e-2, atol=1e-2)
    q, k, v = (t.requires_grad_(True) for t in qkv(2, 64, 19))
    mask = padding_mask([19, 11], 19, four_d=False)
    grad = dev(torch.randn(2, 64, 19))
    ours = torch.autograd.grad(attention_op(q, k, v, mask, 2), (q, k, v), grad)
    ref = torch.autograd.grad(sqbert_kernels.attention_reference(q, k, v, mask, 2), (q, k, v), grad)
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r, rtol=1e-2, atol=1e-2)


@on_gpu
def test_opcheck_on_cuda():
    x, w, b = make_conv(2, 12, 9, 3, 7)
    torch.library.opcheck(conv_op, (x.requires_grad_(True), w.requires_grad_(True), b, 3))
    q, k, v = (t.requires_grad_(True) for t in qkv(2, 16, 9))
    torch.library.opcheck(attention_op, (q, k, v, padding_mask([9, 4], 9, four_d=True), 2))
    q, k, v = (t.requires_grad_(True) for t in qkv(1, 16, 14))
    torch.library.opcheck(varlen_op, (q, k, v, offsets_of([4, 0, 9, 1], torch.int32), 2))


@on_gpu
def test_varlen_dispatch_and_autograd_on_cuda():
    lengths = [19, 0, 11, 64]
    q, k, v = (t.requires_grad_(True) for t in qkv(1, 64, sum(lengths)))
    seq_offsets = offsets_of(lengths)
    out = varlen_op(q, k, v, seq_offsets, 2)
    assert_close(out, varlen_reference(q, k, v, seq_offsets, 2), torch.float32)
    grad = dev(torch.randn(1, 64, sum(lengths)))
    ours = torch.autograd.grad(out, (q, k, v), grad)
    ref = torch.autograd.grad(sqbert_kernels.ops.attention_varlen_reference(q, k, v, seq_offsets, 2), (q, k, v), grad)
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r, rtol=1e-2, atol=1e-2)


@on_gpu
def test_tf32_dots():
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        x, w, b = make_conv(1, 768, 768, 4, 128)
        out = T.grouped_pw_conv(x, w, b, 4)
        torch.testing.assert_close(cpu32(out), conv_reference(x, w, b, 4), rtol=1e-2, atol=1e-2)
        q, k, v = qkv(1, 768, 128)
        out = T.fused_attention(q, k, v, None, 12)
        torch.testing.assert_close(cpu32(out), attention_reference(q, k, v, None, 12), rtol=1e-2, atol=1e-2)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous


@on_gpu
def test_squeezebert_model_sizes_on_cuda():
    # Batch 8 at length 512: the shapes the benchmark times.
    x, w, b = make_conv(8, 768, 3072, 4, 512, torch.float16)
    assert_close(T.grouped_pw_conv(x, w, b, 4), conv_reference(x, w, b, 4), torch.float16)
    q, k, v = qkv(8, 768, 512, torch.float16)
    mask = padding_mask([512, 300, 1, 17, 511, 128, 64, 0], 512, four_d=False, dtype=torch.float16)
    out = T.fused_attention(q, k, v, mask, 12)
    ref = attention_reference(q, k, v, mask.float().masked_fill(mask == torch.finfo(torch.float16).min, MIN32), 12)
    assert_close(out, ref, torch.float16)
    assert math.isfinite(cpu32(out).abs().max().item())


@on_gpu
def test_add_layernorm_on_cuda():
    x, r = dev(torch.randn(2, 96, 33) * 3 + 5), dev(torch.randn(2, 96, 33))
    w, b = dev(torch.randn(96)), dev(torch.randn(96))
    out = torch.ops.sqbert.add_layernorm(x, r, w, b, 1e-12)
    assert out.is_contiguous() and out.device.type == "cuda"
    expected = torch.ops.sqbert.add_layernorm(cpu32(x), cpu32(r), cpu32(w), cpu32(b), 1e-12)
    torch.testing.assert_close(cpu32(out), expected, rtol=1e-4, atol=1e-4)

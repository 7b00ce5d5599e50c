"""torch.ops.sqbert.fused_attention against scaled_dot_product_attention on
transposed inputs, and against Hugging Face SqueezeBERT's eager attention.
Masks, NaN inputs and bad input on every backend: test_shared_ops.py."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import sqbert_kernels as sk

op = torch.ops.sqbert.fused_attention
MIN = torch.finfo(torch.float32).min


def qkv(batch, channels, length, dtype=torch.float32):
    return [torch.randn(batch, channels, length, dtype=dtype) for _ in range(3)]


def sdpa_reference(q, k, v, mask, heads):
    """SDPA in float64 on [B, H, L, d] views of the NCW tensors."""
    batch, channels, length = q.shape
    d = channels // heads

    def heads_last(t):
        return t.double().reshape(batch, heads, d, length).transpose(2, 3)

    out = F.scaled_dot_product_attention(heads_last(q), heads_last(k), heads_last(v),
                                         attn_mask=None if mask is None else
                                         mask.double().expand(batch, heads, length, length))
    return out.transpose(2, 3).reshape(batch, channels, length)


def padding_mask(lengths, length, four_d):
    """transformers' additive masks: [B, 1, 1, L] (4.x) or [B, 1, L, L] (5.x)."""
    keep = torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]
    mask = torch.zeros(len(lengths), 1, 1, length).masked_fill(~keep[:, None, None, :], MIN)
    return mask.expand(-1, 1, length, -1).contiguous() if four_d else mask


def assert_close(out, ref):
    assert out.dtype == torch.float32 and out.shape == ref.shape and out.is_contiguous()
    torch.testing.assert_close(out.double(), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("length", [1, 7, 128, 130, 512])
@pytest.mark.parametrize("head_dim", [32, 64])
def test_matches_sdpa(isa, length, head_dim):
    heads = 3 if length == 512 else 4
    q, k, v = qkv(2, heads * head_dim, length)
    assert_close(op(q, k, v, None, heads), sdpa_reference(q, k, v, None, heads))


@pytest.mark.parametrize("length", [1, 7, 130])
@pytest.mark.parametrize("four_d", [False, True])
def test_padding_masks_per_batch_row(isa, length, four_d):
    lengths = [length, max(1, length // 2), max(1, length - 3)]
    mask = padding_mask(lengths, length, four_d)
    q, k, v = qkv(3, 2 * 32, length)
    assert_close(op(q, k, v, mask, 2), sdpa_reference(q, k, v, mask, 2))


@pytest.mark.parametrize("shape", [(1, 1, 1, 33), (2, 1, 33, 33), (2, 3, 33, 33), (33, 33), (33,), (2, 3, 1, 33)])
def test_broadcast_mask_shapes(isa, shape):
    q, k, v = qkv(2, 3 * 8, 33)
    mask = torch.randn(shape) * 3
    assert_close(op(q, k, v, mask, 3), sdpa_reference(q, k, v, mask, 3))


@pytest.mark.parametrize("differ", [None, (0, 5), (32, 0), (17, 32)])
@pytest.mark.parametrize("layout", ["contiguous", "keys strided", "heads expanded"])
def test_masks_with_equal_query_rows(isa, differ, layout):
    # Equal rows run as a key mask (the score GEMM's bias); one element off
    # in any row must send the mask through the softmax kernel instead.
    q, k, v = qkv(2, 2 * 16, 33)
    mask = padding_mask([33, 20], 33, four_d=True)
    mask[:, :, :, 3] = float("-inf")
    if differ is not None:
        mask[1, 0, differ[0], differ[1]] = -7.0
    if layout == "keys strided":
        mask = mask.transpose(-1, -2).contiguous().transpose(-1, -2)
    elif layout == "heads expanded":
        mask = mask.expand(2, 2, 33, 33)
    assert_close(op(q, k, v, mask, 2), sdpa_reference(q, k, v, mask, 2))


def test_fully_masked_rows_match_hugging_face(isa):
    # A batch row with every key padded: transformers' mask is the dtype's
    # minimum, and its softmax attends uniformly. Never NaN.
    q, k, v = qkv(2, 64, 20)
    mask = padding_mask([20, 0], 20, four_d=True)
    out = op(q, k, v, mask, 2)
    assert not out.isnan().any()
    assert_close(out, sdpa_reference(q, k, v, mask, 2))
    torch.testing.assert_close(out[1], v[1].mean(dim=1, keepdim=True).expand(64, 20), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("length", [33, 300])
def test_trailing_padding_per_head(isa, length):
    # Keys after the last unpadded one are skipped, per batch row and head:
    # padding of 0, some, all but one and all keys, as the dtype's minimum
    # and -inf, a padded key in the middle, and a trailing key masked by a
    # finite amount (-2: not padding). 300 keys: two key blocks, or one
    # once the padding is skipped.
    q, k, v = qkv(2, 4 * 8, length)
    mask = torch.zeros(2, 4, 1, length)
    mask[0, 1, :, length // 2:] = MIN
    mask[0, 2, :, 1:] = float("-inf")
    mask[0, 3, :, :] = MIN
    mask[1, 0, :, 3] = MIN
    mask[1, 1, :, -1] = -2.0
    mask[1, 2, :, 260:] = MIN
    out = op(q, k, v, mask, 4)
    assert not out.isnan().any()
    assert_close(out, sdpa_reference(q, k, v, mask, 4))


def test_inputs_past_the_prefetch_threshold(isa):
    # 9 MiB of q, k and v (SqueezeBERT at B8 L128): the operator fetches
    # each next task's inputs ahead while it computes.
    q, k, v = qkv(8, 768, 128)
    mask = padding_mask([128, 100, 7, 128, 1, 64, 127, 128], 128, four_d=False)
    assert_close(op(q, k, v, mask, 12), sdpa_reference(q, k, v, mask, 12))


def test_minus_infinity_rows_give_zero(isa):
    q, k, v = qkv(1, 32, 9)
    mask = torch.zeros(1, 1, 9, 9)
    mask[..., 4, :] = float("-inf")
    mask[..., 6, 2:] = float("-inf")
    out = op(q, k, v, mask, 1)
    assert not out.isnan().any()
    assert (out[..., 4] == 0).all()
    keep = [i for i in range(9) if i != 4]
    assert_close(out[..., keep].contiguous(), sdpa_reference(q, k, v, mask, 1)[..., keep])


def test_isa_backends_agree():
    q, k, v = qkv(2, 96, 45)
    mask = padding_mask([45, 20], 45, four_d=False)
    results = []
    previous = sk.cpu_isa()
    try:
        for isa in sk.cpu_isas():
            sk.set_cpu_isa(isa)
            results.append(op(q, k, v, mask, 3))
    finally:
        sk.set_cpu_isa(previous)
    for out in results[1:]:
        torch.testing.assert_close(out, results[0], rtol=1e-5, atol=1e-6)


def test_non_contiguous_inputs(isa):
    base = torch.randn(3, 2, 40, 64)  # q, k, v stored [B, L, C]-like and sliced
    q = base[0].transpose(1, 2)
    k = torch.randn(2, 128, 40)[:, ::2]
    v = torch.randn(2, 64, 50)[..., 5:45]
    mask = torch.randn(2, 1, 40, 80)[..., ::2]
    assert_close(op(q, k, v, mask, 4), sdpa_reference(q, k, v, mask, 4))


def test_matches_hugging_face_eager_attention(isa):
    transformers = pytest.importorskip("transformers")
    from transformers.models.squeezebert import modeling_squeezebert as hf

    config = transformers.SqueezeBertConfig(hidden_size=96, num_attention_heads=4,
                                            attention_probs_dropout_prob=0.0)
    attention = hf.SqueezeBertSelfAttention(config, cin=96).eval()
    x = torch.randn(3, 96, 37)
    for mask in (None, padding_mask([37, 20, 5], 37, four_d=False), padding_mask([37, 1, 30], 37, four_d=True)):
        with torch.no_grad():
            expected = attention(x, mask, output_attentions=False)["context_layer"]
            q, k, v = attention.query(x), attention.key(x), attention.value(x)
            torch.testing.assert_close(op(q, k, v, mask, 4), expected, rtol=1e-4, atol=1e-5)


def test_squeezebert_size(isa):
    q, k, v = qkv(1, 768, 128)
    mask = padding_mask([100], 128, four_d=True)
    assert_close(op(q, k, v, mask, 12), sdpa_reference(q, k, v, mask, 12))


@pytest.mark.parametrize("which", [0, 1, 2, 3])
def test_bad_dtypes(which):
    args = qkv(1, 8, 5) + [torch.zeros(1, 1, 1, 5)]
    args[which] = args[which].to(torch.float64) if which < 3 else args[which].bool()
    name = ["q", "k", "v", "mask"][which]
    with pytest.raises(RuntimeError, match=f"{name} of dtype float32, got (float64|bool)"):
        op(*args, 2)


def test_empty():
    q, k, v = qkv(0, 8, 5)
    assert op(q, k, v, None, 2).shape == (0, 8, 5)
    q, k, v = qkv(2, 8, 0)
    assert op(q, k, v, None, 2).shape == (2, 8, 0)


def test_autograd_matches_sdpa(isa):
    q, k, v = (t.requires_grad_(True) for t in qkv(2, 64, 19))
    mask = padding_mask([19, 11], 19, four_d=False)
    grad = torch.randn(2, 64, 19)
    ours = torch.autograd.grad(op(q, k, v, mask, 2), (q, k, v), grad)
    ref = torch.autograd.grad(sdpa_reference(q, k, v, mask, 2).float(), (q, k, v), grad)
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r, rtol=1e-4, atol=1e-5)


def test_autograd_partial_inputs_and_mask_grad():
    q, k, v = qkv(1, 16, 6)
    v.requires_grad_(True)
    mask = torch.randn(1, 1, 6, 6, requires_grad=True)
    grad = torch.randn(1, 16, 6)
    ours = torch.autograd.grad(op(q, k, v, mask, 2), (v, mask), grad)
    ref = torch.autograd.grad(sdpa_reference(q, k, v, mask, 2).float(), (v, mask), grad)
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("with_mask", [False, True])
def test_opcheck(with_mask):
    q, k, v = (t.requires_grad_(True) for t in qkv(2, 16, 9))
    mask = padding_mask([9, 4], 9, four_d=True) if with_mask else None
    torch.library.opcheck(op, (q, k, v, mask, 2))


def test_torch_compile_fullgraph():
    q, k, v = qkv(2, 32, 17)
    mask = padding_mask([17, 9], 17, four_d=False)

    @torch.compile(fullgraph=True)
    def f(q, k, v, mask):
        return op(q, k, v, mask, 4) + 1

    torch.testing.assert_close(f(q, k, v, mask), sdpa_reference(q, k, v, mask, 4).float() + 1,
                               rtol=1e-4, atol=1e-5)


def test_reference_composition_matches_sdpa():
    q, k, v = qkv(2, 32, 11)
    mask = padding_mask([11, 3], 11, four_d=True)
    torch.testing.assert_close(sk.attention_reference(q.double(), k.double(), v.double(), mask.double(), 4),
                               sdpa_reference(q, k, v, mask, 4))


def test_flop_counter():
    q, k, v = qkv(2, 768, 128)
    with FlopCounterMode(display=False) as counter:
        op(q, k, v, None, 12)
    assert counter.get_total_flops() == 4 * 2 * 768 * 128 * 128

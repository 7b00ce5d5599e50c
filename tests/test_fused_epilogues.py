"""The fusions the model uses: GELU in the convolution's epilogue, the
feed-forward block's two convolutions in one op, and residual + LayerNorm
over the channels of NCW activations. The GELU epilogue and the
feed-forward block at small sizes, their autograd and bad activations run
on every backend: test_shared_ops.py."""
import pytest
import torch
import torch.nn.functional as F

from torch.utils.flop_counter import FlopCounterMode

import sqbert_kernels as sk
from cases import ffn_inputs, ffn_reference


def test_opcheck_gelu():
    x = torch.randn(2, 8, 5, requires_grad=True)
    w = torch.randn(12, 4, 1, requires_grad=True)
    torch.library.opcheck(torch.ops.sqbert.grouped_pw_conv, (x, w, None, 2, "gelu"))


@pytest.mark.parametrize("channels,length", [(1, 1), (7, 3), (768, 130), (96, 65)])
@pytest.mark.parametrize("with_residual", [True, False])
def test_add_layernorm_matches_layer_norm(channels, length, with_residual):
    x = torch.randn(2, channels, length) * 3 + 5  # far from zero mean
    r = torch.randn(2, channels, length) if with_residual else None
    w, b = torch.randn(channels), torch.randn(channels)
    z = x.double() + (0 if r is None else r.double())
    ref = F.layer_norm(z.transpose(1, 2), (channels,), w.double(), b.double(), 1e-12).transpose(1, 2)
    y = sk.add_layernorm(x, r, w, b, 1e-12)
    assert y.shape == x.shape and y.is_contiguous()
    torch.testing.assert_close(y.double(), ref, rtol=1e-4, atol=1e-4)


def test_add_layernorm_non_contiguous():
    x = torch.randn(2, 50, 24).transpose(1, 2)  # [2, 24, 50], positions strided
    r = torch.randn(2, 48, 50)[:, ::2]
    w, b = torch.randn(24), torch.randn(24)
    torch.testing.assert_close(sk.add_layernorm(x, r, w, b, 1e-5), sk.add_layernorm_reference(x, r, w, b, 1e-5),
                               rtol=1e-5, atol=1e-5)


def test_add_layernorm_bad_input():
    x = torch.randn(1, 8, 5)
    with pytest.raises(RuntimeError, match=r"weight of shape \[8\], got \[7\]"):
        sk.add_layernorm(x, None, torch.randn(7), torch.randn(8), 1e-5)
    with pytest.raises(RuntimeError, match=r"residual of shape \[1, 8, 5\], got \[1, 8, 4\]"):
        sk.add_layernorm(x, torch.randn(1, 8, 4), torch.randn(8), torch.randn(8), 1e-5)
    with pytest.raises(RuntimeError, match=r"x of dtype float32, got float64"):
        sk.add_layernorm(x.double(), None, torch.randn(8), torch.randn(8), 1e-5)
    with pytest.raises(RuntimeError, match=r"x of shape \[batch, channels, length\]"):
        sk.add_layernorm(torch.randn(8, 5), None, torch.randn(8), torch.randn(8), 1e-5)


def test_add_layernorm_autograd_and_opcheck():
    x, r = (torch.randn(2, 16, 7, requires_grad=True) for _ in range(2))
    w, b = (torch.randn(16, requires_grad=True) for _ in range(2))
    grad = torch.randn(2, 16, 7)
    ours = torch.autograd.grad(sk.add_layernorm(x, r, w, b, 1e-5), (x, r, w, b), grad)
    ref = torch.autograd.grad(sk.add_layernorm_reference(x, r, w, b, 1e-5), (x, r, w, b), grad)
    for a, e in zip(ours, ref):
        torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-5)
    torch.library.opcheck(torch.ops.sqbert.add_layernorm, (x, r, w, b, 1e-5))
    torch.library.opcheck(torch.ops.sqbert.add_layernorm, (x, None, w, b, 1e-5))


def ffn(x, first, second, groups, activation):
    return sk.grouped_pw_ffn_packed(x, sk.pack_pw_weight(*first, groups), sk.pack_pw_weight(*second, groups),
                                    first[0].shape[0], second[0].shape[0], activation)


def test_ffn_squeezebert_size(isa):
    # SqueezeBERT's feed-forward block at 128 positions (the smaller cases
    # run on every backend: test_shared_ops.py).
    x, first, second = ffn_inputs(2, 4, 192, 768, 192, 128)
    y = ffn(x, first, second, 4, "gelu")
    torch.testing.assert_close(y.double(), ffn_reference(x, first, second, 4, "gelu"), rtol=1e-4, atol=1e-4)
    h = sk.grouped_pw_conv_packed(x, sk.pack_pw_weight(*first, 4), 4 * 768, "gelu")
    assert torch.equal(y, sk.grouped_pw_conv_packed(h, sk.pack_pw_weight(*second, 4), 4 * 192))


def test_ffn_strided_input_and_empty(isa):
    x, first, second = ffn_inputs(2, 2, 6, 10, 4, 23)
    wide = torch.randn(3, 15, 23)[:2, 1:13]  # channel and batch gaps
    wide.copy_(x)
    torch.testing.assert_close(ffn(wide, first, second, 2, "gelu"), ffn(x, first, second, 2, "gelu"))
    assert ffn(x[:, :, :0], first, second, 2, "gelu").shape == (2, 8, 0)
    assert ffn(x[:0], first, second, 2, "gelu").shape == (0, 8, 23)
    # No hidden channels: the output is the second bias.
    none = (torch.randn(0, 6, 1), torch.randn(0))
    b2 = torch.randn(8)
    y = ffn(x, none, (torch.randn(8, 0, 1), b2), 2, "gelu")
    assert torch.equal(y, b2[None, :, None].expand(2, 8, 23))


def test_ffn_bad_input():
    x, first, second = ffn_inputs(1, 4, 2, 3, 2, 5)
    p1, p2 = sk.pack_pw_weight(*first, 4), sk.pack_pw_weight(*second, 4)
    with pytest.raises(RuntimeError, match=r"x with 8 channels .* got 12"):
        sk.grouped_pw_ffn_packed(torch.randn(1, 12, 5), p1, p2, 12, 8)
    with pytest.raises(RuntimeError, match=r"expected hidden_channels 12 \(packed_w1 holds 12 .* got 10"):
        sk.grouped_pw_ffn_packed(x, p1, p2, 10, 8)
    with pytest.raises(RuntimeError, match=r"expected out_channels 8 \(packed_w2 holds 8 .* got 40"):
        sk.grouped_pw_ffn_packed(x, p1, p2, 12, 40)
    with pytest.raises(RuntimeError, match=r"packed_w2 with 4 groups of 3 input channels .* got 2 groups"):
        sk.grouped_pw_ffn_packed(x, p1, sk.pack_pw_weight(torch.randn(8, 6, 1), None, 2), 12, 8)
    with pytest.raises(RuntimeError, match=r"packed_w2 with 4 groups of 3 .* got 4 groups of 2"):
        sk.grouped_pw_ffn_packed(x, p1, sk.pack_pw_weight(torch.randn(8, 2, 1), None, 4), 12, 8)
    with pytest.raises(RuntimeError, match=r'grouped_pw_ffn_packed: expected activation "none" or "gelu", got "relu"'):
        sk.grouped_pw_ffn_packed(x, p1, p2, 12, 8, "relu")
    with pytest.raises(RuntimeError, match=r"grouped_pw_ffn_packed: expected x of dtype float32, got float64"):
        sk.grouped_pw_ffn_packed(x.double(), p1, p2, 12, 8)


def test_ffn_opcheck_and_flops():
    x, first, second = ffn_inputs(2, 2, 3, 5, 4, 7)
    args = (x, sk.pack_pw_weight(*first, 2), sk.pack_pw_weight(*second, 2), 10, 8, "gelu")
    torch.library.opcheck(torch.ops.sqbert.grouped_pw_ffn_packed, args)
    # Inference only, registered at the Autograd key (refusing x that requires grad).
    torch.library.opcheck(torch.ops.sqbert.grouped_pw_ffn_packed, (x.clone().requires_grad_(True), *args[1:]),
                          test_utils="test_autograd_registration")
    with FlopCounterMode(display=False) as counter:
        torch.ops.sqbert.grouped_pw_ffn_packed(*args)
    assert counter.get_total_flops() == 2 * 2 * 7 * (10 * 3 + 8 * 5)

"""The fusions the model uses: GELU in the convolution's epilogue, and
residual + LayerNorm over the channels of NCW activations."""
import pytest
import torch
import torch.nn.functional as F

import sqbert_kernels as sk


@pytest.mark.parametrize("m,length", [(1, 1), (7, 17), (13, 33), (192, 128)])
def test_gelu_epilogue_matches_conv1d_then_gelu(isa, m, length):
    x = torch.randn(2, 4 * 9, length) * 2
    w = torch.randn(4 * m, 9, 1)
    b = torch.randn(4 * m)
    ref = F.gelu(F.conv1d(x.double(), w.double(), b.double(), groups=4))
    for y in (sk.grouped_pw_conv(x, w, b, 4, "gelu"),
              sk.grouped_pw_conv_packed(x, sk.pack_pw_weight(w, b, 4), 4 * m, "gelu")):
        torch.testing.assert_close(y.double(), ref, rtol=1e-5, atol=2e-5)


def test_gelu_epilogue_extreme_values(isa):
    # Saturated tails: gelu(x) = x far right, 0 far left, never NaN.
    x = torch.tensor([[[-1e4, -60.0, -8.0, -1e-3, 0.0, 1e-3, 8.0, 60.0, 1e4]]])
    y = sk.grouped_pw_conv(x, torch.ones(1, 1, 1), None, 1, "gelu")
    torch.testing.assert_close(y.double(), F.gelu(x.double()), rtol=1e-6, atol=1e-6)


def test_gelu_epilogue_autograd():
    x = torch.randn(2, 8, 5, requires_grad=True)
    w = torch.randn(12, 4, 1, requires_grad=True)
    b = torch.randn(12, requires_grad=True)
    grad = torch.randn(2, 12, 5)
    ours = torch.autograd.grad(sk.grouped_pw_conv(x, w, b, 2, "gelu"), (x, w, b), grad)
    ref = torch.autograd.grad(F.gelu(F.conv1d(x, w, b, groups=2)), (x, w, b), grad)
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r, rtol=1e-4, atol=1e-5)


def test_unknown_activation():
    with pytest.raises(RuntimeError, match=r'activation "none" or "gelu", got "relu"'):
        sk.grouped_pw_conv(torch.randn(1, 4, 3), torch.randn(4, 4, 1), None, 1, "relu")


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

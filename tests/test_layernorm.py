"""sqbert::add_layernorm at positions where every channel holds the same value.

The exact LayerNorm of such a position is beta: every deviation from the mean
is 0. A float32 mean that misses the value by a rounding leaves the same
residue d at every channel, and d / sqrt(d^2 + eps) = +-1 once d^2 >> eps, so
the output was +-gamma + beta (issue "LayerNorm of a constant position is
wrong"). The kernels now shift the mean by the first channel, which makes it
exact there: the output must be beta bit for bit, at every ISA, with and
without the residual, at BERT's eps (1e-12) and the default 1e-5.
"""
import pytest
import torch
import torch.nn.functional as F

# Constant values, z = x + r with the residual 0.5 (the same at every channel).
VALUES = [0.0, 1.0, -3.7, 1e4, 123.456]


def with_constant_positions(batch, channels, length, with_residual):
    """Random x (far from zero mean) and r, with every third position constant
    across the channels: the kinds cycle through VALUES and one where x + r is
    constant (2.75, exactly: eighths) while x alone is not."""
    x = torch.randn(batch, channels, length) * 2 + 4
    r = torch.randn(batch, channels, length) if with_residual else None
    constant = torch.arange(length) % 3 == 0
    for k, l in enumerate(constant.nonzero().flatten().tolist()):
        for b in range(batch):
            kind = (k + b) % (len(VALUES) + 1)
            if kind < len(VALUES):
                x[b, :, l] = VALUES[kind]
                if r is not None:
                    r[b, :, l] = 0.5
            elif r is not None:
                x[b, :, l] = torch.randint(-64, 65, (channels,)).float() * 0.125
                r[b, :, l] = 2.75 - x[b, :, l]
            else:
                x[b, :, l] = 2.75
    return x, r, constant


# 128 and 130 positions: one whole block of the operator and a second one of
# 2; 7 and 45: the kernels' vector tails; 1: a single position.
@pytest.mark.parametrize("channels,length", [(768, 128), (768, 130), (37, 7), (37, 45), (7, 1)])
@pytest.mark.parametrize("with_residual", [True, False])
@pytest.mark.parametrize("eps", [1e-12, 1e-5])
def test_add_layernorm_constant_positions_are_beta(isa, channels, length, with_residual, eps):
    batch = 2
    x, r, constant = with_constant_positions(batch, channels, length, with_residual)
    if with_residual:
        z = x + r
        assert torch.equal(z[:, :, constant], z[:, :1, constant].expand(-1, channels, -1))
    w, b = torch.randn(channels), torch.randn(channels)
    y = torch.ops.sqbert.add_layernorm(x, r, w, b, eps)
    assert y.shape == x.shape
    # Bit for bit: equal values, and b has no zeros whose sign could differ.
    assert bool((b != 0).all())
    want = b[None, :, None].expand(batch, channels, int(constant.sum()))
    got = y[:, :, constant]
    wrong = (got != want).sum().item()
    assert wrong == 0, (f"{isa}: {wrong} of {got.numel()} outputs at constant positions are not beta, "
                        f"max |y - beta| = {(got - want).abs().max().item():.3g}")
    # Everywhere (the random positions between them too): float64 layer_norm.
    z = x.double() + (0 if r is None else r.double())
    ref = F.layer_norm(z.transpose(1, 2), (channels,), w.double(), b.double(), eps).transpose(1, 2)
    torch.testing.assert_close(y.double(), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("with_residual", [True, False])
def test_add_layernorm_random_matches_float64(isa, with_residual):
    # SqueezeBERT's shape, data far from zero mean, BERT's eps.
    x = torch.randn(2, 768, 130) * 3 + 5
    r = torch.randn(2, 768, 130) if with_residual else None
    w, b = torch.randn(768), torch.randn(768)
    z = x.double() + (0 if r is None else r.double())
    ref = F.layer_norm(z.transpose(1, 2), (768,), w.double(), b.double(), 1e-12).transpose(1, 2)
    y = torch.ops.sqbert.add_layernorm(x, r, w, b, 1e-12)
    torch.testing.assert_close(y.double(), ref, rtol=1e-4, atol=1e-4)

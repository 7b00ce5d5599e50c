"""Fuzzing the ops against stock PyTorch in float64: shapes (sizes 0 and 1,
odd remainders), strided and offset inputs, NaN and infinities, masks of
every broadcast shape, packed and unpacked weights. Hypothesis with a fixed
seed and a bounded number of examples, so a run is fast and repeatable."""
import pytest
import torch
import torch.nn.functional as F

import sqbert_kernels as sk

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

FUZZ = settings(derandomize=True, max_examples=150, deadline=None, database=None)


def layout(t, how):
    """t with the same values in another memory layout: contiguous, a view
    into a larger tensor at an offset (channel and batch gaps), or with the
    positions strided."""
    if how == "offset":
        big = torch.full((t.shape[0] + 1, t.shape[1] + 2, t.shape[2] + 3), float("nan"))
        big[1:, 2:, 3:] = t
        return big[1:, 2:, 3:]
    if how == "strided":
        big = torch.full((t.shape[0], t.shape[1], 2 * t.shape[2]), float("nan"))
        big[..., ::2] = t
        return big[..., ::2]
    return t


def specials(t, data, name):
    """t with a few NaN / inf / -inf / large values at drawn places."""
    if t.numel() == 0:
        return t
    count = data.draw(st.integers(0, 3), label=f"{name} specials")
    for _ in range(count):
        i = data.draw(st.integers(0, t.numel() - 1), label=f"{name} index")
        t.view(-1)[i] = data.draw(st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e30, -1e30]))
    return t


def conv(x, w, b, groups):
    """The grouped 1x1 convolution in float64, defined for every size
    (conv1d refuses zero channels)."""
    batch, _, length = x.shape
    m, k = w.shape[0] // groups, w.shape[1]
    y = torch.einsum("gmk,bgkl->bgml", w.double().reshape(groups, m, k), x.double().reshape(batch, groups, k, length))
    y = y.reshape(batch, groups * m, length)
    return y if b is None else y + b.double()[:, None]


def assert_same(got, want, rtol, atol):
    """float32 against float64, NaN where the reference has NaN and inf
    where it has inf."""
    assert got.shape == want.shape and got.dtype == torch.float32
    torch.testing.assert_close(got.double(), want, rtol=rtol, atol=atol, equal_nan=True)


def draw_conv(data):
    """x, weight, bias and groups of a drawn convolution: every size from 0,
    sometimes special values in x."""
    torch.manual_seed(data.draw(st.integers(0, 2**31), label="seed"))
    groups = data.draw(st.integers(1, 4), label="groups")
    k = data.draw(st.integers(0, 13), label="in per group")
    m = data.draw(st.integers(0, 17), label="out per group")
    batch = data.draw(st.integers(0, 3), label="batch")
    length = data.draw(st.integers(0, 41), label="length")
    x = torch.randn(batch, groups * k, length)
    w = torch.randn(groups * m, k, 1) / max(1, k) ** 0.5
    b = torch.randn(groups * m) if data.draw(st.booleans(), label="bias") else None
    if data.draw(st.booleans(), label="special values"):
        x = specials(x, data, "x")
    return x, w, b, groups


@FUZZ
@given(data=st.data())
def test_grouped_pw_conv(data):
    x, w, b, groups = draw_conv(data)
    m = w.shape[0] // groups
    activation = data.draw(st.sampled_from(["none", "gelu"]), label="activation")
    isa = data.draw(st.sampled_from(sk.cpu_isas()), label="isa")
    packed = data.draw(st.booleans(), label="packed")
    x_in = layout(x, data.draw(st.sampled_from(["contiguous", "offset", "strided"]), label="layout"))
    want = conv(x, w, b, groups)
    if activation == "gelu":
        want = F.gelu(want)
    previous = sk.set_cpu_isa(isa)
    try:
        if packed:
            got = sk.grouped_pw_conv_packed(x_in, sk.pack_pw_weight(w, b, groups), groups * m, activation)
        else:
            got = sk.grouped_pw_conv(x_in, w, b, groups, activation)
    finally:
        sk.set_cpu_isa(previous)
    assert_same(got, want, rtol=1e-4, atol=1e-4)


@FUZZ
@given(data=st.data())
def test_grouped_pw_ffn_packed(data):
    torch.manual_seed(data.draw(st.integers(0, 2**31), label="seed"))
    groups = data.draw(st.integers(1, 4), label="groups")
    k, hidden, m = (data.draw(st.integers(0, 11), label=name) for name in ("in", "hidden", "out"))
    batch, length = data.draw(st.integers(0, 2), label="batch"), data.draw(st.integers(0, 37), label="length")
    x = torch.randn(batch, groups * k, length)
    w1, b1 = torch.randn(groups * hidden, k, 1) / max(1, k) ** 0.5, torch.randn(groups * hidden)
    w2, b2 = torch.randn(groups * m, hidden, 1) / max(1, hidden) ** 0.5, torch.randn(groups * m)
    activation = data.draw(st.sampled_from(["none", "gelu"]), label="activation")
    h = conv(x, w1, b1, groups)
    if activation == "gelu":
        h = F.gelu(h)
    want = conv(h, w2, b2, groups)
    x_in = layout(x, data.draw(st.sampled_from(["contiguous", "offset", "strided"]), label="layout"))
    got = sk.grouped_pw_ffn_packed(x_in, sk.pack_pw_weight(w1, b1, groups), sk.pack_pw_weight(w2, b2, groups),
                                   groups * hidden, groups * m, activation)
    assert_same(got, want, rtol=1e-4, atol=1e-4)


@FUZZ
@given(data=st.data())
def test_fused_attention(data):
    torch.manual_seed(data.draw(st.integers(0, 2**31), label="seed"))
    heads = data.draw(st.integers(1, 3), label="heads")
    d = data.draw(st.integers(1, 9), label="head dim")
    batch = data.draw(st.integers(1, 2), label="batch")
    length = data.draw(st.integers(1, 40), label="length")
    q, k, v = (torch.randn(batch, heads * d, length) for _ in range(3))
    mask_shape = data.draw(st.sampled_from([None, (batch, 1, 1, length), (batch, 1, length, length),
                                            (1, heads, length, length), (length,), (batch, heads, 1, length)]),
                           label="mask shape")
    mask = None
    if mask_shape is not None:
        mask = torch.randn(mask_shape)
        fill = data.draw(st.sampled_from([-float("inf"), torch.finfo(torch.float32).min, -1e4]), label="fill")
        keep = torch.rand(mask_shape) > data.draw(st.sampled_from([0.0, 0.3, 0.9]), label="masked share")
        mask = mask.masked_fill(~keep, fill)
        if data.draw(st.booleans(), label="trailing padding") and length > 1:
            mask[..., length - data.draw(st.integers(1, length - 1), label="padded"):] = fill
    isa = data.draw(st.sampled_from(sk.cpu_isas()), label="isa")
    how = data.draw(st.sampled_from(["contiguous", "offset", "strided"]), label="layout")
    want = sk.attention_reference(q.double(), k.double(), v.double(), None if mask is None else mask.double(), heads)
    previous = sk.set_cpu_isa(isa)
    try:
        got = sk.fused_attention(layout(q, how), layout(k, how), layout(v, how), mask, heads)
    finally:
        sk.set_cpu_isa(previous)
    # A query whose keys are all -inf is NaN in the reference (0/0); the
    # kernels give 0 there. Compare where the reference is defined.
    # Scores near -1e4 keep 1e-3 of absolute precision in float32.
    defined = ~want.isnan()
    tolerance = 1e-3 if mask is not None and fill == -1e4 else 1e-4
    assert_same(got[defined], want[defined], rtol=tolerance, atol=tolerance)


@FUZZ
@given(data=st.data())
def test_add_layernorm(data):
    torch.manual_seed(data.draw(st.integers(0, 2**31), label="seed"))
    batch = data.draw(st.integers(0, 2), label="batch")
    channels = data.draw(st.integers(1, 40), label="channels")
    length = data.draw(st.integers(0, 37), label="length")
    x = torch.randn(batch, channels, length) * data.draw(st.sampled_from([1.0, 1e-3, 1e3]), label="scale")
    x += data.draw(st.sampled_from([0.0, 5.0, -300.0]), label="offset")
    if length and batch and data.draw(st.booleans(), label="constant position"):
        x[:, :, data.draw(st.integers(0, length - 1), label="position")] = data.draw(
            st.floats(-1e4, 1e4, width=32), label="value")
    residual = torch.randn(batch, channels, length) if data.draw(st.booleans(), label="residual") else None
    weight, bias = torch.randn(channels), torch.randn(channels)
    eps = data.draw(st.sampled_from([1e-12, 1e-5]), label="eps")
    isa = data.draw(st.sampled_from(sk.cpu_isas()), label="isa")
    how = data.draw(st.sampled_from(["contiguous", "offset", "strided"]), label="layout")
    # The sum as float32 holds it (as every float32 LayerNorm of x + r does), then exact math.
    z = (x if residual is None else x + residual).double()
    want = F.layer_norm(z.transpose(1, 2), (channels,), weight.double(), bias.double(), eps).transpose(1, 2)
    previous = sk.set_cpu_isa(isa)
    try:
        got = sk.add_layernorm(layout(x, how), None if residual is None else layout(residual, how), weight, bias, eps)
    finally:
        sk.set_cpu_isa(previous)
    assert got.shape == want.shape
    # A float32 mean is good to an ulp of the values, which the
    # normalisation scales by 1/std: the bound widens where values are large
    # against their spread. A constant position is beta exactly.
    spread = (z - z.mean(dim=1, keepdim=True)).square().mean(dim=1, keepdim=True).sqrt()
    constant = (z.amax(dim=1, keepdim=True) == z.amin(dim=1, keepdim=True)).expand_as(z)
    bound = 1e-4 + 1e-6 * z.abs().amax(dim=1, keepdim=True) / spread.clamp_min(1e-30) * weight.abs().max().double()
    assert torch.equal(got[constant], bias[None, :, None].expand_as(got)[constant])
    err = (got.double() - want).abs()
    assert bool((err <= bound)[~constant].all()), f"max error {err[~constant].max()}"


@FUZZ
@given(data=st.data())
def test_grouped_pw_conv_q8(data):
    # The int8 convolution against its reference (the same scheme in stock
    # PyTorch), NaN where the reference has NaN: every int8 kernel, every
    # size, layout and special value the float op is fuzzed with.
    x, w, b, groups = draw_conv(data)
    m = w.shape[0] // groups
    isa = data.draw(st.sampled_from(sk.cpu_isas("int8")), label="int8 isa")
    x_in = layout(x, data.draw(st.sampled_from(["contiguous", "offset", "strided"]), label="layout"))
    got = sk.grouped_pw_conv_q8(x_in, sk.quantize_pw_weight(w, b, groups, isa), groups * m)
    want = sk.grouped_pw_conv_q8_reference(x, w, b, groups)
    torch.testing.assert_close(got, want, rtol=2 ** -23, atol=1e-30, equal_nan=True)

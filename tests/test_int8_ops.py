"""The int8 ops (quantize_pw_weight, grouped_pw_conv_q8, grouped_pw_ffn_q8)
on every int8 kernel this machine has (`int8_isa`), against the scheme in
stock PyTorch (sk.grouped_pw_conv_q8_reference: exact integer sums) and
against float64 convolution within the scheme's own error bound. Every
kernel must give the same bits: the int32 sums are exact and the epilogue
one fused multiply-add. Plain tests on small shapes: tests/aarch64 runs them
too, on the NEON kernels under qemu."""
import struct

import pytest
import torch
import torch.nn.functional as F

import sqbert_kernels as sk
from cases import ffn_inputs, make, reference

# (batch, cin, cout, groups, length): tile remainders of every kernel (mr 4,
# 6, 8; nr 4, 8, 16), depths 1, odd and not a multiple of 4, length 1.
SHAPES = [
    (1, 1, 1, 1, 1),
    (2, 3, 5, 1, 7),
    (1, 8, 12, 4, 17),
    (2, 20, 14, 2, 33),
    (1, 36, 26, 2, 16),
    (3, 28, 60, 4, 9),
    (1, 64, 48, 4, 40),
]


def q8(x, w, b, groups, isa, activation="none"):
    return sk.grouped_pw_conv_q8(x, sk.quantize_pw_weight(w, b, groups, isa), w.shape[0], activation)


def assert_as_reference(y, want):
    """Bit for bit but for float64's rounding in the reference (one float32
    ulp, and only where it meets a tie)."""
    torch.testing.assert_close(y, want, rtol=2 ** -23, atol=1e-30, equal_nan=True)


@pytest.mark.parametrize("shape", SHAPES, ids=[str(s) for s in SHAPES])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("activation", ["none", "gelu"])
def test_conv_q8_is_the_scheme(int8_isa, shape, bias, activation):
    batch, cin, cout, groups, length = shape
    x, w, b = make(batch, cin, cout, groups, length, bias)
    y = q8(x, w, b, groups, int8_isa, activation)
    want = sk.grouped_pw_conv_q8_reference(x, w, b, groups)
    if activation == "gelu":  # the kernels' GELU (erf within 3e-7) on the same tile
        torch.testing.assert_close(y, F.gelu(want), rtol=1e-6, atol=1e-6)
    else:
        assert_as_reference(y, want)


def error_bound(x, w, groups):
    """The largest error quantization can make in each output of
    conv1d(x, w): |w| * half a step of x plus |x| * half a step of w plus
    the product of the half steps, summed over the depth, from the
    reference's scales (float64, with a margin for float32 rounding)."""
    out_channels, depth = w.shape[0], w.shape[1]
    m = out_channels // groups
    w2 = w.reshape(out_channels, depth)
    _, w_scale = sk.ops.quantize_weight_reference(w2)
    bound = []
    for g in range(groups):
        _, x_scale, _ = sk.ops.quantize_activation_reference(x[:, g * depth:(g + 1) * depth])
        wg, sw = w2[g * m:(g + 1) * m].double().abs(), w_scale[g * m:(g + 1) * m, None].double()
        xg = x[:, g * depth:(g + 1) * depth].double().abs()
        sx = x_scale.double()
        bound.append(wg.sum(1)[None, :, None] * sx / 2 + torch.einsum("ck,bkl->bcl", wg.new_ones(wg.shape), xg) *
                     sw[None] / 2 + depth * sw[None] * sx / 4)
    return torch.cat(bound, dim=1) * 1.01 + 1e-5


@pytest.mark.parametrize("shape", [(2, 192, 96, 4, 40), (1, 96, 64, 1, 19)], ids=str)
def test_conv_q8_error_is_within_the_schemes_bound(int8_isa, shape):
    batch, cin, cout, groups, length = shape
    x, w, b = make(batch, cin, cout, groups, length)
    x[:, :, 3] *= 50  # an outlier position: its own scale, the others keep theirs
    y = q8(x, w, b, groups, int8_isa)
    error = (y.double() - reference(x, w, b, groups)).abs()
    assert (error <= error_bound(x, w, groups)).all()
    # and not vacuously: the scheme is 7-bit, so the error is visible
    assert error.max() > 1e-4


def test_every_int8_kernel_gives_the_same_bits():
    # Up to the GELU, which is each ISA's float kernel (within 3e-7 of erf).
    x, w, b = make(2, 96, 72, 4, 37)
    first = q8(x, w, b, 4, "scalar")
    first_gelu = q8(x, w, b, 4, "scalar", "gelu")
    for isa in sk.cpu_isas("int8"):
        assert torch.equal(q8(x, w, b, 4, isa), first), isa
        torch.testing.assert_close(q8(x, w, b, 4, isa, "gelu"), first_gelu, rtol=1e-6, atol=1e-6)


def test_strided_and_offset_inputs(int8_isa):
    x, w, b = make(2, 24, 16, 4, 13)
    want = q8(x, w, b, 4, int8_isa)
    wide = torch.randn(3, 40, 13)
    wide[1:, 8:32] = x
    assert torch.equal(q8(wide[1:, 8:32], w, b, 4, int8_isa), want)  # batch and channel strides as they are
    assert torch.equal(q8(x.transpose(1, 2).contiguous().transpose(1, 2), w, b, 4, int8_isa), want)
    strided_w = torch.randn(16, 12, 1)[:, ::2]
    assert_as_reference(q8(x, strided_w, b, 4, int8_isa), sk.grouped_pw_conv_q8_reference(x, strided_w, b, 4))


def test_special_values(int8_isa):
    x, w, b = make(1, 16, 8, 2, 12)
    x[0, :, 0] = 0.0           # all zero: the bias
    x[0, 3, 1] = float("nan")  # group 0 at position 1: NaN; group 1 there is untouched
    x[0, 12, 2] = float("inf")
    x[0, 4, 3] = -float("inf")
    x[0, :4, 4] = 3e38         # finite, but group 0's span overflows
    x[0, 4:8, 4] = -3e38
    x[0, :, 5] = 2.5           # constant
    x[0, 9, 6] = -0.0
    w[:4] = 0.0                # zero rows: their scale is 0
    y = q8(x, w, b, 2, int8_isa)
    assert_as_reference(y, sk.grouped_pw_conv_q8_reference(x, w, b, 2))
    assert torch.equal(y[0, :, 0], b)
    assert torch.isnan(y[0, :4, 1]).all() and not torch.isnan(y[0, 4:, 1]).any()
    assert torch.isnan(y[0, 4:, 2]).all() and not torch.isnan(y[0, :4, 2]).any()
    assert torch.isnan(y[0, :4, 3]).all()
    assert torch.isnan(y[0, :4, 4]).all() and not torch.isnan(y[0, 4:, 4]).any()
    assert torch.equal(y[0, :4, 5:], b[:4, None].expand(4, 7))  # zero weight rows: the bias exactly
    torch.testing.assert_close(y[0, 4:, 5], F.conv1d(x[:, :, 5:6], w, b, groups=2)[0, 4:, 0], rtol=0.02, atol=0.02)


def test_empty_sizes(int8_isa):
    w, b = torch.randn(8, 2, 1), torch.randn(8)
    packed = sk.quantize_pw_weight(w, b, 4, int8_isa)
    assert sk.grouped_pw_conv_q8(torch.randn(0, 8, 5), packed, 8).shape == (0, 8, 5)
    assert sk.grouped_pw_conv_q8(torch.randn(2, 8, 0), packed, 8).shape == (2, 8, 0)
    no_depth = sk.quantize_pw_weight(torch.randn(8, 0, 1), b, 4, int8_isa)
    assert torch.equal(sk.grouped_pw_conv_q8(torch.randn(2, 0, 3), no_depth, 8), b[None, :, None].expand(2, 8, 3))


# (batch, groups, then per group: in, hidden and out channels, length)
@pytest.mark.parametrize("dims", [(1, 4, 2, 3, 2, 5), (2, 1, 12, 20, 16, 19), (1, 2, 2, 18, 3, 33)], ids=str)
@pytest.mark.parametrize("activation", ["none", "gelu"])
def test_ffn_q8_is_two_convolutions(int8_isa, dims, activation):
    # One block at a time, the hidden layer quantized again in cache: the
    # same bits as two grouped_pw_conv_q8 calls.
    batch, groups, k, hidden, m, length = dims
    x, (w1, b1), (w2, b2) = ffn_inputs(batch, groups, k, hidden, m, length)
    hidden, m = hidden * groups, m * groups
    p1, p2 = sk.quantize_pw_weight(w1, b1, groups, int8_isa), sk.quantize_pw_weight(w2, b2, groups, int8_isa)
    y = sk.grouped_pw_ffn_q8(x, p1, p2, hidden, m, activation)
    two = sk.grouped_pw_conv_q8(sk.grouped_pw_conv_q8(x, p1, hidden, activation), p2, m)
    assert torch.equal(y, two)
    h = sk.grouped_pw_conv_q8_reference(x, w1, b1, groups, activation)
    torch.testing.assert_close(y, sk.grouped_pw_conv_q8_reference(h, w2, b2, groups), rtol=1e-4, atol=1e-4)


INT8_KERNEL_IDS = {"scalar": 16, "avx2": 17, "avxvnni": 18, "neon": 19, "neondot": 20, "avx512vnni": 21}


def test_packed_header_names_int8(int8_isa):
    w, b = torch.randn(30, 9, 1), torch.randn(30)
    packed = sk.quantize_pw_weight(w, b, 3, int8_isa)
    mr, nr = sk.cpu_gemm_tile(int8_isa, "int8")
    panels = -(-10 // mr)
    assert packed.dtype == torch.uint8 and packed.shape == (3, 64 + panels * (mr * 12 + 3 * mr * 4))
    fields = struct.unpack("<16I", bytes(packed[0, :64].tolist()))
    assert fields[:11] == (0x50425153, 1, 64, 2, INT8_KERNEL_IDS[int8_isa], mr, 3, 30, 9, panels, 1)
    assert fields[11:15] == (4, 1, 0, 0)  # depth values per group, the activation scheme
    fake = sk.ops._quantize_pw_weight_fake(w, b, 3, int8_isa)
    assert fake.shape == packed.shape


def forge(packed, offset, value):
    forged = packed.clone()
    head = bytearray(forged[0, :64].tolist())  # no numpy: tests/aarch64 has none
    struct.pack_into("<I", head, offset, value)
    h = 2166136261
    for byte in head[:60]:
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    struct.pack_into("<I", head, 60, h)
    forged[:, :64] = torch.tensor(list(head), dtype=torch.uint8)
    return forged


def test_bad_input_is_refused(int8_isa):
    x = torch.randn(2, 8, 5)
    w, b = torch.randn(8, 2, 1), torch.randn(8)
    packed = sk.quantize_pw_weight(w, b, 4, int8_isa)
    cases = [
        (lambda: sk.grouped_pw_conv_q8(x, sk.pack_pw_weight(w, b, 4), 8),
         r"grouped_pw_conv_q8: expected packed_weight to be int8 packed weights \(from quantize_pw_weight\), "
         r"got float32 packed weights \(from pack_pw_weight\)"),
        (lambda: sk.grouped_pw_conv_packed(x, packed, 8),
         r"expected packed_weight to be float32 packed weights .* got int8 packed weights"),
        (lambda: sk.grouped_pw_conv_q8(x, packed, 12),
         r"grouped_pw_conv_q8: expected out_channels 8 \(packed_weight holds 8 output channels in 4 groups\), got 12"),
        (lambda: sk.grouped_pw_conv_q8(torch.randn(2, 12, 5), packed, 8),
         r"expected x with 8 channels \(groups 4 x 2 per group, from the weight\), got 12"),
        (lambda: sk.grouped_pw_conv_q8(x.double(), packed, 8), r"expected x of dtype float32, got float64"),
        (lambda: sk.grouped_pw_conv_q8(x[0], packed, 8), r"expected x of shape \[batch, in_channels, length\]"),
        (lambda: sk.grouped_pw_conv_q8(x, packed, 8, "relu"), r"expected activation \"none\" or \"gelu\""),
        (lambda: sk.grouped_pw_conv_q8(x, packed.float(), 8), r"from quantize_pw_weight \(uint8 of shape"),
        (lambda: sk.grouped_pw_conv_q8(x, forge(packed, 44, 2), 8),  # reserved word 0: 2 depth values a group
         r"int8 packed weights \(from quantize_pw_weight\) in the quantization scheme of this build, got reserved "
         r"words 2, 1, 0, 0"),
        (lambda: sk.grouped_pw_conv_q8(x, forge(packed, 48, 9), 8), r"got reserved words 4, 9, 0, 0"),
        (lambda: sk.grouped_pw_conv_q8(x, forge(packed, 16, 2), 8),  # a float kernel's id
         r"weights packed for a kernel this build and CPU have, got weights packed for the avx2 kernel"),
        (lambda: sk.grouped_pw_conv_q8(x, packed[:, :-1], 8), r"truncated or padded"),
        (lambda: sk.quantize_pw_weight(torch.tensor([[1.0], [float("nan")]]), None, 1, int8_isa),
         r"quantize_pw_weight: expected finite weights .* got nan at weight\[1\]\[0\]"),
        (lambda: sk.quantize_pw_weight(w, b, 4, "avx9"),
         r"quantize_pw_weight: expected one of the int8 kernels this build and CPU have \(.*\), got 'avx9'"),
        (lambda: sk.quantize_pw_weight(w.double(), b, 4, int8_isa), r"expected weight of dtype float32"),
        (lambda: sk.cpu_isas("int4"), r"cpu_isas: expected dtype \"float32\" or \"int8\", got \"int4\""),
    ]
    for call, message in cases:
        with pytest.raises(RuntimeError, match=message):
            call()
    other = [isa for isa in sk.cpu_isas("int8") if isa != int8_isa]
    if other:
        p2 = sk.quantize_pw_weight(torch.randn(8, 2, 1), None, 4, other[0])
        with pytest.raises(RuntimeError, match=r"grouped_pw_ffn_q8: expected packed_w1 and packed_w2 packed for "
                                               r"one kernel"):
            sk.grouped_pw_ffn_q8(x, packed, p2, 8, 8)


def test_no_gradient_through_int8(int8_isa):
    x, w, b = make(1, 8, 8, 4, 5)
    packed = sk.quantize_pw_weight(w, b, 4, int8_isa)
    with pytest.raises(RuntimeError, match=r"grouped_pw_conv_q8: inference only .* x requires grad"):
        sk.grouped_pw_conv_q8(x.requires_grad_(), packed, 8)
    with pytest.raises(RuntimeError, match=r"grouped_pw_ffn_q8: inference only .* x requires grad"):
        sk.grouped_pw_ffn_q8(x, packed, packed, 8, 8)
    with torch.no_grad():
        assert sk.grouped_pw_conv_q8(x, packed, 8).shape == (1, 8, 5)

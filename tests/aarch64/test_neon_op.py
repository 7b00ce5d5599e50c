"""torch.ops.sqbert.* with the NEON kernels, on aarch64.

tests/aarch64/run.sh cross-compiles the extension and runs this file with
PyPI's aarch64 torch under qemu-user on a Cortex-A53 (plain ARMv8.0).
Emulated compute is about 100x slower than native, so the shapes are small:
around the NEON tile (mr = 8 output channels by nr = 8 positions) and the
scalar one (4 by 4), judged against conv1d in float64. The shared helpers
(tests/cases.py) are on the path; the x86 suite's conftest is not loaded.
"""
import itertools
import platform

import pytest
import torch
import torch.nn.functional as F

import sqbert_kernels as sk
from cases import CONV_BAD_SHAPES, make, reference

op = torch.ops.sqbert.grouped_pw_conv

ISAS = ["neon", "scalar"]
# Per-group output channels, lengths and per-group input channels below, at
# and past one and two NEON tiles (mr = nr = 8); groups 1, 2, 4.
MS = [1, 7, 8, 9, 17]
LENGTHS = [1, 7, 8, 9, 17]
KS = [1, 3, 8, 13]
GROUPS = [1, 2, 4]
TILES = {"neon": [8, 8], "scalar": [4, 4]}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(params=ISAS)
def isa(request):
    previous = sk.set_cpu_isa(request.param)
    try:
        yield request.param
    finally:
        sk.set_cpu_isa(previous)


def assert_matches(y, ref, rtol=1e-5, atol=1e-5):
    assert y.dtype == torch.float32 and y.shape == ref.shape and y.is_contiguous()
    torch.testing.assert_close(y.double(), ref, rtol=rtol, atol=atol)


def test_aarch64_build_dispatches_neon():
    assert platform.machine() == "aarch64"
    assert sk._C.__file__.endswith("_C.cpython-311-aarch64-linux-gnu.so"), sk._C.__file__
    assert sk.cpu_isas() == ["neon", "scalar"]
    assert "neon" in sk.cpu_isas()
    assert sk.cpu_isa() == "neon"
    assert sk.cpu_gemm_tile() == TILES["neon"]


def test_set_cpu_isa_selects_the_kernel(isa):
    assert sk.cpu_isa() == isa
    assert sk.cpu_gemm_tile() == TILES[isa]


@pytest.mark.parametrize("groups", GROUPS)
@pytest.mark.parametrize("m", MS)
def test_remainders(isa, m, groups):
    # One item per (isa, m, groups); every length and k inside, each failure
    # listed (fewer pytest items: each costs time under emulation).
    failures = []
    for length, k in itertools.product(LENGTHS, KS):
        x, w, b = make(2, groups * k, groups * m, groups, length, bias=(length + k) % 2 == 0)
        y = op(x, w, b, groups)
        ref = reference(x, w, b, groups)
        assert y.dtype == torch.float32 and y.shape == ref.shape and y.is_contiguous()
        err = (y.double() - ref).abs()
        if not bool((err <= 1e-5 + 1e-5 * ref.abs()).all()):
            failures.append(f"length={length} k={k}: max abs error {err.max().item():.3g}")
    assert not failures, f"{isa} m={m} groups={groups}: " + "; ".join(failures)


@pytest.mark.parametrize("k", [1025, 2100])
def test_deep_groups_accumulate(isa, k):
    # Over 1024 input channels a group is computed in slices that accumulate
    # into the output tile (the kernel's accumulate path).
    x, w, b = make(1, 2 * k, 2 * 9, 2, 9)
    assert_matches(op(x, w, b, 2), reference(x, w, b, 2), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("cin,cout", [(768, 768), (3072, 768)])
def test_squeezebert_shapes(isa, cin, cout):
    # SqueezeBERT's groups=4 projections at a short sequence (20 = 2 tiles + 4):
    # many panels, deep groups sliced, threads; in place and packed.
    x, w, b = make(1, cin, cout, 4, 20)
    ref = reference(x, w, b, 4)
    assert_matches(op(x, w, b, 4), ref, rtol=1e-5, atol=1e-4)
    assert_matches(sk.grouped_pw_conv_packed(x, sk.pack_pw_weight(w, b, 4), cout), ref, rtol=1e-5, atol=1e-4)


def test_two_dimensional_weight_no_bias_and_strided_x(isa):
    x, w, _ = make(2, 12, 18, 3, 10, bias=False)
    assert_matches(op(x, w.squeeze(-1), None, 3), reference(x, w, None, 3))
    # Stored [B, L, C] and viewed as [B, C, L]: positions strided.
    xt = torch.randn(2, 17, 16).transpose(1, 2)
    w2, b2 = torch.randn(24, 4, 1), torch.randn(24)
    assert_matches(op(xt, w2, b2, 4), reference(xt, w2, b2, 4))


@pytest.mark.parametrize("m", MS)
def test_packed_matches_conv1d(isa, m):
    mr = TILES[isa][0]
    for groups, k, length in [(1, 13, 17), (2, 3, 9), (4, 8, 7)]:
        for bias in (True, False):
            x, w, b = make(2, groups * k, groups * m, groups, length, bias)
            packed = sk.pack_pw_weight(w, b, groups)
            assert packed.shape == (groups, -(-m // mr), k + 1, mr)
            y = sk.grouped_pw_conv_packed(x, packed, groups * m)
            assert_matches(y, reference(x, w, b, groups))


@pytest.mark.parametrize("hidden", [3, 9, 1100])
def test_feed_forward_matches_two_conv1d(isa, hidden):
    # Both convolutions per block of positions; 1100 hidden channels a group
    # take two slices of the second convolution's depth.
    x, w1, b1 = make(2, 2 * 5, 2 * hidden, 2, 11)
    _, w2, b2 = make(1, 2 * hidden, 2 * 9, 2, 1)
    y = sk.grouped_pw_ffn_packed(x, sk.pack_pw_weight(w1, b1, 2), sk.pack_pw_weight(w2, b2, 2), 2 * hidden, 18,
                                 "gelu")
    assert_matches(y, reference(F.gelu(reference(x, w1, b1, 2)), w2, b2, 2), rtol=1e-5, atol=1e-4)


def test_packed_for_another_isa_is_rejected():
    x, w, b = make(1, 8, 8, 4, 5)
    packed = sk.pack_pw_weight(w, b, 4)  # neon: mr = 8
    previous = sk.set_cpu_isa("scalar")
    try:
        with pytest.raises(RuntimeError, match=r"packed_weight from pack_pw_weight for the selected CPU kernel \(scalar"):
            sk.grouped_pw_conv_packed(x, packed, 8)
    finally:
        sk.set_cpu_isa(previous)


@pytest.mark.parametrize("m,length", [(1, 1), (7, 9), (9, 17)])
def test_gelu_epilogue(isa, m, length):
    x = torch.randn(2, 4 * 9, length) * 2
    w, b = torch.randn(4 * m, 9, 1), torch.randn(4 * m)
    ref = F.gelu(reference(x, w, b, 4))
    assert_matches(sk.grouped_pw_conv(x, w, b, 4, "gelu"), ref, atol=2e-5)
    assert_matches(sk.grouped_pw_conv_packed(x, sk.pack_pw_weight(w, b, 4), 4 * m, "gelu"), ref, atol=2e-5)


def test_gelu_epilogue_extreme_values(isa):
    x = torch.tensor([[[-1e4, -60.0, -8.0, -1e-3, 0.0, 1e-3, 8.0, 60.0, 1e4]]])
    y = sk.grouped_pw_conv(x, torch.ones(1, 1, 1), None, 1, "gelu")
    torch.testing.assert_close(y.double(), F.gelu(x.double()), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("x_shape,w_shape,b_shape,groups,message", CONV_BAD_SHAPES)
def test_bad_shapes(x_shape, w_shape, b_shape, groups, message):
    x, w = torch.randn(x_shape), torch.randn(w_shape)
    b = None if b_shape is None else torch.randn(b_shape)
    with pytest.raises(RuntimeError, match=message):
        op(x, w, b, groups)


def test_bad_dtype_activation_and_isa():
    x, w, b = make(1, 8, 8, 4, 5)
    with pytest.raises(RuntimeError, match=r"x of dtype float32, got float64"):
        op(x.double(), w, b, 4)
    with pytest.raises(RuntimeError, match=r"weight of dtype float32, got float16"):
        op(x, w.half(), b, 4)
    with pytest.raises(RuntimeError, match=r'activation "none" or "gelu", got "relu"'):
        op(x, w, b, 4, "relu")
    with pytest.raises(RuntimeError, match=r"expected one of the ISAs this build and CPU support \(neon, scalar\), got 'avx2'"):
        sk.set_cpu_isa("avx2")
    assert sk.cpu_isa() == "neon"


def test_packed_bad_input():
    x, w, b = make(1, 8, 8, 4, 5)
    packed = sk.pack_pw_weight(w, b, 4)
    with pytest.raises(RuntimeError, match=r"x with 8 channels .* got 12"):
        sk.grouped_pw_conv_packed(torch.randn(1, 12, 5), packed, 8)
    for wrong in (40, 6, 0):
        with pytest.raises(RuntimeError, match=rf"expected out_channels 8 \(packed_weight holds 8 .* got {wrong}$"):
            sk.grouped_pw_conv_packed(x, packed, wrong)


def test_packed_weights_run_on_their_kernel():
    # NEON's 8-row panels keep running on NEON after the scalar kernel is
    # selected, and the scalar packing on the scalar kernel.
    x, w, b = make(2, 12, 20, 4, 19)
    neon = sk.pack_pw_weight(w, b, 4)
    want = sk.grouped_pw_conv_packed(x, neon, 20)
    previous = sk.set_cpu_isa("scalar")
    try:
        scalar = sk.pack_pw_weight(w, b, 4)
        assert scalar.shape[1] != neon.shape[1]
        assert torch.equal(sk.grouped_pw_conv_packed(x, neon, 20), want)
        assert_matches(sk.grouped_pw_conv_packed(x, scalar, 20), reference(x, w, b, 4))
    finally:
        sk.set_cpu_isa(previous)


@pytest.mark.parametrize("activation", ["none", "gelu"])
def test_autograd_matches_conv1d(isa, activation):
    x, w, b = make(2, 12, 27, 3, 11)
    for t in (x, w, b):
        t.requires_grad_(True)
    grad = torch.randn(2, 27, 11)
    ours = torch.autograd.grad(sk.grouped_pw_conv(x, w, b, 3, activation), (x, w, b), grad)
    y_ref = F.conv1d(x, w, b, groups=3)
    if activation == "gelu":
        y_ref = F.gelu(y_ref)
    ref = torch.autograd.grad(y_ref, (x, w, b), grad)
    for name, a, r in zip("xwb", ours, ref):
        torch.testing.assert_close(a, r, rtol=1e-4, atol=1e-5, msg=lambda m: f"grad {name}: {m}")


@pytest.mark.parametrize("length", [19, 300])
@pytest.mark.parametrize("query_axis", ["B11L", "B1LL"])
def test_attention_and_layernorm_run(isa, query_axis, length):
    # The other NEON kernels (online softmax with its in-register mask
    # transposes, exp) behind the other ops; 19 positions = two full 8-lane
    # query tiles and a partial one; 300 = packed keys and two key blocks
    # (one once the padding is skipped).
    q, k, v = (torch.randn(2, 16, length) for _ in range(3))
    mask = torch.randn(2, 1, 1 if query_axis == "B11L" else length, length)
    mask[1, ..., length - 5:] = torch.finfo(torch.float32).min
    ref = sk.attention_reference(q.double(), k.double(), v.double(), mask.double(), 2)
    torch.testing.assert_close(sk.fused_attention(q, k, v, mask, 2).double(), ref, rtol=1e-4, atol=1e-5)
    x, r = torch.randn(2, 24, 9), torch.randn(2, 24, 9)
    lw, lb = torch.randn(24), torch.randn(24)
    ref = sk.add_layernorm_reference(x.double(), r.double(), lw.double(), lb.double(), 1e-12)
    torch.testing.assert_close(sk.add_layernorm(x, r, lw, lb, 1e-12).double(), ref, rtol=1e-4, atol=1e-4)


def test_attention_keeps_nan(isa):
    # NEON's exp clamps at -88 with fmax, which keeps a NaN: a NaN query
    # reaches its position in its head, a NaN key its whole head.
    q, k, v = (torch.randn(1, 32, 9) for _ in range(3))
    q[0, 2, 3] = float("nan")
    k[0, 20, 5] = float("nan")
    out = sk.fused_attention(q, k, v, None, 2)
    ref = sk.attention_reference(q.double(), k.double(), v.double(), None, 2)
    assert ref[0, :16, 3].isnan().all() and ref[0, 16:].isnan().all()
    assert torch.equal(out.isnan(), ref.isnan())
    torch.testing.assert_close(out.double().nan_to_num(), ref.nan_to_num(), rtol=1e-4, atol=1e-5)

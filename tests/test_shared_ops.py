"""The ops on every backend: tests written once for the x86 suite (the CPU
kernels and the Triton interpreter) and the aarch64 suite (NEON and scalar
under qemu, tests/aarch64/test_neon_op.py imports this module).

Each test takes ``backend`` (tests/backends.py) and runs once per backend of
the suite that has the ops it calls. Emulated compute is about 100x slower
than native, so the shapes stay small: around each kernel's tile, judged
against conv1d (or the reference compositions) in float64.
"""
import itertools

import pytest
import torch
import torch.nn.functional as F

import sqbert_kernels as sk
from cases import (ATTENTION_BAD_INPUT, CONV_BAD_SHAPES, VARLEN_BAD_INPUT, ffn_inputs, ffn_reference, make, reference,
                   varlen_offsets)

# --------------------------------------------------------------------------
# grouped_pw_conv
# --------------------------------------------------------------------------


def tile_edges(size):
    """Sizes below, at and past one and two tiles of ``size``."""
    return sorted({1, size - 1, size, size + 1, 2 * size + 1} - {0})


EDGES = ["1", "tile-1", "tile", "tile+1", "2tile+1"]


def edge(size, which):
    return {"1": 1, "tile-1": max(1, size - 1), "tile": size, "tile+1": size + 1, "2tile+1": 2 * size + 1}[which]


@pytest.mark.cpu_only  # tests/test_triton_ops.py sweeps the Triton kernel's sizes, with dtypes
@pytest.mark.parametrize("groups", [1, 2, 3, 4])
@pytest.mark.parametrize("m_edge", EDGES)
def test_remainders(backend, m_edge, groups):
    # Per-group output channels around the kernel's tile rows (mr); every
    # length around its tile positions (nr) and per-group depth k inside, each
    # failure listed (fewer pytest items: each costs time under emulation).
    mr, nr = backend.tile
    m = edge(mr, m_edge)
    failures = []
    for length, k in itertools.product(tile_edges(nr), [1, 3, 8, 13, 31]):
        x, w, b = make(2, groups * k, groups * m, groups, length, bias=(length + k) % 2 == 0)
        y = backend.grouped_pw_conv(x, w, b, groups)
        ref = reference(x, w, b, groups)
        assert y.dtype == torch.float32 and y.shape == ref.shape and y.is_contiguous()
        err = (y.double() - ref).abs()
        if not bool((err <= 1e-5 + 1e-5 * ref.abs()).all()):
            failures.append(f"length={length} k={k}: max abs error {err.max().item():.3g}")
    assert not failures, f"{backend} m={m} groups={groups}: " + "; ".join(failures)


@pytest.mark.ops("grouped_pw_conv_packed")
@pytest.mark.parametrize("k", [1024, 1025, 2100])
def test_deep_groups_accumulate_across_slices(backend, k):
    # Past 1024 input channels a group runs in depth slices that accumulate
    # into the output tile: one, two and three slices, in place and packed.
    x, w, b = make(1, 2 * k, 2 * 9, 2, 9)
    ref = reference(x, w, b, 2)
    backend.assert_close(backend.grouped_pw_conv(x, w, b, 2), ref, atol=1e-4)
    backend.assert_close(backend.grouped_pw_conv_packed(x, backend.pack_pw_weight(w, b, 2), 18), ref, atol=1e-4)


@pytest.mark.parametrize("cin,cout", [(768, 768), (768, 3072), (3072, 768)])
def test_squeezebert_shapes(backend, cin, cout):
    # SqueezeBERT's groups=4 projections at a short sequence (20 positions):
    # many panels, deep groups sliced, threads; in place and packed.
    x, w, b = make(1, cin, cout, 4, 20)
    ref = reference(x, w, b, 4)
    backend.assert_close(backend.grouped_pw_conv(x, w, b, 4), ref, atol=1e-4)
    if backend.has("grouped_pw_conv_packed"):
        backend.assert_close(backend.grouped_pw_conv_packed(x, backend.pack_pw_weight(w, b, 4), cout), ref,
                             atol=1e-4)


def test_two_dimensional_weight_and_no_bias(backend):
    x, w, _ = make(2, 12, 9, 3, 10, bias=False)
    y = backend.grouped_pw_conv(x, w.squeeze(-1), None, 3)
    backend.assert_close(y, reference(x, w, None, 3))
    torch.testing.assert_close(y, F.conv1d(x, w, None, groups=3), rtol=1e-5, atol=max(1e-5, backend.tol))


def test_non_contiguous_inputs(backend):
    # x stored [B, L, C] and viewed as [B, C, L]: positions are strided.
    x = torch.randn(2, 21, 16).transpose(1, 2)
    # x with gaps between batches and channels, positions contiguous.
    x_sliced = torch.randn(4, 40, 30)[::2, 3:19, 5:26]
    w = torch.randn(8, 12, 3)[:, ::3, 1:2]  # strided weight, [8, 4, 1]
    b = torch.randn(16)[::2]
    for xi in (x, x_sliced):
        assert not xi.is_contiguous()
        backend.assert_close(backend.grouped_pw_conv(xi, w, b, 4), reference(xi, w, b, 4))


@pytest.mark.parametrize("shape", [(0, 8, 5), (3, 8, 0), (0, 8, 0)])
def test_empty(backend, shape):
    y = backend.grouped_pw_conv(torch.randn(shape), torch.randn(6, 4, 1), torch.randn(6), 2)
    assert y.shape == (shape[0], 6, shape[2])


@pytest.mark.parametrize("x_shape,w_shape,b_shape,groups,message", CONV_BAD_SHAPES)
def test_bad_shapes(backend, x_shape, w_shape, b_shape, groups, message):
    # Every backend refuses them with the same message.
    x, w = torch.randn(x_shape), torch.randn(w_shape)
    b = None if b_shape is None else torch.randn(b_shape)
    with pytest.raises(RuntimeError, match=message):
        backend.grouped_pw_conv(x, w, b, groups)


def test_unknown_activation(backend):
    x, w, b = make(1, 8, 8, 4, 5)
    with pytest.raises(RuntimeError, match=r'grouped_pw_conv: expected activation "none" or "gelu", got "relu"'):
        backend.grouped_pw_conv(x, w, b, 4, "relu")


@pytest.mark.cpu_only  # the Triton kernels take float16 and bfloat16 too (tests/test_triton_ops.py)
@pytest.mark.parametrize("which", ["x", "weight", "bias"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.int32])
def test_bad_dtypes(backend, which, dtype):
    args = dict(zip(["x", "weight", "bias"], make(1, 8, 8, 4, 5)))
    args[which] = args[which].to(dtype)
    with pytest.raises(RuntimeError, match=f"{which} of dtype float32, got {str(dtype).split('.')[-1]}"):
        backend.grouped_pw_conv(args["x"], args["weight"], args["bias"], 4)


@pytest.mark.parametrize("m,length", [(1, 1), (7, 9), (9, 17), (13, 33)])
def test_gelu_epilogue(backend, m, length):
    x = torch.randn(2, 4 * 9, length) * 2
    w, b = torch.randn(4 * m, 9, 1), torch.randn(4 * m)
    ref = F.gelu(reference(x, w, b, 4))
    backend.assert_close(backend.grouped_pw_conv(x, w, b, 4, "gelu"), ref, atol=2e-5)
    if backend.has("grouped_pw_conv_packed"):
        packed = backend.pack_pw_weight(w, b, 4)
        backend.assert_close(backend.grouped_pw_conv_packed(x, packed, 4 * m, "gelu"), ref, atol=2e-5)


def test_gelu_epilogue_extreme_values(backend):
    # Saturated tails: gelu(x) = x far right, 0 far left, never NaN.
    x = torch.tensor([[[-1e4, -60.0, -8.0, -1e-3, 0.0, 1e-3, 8.0, 60.0, 1e4]]])
    y = backend.grouped_pw_conv(x, torch.ones(1, 1, 1), None, 1, "gelu")
    tol = 1e-6 if backend.device == "cpu" else backend.tol  # TF32 rounds x on a GPU
    torch.testing.assert_close(y.double(), F.gelu(x.double()), rtol=tol, atol=tol)


@pytest.mark.ops("autograd")
@pytest.mark.parametrize("activation", ["none", "gelu"])
def test_autograd_matches_conv1d(backend, activation):
    x, w, b = make(2, 12, 27, 3, 11)
    for t in (x, w, b):
        t.requires_grad_(True)
    grad = torch.randn(2, 27, 11)
    ours = torch.autograd.grad(backend.grouped_pw_conv(x, w, b, 3, activation), (x, w, b), grad)
    y_ref = F.conv1d(x, w, b, groups=3)
    if activation == "gelu":
        y_ref = F.gelu(y_ref)
    ref = torch.autograd.grad(y_ref, (x, w, b), grad)
    tol = max(1e-4, backend.tol)
    for name, a, r in zip("xwb", ours, ref):
        torch.testing.assert_close(a, r, rtol=tol, atol=max(1e-5, backend.tol), msg=lambda m: f"grad {name}: {m}")


# --------------------------------------------------------------------------
# The packed ops (CPU kernels)
# --------------------------------------------------------------------------


@pytest.mark.ops("grouped_pw_conv_packed")
@pytest.mark.parametrize("m_edge", EDGES)
def test_packed_matches_conv1d(backend, m_edge):
    mr = backend.tile[0]
    m = edge(mr, m_edge)
    for groups, k, length in [(1, 13, 17), (2, 3, 9), (4, 8, 7)]:
        for bias in (True, False):
            x, w, b = make(2, groups * k, groups * m, groups, length, bias)
            packed = backend.pack_pw_weight(w, b, groups)
            # Each group: a 64-byte header, then ceil(m / mr) panels of k + 1
            # rows (the bias last) of mr floats.
            assert packed.dtype == torch.uint8 and packed.shape == (groups, 64 + -(-m // mr) * (k + 1) * mr * 4)
            y = backend.grouped_pw_conv_packed(x, packed, groups * m)
            backend.assert_close(y, reference(x, w, b, groups))


@pytest.mark.ops("grouped_pw_conv_packed")
def test_packed_bad_input(backend):
    x, w, b = make(1, 8, 8, 4, 5)
    packed = backend.pack_pw_weight(w, b, 4)
    with pytest.raises(RuntimeError, match=r"x with 8 channels .* got 12"):
        backend.grouped_pw_conv_packed(torch.randn(1, 12, 5), packed, 8)
    for wrong in (40, 6, 4, 0, -8):
        with pytest.raises(RuntimeError, match=rf"expected out_channels 8 \(packed_weight holds 8 .* got {wrong}$"):
            backend.grouped_pw_conv_packed(x, packed, wrong)
    with pytest.raises(RuntimeError, match=r"packed_weight from pack_pw_weight \(uint8 .* got float32 of shape \[4, 2, 3\]"):
        backend.grouped_pw_conv_packed(x, torch.randn(4, 2, 3), 8)


@pytest.mark.ops("grouped_pw_conv_packed", "grouped_pw_ffn_packed")
def test_packed_ops_refuse_inputs_that_require_grad(backend):
    # Inference only: with grad mode on, an x that requires grad is an error
    # that names the differentiable op, not an output whose backward leaves
    # x.grad None. Under no_grad, and for an x that does not require grad,
    # they run.
    x, w, b = make(1, 8, 12, 4, 5)
    _, w2, b2 = make(1, 12, 8, 4, 1)
    packed, packed2 = backend.pack_pw_weight(w, b, 4), backend.pack_pw_weight(w2, b2, 4)
    x.requires_grad_(True)
    with pytest.raises(RuntimeError, match=r"^grouped_pw_conv_packed: inference only .* x requires grad; .*"
                                           r"grouped_pw_conv .*differentiable"):
        torch.ops.sqbert.grouped_pw_conv_packed(x, packed, 12)
    with pytest.raises(RuntimeError, match=r"^grouped_pw_ffn_packed: inference only .* x requires grad; .*"
                                           r"grouped_pw_conv .*differentiable"):
        sk.grouped_pw_ffn_packed(x, packed, packed2, 12, 8, "gelu")
    with torch.no_grad():
        y = sk.grouped_pw_conv_packed(x, packed, 12)
        y2 = sk.grouped_pw_ffn_packed(x, packed, packed2, 12, 8, "gelu")
    assert not y.requires_grad and not y2.requires_grad
    backend.assert_close(y, reference(x.detach(), w, b, 4))
    assert torch.equal(sk.grouped_pw_conv_packed(x.detach(), packed, 12), y)
    assert torch.equal(sk.grouped_pw_ffn_packed(x.detach(), packed, packed2, 12, 8, "gelu"), y2)


# Hidden depths of one, two (1100 = 550 + 550) and three (2100) slices of the
# second convolution; m, k and lengths past the tiles.
FFN_CASES = [(1, 1, 1, 1, 1), (4, 5, 7, 3, 17), (2, 9, 1100, 13, 33), (3, 31, 5, 1, 1), (1, 4, 2100, 6, 19)]


@pytest.mark.ops("grouped_pw_ffn_packed")
@pytest.mark.parametrize("groups,k,hidden,m,length", FFN_CASES)
@pytest.mark.parametrize("activation", ["gelu", "none"])
def test_ffn_matches_two_convolutions(backend, groups, k, hidden, m, length, activation):
    x, first, second = ffn_inputs(2, groups, k, hidden, m, length)
    p1, p2 = backend.pack_pw_weight(*first, groups), backend.pack_pw_weight(*second, groups)
    y = backend.grouped_pw_ffn_packed(x, p1, p2, groups * hidden, groups * m, activation)
    assert y.shape == (2, groups * m, length) and y.is_contiguous()
    backend.assert_close(y, ffn_reference(x, first, second, groups, activation), rtol=1e-4, atol=1e-4)
    # The same sums in the same order as the two packed convolutions.
    h = backend.grouped_pw_conv_packed(x, p1, groups * hidden, activation)
    assert torch.equal(y, backend.grouped_pw_conv_packed(h, p2, groups * m))


@pytest.mark.skipif(len(sk.cpu_isas()) < 2, reason="one CPU kernel on this machine")
def test_packed_weights_run_on_their_kernel_after_set_cpu_isa():
    # Packed for the best kernel (AVX2, NEON), the weights keep running on it
    # after the scalar kernel is selected, and the scalar packing on the
    # scalar kernel; the feed-forward block refuses two packings of two
    # kernels.
    best_isa = sk.cpu_isa()
    x, w, b = make(2, 12, 20, 4, 19)
    w2 = torch.randn(8, 5, 1)
    best, best2 = sk.pack_pw_weight(w, b, 4), sk.pack_pw_weight(w2, None, 4)
    want, want_ffn = sk.grouped_pw_conv_packed(x, best, 20), sk.grouped_pw_ffn_packed(x, best, best2, 20, 8)
    previous = sk.set_cpu_isa("scalar")
    try:
        scalar, scalar2 = sk.pack_pw_weight(w, b, 4), sk.pack_pw_weight(w2, None, 4)
        # The header's kernel field (bytes 16-19; 1: scalar): see test_packed_weights.py.
        kernel = [int.from_bytes(bytes(p[0, 16:20].tolist()), "little") for p in (best, scalar)]
        assert kernel[0] != 1 and kernel[1] == 1
        assert torch.equal(sk.grouped_pw_conv_packed(x, best, 20), want)
        assert torch.equal(sk.grouped_pw_ffn_packed(x, best, best2, 20, 8), want_ffn)
        y = sk.grouped_pw_conv_packed(x, scalar, 20)
        torch.testing.assert_close(y.double(), reference(x, w, b, 4), rtol=1e-5, atol=1e-5)
    finally:
        sk.set_cpu_isa(previous)
    torch.testing.assert_close(sk.grouped_pw_ffn_packed(x, scalar, scalar2, 20, 8), want_ffn, rtol=1e-5, atol=1e-5)
    mr, nr = sk.cpu_gemm_tile(best_isa)
    with pytest.raises(RuntimeError, match=rf"packed_w1 and packed_w2 packed for one kernel, got the {best_isa} "
                                           rf"kernel \({mr}x{nr}\) and the scalar kernel \(4x4\)"):
        sk.grouped_pw_ffn_packed(x, best, scalar2, 20, 8)


# --------------------------------------------------------------------------
# fused_attention and add_layernorm
# --------------------------------------------------------------------------


@pytest.mark.parametrize("length", [19, 300])
@pytest.mark.parametrize("query_axis", ["B11L", "B1LL"])
def test_attention_with_masks(backend, query_axis, length):
    # 19 positions: two full 8-lane query tiles and a partial one; 300:
    # packed keys and two key blocks (one once the padding is skipped); the
    # mask a key mask or one row per query, a batch row's last keys padded.
    q, k, v = (torch.randn(2, 16, length) for _ in range(3))
    mask = torch.randn(2, 1, 1 if query_axis == "B11L" else length, length)
    mask[1, ..., length - 5:] = torch.finfo(torch.float32).min
    ref = sk.attention_reference(q.double(), k.double(), v.double(), mask.double(), 2)
    backend.assert_close(backend.fused_attention(q, k, v, mask, 2), ref, rtol=1e-4)


def test_attention_nan_inputs_spread_as_in_the_reference(backend):
    # A NaN query reaches its own position in its head; a NaN key every query
    # of its head (through the softmax's sum); nothing else. The softmax's
    # exp keeps NaN (its clamp to -88 must not swallow it).
    q, k, v = (torch.randn(1, 3 * 16, 20) for _ in range(3))
    q[0, 3, 5] = float("nan")
    k[0, 16 + 2, 7] = float("nan")
    out = backend.fused_attention(q, k, v, None, 3)
    ref = sk.attention_reference(q.double(), k.double(), v.double(), None, 3)
    assert ref[0, :16, 5].isnan().all() and ref[0, 16:32].isnan().all()
    assert torch.equal(out.isnan(), ref.isnan())
    torch.testing.assert_close(out.double().nan_to_num(), ref.nan_to_num(), rtol=max(1e-4, backend.tol),
                               atol=max(1e-5, backend.tol))


@pytest.mark.parametrize("shapes,mask_shape,heads,message", ATTENTION_BAD_INPUT)
def test_attention_bad_input(backend, shapes, mask_shape, heads, message):
    q, k, v = (torch.randn(s) for s in shapes)
    mask = None if mask_shape is None else torch.zeros(mask_shape)
    with pytest.raises(RuntimeError, match=message):
        backend.fused_attention(q, k, v, mask, heads)


# --------------------------------------------------------------------------
# fused_attention_varlen
# --------------------------------------------------------------------------


def offsets_of(lengths, dtype=torch.int64):
    """seq_offsets [B + 1] of sequences of these lengths, one after another."""
    return torch.tensor([0] + list(lengths), dtype=torch.int64).cumsum(0).to(dtype)


def varlen_sdpa(q, k, v, seq_offsets, heads):
    """scaled_dot_product_attention on each sequence alone, in float64 (the
    NCW [1, C, T] tensors viewed [heads, n, d] per sequence)."""
    channels, length = q.shape[1], q.shape[2]
    d = channels // heads
    out = torch.zeros(1, channels, length, dtype=torch.float64)
    bounds = seq_offsets.tolist()
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b > a:
            def heads_last(t):
                return t[0, :, a:b].double().reshape(heads, d, b - a).transpose(1, 2)

            o = F.scaled_dot_product_attention(heads_last(q), heads_last(k), heads_last(v))
            out[0, :, a:b] = o.transpose(1, 2).reshape(channels, b - a)
    return out


def varlen_check(backend, lengths, heads, d, dtype=torch.int64, rtol=1e-5, atol=1e-5):
    seq_offsets = offsets_of(lengths, dtype)
    q, k, v = (torch.randn(1, heads * d, sum(lengths)) for _ in range(3))
    out = backend.fused_attention_varlen(q, k, v, seq_offsets, heads)
    backend.assert_close(out, varlen_sdpa(q, k, v, seq_offsets, heads), rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("heads,d", [(2, 8), (3, 5)])
def test_varlen_tile_remainders(backend, heads, d, dtype):
    # Every query-tile remainder (and so key count) around the backend's nr:
    # empty sequences first, last and in a row, 1, odd lengths, a tile less
    # or more, two and three tiles.
    nr = backend.tile[1]
    lengths = [0, 1, nr - 1, 0, 0, nr, nr + 1, 7, 2 * nr + 1, 3 * nr - 1, 1, 0]
    varlen_check(backend, lengths, heads, d, dtype)


def test_varlen_long_sequences(backend):
    # Beside short ones: 300 and 260 keys (packed keys on the CPU, two key
    # blocks), 253 (one block of 256 past 252), 129.
    varlen_check(backend, [300, 3, 260, 0, 253, 129], 2, 16, rtol=1e-4)


def test_varlen_many_sequences(backend):
    # 60 sequences of random lengths 0 .. 2 tiles + 1, a thread's tasks
    # spanning several of them, with empty ones among them.
    nr = backend.tile[1]
    lengths = torch.randint(0, 2 * nr + 2, (60,)).tolist()
    lengths[10:13] = [0, 0, 0]
    varlen_check(backend, lengths, 2, 8, torch.int32)


@pytest.mark.parametrize("heads,d", [(2, 16), (4, 8)])
def test_varlen_equals_fused_attention_on_equal_lengths(backend, heads, d):
    # B sequences of one length: the fused attention of the [B, C, L] batch,
    # laid one after another.
    batch, length = 3, 2 * backend.tile[1] + 3
    q, k, v = (torch.randn(batch, heads * d, length) for _ in range(3))

    def packed(t):
        return t.permute(1, 0, 2).reshape(1, heads * d, batch * length)

    out = backend.fused_attention_varlen(packed(q), packed(k), packed(v), offsets_of([length] * batch), heads)
    want = packed(backend.fused_attention(q, k, v, None, heads))
    torch.testing.assert_close(out, want, rtol=1e-6, atol=1e-6)


def test_varlen_strided_inputs(backend):
    # q with gaps between channels and a position offset, k stored [T, C]
    # (positions strided: copied), v a slice of a longer tensor; int32
    # offsets.
    lengths = [5, 0, 17, 1, 9]
    total = sum(lengths)
    q = torch.randn(1, 64, total + 7)[:, ::2, 3:3 + total]
    k = torch.randn(1, total, 32).transpose(1, 2)
    v = torch.randn(2, 40, total + 1)[1:, 4:36, 1:]
    seq_offsets = offsets_of(lengths, torch.int32)
    for t in (q, k, v):
        assert t.shape == (1, 32, total) and not t.is_contiguous()
    backend.assert_close(backend.fused_attention_varlen(q, k, v, seq_offsets, 4),
                         varlen_sdpa(q, k, v, seq_offsets, 4))


@pytest.mark.parametrize("lengths", [[], [0], [0, 0, 0]])
def test_varlen_no_positions(backend, lengths):
    q, k, v = (torch.randn(1, 8, 0) for _ in range(3))
    assert backend.fused_attention_varlen(q, k, v, offsets_of(lengths), 2).shape == (1, 8, 0)


def test_varlen_nan_stays_in_its_sequence(backend):
    # A NaN key spreads to every query of its sequence and head, no further.
    q, k, v = (torch.randn(1, 2 * 8, 20) for _ in range(3))
    k[0, 8 + 3, 6] = float("nan")  # head 1, sequence 1 (positions 4 .. 11)
    seq_offsets = offsets_of([4, 8, 8])
    out = backend.fused_attention_varlen(q, k, v, seq_offsets, 2)
    ref = varlen_sdpa(q, k, v, seq_offsets, 2)
    assert ref[0, 8:, 4:12].isnan().all() and not ref[0, :, :4].isnan().any()
    assert torch.equal(out.isnan(), ref.isnan())
    backend.assert_close(out.nan_to_num(), ref.nan_to_num())


@pytest.mark.parametrize("shape,offsets,heads,message", VARLEN_BAD_INPUT)
def test_varlen_bad_input(backend, shape, offsets, heads, message):
    q, k, v = (torch.randn(shape) for _ in range(3))
    with pytest.raises(RuntimeError, match=message):
        backend.fused_attention_varlen(q, k, v, varlen_offsets(offsets), heads)


@pytest.mark.ops("autograd")
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_varlen_autograd_matches_sdpa(backend, dtype):
    lengths = [3, 0, backend.tile[1] + 1, 1, 6]
    seq_offsets = offsets_of(lengths, dtype)
    q, k, v = (torch.randn(1, 2 * 8, sum(lengths), requires_grad=True) for _ in range(3))
    grad = torch.randn(1, 16, sum(lengths))
    ours = torch.autograd.grad(backend.fused_attention_varlen(q, k, v, seq_offsets, 2), (q, k, v), grad)
    ref = torch.autograd.grad(varlen_sdpa(q, k, v, seq_offsets, 2), (q, k, v), grad.double())
    for name, a, r in zip("qkv", ours, ref):
        torch.testing.assert_close(a.double(), r.double(), rtol=1e-4, atol=max(1e-5, backend.tol),
                                   msg=lambda m: f"grad {name}: {m}")


@pytest.mark.ops("add_layernorm")
@pytest.mark.parametrize("channels,length", [(24, 9), (37, 45)])
@pytest.mark.parametrize("with_residual", [True, False])
def test_add_layernorm_matches_reference(backend, channels, length, with_residual):
    x = torch.randn(2, channels, length) * 3 + 5  # far from zero mean
    r = torch.randn(2, channels, length) if with_residual else None
    w, b = torch.randn(channels), torch.randn(channels)
    ref = sk.add_layernorm_reference(x.double(), None if r is None else r.double(), w.double(), b.double(), 1e-12)
    backend.assert_close(backend.add_layernorm(x, r, w, b, 1e-12), ref, rtol=1e-4, atol=1e-4)

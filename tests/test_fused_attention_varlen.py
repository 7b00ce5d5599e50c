"""torch.ops.sqbert.fused_attention_varlen on the x86 suite: what the shared
tests (test_shared_ops.py: tile remainders, many sequences, strided inputs,
bad offsets, gradients, on every backend) leave out: opcheck,
torch.compile, FLOP counting, threads, the ISAs agreeing, the model's size,
and the errors only the dispatcher sees."""
import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import sqbert_kernels as sk

op = torch.ops.sqbert.fused_attention_varlen


def offsets_of(lengths, dtype=torch.int64):
    return torch.tensor([0] + list(lengths), dtype=torch.int64).cumsum(0).to(dtype)


def qkv(channels, lengths, requires_grad=False):
    return [torch.randn(1, channels, sum(lengths), requires_grad=requires_grad) for _ in range(3)]


def varlen_sdpa(q, k, v, seq_offsets, heads):
    """SDPA per sequence in float64, differentiable."""
    channels = q.shape[1]
    d = channels // heads
    bounds = seq_offsets.tolist()
    parts = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        def heads_last(t):
            return t[0, :, a:b].double().reshape(heads, d, b - a).transpose(1, 2)

        o = F.scaled_dot_product_attention(heads_last(q), heads_last(k), heads_last(v))
        parts.append(o.transpose(1, 2).reshape(1, channels, b - a))
    return torch.cat(parts, dim=2)


def assert_close(out, ref):
    assert out.dtype == torch.float32 and out.shape == ref.shape and out.is_contiguous()
    torch.testing.assert_close(out.double(), ref.double(), rtol=1e-4, atol=1e-5)


def test_wrapper_is_exported():
    assert "fused_attention_varlen" in sk.__all__
    q, k, v = qkv(16, [3, 4])
    assert torch.equal(sk.fused_attention_varlen(q, k, v, offsets_of([3, 4]), 2), op(q, k, v, offsets_of([3, 4]), 2))


def test_squeezebert_size(isa):
    # 768 channels, 12 heads; lengths past the pack threshold and the key
    # block, and the prefetch threshold (3 * 4 * 768 * 1000 bytes > 6 MiB).
    lengths = [128, 100, 7, 300, 1, 0, 64, 400]
    q, k, v = qkv(768, lengths)
    seq_offsets = offsets_of(lengths, torch.int32)
    assert_close(op(q, k, v, seq_offsets, 12), varlen_sdpa(q, k, v, seq_offsets, 12))


def test_reference_composition_matches_sdpa():
    lengths = [5, 0, 9, 1]
    q, k, v = qkv(32, lengths)
    seq_offsets = offsets_of(lengths)
    torch.testing.assert_close(sk.ops.attention_varlen_reference(q.double(), k.double(), v.double(), seq_offsets, 4),
                               varlen_sdpa(q, k, v, seq_offsets, 4))


def test_isa_backends_agree():
    lengths = [45, 3, 0, 20, 129]
    q, k, v = qkv(96, lengths)
    results = []
    previous = sk.cpu_isa()
    try:
        for isa in sk.cpu_isas():
            sk.set_cpu_isa(isa)
            results.append(op(q, k, v, offsets_of(lengths), 3))
    finally:
        sk.set_cpu_isa(previous)
    for out in results[1:]:
        torch.testing.assert_close(out, results[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("lengths", [[512] + [3] * 40, [3] * 40 + [512], [128] * 8, [1, 200, 0, 7, 90] * 6])
def test_threads_split_by_work_give_the_same_bits(lengths):
    # One thread against the pool's (ranges of equal work, not of equal task
    # counts): every task's sums are the same whichever thread runs it.
    q, k, v = qkv(128, lengths)
    seq_offsets = offsets_of(lengths)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = op(q, k, v, seq_offsets, 4)
        torch.set_num_threads(max(2, threads))
        many = op(q, k, v, seq_offsets, 4)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, many)
    assert_close(many, varlen_sdpa(q, k, v, seq_offsets, 4))


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_opcheck(dtype):
    lengths = [4, 0, 9, 1]
    q, k, v = qkv(16, lengths, requires_grad=True)
    torch.library.opcheck(op, (q, k, v, offsets_of(lengths, dtype), 2))


def test_opcheck_backward():
    lengths = [4, 0, 9, 1]
    q, k, v = qkv(16, lengths)
    grad = torch.randn(1, 16, 14)
    torch.library.opcheck(torch.ops.sqbert.fused_attention_varlen_backward, (grad, q, k, v, offsets_of(lengths), 2))


def test_torch_compile_fullgraph():
    lengths = [17, 0, 9, 30]
    q, k, v = qkv(32, lengths)
    seq_offsets = offsets_of(lengths, torch.int32)

    @torch.compile(fullgraph=True)
    def f(q, k, v, seq_offsets):
        return op(q, k, v, seq_offsets, 4) * 2 + 1

    torch.testing.assert_close(f(q, k, v, seq_offsets), varlen_sdpa(q, k, v, seq_offsets, 4).float() * 2 + 1,
                               rtol=1e-4, atol=1e-5)


def test_torch_compile_fullgraph_backward():
    # The backward is an op of its own: traced without the offsets' values.
    lengths = [6, 11, 0, 2]
    q, k, v = qkv(16, lengths, requires_grad=True)
    seq_offsets = offsets_of(lengths)
    grad = torch.randn(1, 16, 19)

    @torch.compile(fullgraph=True)
    def f(q, k, v, seq_offsets):
        return sk.fused_attention_varlen(q, k, v, seq_offsets, 2).sin()

    ours = torch.autograd.grad(f(q, k, v, seq_offsets), (q, k, v), grad)
    ref = torch.autograd.grad(varlen_sdpa(q, k, v, seq_offsets, 2).sin(), (q, k, v), grad.double())
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r.float(), rtol=1e-4, atol=1e-5)


def test_autograd_some_inputs():
    lengths = [5, 8]
    q, k, v = qkv(16, lengths)
    k.requires_grad_(True)
    grad = torch.randn(1, 16, 13)
    (dk,) = torch.autograd.grad(op(q, k, v, offsets_of(lengths), 2), (k,), grad)
    (ref,) = torch.autograd.grad(varlen_sdpa(q, k, v, offsets_of(lengths), 2), (k,), grad.double())
    torch.testing.assert_close(dk, ref.float(), rtol=1e-4, atol=1e-5)


def test_double_backward_is_refused():
    lengths = [5, 8]
    q, k, v = qkv(16, lengths, requires_grad=True)
    (dq,) = torch.autograd.grad(op(q, k, v, offsets_of(lengths), 2).sum(), (q,), create_graph=True)
    with pytest.raises(RuntimeError, match=r"double backward .* not supported"):
        dq.sum().backward()


def test_flop_counter():
    lengths = [128, 0, 7, 300, 1]
    q, k, v = qkv(768, lengths, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        out = op(q, k, v, offsets_of(lengths, torch.int32), 12)
    assert counter.get_total_flops() == 4 * 768 * sum(n * n for n in lengths)
    with FlopCounterMode(display=False) as counter:
        out.backward(torch.ones_like(out))
    assert counter.get_total_flops() == 10 * 768 * sum(n * n for n in lengths)


def test_offsets_on_another_device():
    q, k, v = qkv(8, [5])
    with pytest.raises(RuntimeError, match=r"seq_offsets on q's device \(cpu\), got it on meta"):
        op(q, k, v, offsets_of([5]).to("meta"), 2)


def test_meta_tensors():
    # Fake and meta tensors have no offset values: shape, dtype and device
    # checks only.
    q, k, v = (torch.empty(1, 8, 5, device="meta") for _ in range(3))
    assert op(q, k, v, torch.empty(3, dtype=torch.int32, device="meta"), 2).shape == (1, 8, 5)
    with pytest.raises(RuntimeError, match=r"seq_offsets of dtype int32 or int64, got float32"):
        op(q, k, v, torch.empty(3, device="meta"), 2)
    with pytest.raises(RuntimeError, match=r"q of shape \[1, channels, total_length\]"):
        op(*(torch.empty(2, 8, 5, device="meta") for _ in range(3)), torch.empty(3, dtype=torch.int32,
                                                                                   device="meta"), 2)

"""grouped_pw_convs_packed and grouped_pw_convs_q8 (attention's query, key
and value in one call) against one grouped_pw_conv_packed or
grouped_pw_conv_q8 call per weight: the same bits, on every kernel; bad
lists refused."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import sqbert_kernels as sk

# (batch, in_channels, out_channels, groups, length): SqueezeBERT's shape at
# an odd length; deep groups (x read in place with AVX-512, output channels
# in chunks) with a partial chunk; one position.
SHAPES = [(2, 768, 768, 4, 45), (1, 1200, 806, 2, 37), (3, 12, 8, 4, 1)]


def weights(cin, cout, groups, count, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(cout, cin // groups, 1, generator=g) / (cin // groups) ** 0.5,
             torch.randn(cout, generator=g)) for _ in range(count)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("count", [1, 2, 3])
def test_same_bits_as_one_call_each(shape, count):
    batch, cin, cout, groups, length = shape
    x = torch.randn(batch, cin + 5, length + 3)[:, 5:, 3:]  # offset and strided
    ws = weights(cin, cout, groups, count)
    for isa in sk.cpu_isas():
        packed = [sk.pack_pw_weight(w, b, groups, isa) for w, b in ws]
        got = sk.grouped_pw_convs_packed(x, packed, cout)
        assert len(got) == count
        for y, p in zip(got, packed):
            assert torch.equal(y, sk.grouped_pw_conv_packed(x, p, cout)), isa
    for isa in sk.cpu_isas("int8"):
        packed = [sk.quantize_pw_weight(w, b, groups, isa) for w, b in ws]
        got = sk.grouped_pw_convs_q8(x, packed, cout)
        for y, p in zip(got, packed):
            assert torch.equal(y, sk.grouped_pw_conv_q8(x, p, cout)), isa


def test_bad_lists_are_refused():
    x = torch.randn(1, 8, 5)
    ws = weights(8, 6, 2, 3)
    packed = [sk.pack_pw_weight(w, b, 2) for w, b in ws]
    op = sk.grouped_pw_convs_packed
    with pytest.raises(RuntimeError, match=r"grouped_pw_convs_packed: expected 1 to 3 packed weights, got 0"):
        op(x, [], 6)
    with pytest.raises(RuntimeError, match=r"expected 1 to 3 packed weights, got 4"):
        op(x, packed + packed[:1], 6)
    other_groups = sk.pack_pw_weight(torch.randn(6, 8, 1), None, 1)
    with pytest.raises(RuntimeError, match=r"expected every packed weight packed as packed_weights\[0\] .* got "
                                           r"packed_weights\[1\] \(.*, 1 groups of 8\)"):
        op(torch.randn(1, 8, 5), [packed[0], other_groups], 6)
    with pytest.raises(RuntimeError, match=r"expected out_channels 6 \(packed_weights\[0\] holds 6 output "
                                           r"channels in 2 groups\), got 7"):
        op(x, packed, 7)
    with pytest.raises(RuntimeError, match=r"expected out_channels 8 \(packed_weights\[2\] holds 8 output "
                                           r"channels in 2 groups\), got 6"):
        op(x, [packed[0], packed[1], sk.pack_pw_weight(torch.randn(8, 4, 1), None, 2)], 6)
    with pytest.raises(RuntimeError, match=r"expected x with 8 channels"):
        op(torch.randn(1, 9, 5), packed, 6)
    isas = sk.cpu_isas()
    if len(isas) > 1:
        with pytest.raises(RuntimeError, match=r"expected every packed weight packed as packed_weights\[0\]"):
            op(x, [sk.pack_pw_weight(*ws[0], 2, isas[0]), sk.pack_pw_weight(*ws[1], 2, isas[1])], 6)
    with pytest.raises(RuntimeError, match=r"grouped_pw_convs_q8: expected packed_weights\[0\] to be int8 packed"):
        sk.grouped_pw_convs_q8(x, packed, 6)
    with pytest.raises(RuntimeError, match=r"grouped_pw_convs_packed: expected packed_weights\[1\] to be float32"):
        op(x, [packed[0], sk.quantize_pw_weight(*ws[1], 2)], 6)


def test_inference_only():
    x = torch.randn(1, 8, 5, requires_grad=True)
    packed = [sk.pack_pw_weight(w, b, 2) for w, b in weights(8, 6, 2, 2)]
    with pytest.raises(RuntimeError, match=r"grouped_pw_convs_packed: inference only .* x requires grad"):
        sk.grouped_pw_convs_packed(x, packed, 6)
    with torch.no_grad():
        assert len(sk.grouped_pw_convs_packed(x, packed, 6)) == 2


def test_opcheck_and_flops():
    x = torch.randn(2, 8, 5)
    ws = weights(8, 6, 2, 3)
    packed = [sk.pack_pw_weight(w, b, 2) for w, b in ws]
    quantized = [sk.quantize_pw_weight(w, b, 2) for w, b in ws]
    torch.library.opcheck(torch.ops.sqbert.grouped_pw_convs_packed, (x, packed, 6))
    torch.library.opcheck(torch.ops.sqbert.grouped_pw_convs_q8, (x, quantized, 6))
    with FlopCounterMode(display=False) as counter:
        sk.grouped_pw_convs_packed(x, packed, 6)
    assert counter.get_total_flops() == 3 * 2 * 2 * 5 * 6 * 4


@pytest.mark.parametrize("int8", [False, True])
def test_model_runs_query_key_value_in_one_call(monkeypatch, int8):
    config = sk.SqueezeBertConfig(vocab_size=100, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                  num_attention_heads=4, embedding_size=64, max_position_embeddings=32)
    model = sk.SqueezeBertModel(config).eval()
    if int8:
        model = sk.quantize(model)
    name = "grouped_pw_convs_q8" if int8 else "grouped_pw_convs_packed"
    calls = []
    real = getattr(sk.ops, name)
    monkeypatch.setattr(sk.ops, name, lambda *args: calls.append(1) or real(*args))
    ids = torch.randint(1, 100, (2, 11))
    with torch.no_grad():
        fused = model(ids).last_hidden_state
        assert len(calls) == 2
        # A hook on one of them: three calls, the hook run, the same result.
        seen = []
        model.encoder.layers[0].attention.key.register_forward_hook(lambda *args: seen.append(1))
        assert torch.equal(model(ids).last_hidden_state, fused)
    assert len(calls) == 3 and seen == [1]

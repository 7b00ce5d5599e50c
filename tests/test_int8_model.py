"""sk.quantize: the int8 model is the float model with every encoder
convolution replaced by the int8 scheme (sk.grouped_pw_conv_q8_reference),
on this package's models and Hugging Face's, under torch.compile, with
hooks and weight updates; plus opcheck and FLOP counting of the int8 ops.
(Accuracy against float32: test_int8_accuracy.py.)"""
import copy

import pytest
import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode

import sqbert_kernels as sk
from cases import assert_close_where_real
from sqbert_kernels.conv import SqueezeBertConv1d
from test_model import CONFIGS, SMALL, inputs


def reference_model(model):
    """A copy of float `model` whose convolutions run the int8 scheme in
    stock PyTorch. It must run with grad enabled: the unfused path, one
    convolution module at a time."""
    ref = copy.deepcopy(model)
    for conv in ref.modules():
        if isinstance(conv, SqueezeBertConv1d):
            conv.forward = (lambda c: lambda x, activation="none": sk.grouped_pw_conv_q8_reference(
                x, c.weight.detach(), None if c.bias is None else c.bias.detach(), c.groups, activation))(conv)
    return ref


def sqbert_ops(model, *args, **kwargs):
    with torch.profiler.profile() as prof:
        model(*args, **kwargs)
    return {e.key for e in prof.key_averages() if e.key.startswith("sqbert::")}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_quantized_model_is_the_scheme(int8_isa, name):
    config = sk.SqueezeBertConfig(**CONFIGS[name])
    model = sk.SqueezeBertModel(config).eval()
    ids, mask, token_types = inputs(config)
    want = reference_model(model)(ids, attention_mask=mask, token_type_ids=token_types).last_hidden_state.detach()
    with torch.no_grad():
        float_out = model(ids, attention_mask=mask, token_type_ids=token_types).last_hidden_state
        sk.quantize(model, int8_isa)
        got = model(ids, attention_mask=mask, token_type_ids=token_types).last_hidden_state
        ops = sqbert_ops(model, ids, attention_mask=mask)
    if config.hidden_act == "gelu":
        # The kernels' GELU and torch's differ by up to 3e-7, which can move
        # a hidden value across a rounding boundary of the next quantization:
        # one step of one value, which later layers carry. Such differences
        # stay a small part of the quantization error itself.
        assert (got - want).abs().mean() < 0.05 * (got - float_out).abs().mean()
    else:
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert "sqbert::grouped_pw_conv_q8" in ops
    assert not ops & {"sqbert::grouped_pw_conv", "sqbert::grouped_pw_conv_packed", "sqbert::grouped_pw_ffn_packed"}
    fused = config.hidden_act == "gelu" and config.intermediate_groups == config.output_groups
    assert ("sqbert::grouped_pw_ffn_q8" in ops) == fused


def test_quantize_converts_hugging_face_models():
    config = transformers.SqueezeBertConfig(**SMALL)
    hf = transformers.SqueezeBertForSequenceClassification(config).eval()
    ours = sk.SqueezeBertForSequenceClassification(config).eval()
    ours.load_state_dict(hf.state_dict())
    ids, mask, _ = inputs(config)
    sk.quantize(hf)
    sk.quantize(ours)
    with torch.no_grad():
        torch.testing.assert_close(hf(ids, attention_mask=mask).logits, ours(ids, attention_mask=mask).logits,
                                   rtol=1e-5, atol=1e-5)
        assert "sqbert::grouped_pw_ffn_q8" in sqbert_ops(hf, ids, attention_mask=mask)
    assert {m.int8 for m in hf.modules() if isinstance(m, SqueezeBertConv1d)} == {sk.cpu_isa("int8")}
    with pytest.raises(ValueError, match=r"quantize: expected a SqueezeBERT model, found no encoder convolution "
                                         r"in Linear"):
        sk.quantize(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match=r"quantize: expected one of the int8 kernels .* got 'avx9'"):
        sk.quantize(ours, "avx9")


def test_training_and_grad_run_float():
    config = sk.SqueezeBertConfig(**SMALL)
    model = sk.SqueezeBertModel(config)
    ids, mask, _ = inputs(config)
    with torch.no_grad():
        float_out = model.eval()(ids, attention_mask=mask).last_hidden_state
    sk.quantize(model)
    out = model(ids, attention_mask=mask).last_hidden_state  # grad enabled: the float weights
    torch.testing.assert_close(out.detach(), float_out, rtol=1e-5, atol=1e-5)
    out.sum().backward()
    assert model.encoder.layers[0].attention.query.weight.grad is not None


def test_torch_compile_of_the_quantized_model():
    config = sk.SqueezeBertConfig(**SMALL)
    model = sk.quantize(sk.SqueezeBertModel(config).eval())
    ids, mask, _ = inputs(config, length=9)
    with torch.no_grad():
        want = model(ids, attention_mask=mask).last_hidden_state
        compiled = torch.compile(model, fullgraph=True)  # padded, where eager runs the real tokens only
        assert_close_where_real(compiled(ids, attention_mask=mask).last_hidden_state, want, mask, rtol=1e-5,
                                atol=1e-5)


def test_int8_weights_follow_weight_updates_and_hooks():
    config = sk.SqueezeBertConfig(**SMALL)
    model = sk.quantize(sk.SqueezeBertModel(config).eval())
    ids, mask, _ = inputs(config)
    with torch.no_grad():
        model(ids, attention_mask=mask)
        model.encoder.layers[0].intermediate.conv1d.weight.mul_(1.5)
        model.encoder.layers[1].attention.key.bias.add_(0.1)
        got = model(ids, attention_mask=mask).last_hidden_state
    fresh = sk.quantize(copy.deepcopy(model))
    with torch.no_grad():
        torch.testing.assert_close(got, fresh(ids, attention_mask=mask).last_hidden_state, rtol=0, atol=0)

    seen = []
    conv = model.encoder.layers[0].attention.value
    handle = conv.register_forward_hook(lambda m, args, out: seen.append((args[0], out)))
    with torch.no_grad():
        model(ids, attention_mask=mask)
    handle.remove()
    (x, out), = seen
    assert torch.equal(out, sk.grouped_pw_conv_q8(x, sk.quantize_pw_weight(conv.weight, conv.bias, conv.groups,
                                                                           conv.int8), conv.out_channels))


def test_opcheck_and_flops():
    x = torch.randn(2, 8, 7)
    w1, b1, w2 = torch.randn(12, 4, 1), torch.randn(12), torch.randn(8, 6, 1)
    torch.library.opcheck(torch.ops.sqbert.quantize_pw_weight, (w1, b1, 2, None))
    p1, p2 = sk.quantize_pw_weight(w1, b1, 2), sk.quantize_pw_weight(w2, None, 2)
    torch.library.opcheck(torch.ops.sqbert.grouped_pw_conv_q8, (x, p1, 12, "gelu"))
    torch.library.opcheck(torch.ops.sqbert.grouped_pw_ffn_q8, (x, p1, p2, 12, 8, "gelu"))
    for op, args in ((torch.ops.sqbert.grouped_pw_conv_q8, (p1, 12)),
                     (torch.ops.sqbert.grouped_pw_ffn_q8, (p1, p2, 12, 8))):
        torch.library.opcheck(op, (x.clone().requires_grad_(True), *args), test_utils="test_autograd_registration")
    with FlopCounterMode(display=False) as counter:
        sk.grouped_pw_conv_q8(x, p1, 12)
        sk.grouped_pw_ffn_q8(x, p1, p2, 12, 8)
    assert counter.get_total_flops() == 2 * 2 * 7 * (12 * 4) + 2 * 2 * 7 * (12 * 4 + 8 * 6)

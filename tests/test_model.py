"""The drop-in SqueezeBERT against Hugging Face transformers' eager model."""
import json
import os

import pytest
import torch

import sqbert_kernels as sk
from cases import assert_close_where_real

transformers = pytest.importorskip("transformers")

SMALL = dict(vocab_size=120, hidden_size=96, num_attention_heads=4, intermediate_size=192,
             num_hidden_layers=2, embedding_size=96, max_position_embeddings=160)
CONFIGS = {
    "released-shape": dict(vocab_size=300, max_position_embeddings=160, num_hidden_layers=2),
    "small": SMALL,
    "groups-2-8": dict(SMALL, q_groups=2, k_groups=8, v_groups=1, post_attention_groups=4,
                       intermediate_groups=8, output_groups=2),
    "heads-6-dim-16": dict(SMALL, num_attention_heads=6),
    "relu": dict(SMALL, hidden_act="relu"),
    "hidden-60": dict(SMALL, hidden_size=60, embedding_size=60, num_attention_heads=3, intermediate_size=100,
                      q_groups=2, k_groups=2, v_groups=2, intermediate_groups=2, output_groups=2),
}


def hf_config(values, **extra):
    return transformers.SqueezeBertConfig(**dict(values, **extra))


def inputs(config, batch=3, length=37):
    ids = torch.randint(1, config.vocab_size, (batch, length))
    mask = torch.ones(batch, length, dtype=torch.long)
    for b in range(1, batch):
        mask[b, length - 5 * b:] = 0  # different padding per batch row
    token_types = (torch.arange(length) > length // 2).long().expand(batch, -1)
    return ids, mask, token_types


def pair(cls_name, config):
    hf = getattr(transformers, cls_name)(config).eval()
    ours = getattr(sk, cls_name)(config).eval()
    assert ours.load_state_dict(hf.state_dict(), strict=True)
    return hf, ours


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("length", [1, 37, 130])
def test_base_model_matches_hugging_face(name, length):
    config = hf_config(CONFIGS[name])
    hf, ours = pair("SqueezeBertModel", config)
    ids, mask, token_types = inputs(config, length=length)
    for kwargs in (dict(attention_mask=mask, token_type_ids=token_types), dict(), dict(attention_mask=mask)):
        with torch.no_grad():
            want = hf(ids, output_hidden_states=True, **kwargs)
            got = ours(ids, output_hidden_states=True, **kwargs)
        real = kwargs.get("attention_mask")
        assert_close_where_real(got.last_hidden_state, want.last_hidden_state, real, rtol=0, atol=1e-4)
        torch.testing.assert_close(got.pooler_output, want.pooler_output, rtol=0, atol=1e-4)
        assert len(got.hidden_states) == len(want.hidden_states)
        for g, w in zip(got.hidden_states, want.hidden_states):
            assert_close_where_real(g, w, real, rtol=0, atol=1e-4)


@pytest.mark.parametrize("cls_name,key", [
    ("SqueezeBertForSequenceClassification", "logits"),
    ("SqueezeBertForMaskedLM", "logits"),
    ("SqueezeBertForTokenClassification", "logits"),
    ("SqueezeBertForQuestionAnswering", "start_logits"),
])
def test_heads_match_hugging_face(cls_name, key):
    config = hf_config(SMALL, num_labels=2 if "Question" in cls_name else 3)
    hf, ours = pair(cls_name, config)
    ids, mask, token_types = inputs(config)
    with torch.no_grad():
        want = hf(ids, attention_mask=mask, token_type_ids=token_types)
        got = ours(ids, attention_mask=mask, token_type_ids=token_types)
    assert_close_where_real(got[key], want[key], mask, rtol=0, atol=1e-4)
    assert_close_where_real(got[0], want[0], mask, rtol=0, atol=1e-4)


def test_classification_loss_matches_hugging_face():
    config = hf_config(SMALL, num_labels=3)
    hf, ours = pair("SqueezeBertForSequenceClassification", config)
    ids, mask, _ = inputs(config)
    labels = torch.tensor([0, 2, 1])
    with torch.no_grad():
        torch.testing.assert_close(ours(ids, attention_mask=mask, labels=labels).loss,
                                   hf(ids, attention_mask=mask, labels=labels).loss, rtol=0, atol=1e-4)


@pytest.mark.parametrize("cls_name", ["SqueezeBertModel", "SqueezeBertForSequenceClassification",
                                      "SqueezeBertForMaskedLM"])
def test_optimize_converts_transformers_models_in_place(cls_name):
    config = hf_config(SMALL)
    hf = getattr(transformers, cls_name)(config).eval()
    ids, mask, token_types = inputs(config)
    with torch.no_grad():
        want = hf(ids, attention_mask=mask, token_type_ids=token_types)
    keys = list(hf.state_dict())
    converted = sk.optimize(hf)
    assert converted is hf and list(hf.state_dict()) == keys
    assert type(hf.base_model.encoder.layers[0]) is sk.model.SqueezeBertModule
    with torch.no_grad():
        got = hf(ids, attention_mask=mask, token_type_ids=token_types)
    torch.testing.assert_close(got[0], want[0], rtol=0, atol=1e-4)


def test_optimize_rejects_other_models():
    with pytest.raises(ValueError, match="expected a transformers SqueezeBERT model"):
        sk.optimize(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_from_pretrained_local_folder(tmp_path, fmt):
    config = hf_config(SMALL, num_labels=3)
    hf = transformers.SqueezeBertForSequenceClassification(config).eval()
    if fmt == "safetensors":
        hf.save_pretrained(tmp_path)
    else:  # transformers 5 writes only safetensors; older checkpoints are .bin
        hf.config.save_pretrained(tmp_path)
        torch.save(hf.state_dict(), tmp_path / "pytorch_model.bin")
    assert os.path.isfile(tmp_path / ("model.safetensors" if fmt == "safetensors" else "pytorch_model.bin"))
    ids, mask, _ = inputs(config)
    with torch.no_grad():
        want = hf(ids, attention_mask=mask).logits
    ours = sk.SqueezeBertForSequenceClassification.from_pretrained(str(tmp_path))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids, attention_mask=mask).logits, want, rtol=0, atol=1e-4)
    # The base model loads from the head's checkpoint (keys under transformer.).
    base = sk.SqueezeBertModel.from_pretrained(str(tmp_path))
    with torch.no_grad():
        assert_close_where_real(base(ids, attention_mask=mask).last_hidden_state,
                                hf.transformer(ids, attention_mask=mask).last_hidden_state, mask, rtol=0, atol=1e-4)


def test_from_pretrained_masked_lm_ties_the_decoder(tmp_path):
    config = hf_config(SMALL)
    hf = transformers.SqueezeBertForMaskedLM(config).eval()
    hf.save_pretrained(tmp_path)
    ours = sk.SqueezeBertForMaskedLM.from_pretrained(str(tmp_path))
    assert ours.cls.predictions.decoder.weight is ours.transformer.embeddings.word_embeddings.weight
    ids, mask, _ = inputs(config)
    with torch.no_grad():
        assert_close_where_real(ours(ids, attention_mask=mask).logits, hf(ids, attention_mask=mask).logits, mask,
                                rtol=0, atol=1e-4)


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        sk.SqueezeBertModel.from_pretrained(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(SMALL))
    with pytest.raises(FileNotFoundError, match="model.safetensors or pytorch_model.bin"):
        sk.SqueezeBertModel.from_pretrained(str(tmp_path))
    torch.save({"embeddings.word_embeddings.weight": torch.zeros(120, 96)}, tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match="lacks 38 of SqueezeBertModel"):
        sk.SqueezeBertModel.from_pretrained(str(tmp_path))


def test_training_gradients_match_hugging_face():
    config = hf_config(SMALL, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=2)
    hf, ours = pair("SqueezeBertForSequenceClassification", config)
    hf.train()
    ours.train()
    ids, mask, _ = inputs(config)
    labels = torch.tensor([1, 0, 1])
    hf(ids, attention_mask=mask, labels=labels).loss.backward()
    ours(ids, attention_mask=mask, labels=labels).loss.backward()
    hf_grads = dict(hf.named_parameters())
    for name, p in ours.named_parameters():
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, hf_grads[name].grad, rtol=1e-3, atol=1e-5, msg=name)


def test_fine_tuning_lowers_the_loss():
    torch.manual_seed(0)
    config = sk.SqueezeBertConfig(**SMALL, num_labels=2)
    model = sk.SqueezeBertForSequenceClassification(config).train()
    ids = torch.randint(1, 120, (16, 12))
    labels = (ids[:, 0] > 60).long()  # learnable from the first token
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    losses = []
    for _ in range(40):
        loss = model(ids, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5


def test_config_without_transformers_matches_json():
    config = sk.SqueezeBertConfig.from_dict(dict(SMALL, id2label={"0": "a", "1": "b", "2": "c"}, extra_key=1))
    assert config.hidden_size == 96 and config.num_labels == 3 and config.q_groups == 4


def test_torch_compile_of_the_model():
    config = sk.SqueezeBertConfig(**SMALL)
    model = sk.SqueezeBertModel(config).eval()
    ids, mask, _ = inputs(config, length=9)
    with torch.no_grad():
        want = model(ids, attention_mask=mask).last_hidden_state
        compiled = torch.compile(model, fullgraph=True)  # the padded path: see test_model_varlen.py
        assert_close_where_real(compiled(ids, attention_mask=mask).last_hidden_state, want, mask, rtol=1e-5,
                                atol=1e-5)


def test_packed_weights_follow_weight_updates():
    # Inference packs the convolution weights once; every ordinary way of
    # changing them must be seen.
    config = sk.SqueezeBertConfig(**SMALL)
    model = sk.SqueezeBertModel(config).eval()
    other = sk.SqueezeBertModel(config).eval()
    ids, mask, _ = inputs(config)

    def run(m):
        with torch.no_grad():
            return m(ids, attention_mask=mask).last_hidden_state

    def reference(m):  # the differentiable path reads the weights in place
        return m(ids, attention_mask=mask).last_hidden_state.detach()

    torch.testing.assert_close(run(model), reference(model), rtol=0, atol=1e-5)
    model.load_state_dict(other.state_dict())
    torch.testing.assert_close(run(model), reference(other), rtol=0, atol=1e-5)
    with torch.no_grad():
        model.encoder.layers[0].intermediate.conv1d.weight.mul_(1.5)
        model.encoder.layers[1].output.conv1d.bias.add_(0.1)
    torch.testing.assert_close(run(model), reference(model), rtol=0, atol=1e-5)
    conv = model.encoder.layers[0].attention.query
    conv.weight = torch.nn.Parameter(conv.weight.detach() * 0.5)
    torch.testing.assert_close(run(model), reference(model), rtol=0, atol=1e-5)
    # Writes through .data bypass the version counter: repack() catches up.
    conv.weight.data.mul_(2.0)
    torch.testing.assert_close(run(sk.repack(model)), reference(model), rtol=0, atol=1e-5)


def test_model_built_under_inference_mode():
    # Its weights are inference tensors, which have no version counter.
    config = sk.SqueezeBertConfig(**SMALL)
    ids, mask, _ = inputs(config)
    torch.manual_seed(0)
    want_model = sk.SqueezeBertModel(config).eval()
    with torch.inference_mode():
        torch.manual_seed(0)
        model = sk.SqueezeBertModel(config).eval()
        got = model(ids, attention_mask=mask).last_hidden_state
        torch.testing.assert_close(got, want_model(ids, attention_mask=mask).last_hidden_state, rtol=0, atol=0)
        # An in-place write to one goes unseen until repack().
        model.encoder.layers[0].intermediate.conv1d.weight.mul_(1.5)
        want_model.encoder.layers[0].intermediate.conv1d.weight.data.mul_(1.5)
        got = sk.repack(model)(ids, attention_mask=mask).last_hidden_state
        want = sk.repack(want_model)(ids, attention_mask=mask).last_hidden_state
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_packed_weights_follow_the_cpu_isa():
    # Packing is per kernel tile (avx2 6 rows, neon 8, scalar 4): switching
    # the ISA must repack, not feed one tile's layout to another's kernel.
    config = sk.SqueezeBertConfig(**SMALL)
    model = sk.SqueezeBertModel(config).eval()
    ids, mask, _ = inputs(config)
    want = model(ids, attention_mask=mask).last_hidden_state.detach()
    previous = sk.cpu_isa()
    try:
        for isa in sk.cpu_isas() + [previous]:
            sk.set_cpu_isa(isa)
            with torch.no_grad():
                got = model(ids, attention_mask=mask).last_hidden_state
            torch.testing.assert_close(got, want, rtol=0, atol=1e-5, msg=lambda m: f"{isa}: {m}")
    finally:
        sk.set_cpu_isa(previous)


@pytest.mark.parametrize("name,fused", [("small", True), ("groups-2-8", False), ("relu", False)])
def test_feed_forward_fusion_where_it_applies(monkeypatch, name, fused):
    # Inference with GELU and equal groups runs the intermediate and output
    # convolutions as one op; training, other activations or groups do not.
    calls = []
    real = sk.ops.grouped_pw_ffn_packed
    monkeypatch.setattr(sk.ops, "grouped_pw_ffn_packed", lambda *a: calls.append(1) or real(*a))
    config = sk.SqueezeBertConfig(**CONFIGS[name])
    model = sk.SqueezeBertModel(config).eval()
    ids, mask, _ = inputs(config)
    with torch.no_grad():
        model(ids, attention_mask=mask)
    assert len(calls) == (config.num_hidden_layers if fused else 0)
    calls.clear()
    model(ids, attention_mask=mask)  # gradients wanted
    model.train()
    with torch.no_grad():
        model(ids, attention_mask=mask)  # dropout between the output convolution and its LayerNorm
    assert not calls

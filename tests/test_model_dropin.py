"""What transformers users expect of a SqueezeBERT, against transformers' own:
attentions, the config's output flags, meta-device init, multiple choice,
the PreTrainedModel methods, and every activation through optimize()."""
import json
import os

import pytest
import torch

import sqbert_kernels as sk
from cases import assert_close_where_real
from sqbert_kernels import encoder as sk_encoder

transformers = pytest.importorskip("transformers")

SMALL = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
             embedding_size=32, max_position_embeddings=64, q_groups=2, k_groups=2, v_groups=2,
             post_attention_groups=1, intermediate_groups=2, output_groups=2)
WIDER = dict(SMALL, hidden_size=96, embedding_size=96, intermediate_size=192, num_attention_heads=6, q_groups=4,
             k_groups=4, v_groups=4, intermediate_groups=4, output_groups=4)
HEADS = ["SqueezeBertModel", "SqueezeBertForSequenceClassification", "SqueezeBertForTokenClassification",
         "SqueezeBertForQuestionAnswering", "SqueezeBertForMaskedLM", "SqueezeBertForMultipleChoice"]


def hf_config(values=SMALL, **extra):
    return transformers.SqueezeBertConfig(**dict(values, **extra))


def inputs(cls_name, batch=2, length=9, vocab=99):
    ids = torch.randint(1, vocab, (batch, length))
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[1, length - 3:] = 0
    token_types = (torch.arange(length) > length // 2).long().expand(batch, -1)
    if cls_name == "SqueezeBertForMultipleChoice":  # [B, choices, L]
        ids, mask, token_types = (t[:, None].expand(-1, 3, -1).clone() for t in (ids, mask, token_types))
        ids[:, 1:, 0] = torch.randint(1, vocab, (batch, 2))
    return dict(input_ids=ids, attention_mask=mask, token_type_ids=token_types)


def pair(cls_name, config):
    hf = getattr(transformers, cls_name)(config).eval()
    ours = getattr(sk, cls_name)(config).eval()
    ours.load_state_dict(hf.state_dict(), strict=True)
    return hf, ours


def assert_same_outputs(got, want, kwargs=None, atol=1e-4):
    """ModelOutputs or tuples, element by element (tuples of tensors too);
    per-position outputs at the real positions of kwargs' attention_mask only
    (the model holds 0 at padded ones, Hugging Face what it computed there)."""
    mask = (kwargs or {}).get("attention_mask")
    got = tuple(got.values()) if isinstance(got, dict) else got
    want = tuple(want.values()) if isinstance(want, dict) else want
    assert len(got) == len(want)
    for g, w in zip(got, want):
        if isinstance(w, tuple):
            assert isinstance(g, tuple) and len(g) == len(w)
            for gi, wi in zip(g, w):
                assert_close_where_real(gi, wi, mask, rtol=1e-5, atol=atol)
        else:
            assert_close_where_real(g, w, mask, rtol=1e-5, atol=atol)


# 1. output_attentions ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls_name", HEADS)
@pytest.mark.parametrize("masked", [True, False])
def test_output_attentions_match_transformers(cls_name, masked):
    config = hf_config()
    hf, ours = pair(cls_name, config)
    kwargs = inputs(cls_name)
    if not masked:
        del kwargs["attention_mask"]
    with torch.no_grad():
        want = hf(**kwargs, output_attentions=True)
        got = ours(**kwargs, output_attentions=True)
        fast = ours(**kwargs)
    assert len(got.attentions) == config.num_hidden_layers
    batch = kwargs["input_ids"].numel() // kwargs["input_ids"].shape[-1]
    length = kwargs["input_ids"].shape[-1]
    for g in got.attentions:
        assert g.shape == (batch, config.num_attention_heads, length, length)
    assert_same_outputs(got, want, kwargs)
    assert fast.attentions is None
    # The slower path that materialises the attentions computes the same
    # (at the real positions: the fast one runs padded batches unpadded).
    first = "last_hidden_state" if cls_name == "SqueezeBertModel" else list(fast.keys())[0]
    assert_close_where_real(got[first], fast[first], kwargs.get("attention_mask"), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("cls_name", HEADS)
def test_output_attentions_after_optimize(cls_name):
    config = hf_config()
    hf = getattr(transformers, cls_name)(config).eval()
    converted = getattr(transformers, cls_name)(config).eval()
    converted.load_state_dict(hf.state_dict())
    sk.optimize(converted)
    kwargs = inputs(cls_name)
    with torch.no_grad():
        want = hf(**kwargs, output_attentions=True, output_hidden_states=True)
        got = converted(**kwargs, output_attentions=True, output_hidden_states=True)
    assert_same_outputs(got, want, kwargs)


def test_output_attentions_in_training_has_gradients():
    config = hf_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    hf, ours = pair("SqueezeBertModel", config)
    hf.train()
    ours.train()
    kwargs = inputs("SqueezeBertModel")
    want = hf(**kwargs, output_attentions=True)
    got = ours(**kwargs, output_attentions=True)
    assert_same_outputs(got, want, kwargs)
    (want.last_hidden_state.sum() + want.attentions[-1][0, 0].sum()).backward()
    (got.last_hidden_state.sum() + got.attentions[-1][0, 0].sum()).backward()
    for (name, p), q in zip(ours.named_parameters(), hf.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-4, msg=name)


# 2. the config's output_hidden_states / output_attentions / return_dict ---------------------------------------

@pytest.mark.parametrize("cls_name", HEADS)
@pytest.mark.parametrize("flags", [dict(output_hidden_states=True), dict(return_dict=False),
                                   dict(output_hidden_states=True, output_attentions=True, return_dict=False),
                                   dict(output_attentions=True)])
def test_config_output_flags_and_call_overrides(cls_name, flags):
    config = hf_config(**flags)
    hf, ours = pair(cls_name, config)
    assert ours.config.return_dict == config.return_dict
    assert ours.config.use_return_dict == config.use_return_dict
    kwargs = inputs(cls_name)
    if cls_name == "SqueezeBertForMultipleChoice":
        kwargs["labels"] = torch.tensor([0, 2])
    elif cls_name == "SqueezeBertForSequenceClassification":
        kwargs["labels"] = torch.tensor([0, 1])
    calls = [dict(), dict(return_dict=True), dict(return_dict=False), dict(output_hidden_states=False),
             dict(output_hidden_states=True, return_dict=False), dict(output_attentions=False)]
    with torch.no_grad():
        for call in calls:
            want = hf(**kwargs, **call)
            got = ours(**kwargs, **call)
            assert isinstance(got, tuple) == isinstance(want, tuple), call
            assert_same_outputs(got, want, kwargs)


def test_config_fields_are_validated_bools():
    for name in ("output_attentions", "output_hidden_states", "return_dict"):
        with pytest.raises(ValueError, match=name):
            sk.SqueezeBertConfig(**{name: 1})
    config = sk.SqueezeBertConfig.from_dict(dict(SMALL, return_dict=False, output_hidden_states=True))
    assert config.return_dict is False and config.use_return_dict is False and config.output_hidden_states


# 3. meta device -> to_empty -> init_weights ------------------------------------------------------------------

@pytest.mark.parametrize("cls_name", ["SqueezeBertModel", "SqueezeBertForMaskedLM"])
def test_meta_device_then_init_weights(cls_name):
    with torch.device("meta"):
        model = getattr(sk, cls_name)(sk.SqueezeBertConfig(**SMALL))
    model.to_empty(device="cpu")
    model.embeddings.position_ids.fill_(-12345) if cls_name == "SqueezeBertModel" else \
        model.transformer.embeddings.position_ids.fill_(-12345)  # what garbage memory may hold
    model.init_weights()
    base = model.base_model
    assert torch.equal(base.embeddings.position_ids, torch.arange(SMALL["max_position_embeddings"])[None])
    model.eval()
    with torch.no_grad():
        out = model(**inputs(cls_name))
    assert all(torch.isfinite(v).all() for v in out.values())
    hf = getattr(transformers, cls_name)(hf_config()).eval()
    hf.load_state_dict(model.state_dict())
    kwargs = inputs(cls_name)
    with torch.no_grad():
        assert_same_outputs(model(**kwargs), hf(**kwargs), kwargs)


# 4. multiple choice --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("values", [SMALL, WIDER])
def test_multiple_choice_matches_transformers(values):
    config = hf_config(values)
    hf, ours = pair("SqueezeBertForMultipleChoice", config)
    kwargs = inputs("SqueezeBertForMultipleChoice", batch=3)
    labels = torch.tensor([0, 2, 1])
    with torch.no_grad():
        want = hf(**kwargs, labels=labels)
        got = ours(**kwargs, labels=labels)
    assert got.logits.shape == (3, 3)
    assert_same_outputs(got, want, kwargs)
    embeds = ours.get_input_embeddings()(kwargs["input_ids"])
    with torch.no_grad():
        got = ours(inputs_embeds=embeds, attention_mask=kwargs["attention_mask"])
        want = hf(inputs_embeds=embeds, attention_mask=kwargs["attention_mask"])
    assert_same_outputs(got, want, kwargs)
    assert "SqueezeBertForMultipleChoice" in sk.__all__ and "SqueezeBertForMultipleChoice" in sk.model.__all__


def test_multiple_choice_trains_like_transformers():
    config = hf_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    hf, ours = pair("SqueezeBertForMultipleChoice", config)
    kwargs = inputs("SqueezeBertForMultipleChoice")
    labels = torch.tensor([1, 0])
    hf.train()(**kwargs, labels=labels).loss.backward()
    ours.train()(**kwargs, labels=labels).loss.backward()
    for (name, p), q in zip(ours.named_parameters(), hf.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-4, msg=name)


# 5. PreTrainedModel methods ------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls_name", HEADS)
def test_save_pretrained_round_trip(tmp_path, cls_name):
    config = hf_config()
    hf, ours = pair(cls_name, config)
    ours.save_pretrained(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["config.json", "model.safetensors"]
    with open(tmp_path / "config.json") as f:
        saved = json.load(f)
    assert saved["model_type"] == "squeezebert" and saved["architectures"] == [cls_name]
    again = getattr(sk, cls_name).from_pretrained(str(tmp_path))
    by_hf = getattr(transformers, cls_name).from_pretrained(str(tmp_path)).eval()
    kwargs = inputs(cls_name)
    with torch.no_grad():
        want = hf(**kwargs)
        assert_same_outputs(again(**kwargs), want, kwargs)
        assert_same_outputs(by_hf(**kwargs), want, kwargs)
    # and what transformers saves, this package loads
    hf.save_pretrained(str(tmp_path / "hf"))
    with torch.no_grad():
        assert_same_outputs(getattr(sk, cls_name).from_pretrained(str(tmp_path / "hf"))(**kwargs), want, kwargs)
    if cls_name == "SqueezeBertForMaskedLM":
        assert again.cls.predictions.decoder.weight is again.transformer.embeddings.word_embeddings.weight


def test_save_pretrained_refuses_what_it_does_not_support(tmp_path):
    model = sk.SqueezeBertModel(sk.SqueezeBertConfig(**SMALL))
    with pytest.raises(ValueError, match="safe_serialization"):
        model.save_pretrained(str(tmp_path), safe_serialization=False)
    with pytest.raises(ValueError, match="push_to_hub"):
        model.save_pretrained(str(tmp_path), push_to_hub=True)


def test_from_pretrained_with_config_and_state_dict(tmp_path):
    config = hf_config()
    hf, ours = pair("SqueezeBertForSequenceClassification", config)
    kwargs = inputs("SqueezeBertForSequenceClassification")
    with torch.no_grad():
        want = hf(**kwargs)
    state = hf.state_dict()
    for model in (sk.SqueezeBertForSequenceClassification.from_pretrained(None, config=config, state_dict=state),
                  sk.SqueezeBertForSequenceClassification.from_pretrained(
                      None, config=sk.SqueezeBertConfig(**SMALL), state_dict=state)):
        assert not model.training
        with torch.no_grad():
            assert_same_outputs(model(**kwargs), want, kwargs)
    hf.save_pretrained(str(tmp_path))
    # config= replaces config.json; overrides apply on top of it
    model = sk.SqueezeBertForSequenceClassification.from_pretrained(str(tmp_path), config=config,
                                                                     output_hidden_states=True)
    with torch.no_grad():
        got = model(**kwargs)
    assert len(got.hidden_states) == 3
    torch.testing.assert_close(got.logits, want.logits, rtol=1e-5, atol=1e-4)
    # state_dict= replaces the weight files
    model = sk.SqueezeBertForSequenceClassification.from_pretrained(str(tmp_path), state_dict=ours.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(model(**kwargs).logits, ours.eval()(**kwargs).logits)
    with pytest.raises(ValueError, match="config and state_dict"):
        sk.SqueezeBertModel.from_pretrained(None, config=config)


@pytest.mark.parametrize("cls_name", HEADS)
def test_input_embeddings_and_num_parameters(cls_name):
    config = hf_config()
    hf, ours = pair(cls_name, config)
    assert ours.get_input_embeddings().weight.shape == hf.get_input_embeddings().weight.shape
    for kwargs in (dict(), dict(only_trainable=True), dict(exclude_embeddings=True)):
        assert ours.num_parameters(**kwargs) == hf.num_parameters(**kwargs), kwargs
    new = torch.nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=0)
    ours.set_input_embeddings(new)
    hf.set_input_embeddings(new)
    assert ours.get_input_embeddings() is new
    kwargs = inputs(cls_name)
    with torch.no_grad():
        assert_same_outputs(ours(**kwargs), hf(**kwargs), kwargs)


@pytest.mark.parametrize("cls_name", ["SqueezeBertModel", "SqueezeBertForMaskedLM"])
@pytest.mark.parametrize("size", [120, 50])
def test_resize_token_embeddings(cls_name, size):
    config = hf_config()
    hf, ours = pair(cls_name, config)
    old = ours.get_input_embeddings().weight.detach().clone()
    emb = ours.resize_token_embeddings(size)
    hf.resize_token_embeddings(size)
    assert emb is ours.get_input_embeddings() and emb.weight.shape == (size, config.embedding_size)
    assert ours.config.vocab_size == size
    keep = min(size, SMALL["vocab_size"])
    torch.testing.assert_close(emb.weight[:keep], old[:keep])
    if cls_name == "SqueezeBertForMaskedLM":
        assert ours.cls.predictions.decoder.weight is emb.weight
        assert ours.cls.predictions.decoder.bias is ours.cls.predictions.bias
        assert ours.cls.predictions.bias.shape == (size,)
    # the rows both have agree with transformers' resized model
    ids = torch.randint(1, keep, (2, 9))
    hf_state = {k: v for k, v in hf.state_dict().items()}
    ours.load_state_dict(hf_state, strict=False)
    with torch.no_grad():
        assert_same_outputs(ours(ids), hf.eval()(ids))
    assert ours.resize_token_embeddings(None, pad_to_multiple_of=64).num_embeddings == -(-size // 64) * 64


def test_gradient_checkpointing(monkeypatch):
    config = hf_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    hf, ours = pair("SqueezeBertForSequenceClassification", config)
    reference = sk.SqueezeBertForSequenceClassification(config)
    reference.load_state_dict(hf.state_dict())
    calls = []
    real = sk_encoder.checkpoint
    monkeypatch.setattr(sk_encoder, "checkpoint", lambda *a, **k: calls.append(1) or real(*a, **k))
    ours.gradient_checkpointing_enable()
    assert ours.is_gradient_checkpointing
    kwargs = dict(inputs("SqueezeBertForSequenceClassification"), labels=torch.tensor([0, 1]))
    ours.train()(**kwargs).loss.backward()
    assert len(calls) == config.num_hidden_layers
    reference.train()(**kwargs).loss.backward()
    for (name, p), q in zip(ours.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6, msg=name)
    with torch.no_grad():
        ours.eval()(**kwargs)  # no checkpointing at inference
    assert len(calls) == config.num_hidden_layers
    ours.gradient_checkpointing_disable()
    assert not ours.is_gradient_checkpointing


# 6. every activation transformers maps, through optimize() and in this package's model ----------------------

ACTIVATIONS = ["gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_python", "gelu_python_tanh", "gelu_fast",
               "gelu_accurate", "gelu_10", "quick_gelu", "laplace", "relu", "relu2", "relu6", "leaky_relu",
               "silu", "swish", "tanh", "sigmoid", "mish", "hardswish", "linear"]


def test_activation_list_covers_transformers():
    from transformers.activations import ACT2CLS
    # prelu (a learned weight outside the state dict's keys here), xielu (learned parameters) and
    # sqrtsoftplus are left out of this package's own model; optimize() keeps whatever module transformers made.
    assert set(ACTIVATIONS) <= set(ACT2CLS)
    assert set(ACT2CLS) - set(ACTIVATIONS) <= {"prelu", "xielu", "sqrtsoftplus"}


@pytest.mark.parametrize("act", ACTIVATIONS + ["prelu", "sqrtsoftplus"])
def test_every_activation_through_optimize(act):
    config = hf_config(hidden_act=act)
    hf = transformers.SqueezeBertForMaskedLM(config).eval()
    converted = transformers.SqueezeBertForMaskedLM(config).eval()
    converted.load_state_dict(hf.state_dict())
    sk.optimize(converted)
    kwargs = inputs("SqueezeBertForMaskedLM")
    with torch.no_grad():
        assert_same_outputs(converted(**kwargs, output_hidden_states=True), hf(**kwargs, output_hidden_states=True), kwargs)


@pytest.mark.parametrize("act", [a for a in ACTIVATIONS if a != "gelu_fast"])
def test_every_activation_in_the_model(act):
    # gelu_fast runs through optimize() only: this package's config refuses it
    # (tests/test_checkpoint.py pins that).
    config = hf_config(hidden_act=act)
    hf, ours = pair("SqueezeBertForMaskedLM", config)
    kwargs = inputs("SqueezeBertForMaskedLM")
    with torch.no_grad():
        assert_same_outputs(ours(**kwargs, output_hidden_states=True), hf(**kwargs, output_hidden_states=True), kwargs)

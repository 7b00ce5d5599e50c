"""Configs and checkpoint folders: every malformed file, mismatched state dict
and unbuildable config is a ValueError naming what is wrong, never garbage
weights, a silently partial model, a hang or a crash."""
import json
import math
import struct
import time
import warnings

import pytest
import torch
from safetensors.torch import save_file

import sqbert_kernels as sk
from sqbert_kernels.checkpoint import MAX_SIZE, load_checkpoint, parameter_count

TINY = dict(vocab_size=50, hidden_size=32, num_attention_heads=4, intermediate_size=64, num_hidden_layers=2,
            embedding_size=32, max_position_embeddings=16)


def folder(tmp_path, state=None, config=TINY, fmt="safetensors"):
    """A checkpoint folder: config.json and the state (by default a random
    model's) as model.safetensors or pytorch_model.bin."""
    (tmp_path / "config.json").write_text(json.dumps(config))
    if state is None:
        state = sk.SqueezeBertModel(sk.SqueezeBertConfig(**TINY)).state_dict()
    if fmt == "safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "model.safetensors")
    else:
        torch.save(state, tmp_path / "pytorch_model.bin")
    return str(tmp_path)


def ids():
    return torch.randint(1, TINY["vocab_size"], (2, 7))


# --- safetensors files -----------------------------------------------------

def write_safetensors(path, header, data=b""):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)


def entry(dtype="F32", shape=(4,), offsets=(0, 16)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


W = '"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}'
MALFORMED = {
    "inverted range": ({"w": entry(shape=(16,), offsets=(64, 0))}, 64),
    "empty range": ({"w": entry(shape=(16,), offsets=(0, 0))}, 64),
    "past the end": ({"w": entry(shape=(16,), offsets=(0, 64))}, 32),
    "negative offsets": ({"w": entry(offsets=(-16, 0))}, 16),
    "overlapping": ({"a": entry(), "b": entry(offsets=(8, 24))}, 24),
    "gap": ({"w": entry(offsets=(16, 32))}, 32),
    "negative dims": ({"w": entry(shape=(-4,))}, 16),
    # safetensors keeps the last of two tensors under one name (of one size here).
    "duplicate names": (("{%s, %s}" % (W, W.replace("F32", "I32"))).encode(), 16),
    "duplicate fields": (W.replace('"dtype": "F32"', '"dtype": "I32", "dtype": "F32"').join("{}").encode(), 16),
    "utf-16 header": (json.dumps({"w": entry()}).encode("utf-16"), 16),
    "4 GiB from 2 KB": ({"w": entry(shape=(1 << 30,), offsets=(0, 1 << 32))}, 2048),
    "unknown dtype": ({"w": entry(dtype="X99")}, 16),
    "header a list": ([entry()], 16),
    "deep header": (b"[" * 100000 + b"]" * 100000, 0),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_safetensors_are_refused(tmp_path, case):
    header, size = MALFORMED[case]
    file = tmp_path / "model.safetensors"
    write_safetensors(file, header, bytes(size))
    with pytest.raises(ValueError, match=f"{file}: not a valid safetensors file"):
        load_checkpoint(str(tmp_path))


@pytest.mark.parametrize("content", [b"", b"\x01\x02", struct.pack("<Q", 1 << 40) + b"{}"])
def test_truncated_safetensors_are_refused(tmp_path, content):
    (tmp_path / "model.safetensors").write_bytes(content)
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        load_checkpoint(str(tmp_path))


def test_duplicate_names_are_named(tmp_path):
    write_safetensors(tmp_path / "model.safetensors", MALFORMED["duplicate names"][0], bytes(16))
    with pytest.raises(ValueError, match=r"duplicate names in the header: \['w'\]"):
        load_checkpoint(str(tmp_path))


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_checkpoint_round_trips(tmp_path, fmt):
    model = sk.SqueezeBertModel(sk.SqueezeBertConfig(**TINY)).eval()
    loaded = sk.SqueezeBertModel.from_pretrained(folder(tmp_path, model.state_dict(), fmt=fmt))
    for (name, want), got in zip(model.state_dict().items(), loaded.state_dict().values()):
        torch.testing.assert_close(got, want, rtol=0, atol=0, msg=name)
    x = ids()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).last_hidden_state, model(x).last_hidden_state, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_floating_weights_are_cast(tmp_path, dtype):
    state = {k: v.to(dtype) for k, v in sk.SqueezeBertModel(sk.SqueezeBertConfig(**TINY)).state_dict().items()}
    loaded = sk.SqueezeBertModel.from_pretrained(folder(tmp_path, state))
    for name, got in loaded.state_dict().items():
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, state[name].float(), rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("dtype", [torch.float8_e4m3fn, torch.int64, torch.uint8, torch.bool, torch.complex64])
def test_other_weight_dtypes_are_refused(tmp_path, dtype):
    state = sk.SqueezeBertModel(sk.SqueezeBertConfig(**TINY)).state_dict()
    state["encoder.layers.1.output.conv1d.weight"] = state["encoder.layers.1.output.conv1d.weight"].to(dtype)
    with pytest.raises(ValueError, match=rf"encoder\.layers\.1\.output\.conv1d\.weight is a {dtype}"):
        sk.SqueezeBertModel.from_pretrained(folder(tmp_path, state))


def test_sparse_weights_are_refused(tmp_path):
    state = sk.SqueezeBertModel(sk.SqueezeBertConfig(**TINY)).state_dict()
    state["pooler.dense.weight"] = state["pooler.dense.weight"].to_sparse()
    with pytest.raises(ValueError, match=r"pooler\.dense\.weight is a torch\.float32 tensor \(torch\.sparse_coo\)"):
        sk.SqueezeBertModel.from_pretrained(folder(tmp_path, state, fmt="bin"))


@pytest.mark.parametrize("content,message", [
    (b"garbage" * 10, "not a loadable PyTorch checkpoint: UnpicklingError"),
    (b"", "not a loadable PyTorch checkpoint: EOFError"),
    (b"PK\x03\x04" + b"x" * 100, "not a loadable PyTorch checkpoint: RuntimeError"),
])
def test_malformed_bin_is_refused(tmp_path, content, message):
    (tmp_path / "pytorch_model.bin").write_bytes(content)
    with pytest.raises(ValueError, match=f"{tmp_path / 'pytorch_model.bin'}: {message}"):
        load_checkpoint(str(tmp_path))


@pytest.mark.parametrize("state", [[torch.zeros(2)], {"w": 1}, {3: torch.zeros(2)}])
def test_bin_other_than_tensors_by_name_is_refused(tmp_path, state):
    torch.save(state, tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match="pytorch_model.bin: expected a dict of tensors by name"):
        load_checkpoint(str(tmp_path))


# --- state dicts that do not match the model ------------------------------

def test_missing_and_unexpected_weights_are_refused(tmp_path):
    state = sk.SqueezeBertModel(sk.SqueezeBertConfig(**TINY)).state_dict()
    del state["pooler.dense.weight"], state["encoder.layers.0.attention.key.bias"]
    state["encoder.layers.2.attention.key.bias"] = torch.zeros(32)
    path = folder(tmp_path, state)
    with pytest.raises(ValueError, match=r"lacks 2 of SqueezeBertModel's weights: encoder\.layers\.0\.attention"
                                         r"\.key\.bias, pooler\.dense\.weight; 1 weights in it are not "
                                         r"SqueezeBertModel's: encoder\.layers\.2\.attention\.key\.bias"):
        sk.SqueezeBertModel.from_pretrained(path)
    with pytest.warns(UserWarning, match=r"lacks 2 of SqueezeBertModel's weights.*left randomly initialised"):
        model = sk.SqueezeBertModel.from_pretrained(path, strict=False)
    torch.testing.assert_close(model.encoder.layers[0].attention.query.weight,
                               state["encoder.layers.0.attention.query.weight"], rtol=0, atol=0)
    with pytest.warns(UserWarning):
        info = sk.SqueezeBertModel(sk.SqueezeBertConfig(**TINY)).load_checkpoint_state(state, strict=False)
    assert info.missing_keys == ["encoder.layers.0.attention.key.bias", "pooler.dense.weight"]
    assert info.unexpected_keys == ["encoder.layers.2.attention.key.bias"]


def test_many_missing_weights_are_counted(tmp_path):
    path = folder(tmp_path, {"embeddings.word_embeddings.weight": torch.zeros(50, 32)})
    with pytest.raises(ValueError, match=r"lacks 38 of SqueezeBertModel's weights: .*, \.\.\. \(28 more\)"):
        sk.SqueezeBertModel.from_pretrained(path)


def test_a_head_needs_its_weights(tmp_path):
    # A base model's checkpoint lacks the classifier: refused, or loaded with a warning.
    path = folder(tmp_path)
    with pytest.raises(ValueError, match=r"lacks 2 .*: classifier\.weight, classifier\.bias"):
        sk.SqueezeBertForSequenceClassification.from_pretrained(path)
    with pytest.warns(UserWarning, match=r"classifier\.weight"):
        sk.SqueezeBertForSequenceClassification.from_pretrained(path, strict=False)


def test_shape_mismatches_are_refused_even_when_not_strict(tmp_path):
    state = sk.SqueezeBertModel(sk.SqueezeBertConfig(**TINY)).state_dict()
    state["encoder.layers.1.intermediate.conv1d.weight"] = torch.zeros(64, 16, 2)
    path = folder(tmp_path, state)
    for strict in (True, False):
        with pytest.raises(ValueError, match=r"encoder\.layers\.1\.intermediate\.conv1d\.weight has shape "
                                             r"\[64, 16, 2\], the model's is \[64, 8, 1\]"):
            sk.SqueezeBertModel.from_pretrained(path, strict=strict)


def test_tied_and_legacy_keys_are_not_reported(tmp_path):
    model = sk.SqueezeBertForMaskedLM(sk.SqueezeBertConfig(**TINY))
    state = {k: v for k, v in model.state_dict().items() if "decoder" not in k}
    state["transformer.embeddings.position_ids"] = torch.arange(16)[None]  # older transformers saved it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = sk.SqueezeBertForMaskedLM.from_pretrained(folder(tmp_path, state))
    assert loaded.cls.predictions.decoder.weight is loaded.transformer.embeddings.word_embeddings.weight
    torch.testing.assert_close(loaded.cls.predictions.decoder.weight,
                               state["transformer.embeddings.word_embeddings.weight"], rtol=0, atol=0)


def test_an_untied_decoder_does_not_replace_the_embeddings(tmp_path):
    model = sk.SqueezeBertForMaskedLM(sk.SqueezeBertConfig(**TINY))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["cls.predictions.decoder.weight"].fill_(7.0)
    loaded = sk.SqueezeBertForMaskedLM.from_pretrained(folder(tmp_path, state, fmt="bin"))
    torch.testing.assert_close(loaded.transformer.embeddings.word_embeddings.weight,
                               state["transformer.embeddings.word_embeddings.weight"], rtol=0, atol=0)


@pytest.mark.parametrize("layers", [0, -5])
def test_checkpoint_without_layers_is_refused(tmp_path, layers):
    state = {k: v for k, v in sk.SqueezeBertModel(sk.SqueezeBertConfig(**TINY)).state_dict().items()
             if not k.startswith("encoder.")}
    with pytest.raises(ValueError, match=rf"config\.json: .*num_hidden_layers={layers}: expected an integer"):
        sk.SqueezeBertModel.from_pretrained(folder(tmp_path, state, config=dict(TINY, num_hidden_layers=layers)))


# --- configs ---------------------------------------------------------------

BAD_FIELDS = [(name, value) for name in (
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
    "max_position_embeddings", "type_vocab_size", "embedding_size", "q_groups", "k_groups", "v_groups",
    "post_attention_groups", "intermediate_groups", "output_groups", "num_labels",
) for value in (0, -5, 2.0, True, "4", None, MAX_SIZE + 1)] + [
    ("num_attention_heads", 5), ("q_groups", 3), ("k_groups", 64), ("v_groups", 5), ("post_attention_groups", 3),
    ("intermediate_groups", 64), ("output_groups", 3), ("embedding_size", 16),
    ("layer_norm_eps", 0), ("layer_norm_eps", -1e-12), ("layer_norm_eps", math.inf), ("layer_norm_eps", math.nan),
    ("layer_norm_eps", "1e-12"), ("layer_norm_eps", None),
    ("hidden_dropout_prob", -0.1), ("hidden_dropout_prob", 1.5), ("hidden_dropout_prob", math.nan),
    ("hidden_dropout_prob", "0.1"), ("attention_probs_dropout_prob", 2), ("attention_probs_dropout_prob", None),
    ("initializer_range", -0.02), ("initializer_range", math.inf), ("initializer_range", math.nan),
    ("initializer_range", [0.02]),
    ("pad_token_id", -1), ("pad_token_id", 50), ("pad_token_id", 1.0), ("pad_token_id", "0"),
    ("hidden_act", "gelu_fast"), ("hidden_act", None), ("hidden_act", ["gelu"]), ("hidden_act", "GELU"),
    ("problem_type", "ranking"),
]


@pytest.mark.parametrize("name,value", BAD_FIELDS)
def test_bad_config_fields_are_named(name, value):
    with pytest.raises(ValueError, match=rf"SqueezeBertConfig: {name}="):
        sk.SqueezeBertConfig.from_dict(dict(TINY, **{name: value}))


def test_intermediate_groups_divide_the_intermediate_size():
    with pytest.raises(ValueError, match=r"intermediate_groups=8: expected a divisor of intermediate_size \(36\)"):
        sk.SqueezeBertConfig(**dict(TINY, intermediate_size=36, intermediate_groups=8, output_groups=4))


def test_models_validate_a_config_changed_after_it_was_made():
    config = sk.SqueezeBertConfig(**TINY)
    config.num_attention_heads = 0
    with pytest.raises(ValueError, match="num_attention_heads=0"):
        sk.SqueezeBertForSequenceClassification(config)


@pytest.mark.parametrize("sizes,message", [
    (dict(vocab_size=50_000_000), "vocab_size=50000000"),
    (dict(num_hidden_layers=10 ** 6), "num_hidden_layers=1000000"),
    (dict(num_labels=10 ** 9), "num_labels=1000000000"),
    (dict(num_hidden_layers=1000), r"2,246,874,426 parameters, more than the 2,147,483,648 allowed "
                                   r"\(vocab_size=30522, hidden_size=768, num_hidden_layers=1000"),
    (dict(vocab_size=MAX_SIZE, hidden_size=4096, embedding_size=4096, num_attention_heads=16),
     "parameters, more than"),
])
def test_huge_configs_are_refused_before_allocating(sizes, message):
    for make in (sk.SqueezeBertConfig, lambda **kw: sk.SqueezeBertModel(kw),
                 lambda **kw: sk.SqueezeBertForMaskedLM(sk.SqueezeBertConfig.from_dict(kw))):
        start = time.perf_counter()
        with pytest.raises(ValueError, match=message):
            make(**sizes)
        assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("num_labels", [3, 200])  # the masked LM or a classifier is the largest
def test_parameter_count_is_the_largest_models(num_labels):
    config = sk.SqueezeBertConfig(**dict(TINY, q_groups=2, output_groups=8, num_labels=num_labels))
    counts = [sum(p.numel() for p in getattr(sk, name)(config).parameters()) for name in (
        "SqueezeBertModel", "SqueezeBertForSequenceClassification", "SqueezeBertForTokenClassification",
        "SqueezeBertForQuestionAnswering", "SqueezeBertForMaskedLM")]
    assert parameter_count(config) == max(counts)


@pytest.mark.parametrize("content,message", [
    ("[1, 2]", "expected a dict \\(a JSON object\\) of fields, got list"),
    ('"config"', "got str"),
    (json.dumps(dict(TINY, id2label=["a", "b", "c"])), r"id2label=\['a', 'b', 'c'\]: expected a dict"),
    ("{", "Expecting property name"),
    ("[" * 100000 + "]" * 100000, "recursion"),
    (b"\xff\xfe{}", "utf-8"),
])
def test_bad_config_json_is_refused(tmp_path, content, message):
    file = tmp_path / "config.json"
    file.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError, match=f"{file}: .*{message}"):
        sk.SqueezeBertConfig.from_json_file(str(file))
    (tmp_path / "model.safetensors").write_bytes(b"")  # the config is read first
    with pytest.raises(ValueError, match=f"{file}: .*{message}"):
        sk.SqueezeBertModel.from_pretrained(str(tmp_path))


def test_config_overrides_are_validated(tmp_path):
    path = folder(tmp_path)
    with pytest.raises(ValueError, match="hidden_dropout_prob=3"):
        sk.SqueezeBertModel.from_pretrained(path, hidden_dropout_prob=3)
    assert sk.SqueezeBertModel.from_pretrained(path, hidden_dropout_prob=0.0).config.hidden_dropout_prob == 0.0


def test_id2label_sets_num_labels_and_extra_keys_are_ignored():
    config = sk.SqueezeBertConfig.from_dict(dict(TINY, id2label={"0": "a", "1": "b", "2": "c"}, architectures=[1]))
    assert config.num_labels == 3


def test_other_config_objects_are_refused():
    with pytest.raises(ValueError, match="expected a SqueezeBertConfig, a dict or a transformers config, got list"):
        sk.SqueezeBertModel([TINY])

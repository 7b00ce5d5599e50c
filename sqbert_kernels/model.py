"""A drop-in SqueezeBERT on ``torch.ops.sqbert``.

The modules mirror Hugging Face's ``transformers.models.squeezebert`` tree
and state-dict keys (``model.load_state_dict(hf_model.state_dict())`` works
unchanged), but the encoder layer runs on this package's ops: grouped 1x1
convolutions reading NCW activations and weights in place, GELU in the
intermediate convolution's epilogue, the fused attention, and residual +
LayerNorm over channels without permutes. The runtime needs torch and this
package only; ``transformers`` is needed just to convert a model of its own
(:func:`optimize`).
"""
import json
import os
from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import ops


@dataclass
class SqueezeBertConfig:
    """The fields of Hugging Face's ``SqueezeBertConfig`` that the model uses,
    with its defaults (``squeezebert/squeezebert-uncased``)."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    embedding_size: int = 768
    q_groups: int = 4
    k_groups: int = 4
    v_groups: int = 4
    post_attention_groups: int = 1
    intermediate_groups: int = 4
    output_groups: int = 4
    num_labels: int = 2
    problem_type: Optional[str] = None

    @classmethod
    def from_dict(cls, values: Dict[str, Any]) -> "SqueezeBertConfig":
        known = {f.name for f in fields(cls)}
        config = cls(**{k: v for k, v in values.items() if k in known})
        if "num_labels" not in values and values.get("id2label"):
            config.num_labels = len(values["id2label"])
        return config

    @classmethod
    def from_json_file(cls, path: str) -> "SqueezeBertConfig":
        with open(path) as f:
            return cls.from_dict(json.load(f))


def as_config(config) -> SqueezeBertConfig:
    """Accepts this package's config, a dict, or a ``transformers`` config."""
    if isinstance(config, SqueezeBertConfig):
        return config
    if isinstance(config, dict):
        return SqueezeBertConfig.from_dict(config)
    return SqueezeBertConfig.from_dict(config.to_dict())


class ModelOutput(OrderedDict):
    """Outputs by name (``out.logits``) or by position (``out[0]``), skipping
    those that are None, like Hugging Face's ``ModelOutput``."""

    def __init__(self, **values):
        super().__init__((k, v) for k, v in values.items() if v is not None)

    def __getattr__(self, name):
        if name in self:
            return self[name]
        if name.startswith("_"):
            raise AttributeError(name)
        return None

    def __getitem__(self, key):
        if isinstance(key, (int, slice)):
            return self.to_tuple()[key]
        return super().__getitem__(key)

    def to_tuple(self):
        return tuple(self.values())


_ACTIVATIONS = {
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
}


def _runs_packed(x: Tensor, *convs: nn.Conv1d) -> bool:
    """Whether convs run on x with packed weights: at inference on the CPU
    (packed weights are a CPU kernel's layout; GPUs run the Triton kernel),
    not when gradients are wanted or under torch.compile (the weights are
    then read in place, differentiably)."""
    if not x.is_cpu or torch.compiler.is_compiling():
        return False
    if not torch.is_grad_enabled():
        return True
    return not (x.requires_grad or any(p.requires_grad for conv in convs for p in (conv.weight, conv.bias)
                                       if p is not None))


def _conv(conv: nn.Conv1d, x: Tensor, activation: str = "none") -> Tensor:
    """The convolution, with packed weights when :func:`_runs_packed`."""
    w, b = conv.weight, conv.bias
    if _runs_packed(x, conv):
        return ops.grouped_pw_conv_packed(x, _packed_weight(conv, w, b), conv.out_channels, activation)
    return ops.grouped_pw_conv(x, w, b, conv.groups, activation)


def _packed_weight(conv: nn.Conv1d, w: Tensor, b: Optional[Tensor]) -> Tensor:
    """conv's weights packed for the CPU kernel, packed again whenever the
    weight or bias changed since: an in-place update (optimizer step,
    load_state_dict, ``mul_`` under no_grad) bumps the tensor's version, a new
    tensor has a new address. Writes through ``.data`` bypass the version
    counter: call :func:`repack` after those. (w and b are conv's weight and
    bias, passed in: a parameter lookup on a module costs about 0.7 us.)"""
    key = (w._version, w.data_ptr(), None if b is None else (b._version, b.data_ptr()), ops.cpu_isa())
    cached = conv.__dict__.get("_sqbert_packed")
    if cached is None or cached[0] != key:
        with torch.no_grad():
            cached = (key, ops.pack_pw_weight(w, b, conv.groups))
        conv.__dict__["_sqbert_packed"] = cached
    return cached[1]


def repack(model: nn.Module) -> nn.Module:
    """Drops the packed weights of every convolution in ``model``, so the next
    inference packs them anew (needed only after writes through ``.data``)."""
    for module in model.modules():
        module.__dict__.pop("_sqbert_packed", None)
    return model


def additive_mask(mask: Optional[Tensor], dtype: torch.dtype) -> Optional[Tensor]:
    """The mask as the attention adds it: None; a [B, L] keep-mask (1 keep,
    0 pad) or a boolean mask (True keep) becomes 0 / the dtype's minimum; a
    float mask of 3 or more dims is used as it is (transformers' 4D masks)."""
    if mask is None:
        return None
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)
    if mask.dim() == 2:
        return ((1.0 - mask.to(dtype)) * torch.finfo(dtype).min)[:, None, None, :]
    return mask.to(dtype)


class SqueezeBertEmbeddings(nn.Module):
    """Word, position and token-type embeddings, LayerNorm, dropout: [B, L, C]."""

    def __init__(self, config: SqueezeBertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.embedding_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.embedding_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)),
                             persistent=False)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None):
        shape = input_ids.shape if input_ids is not None else inputs_embeds.shape[:-1]
        if position_ids is None:
            position_ids = self.position_ids[:, : shape[1]]
        if token_type_ids is None:
            token_type_ids = torch.zeros(shape, dtype=torch.long, device=self.position_ids.device)
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        embeddings = inputs_embeds + self.position_embeddings(position_ids) + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(embeddings))


class SqueezeBertLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of NCW activations."""

    def forward(self, x: Tensor, residual: Optional[Tensor] = None) -> Tensor:
        return ops.add_layernorm(x, residual, self.weight, self.bias, self.eps)


class SqueezeBertSelfAttention(nn.Module):
    def __init__(self, config: SqueezeBertConfig, cin: int, q_groups=1, k_groups=1, v_groups=1):
        super().__init__()
        if cin % config.num_attention_heads != 0:
            raise ValueError(f"cin ({cin}) is not a multiple of the number of attention heads "
                             f"({config.num_attention_heads})")
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = cin // config.num_attention_heads
        self.all_head_size = cin
        self.query = nn.Conv1d(cin, cin, kernel_size=1, groups=q_groups)
        self.key = nn.Conv1d(cin, cin, kernel_size=1, groups=k_groups)
        self.value = nn.Conv1d(cin, cin, kernel_size=1, groups=v_groups)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def forward(self, hidden_states, attention_mask, output_attentions=False):
        if output_attentions:
            raise NotImplementedError("sqbert_kernels' fused attention does not return attention scores; "
                                      "run the Hugging Face model for output_attentions=True")
        q, k, v = (_conv(conv, hidden_states) for conv in (self.query, self.key, self.value))
        mask = additive_mask(attention_mask, q.dtype)
        if self.training and self.dropout.p > 0:
            # Dropout on the attention probabilities: the stock composition.
            context = ops.attention_reference(q, k, v, mask, self.num_attention_heads, self.dropout)
        else:
            context = ops.fused_attention(q, k, v, mask, self.num_attention_heads)
        return {"context_layer": context}


class ConvDropoutLayerNorm(nn.Module):
    """LayerNorm(dropout(conv(x)) + residual), the LayerNorm over channels."""

    def __init__(self, cin, cout, groups, dropout_prob):
        super().__init__()
        self.conv1d = nn.Conv1d(cin, cout, kernel_size=1, groups=groups)
        self.layernorm = SqueezeBertLayerNorm(cout)
        self.dropout = nn.Dropout(dropout_prob)

    def forward(self, hidden_states, input_tensor):
        return self.layernorm(self.dropout(_conv(self.conv1d, hidden_states)), input_tensor)


class ConvActivation(nn.Module):
    """act(conv(x)); the exact GELU runs in the convolution's epilogue."""

    def __init__(self, cin, cout, groups, act):
        super().__init__()
        self.conv1d = nn.Conv1d(cin, cout, kernel_size=1, groups=groups)
        self.act_name = act

    def forward(self, x):
        if self.act_name == "gelu":
            return _conv(self.conv1d, x, "gelu")
        if self.act_name not in _ACTIVATIONS:
            raise ValueError(f"unsupported hidden_act {self.act_name!r}: expected gelu or one of "
                             f"{sorted(_ACTIVATIONS)}")
        return _ACTIVATIONS[self.act_name](_conv(self.conv1d, x))


class SqueezeBertModule(nn.Module):
    """One encoder layer on NCW activations; Hugging Face's forward signature."""

    def __init__(self, config: SqueezeBertConfig):
        super().__init__()
        c = config.hidden_size
        self.attention = SqueezeBertSelfAttention(config, c, config.q_groups, config.k_groups, config.v_groups)
        self.post_attention = ConvDropoutLayerNorm(c, c, config.post_attention_groups, config.hidden_dropout_prob)
        self.intermediate = ConvActivation(c, config.intermediate_size, config.intermediate_groups, config.hidden_act)
        self.output = ConvDropoutLayerNorm(config.intermediate_size, c, config.output_groups,
                                           config.hidden_dropout_prob)

    def forward(self, hidden_states, attention_mask, output_attentions=False):
        context = self.attention(hidden_states, attention_mask, output_attentions)["context_layer"]
        post_attention = self.post_attention(context, hidden_states)
        inter, out = self.intermediate.conv1d, self.output.conv1d
        if (self.intermediate.act_name == "gelu" and inter.groups == out.groups
                and not (self.training and self.output.dropout.p > 0) and _runs_packed(post_attention, inter, out)):
            # Both convolutions one block of positions at a time: the
            # [B, 3072, L] intermediate never leaves the cache.
            ffn = ops.grouped_pw_ffn_packed(post_attention, _packed_weight(inter, inter.weight, inter.bias),
                                            _packed_weight(out, out.weight, out.bias), inter.out_channels,
                                            out.out_channels, "gelu")
            return {"feature_map": self.output.layernorm(ffn, post_attention)}
        return {"feature_map": self.output(self.intermediate(post_attention), post_attention)}


class SqueezeBertEncoder(nn.Module):
    def __init__(self, config: SqueezeBertConfig):
        super().__init__()
        if config.embedding_size != config.hidden_size:
            raise ValueError("SqueezeBERT needs embedding_size == hidden_size")
        self.layers = nn.ModuleList(SqueezeBertModule(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden_states, attention_mask=None, output_hidden_states=False):
        # [B, L, C] -> NCW once for the whole encoder.
        x = hidden_states.transpose(1, 2).contiguous()
        all_hidden = []
        for layer in self.layers:
            if output_hidden_states:
                all_hidden.append(x.transpose(1, 2))
            x = layer(x, attention_mask)["feature_map"]
        x = x.transpose(1, 2)
        if output_hidden_states:
            all_hidden.append(x)
        return x, (tuple(all_hidden) if output_hidden_states else None)


class SqueezeBertPooler(nn.Module):
    def __init__(self, config: SqueezeBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states):
        return self.activation(self.dense(hidden_states[:, 0]))


class SqueezeBertPreTrainedModel(nn.Module):
    """Config handling, weight init and :meth:`from_pretrained`."""

    base_model_prefix = "transformer"

    def __init__(self, config):
        super().__init__()
        self.config = as_config(config)

    def init_weights(self):
        """Hugging Face's initialisation: normal(0, initializer_range) for
        convolutions, linears and embeddings, zero biases, unit LayerNorms."""
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=std)
            if isinstance(module, (nn.Linear, nn.Conv1d)) and module.bias is not None:
                nn.init.zeros_(module.bias)
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
            if isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            if isinstance(module, SqueezeBertLMPredictionHead):
                nn.init.zeros_(module.bias)
        self.tie_weights()

    def tie_weights(self):
        pass

    @classmethod
    def from_pretrained(cls, path: str, **config_overrides):
        """Loads a local Hugging Face checkpoint folder: ``config.json`` and
        ``model.safetensors`` or ``pytorch_model.bin``. No downloads."""
        config_file = os.path.join(path, "config.json")
        if not os.path.isfile(config_file):
            raise FileNotFoundError(f"from_pretrained: expected a folder with config.json, got {path!r}")
        with open(config_file) as f:
            values = json.load(f)
        values.update(config_overrides)
        model = cls(SqueezeBertConfig.from_dict(values))
        model.load_checkpoint_state(load_checkpoint(path))
        return model.eval()

    def load_checkpoint_state(self, state: Dict[str, Tensor]):
        """Loads a Hugging Face state dict saved from this model or from any
        other SqueezeBERT class (keys with or without ``transformer.``)."""
        prefix = self.base_model_prefix + "."
        own = self.state_dict()
        has_base = hasattr(self, self.base_model_prefix)
        mapped = {}
        for key, value in state.items():
            if has_base and not key.startswith(prefix) and prefix + key in own:
                key = prefix + key
            elif not has_base and key.startswith(prefix):
                key = key[len(prefix):]
            if key in own:
                mapped[key] = value
        missing = [k for k in own if k not in mapped and not self._is_tied(k)]
        if missing:
            raise KeyError(f"from_pretrained: the checkpoint lacks {len(missing)} weights, e.g. {missing[:5]}")
        self.load_state_dict(mapped, strict=False)
        self.tie_weights()

    def _is_tied(self, key: str) -> bool:
        return False


def load_checkpoint(path: str) -> Dict[str, Tensor]:
    """The state dict in a Hugging Face checkpoint folder."""
    safetensors = os.path.join(path, "model.safetensors")
    if os.path.isfile(safetensors):
        return read_safetensors(safetensors)
    binary = os.path.join(path, "pytorch_model.bin")
    if os.path.isfile(binary):
        return torch.load(binary, map_location="cpu", weights_only=True)
    raise FileNotFoundError(f"from_pretrained: expected model.safetensors or pytorch_model.bin in {path!r}")


_SAFETENSORS_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
                       "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
                       "U8": torch.uint8, "BOOL": torch.bool}


def read_safetensors(path: str) -> Dict[str, Tensor]:
    """Reads a .safetensors file (8-byte header length, JSON header, raw
    little-endian data) without the safetensors package."""
    with open(path, "rb") as f:
        data = f.read()
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = _SAFETENSORS_DTYPES[info["dtype"]]
        raw = bytearray(data[base + begin:base + end])
        tensors[name] = torch.frombuffer(raw, dtype=dtype).reshape(info["shape"]) if raw else \
            torch.empty(info["shape"], dtype=dtype)
    return tensors


class SqueezeBertModel(SqueezeBertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.embeddings = SqueezeBertEmbeddings(self.config)
        self.encoder = SqueezeBertEncoder(self.config)
        self.pooler = SqueezeBertPooler(self.config)
        self.init_weights()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                **kwargs):
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("SqueezeBertModel: expected exactly one of input_ids and inputs_embeds")
        if output_attentions:
            raise NotImplementedError("sqbert_kernels' fused attention does not return attention scores")
        embeddings = self.embeddings(input_ids=input_ids, position_ids=position_ids,
                                     token_type_ids=token_type_ids, inputs_embeds=inputs_embeds)
        sequence, hidden = self.encoder(embeddings, additive_mask(attention_mask, embeddings.dtype),
                                        bool(output_hidden_states))
        out = ModelOutput(last_hidden_state=sequence, pooler_output=self.pooler(sequence), hidden_states=hidden)
        return out if return_dict is not False else out.to_tuple()


def _classification_loss(config, logits, labels, num_labels):
    if config.problem_type == "regression" or (config.problem_type is None and num_labels == 1):
        return F.mse_loss(logits.squeeze(-1), labels.to(logits.dtype)) if num_labels == 1 else \
            F.mse_loss(logits, labels.to(logits.dtype))
    if config.problem_type == "multi_label_classification":
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
    return F.cross_entropy(logits.view(-1, num_labels), labels.view(-1))


class _SqueezeBertClassifier(SqueezeBertPreTrainedModel):
    """The base model, dropout and a linear classifier over ``features`` of its
    outputs (``pooler_output`` per sequence, ``last_hidden_state`` per token)."""

    features = ""

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = self.config.num_labels
        self.transformer = SqueezeBertModel(self.config)
        self.dropout = nn.Dropout(self.config.hidden_dropout_prob)
        self.classifier = nn.Linear(self.config.hidden_size, self.num_labels)
        self.init_weights()

    def loss(self, logits, labels):
        raise NotImplementedError

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_hidden_states=None, return_dict=None, **kwargs):
        outputs = self.transformer(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                   position_ids=position_ids, inputs_embeds=inputs_embeds,
                                   output_hidden_states=output_hidden_states)
        logits = self.classifier(self.dropout(outputs[self.features]))
        loss = None if labels is None else self.loss(logits, labels)
        out = ModelOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)
        return out if return_dict is not False else out.to_tuple()


class SqueezeBertForSequenceClassification(_SqueezeBertClassifier):
    features = "pooler_output"

    def loss(self, logits, labels):
        return _classification_loss(self.config, logits, labels, self.num_labels)


class SqueezeBertForTokenClassification(_SqueezeBertClassifier):
    features = "last_hidden_state"

    def loss(self, logits, labels):
        return F.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))


class SqueezeBertForQuestionAnswering(SqueezeBertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.transformer = SqueezeBertModel(self.config)
        self.qa_outputs = nn.Linear(self.config.hidden_size, self.config.num_labels)
        self.init_weights()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        outputs = self.transformer(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                   position_ids=position_ids, inputs_embeds=inputs_embeds,
                                   output_hidden_states=output_hidden_states)
        start, end = self.qa_outputs(outputs.last_hidden_state).split(1, dim=-1)
        start, end = start.squeeze(-1).contiguous(), end.squeeze(-1).contiguous()
        loss = None
        if start_positions is not None and end_positions is not None:
            ignored = start.size(1)
            loss = (F.cross_entropy(start, start_positions.clamp(0, ignored), ignore_index=ignored)
                    + F.cross_entropy(end, end_positions.clamp(0, ignored), ignore_index=ignored)) / 2
        out = ModelOutput(loss=loss, start_logits=start, end_logits=end, hidden_states=outputs.hidden_states)
        return out if return_dict is not False else out.to_tuple()


class SqueezeBertPredictionHeadTransform(nn.Module):
    def __init__(self, config: SqueezeBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.act_name = config.hidden_act
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states):
        x = self.dense(hidden_states)
        x = F.gelu(x) if self.act_name == "gelu" else _ACTIVATIONS[self.act_name](x)
        return self.LayerNorm(x)


class SqueezeBertLMPredictionHead(nn.Module):
    def __init__(self, config: SqueezeBertConfig):
        super().__init__()
        self.transform = SqueezeBertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=True)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states):
        return self.decoder(self.transform(hidden_states))


class SqueezeBertOnlyMLMHead(nn.Module):
    def __init__(self, config: SqueezeBertConfig):
        super().__init__()
        self.predictions = SqueezeBertLMPredictionHead(config)

    def forward(self, sequence_output):
        return self.predictions(sequence_output)


class SqueezeBertForMaskedLM(SqueezeBertPreTrainedModel):
    _tied = ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias")

    def __init__(self, config):
        super().__init__(config)
        self.transformer = SqueezeBertModel(self.config)
        self.cls = SqueezeBertOnlyMLMHead(self.config)
        self.init_weights()

    def tie_weights(self):
        # As Hugging Face ties them: the decoder is the word embedding matrix.
        predictions = self.cls.predictions
        predictions.decoder.weight = self.transformer.embeddings.word_embeddings.weight
        predictions.decoder.bias = predictions.bias

    def _is_tied(self, key: str) -> bool:
        return key in self._tied

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_hidden_states=None, return_dict=None, **kwargs):
        outputs = self.transformer(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                   position_ids=position_ids, inputs_embeds=inputs_embeds,
                                   output_hidden_states=output_hidden_states)
        logits = self.cls(outputs.last_hidden_state)
        loss = None if labels is None else F.cross_entropy(logits.view(-1, self.config.vocab_size), labels.view(-1))
        out = ModelOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)
        return out if return_dict is not False else out.to_tuple()


def optimize(model: nn.Module) -> nn.Module:
    """Converts a ``transformers`` SqueezeBERT model (any head) in place to run
    its encoder layers on ``torch.ops.sqbert`` and returns it.

    Each Hugging Face encoder layer, and its attention, convolution and
    LayerNorm blocks, gets this module's class of the same name in place:
    the attributes and forward signatures are the same, so parameters, state
    dict keys and the rest of the transformers model stay as they were."""
    swapped = 0
    for layer in model.modules():
        if type(layer).__name__ != "SqueezeBertModule" or not type(layer).__module__.startswith("transformers."):
            continue
        layer.intermediate.act_name = _hf_activation_name(layer.intermediate.act)
        layer.__class__ = SqueezeBertModule
        layer.attention.__class__ = SqueezeBertSelfAttention
        layer.intermediate.__class__ = ConvActivation
        for block in (layer.post_attention, layer.output):
            block.__class__ = ConvDropoutLayerNorm
            block.layernorm.__class__ = SqueezeBertLayerNorm
        swapped += 1
    if swapped == 0:
        raise ValueError(f"optimize: expected a transformers SqueezeBERT model, found no SqueezeBertModule "
                         f"in {type(model).__name__}")
    return model


def _hf_activation_name(act) -> str:
    name = type(act).__name__
    if name == "GELUActivation" and getattr(act, "act", None) in (F.gelu, None):
        return "gelu"
    names = {"NewGELUActivation": "gelu_new", "PytorchGELUTanh": "gelu_pytorch_tanh", "ReLU": "relu",
             "SiLU": "silu", "Tanh": "tanh", "GELUTanh": "gelu_pytorch_tanh"}
    if name not in names:
        raise ValueError(f"optimize: unsupported activation {name}")
    return names[name]

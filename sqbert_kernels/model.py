"""A drop-in SqueezeBERT on ``torch.ops.sqbert``.

The modules mirror Hugging Face's ``transformers.models.squeezebert`` tree
and state-dict keys (``model.load_state_dict(hf_model.state_dict())`` works
unchanged), but the encoder layer runs on this package's ops: grouped 1x1
convolutions reading NCW activations and weights in place, GELU in the
intermediate convolution's epilogue, the fused attention, and residual +
LayerNorm over channels without permutes. The runtime needs torch,
safetensors and this package only; ``transformers`` is needed just to
convert a model of its own (:func:`optimize`). Configs and checkpoints are
read and checked in :mod:`sqbert_kernels.checkpoint`.
"""
import weakref
from collections import OrderedDict
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.module import _global_forward_hooks, _global_forward_pre_hooks

from . import ops
# SqueezeBertConfig and load_checkpoint stay importable from this module.
from .checkpoint import (_ACTIVATIONS, LoadingInfo, SqueezeBertConfig, as_config, load_checkpoint,  # noqa: F401
                         load_state, read_checkpoint_folder)


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


def _runs_packed(x: Tensor, *params: Optional[Tensor]) -> bool:
    """Whether a convolution with weights ``params`` runs on x with packed
    weights: at inference on the CPU (packed weights are a CPU kernel's
    layout; GPUs run the Triton kernel), not when gradients are wanted or
    under torch.compile (the weights are then read in place,
    differentiably)."""
    if not x.is_cpu or torch.compiler.is_compiling():
        return False
    if not torch.is_grad_enabled():
        return True
    return not (x.requires_grad or any(p is not None and p.requires_grad for p in params))


def _plain(*modules: nn.Module) -> bool:
    """Whether calling the modules runs nothing but their forward (no
    forward hooks or pre-hooks, theirs or global), so that fusing them into
    one kernel call skips nothing a user attached."""
    if _global_forward_hooks or _global_forward_pre_hooks:
        return False
    return not any(m._forward_hooks or m._forward_pre_hooks for m in modules)


class SqueezeBertConv1d(nn.Conv1d):
    """The 1x1 ``nn.Conv1d`` of SqueezeBERT on this package's ops. ``forward``
    reads ``self.weight`` and ``self.bias`` as ``nn.Conv1d`` does, so hooks,
    parametrizations, pruning and weight norm apply as they do there; at
    inference on the CPU the weights run packed (packed again whenever they
    change). ``activation="gelu"`` fuses the exact GELU into the epilogue."""

    def forward(self, x: Tensor, activation: str = "none") -> Tensor:
        w, b = self.weight, self.bias
        if _runs_packed(x, w, b):
            return ops.grouped_pw_conv_packed(x, _packed_weight(self, w, b), self.out_channels, activation)
        return ops.grouped_pw_conv(x, w, b, self.groups, activation)


def _packed_weight(conv: nn.Conv1d, w: Tensor, b: Optional[Tensor], isa: Optional[str] = None) -> Tensor:
    """conv's weights w and b packed for the CPU kernel ``isa`` (default:
    the selected one; ops that take two packings read it once), packed
    again whenever they changed since: another tensor (a new Parameter, a
    parametrization's or weight norm's output), an in-place update (optimizer
    step, load_state_dict, ``mul_`` under no_grad: the version counter), new
    storage (``.data =``) or another kernel selected. The cache holds weak
    references: a new tensor at a freed tensor's address is not mistaken
    for it. In-place writes through ``.data`` bypass the version counter:
    call :func:`repack` after those."""
    isa = isa or ops.cpu_isa()
    cached = conv.__dict__.get("_sqbert_packed")
    if cached is None or not cached.holds(w, b, isa):
        with torch.no_grad():
            cached = _PackedCache(w, b, isa, ops.pack_pw_weight(w, b, conv.groups, isa))
        conv.__dict__["_sqbert_packed"] = cached
    return cached.packed


class _PackedCache:
    __slots__ = ("w", "b", "key", "packed")

    def __init__(self, w: Tensor, b: Optional[Tensor], isa: str, packed: Tensor):
        self.w = weakref.ref(w)
        self.b = None if b is None else weakref.ref(b)
        self.key = _version_key(w, b, isa)
        self.packed = packed

    def holds(self, w: Tensor, b: Optional[Tensor], isa: str) -> bool:
        return (self.w() is w and (b is None if self.b is None else self.b() is b)
                and self.key == _version_key(w, b, isa))


def _version_key(w: Tensor, b: Optional[Tensor], isa: str):
    return w._version, w.data_ptr(), None if b is None else (b._version, b.data_ptr()), isa


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
        self.query = SqueezeBertConv1d(cin, cin, kernel_size=1, groups=q_groups)
        self.key = SqueezeBertConv1d(cin, cin, kernel_size=1, groups=k_groups)
        self.value = SqueezeBertConv1d(cin, cin, kernel_size=1, groups=v_groups)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def forward(self, hidden_states, attention_mask, output_attentions=False):
        if output_attentions:
            raise NotImplementedError("sqbert_kernels' fused attention does not return attention scores; "
                                      "run the Hugging Face model for output_attentions=True")
        q, k, v = (conv(hidden_states) for conv in (self.query, self.key, self.value))
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
        self.conv1d = SqueezeBertConv1d(cin, cout, kernel_size=1, groups=groups)
        self.layernorm = SqueezeBertLayerNorm(cout)
        self.dropout = nn.Dropout(dropout_prob)

    def forward(self, hidden_states, input_tensor):
        return self.layernorm(self.dropout(self.conv1d(hidden_states)), input_tensor)


class ConvActivation(nn.Module):
    """act(conv(x)); the exact GELU runs in the convolution's epilogue."""

    def __init__(self, cin, cout, groups, act):
        super().__init__()
        self.conv1d = SqueezeBertConv1d(cin, cout, kernel_size=1, groups=groups)
        self.act_name = act

    def forward(self, x):
        if self.act_name == "gelu":
            # In the epilogue unless a hook should see the convolution's own output.
            return self.conv1d(x, "gelu") if _plain(self.conv1d) else F.gelu(self.conv1d(x))
        if self.act_name not in _ACTIVATIONS:
            raise ValueError(f"unsupported hidden_act {self.act_name!r}: expected gelu or one of "
                             f"{sorted(_ACTIVATIONS)}")
        return _ACTIVATIONS[self.act_name](self.conv1d(x))


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
                and not (self.training and self.output.dropout.p > 0) and _plain(self.intermediate, inter, self.output, self.output.dropout, out)):
            w1, b1, w2, b2 = inter.weight, inter.bias, out.weight, out.bias
            if _runs_packed(post_attention, w1, b1, w2, b2):
                # Both convolutions one block of positions at a time: the
                # [B, 3072, L] intermediate never leaves the cache.
                isa = ops.cpu_isa()
                ffn = ops.grouped_pw_ffn_packed(post_attention, _packed_weight(inter, w1, b1, isa),
                                                _packed_weight(out, w2, b2, isa), inter.out_channels,
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
    def from_pretrained(cls, path: str, strict: bool = True, **config_overrides):
        """Loads a local Hugging Face checkpoint folder: ``config.json`` and
        ``model.safetensors`` or ``pytorch_model.bin``. No downloads.
        ``config_overrides`` replace fields of config.json. A checkpoint that
        lacks weights of the model or holds others is refused, or with
        ``strict=False`` loaded with a warning naming them (see
        :func:`~sqbert_kernels.checkpoint.load_state`)."""
        config, state = read_checkpoint_folder(path, **config_overrides)
        model = cls(config)
        load_state(model, state, strict, source=path)
        return model.eval()

    def load_checkpoint_state(self, state: Dict[str, Tensor], strict: bool = True) -> LoadingInfo:
        """Loads a Hugging Face state dict saved from this model or from any
        other SqueezeBERT class (keys with or without ``transformer.``); see
        :func:`~sqbert_kernels.checkpoint.load_state`."""
        return load_state(self, state, strict)

    def _is_tied(self, key: str) -> bool:
        return False


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
        for conv in (layer.attention.query, layer.attention.key, layer.attention.value, layer.post_attention.conv1d,
                     layer.intermediate.conv1d, layer.output.conv1d):
            conv.__class__ = SqueezeBertConv1d
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

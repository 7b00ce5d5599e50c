"""A drop-in SqueezeBERT on ``torch.ops.sqbert``: the models.

The modules mirror Hugging Face's ``transformers.models.squeezebert`` tree
and state-dict keys (``model.load_state_dict(hf_model.state_dict())`` works
unchanged), but the encoder layer runs on this package's ops: grouped 1x1
convolutions reading NCW activations and weights in place, GELU in the
intermediate convolution's epilogue, the fused attention, and residual +
LayerNorm over channels without permutes. The runtime needs torch,
safetensors and this package only; ``transformers`` is needed just to
convert a model of its own (:func:`optimize`).

This module holds the models (:class:`SqueezeBertModel` and the task heads)
and re-exports what users import from the parts, which live in

* :mod:`sqbert_kernels.checkpoint` -- configs and checkpoints, read and checked,
* :mod:`sqbert_kernels.conv` -- the 1x1 convolution module and its packed weights,
* :mod:`sqbert_kernels.encoder` -- embeddings, encoder layers, encoder, pooler,
* :mod:`sqbert_kernels.outputs` -- :class:`ModelOutput`,
* :mod:`sqbert_kernels.convert` -- :func:`optimize` for ``transformers`` models,
  :func:`quantize` for int8.
"""
import dataclasses
import json
import os
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import Tensor, nn

from . import ops
from .checkpoint import _ACTIVATIONS, LoadingInfo, SqueezeBertConfig, as_config, load_checkpoint, load_state
from .conv import SqueezeBertConv1d, repack
from .convert import optimize, quantize
from .encoder import (ConvActivation, ConvDropoutLayerNorm, SqueezeBertEmbeddings, SqueezeBertEncoder,
                      SqueezeBertLayerNorm, SqueezeBertModule, SqueezeBertPooler, SqueezeBertSelfAttention,
                      Varlen, additive_mask)
from .outputs import ModelOutput

__all__ = [
    "ConvActivation",
    "ConvDropoutLayerNorm",
    "LoadingInfo",
    "ModelOutput",
    "SqueezeBertConfig",
    "SqueezeBertConv1d",
    "SqueezeBertEmbeddings",
    "SqueezeBertEncoder",
    "SqueezeBertForMaskedLM",
    "SqueezeBertForMultipleChoice",
    "SqueezeBertForQuestionAnswering",
    "SqueezeBertForSequenceClassification",
    "SqueezeBertForTokenClassification",
    "SqueezeBertLMPredictionHead",
    "SqueezeBertLayerNorm",
    "SqueezeBertModel",
    "SqueezeBertModule",
    "SqueezeBertOnlyMLMHead",
    "SqueezeBertPooler",
    "SqueezeBertPreTrainedModel",
    "SqueezeBertPredictionHeadTransform",
    "SqueezeBertSelfAttention",
    "additive_mask",
    "load_checkpoint",
    "optimize",
    "quantize",
    "repack",
]


class SqueezeBertPreTrainedModel(nn.Module):
    """Config handling, weight init, :meth:`from_pretrained`,
    :meth:`save_pretrained` and the rest of what transformers users call on a
    ``PreTrainedModel``."""

    base_model_prefix = "transformer"

    def __init__(self, config):
        super().__init__()
        self.config = as_config(config)

    def init_weights(self):
        """Hugging Face's initialisation: normal(0, initializer_range) for
        convolutions, linears and embeddings, zero biases, unit LayerNorms,
        and the ``position_ids`` buffer (garbage after ``to_empty()``)."""
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
            if isinstance(module, SqueezeBertEmbeddings):
                with torch.no_grad():
                    ids = module.position_ids
                    ids.copy_(torch.arange(ids.shape[-1], device=ids.device).expand(ids.shape))
        self.tie_weights()

    def tie_weights(self):
        pass

    def _output_flags(self, output_attentions, output_hidden_states, return_dict):
        """The call's arguments, the config's values where they are None."""
        config = self.config
        return (config.output_attentions if output_attentions is None else bool(output_attentions),
                config.output_hidden_states if output_hidden_states is None else bool(output_hidden_states),
                config.use_return_dict if return_dict is None else bool(return_dict))

    @property
    def base_model(self) -> nn.Module:
        return getattr(self, self.base_model_prefix, self)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.base_model.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding):
        self.base_model.embeddings.word_embeddings = value

    def get_output_embeddings(self):
        return None

    def resize_token_embeddings(self, new_num_tokens: Optional[int] = None, pad_to_multiple_of: Optional[int] = None,
                                mean_resizing: bool = True) -> nn.Embedding:
        """Resizes the word embeddings (and a tied decoder and its bias) to
        ``new_num_tokens`` rows, rounded up to ``pad_to_multiple_of``, keeping
        the rows both sizes have, and updates ``config.vocab_size``. New rows
        are the old rows' mean (``mean_resizing``, transformers' default, which
        samples around that mean with a negligible 1e-9 covariance) or
        normal(0, initializer_range); new decoder biases the old ones' mean or
        zero. Returns the (new) input embedding."""
        old = self.get_input_embeddings()
        if new_num_tokens is None and pad_to_multiple_of is None:
            return old
        n = old.num_embeddings if new_num_tokens is None else new_num_tokens
        if pad_to_multiple_of is not None:
            n = (n + pad_to_multiple_of - 1) // pad_to_multiple_of * pad_to_multiple_of
        if not (isinstance(n, int) and n >= 1):
            raise ValueError(f"resize_token_embeddings: expected a positive number of tokens, got {n!r}")
        padding_idx = old.padding_idx if old.padding_idx is not None and old.padding_idx < n else None
        dataclasses.replace(self.config, vocab_size=n, pad_token_id=padding_idx)  # refuses a bad size first
        self.config.vocab_size, self.config.pad_token_id = n, padding_idx
        new = nn.Embedding(n, old.embedding_dim, padding_idx=padding_idx, device=old.weight.device,
                           dtype=old.weight.dtype)
        keep = min(n, old.num_embeddings)
        with torch.no_grad():
            if mean_resizing:
                new.weight.copy_(old.weight.mean(0).expand_as(new.weight))
            else:
                nn.init.normal_(new.weight, std=self.config.initializer_range)
            new.weight[:keep] = old.weight[:keep]
        new.weight.requires_grad_(old.weight.requires_grad)
        self.set_input_embeddings(new)
        self._resize_output(n, keep, mean_resizing)
        self.tie_weights()
        return new

    def _resize_output(self, n: int, keep: int, mean_resizing: bool):
        pass

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None):
        """Recomputes each encoder layer's activations in the backward pass
        (``torch.utils.checkpoint``, non-reentrant) when training."""
        if gradient_checkpointing_kwargs and gradient_checkpointing_kwargs.get("use_reentrant", False):
            raise ValueError("gradient_checkpointing_enable: only use_reentrant=False is supported")
        self.base_model.encoder.gradient_checkpointing = True

    def gradient_checkpointing_disable(self):
        self.base_model.encoder.gradient_checkpointing = False

    @property
    def is_gradient_checkpointing(self) -> bool:
        return self.base_model.encoder.gradient_checkpointing

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """The parameters (tied ones once), as transformers counts them."""
        embeddings = {id(m.weight) for m in self.modules() if isinstance(m, nn.Embedding)}
        return sum(p.numel() for p in self.parameters()
                   if (p.requires_grad or not only_trainable) and not (exclude_embeddings and id(p) in embeddings))

    def save_pretrained(self, save_directory: str, state_dict: Optional[Dict[str, Tensor]] = None,
                        safe_serialization: bool = True, **kwargs):
        """Writes ``config.json`` and ``model.safetensors`` into
        ``save_directory`` as transformers does (tied weights once), for this
        package's or transformers' ``from_pretrained``."""
        if not safe_serialization:
            raise ValueError("save_pretrained: only safe_serialization=True (model.safetensors) is supported")
        if kwargs.get("push_to_hub"):
            raise ValueError("save_pretrained: push_to_hub is not supported (no network access)")
        if os.path.isfile(save_directory):
            raise ValueError(f"save_pretrained: {save_directory!r} is a file, expected a folder")
        os.makedirs(save_directory, exist_ok=True)
        config = self.config.to_dict()
        config["architectures"] = [type(self).__name__]
        with open(os.path.join(save_directory, "config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, sort_keys=True)
        state = self.state_dict() if state_dict is None else state_dict
        state = {k: v.detach().cpu().contiguous() for k, v in state.items() if not self._is_tied(k)}
        save_file(state, os.path.join(save_directory, "model.safetensors"), metadata={"format": "pt"})

    @classmethod
    def from_pretrained(cls, path: Optional[str] = None, *model_args, config=None,
                        state_dict: Optional[Dict[str, Tensor]] = None, strict: bool = True, **config_overrides):
        """Loads a local Hugging Face checkpoint folder: ``config.json`` and
        ``model.safetensors`` or ``pytorch_model.bin``. No downloads.
        ``config`` (this package's, a dict or a transformers config) replaces
        config.json, ``state_dict`` the weight files (``path`` may then be
        None when ``config`` is given); ``config_overrides`` replace fields of
        the config. A checkpoint that lacks weights of the model or holds
        others is refused, or with ``strict=False`` loaded with a warning
        naming them (see :func:`~sqbert_kernels.checkpoint.load_state`)."""
        if model_args:
            raise TypeError(f"from_pretrained: unexpected positional arguments {model_args!r}")
        for name in ("output_loading_info", "local_files_only", "trust_remote_code", "cache_dir"):
            config_overrides.pop(name, None)  # transformers' loading options that change nothing here
        if path is None and (config is None or state_dict is None):
            raise ValueError("from_pretrained: expected a checkpoint folder, or both config and state_dict")
        if config is None:
            config_file = os.path.join(path, "config.json")
            if not os.path.isfile(config_file):
                raise FileNotFoundError(f"from_pretrained: expected a folder with config.json, got {path!r}")
            config = SqueezeBertConfig.from_json_file(config_file, **config_overrides)
        else:
            config = SqueezeBertConfig.from_dict(as_config(config).to_dict(), **config_overrides)
        state = load_checkpoint(path) if state_dict is None else state_dict
        model = cls(config)
        load_state(model, state, strict, source=path if state_dict is None else "the state_dict")
        return model.eval()

    def load_checkpoint_state(self, state: Dict[str, Tensor], strict: bool = True) -> LoadingInfo:
        """Loads a Hugging Face state dict saved from this model or from any
        other SqueezeBERT class (keys with or without ``transformer.``); see
        :func:`~sqbert_kernels.checkpoint.load_state`."""
        return load_state(self, state, strict)

    def _is_tied(self, key: str) -> bool:
        return False

    def _base_outputs(self, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                      output_attentions, output_hidden_states, return_dict):
        """A head's base-model outputs (a ModelOutput) and its return_dict."""
        output_attentions, output_hidden_states, return_dict = self._output_flags(
            output_attentions, output_hidden_states, return_dict)
        outputs = self.transformer(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                   position_ids=position_ids, inputs_embeds=inputs_embeds,
                                   output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                                   return_dict=True)
        return outputs, return_dict


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
        output_attentions, output_hidden_states, return_dict = self._output_flags(
            output_attentions, output_hidden_states, return_dict)
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("SqueezeBertModel: expected exactly one of input_ids and inputs_embeds")
        with ops.pool_scope():
            embeddings = self.embeddings(input_ids=input_ids, position_ids=position_ids,
                                         token_type_ids=token_type_ids, inputs_embeds=inputs_embeds)
            # A padded batch runs on its real tokens only (attention within
            # each sequence); output_attentions needs the padded [B, heads, L, L]
            # scores.
            varlen = None if output_attentions else Varlen.of(attention_mask, *embeddings.shape[:2])
            mask = varlen if varlen is not None else additive_mask(attention_mask, embeddings.dtype)
            sequence, hidden, attentions = self.encoder(embeddings, mask, output_hidden_states, output_attentions)
            out = ModelOutput(last_hidden_state=sequence, pooler_output=self.pooler(sequence), hidden_states=hidden,
                              attentions=attentions)
        return out if return_dict else out.to_tuple()


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
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                **kwargs):
        outputs, return_dict = self._base_outputs(input_ids, attention_mask, token_type_ids, position_ids,
                                                  inputs_embeds, output_attentions, output_hidden_states, return_dict)
        logits = self.classifier(self.dropout(outputs[self.features]))
        loss = None if labels is None else self.loss(logits, labels)
        out = ModelOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                          attentions=outputs.attentions)
        return out if return_dict else out.to_tuple()


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
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        outputs, return_dict = self._base_outputs(input_ids, attention_mask, token_type_ids, position_ids,
                                                  inputs_embeds, output_attentions, output_hidden_states, return_dict)
        start, end = self.qa_outputs(outputs.last_hidden_state).split(1, dim=-1)
        start, end = start.squeeze(-1).contiguous(), end.squeeze(-1).contiguous()
        loss = None
        if start_positions is not None and end_positions is not None:
            ignored = start.size(1)
            loss = (F.cross_entropy(start, start_positions.clamp(0, ignored), ignore_index=ignored)
                    + F.cross_entropy(end, end_positions.clamp(0, ignored), ignore_index=ignored)) / 2
        out = ModelOutput(loss=loss, start_logits=start, end_logits=end, hidden_states=outputs.hidden_states,
                          attentions=outputs.attentions)
        return out if return_dict else out.to_tuple()


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

    def get_output_embeddings(self):
        return self.cls.predictions.decoder

    def _resize_output(self, n: int, keep: int, mean_resizing: bool):
        predictions = self.cls.predictions
        old = predictions.bias
        with torch.no_grad():
            bias = torch.full((n,), old.mean().item() if mean_resizing else 0.0, dtype=old.dtype, device=old.device)
            bias[:keep] = old[:keep]
        predictions.bias = nn.Parameter(bias, requires_grad=old.requires_grad)
        predictions.decoder.out_features = n

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                **kwargs):
        outputs, return_dict = self._base_outputs(input_ids, attention_mask, token_type_ids, position_ids,
                                                  inputs_embeds, output_attentions, output_hidden_states, return_dict)
        logits = self.cls(outputs.last_hidden_state)
        loss = None if labels is None else F.cross_entropy(logits.view(-1, self.config.vocab_size), labels.view(-1))
        out = ModelOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                          attentions=outputs.attentions)
        return out if return_dict else out.to_tuple()


class SqueezeBertForMultipleChoice(SqueezeBertPreTrainedModel):
    """Inputs ``[B, num_choices, L]``: the pooled output of each choice,
    dropout and ``Linear(hidden_size, 1)``, logits ``[B, num_choices]``."""

    def __init__(self, config):
        super().__init__(config)
        self.transformer = SqueezeBertModel(self.config)
        self.dropout = nn.Dropout(self.config.hidden_dropout_prob)
        self.classifier = nn.Linear(self.config.hidden_size, 1)
        self.init_weights()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                **kwargs):
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("SqueezeBertForMultipleChoice: expected exactly one of input_ids and inputs_embeds")
        num_choices = (input_ids if input_ids is not None else inputs_embeds).shape[1]

        def flat(t, dims=1):
            return None if t is None else t.reshape(-1, *t.shape[t.dim() - dims:])

        outputs, return_dict = self._base_outputs(flat(input_ids), flat(attention_mask), flat(token_type_ids),
                                                  flat(position_ids), flat(inputs_embeds, 2), output_attentions,
                                                  output_hidden_states, return_dict)
        logits = self.classifier(self.dropout(outputs.pooler_output)).view(-1, num_choices)
        loss = None if labels is None else F.cross_entropy(logits, labels)
        out = ModelOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                          attentions=outputs.attentions)
        return out if return_dict else out.to_tuple()

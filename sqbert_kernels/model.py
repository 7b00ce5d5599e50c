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
* :mod:`sqbert_kernels.convert` -- :func:`optimize` for ``transformers`` models.
"""
from typing import Dict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checkpoint import (_ACTIVATIONS, LoadingInfo, SqueezeBertConfig, as_config, load_checkpoint, load_state,
                         read_checkpoint_folder)
from .conv import SqueezeBertConv1d, repack
from .convert import optimize
from .encoder import (ConvActivation, ConvDropoutLayerNorm, SqueezeBertEmbeddings, SqueezeBertEncoder,
                      SqueezeBertLayerNorm, SqueezeBertModule, SqueezeBertPooler, SqueezeBertSelfAttention,
                      additive_mask)
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
    "repack",
]


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

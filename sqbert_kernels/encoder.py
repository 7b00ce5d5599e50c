"""The SqueezeBERT encoder stack on ``torch.ops.sqbert``: embeddings, the
encoder layers (attention, convolutions, LayerNorms) on NCW activations,
the encoder and the pooler, with Hugging Face's module names and forward
signatures.
"""
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from . import ops
from .checkpoint import _ACTIVATIONS, SqueezeBertConfig
from .conv import SqueezeBertConv1d, _packed_weight, _plain, _runs_int8, _runs_packed


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


class Varlen(NamedTuple):
    """A padded batch's real tokens laid end to end: what the encoder runs on
    in place of [B, C, L] and a padding mask. Token i of the [1, C, T]
    activations is position index[i] of the flattened [B * L] batch;
    sequence b holds tokens offsets[b] .. offsets[b + 1]."""
    index: Tensor    # [T] int64
    offsets: Tensor  # [B + 1] int64
    batch: int
    length: int

    @staticmethod
    def of(mask: Optional[Tensor], batch: int, length: int) -> Optional["Varlen"]:
        """The real tokens of a [B, L] keep-mask (1 or True keep, 0 pad), or
        None when nothing is padded, the mask is of another kind, a row
        starts with padding (left padding: the pooler reads position 0, which
        Hugging Face computes from the pad token there), or under
        torch.compile (the token count depends on the mask's values)."""
        if mask is None or mask.dim() != 2 or torch.compiler.is_compiling():
            return None
        if not ((mask == 0) | (mask == 1)).all():
            return None
        keep = mask != 0
        if keep.all() or not keep[:, 0].all():
            return None
        offsets = F.pad(keep.sum(1).cumsum(0), (1, 0))
        return Varlen(keep.flatten().nonzero().squeeze(1), offsets, batch, length)

    def gather(self, x: Tensor) -> Tensor:
        """[B, L, C] -> the real tokens as NCW [1, C, T]."""
        return x.reshape(self.batch * self.length, -1)[self.index].t()[None]

    def scatter(self, x: Tensor) -> Tensor:
        """NCW [1, C, T] -> [B, L, C], 0 at the padded positions."""
        out = x.new_zeros(self.batch * self.length, x.shape[1])
        return out.index_copy(0, self.index, x[0].t()).view(self.batch, self.length, -1)


def varlen_attention(q: Tensor, k: Tensor, v: Tensor, varlen: Varlen, num_heads: int,
                     dropout: Optional[nn.Dropout] = None) -> Tensor:
    """Each sequence's queries over its own keys, on [1, C, T] activations;
    with dropout (training) the stock composition, one sequence at a time."""
    if dropout is None:
        return ops.fused_attention_varlen(q, k, v, varlen.offsets, num_heads)
    return ops.attention_varlen_reference(q, k, v, varlen.offsets, num_heads, dropout)


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
        """attention_mask: a padding or additive mask as transformers passes
        it, or a Varlen (this package's encoder on unpadded tokens)."""
        q, k, v = self._query_key_value(hidden_states)
        if isinstance(attention_mask, Varlen):
            dropout = self.dropout if self.training and self.dropout.p > 0 else None
            return {"context_layer": varlen_attention(q, k, v, attention_mask, self.num_attention_heads, dropout)}
        mask = additive_mask(attention_mask, q.dtype)
        if output_attentions:
            # The slower stock composition that materialises the scores.
            context, scores = ops.attention_reference_with_scores(q, k, v, mask, self.num_attention_heads,
                                                                  self.dropout)
            return {"context_layer": context, "attention_score": scores}
        if self.training and self.dropout.p > 0:
            # Dropout on the attention probabilities: the stock composition.
            context = ops.attention_reference(q, k, v, mask, self.num_attention_heads, self.dropout)
        else:
            context = ops.fused_attention(q, k, v, mask, self.num_attention_heads)
        return {"context_layer": context}


    def _query_key_value(self, x):
        convs = (self.query, self.key, self.value)
        if len({(conv.groups, conv.out_channels) for conv in convs}) == 1 and _plain(*convs):
            # One call for the three, each block of x copied (or quantized)
            # once: fewer calls and copies than three convolutions.
            params = [p for conv in convs for p in (conv.weight, conv.bias)]
            int8 = convs[0].int8
            if (int8 is not None and all(conv.int8 == int8 for conv in convs) and not torch.compiler.is_compiling()
                    and all(_runs_int8(conv, x, conv.weight, conv.bias) for conv in convs)):
                return ops.grouped_pw_convs_q8(
                    x, [_packed_weight(conv, conv.weight, conv.bias, int8=True) for conv in convs],
                    convs[0].out_channels)
            if all(conv.int8 is None for conv in convs) and _runs_packed(x, *params):
                isa = ops.cpu_isa()
                return ops.grouped_pw_convs_packed(
                    x, [_packed_weight(conv, conv.weight, conv.bias, isa) for conv in convs], convs[0].out_channels)
        return tuple(conv(x) for conv in convs)


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
        if self.act_name is None:
            # optimize(): transformers' own activation module, kept as it was.
            return self.act(self.conv1d(x))
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
        # A layer of a transformers model after sk.optimize too.
        with ops.pool_scope():
            return self._forward(hidden_states, attention_mask, output_attentions)

    def _forward(self, hidden_states, attention_mask, output_attentions):
        att = self.attention(hidden_states, attention_mask, output_attentions)
        extra = {"attention_score": att["attention_score"]} if output_attentions else {}
        post_attention = self.post_attention(att["context_layer"], hidden_states)
        inter, out = self.intermediate.conv1d, self.output.conv1d
        if (self.intermediate.act_name == "gelu" and inter.groups == out.groups
                and not (self.training and self.output.dropout.p > 0)
                and _plain(self.intermediate, inter, self.output, self.output.dropout, out)):
            w1, b1, w2, b2 = inter.weight, inter.bias, out.weight, out.bias
            if (inter.int8 is not None and inter.int8 == out.int8 and _runs_int8(inter, post_attention, w1, b1)
                    and _runs_int8(out, post_attention, w2, b2) and not torch.compiler.is_compiling()):
                ffn = ops.grouped_pw_ffn_q8(post_attention, _packed_weight(inter, w1, b1, int8=True),
                                            _packed_weight(out, w2, b2, int8=True), inter.out_channels,
                                            out.out_channels, "gelu")
                return {"feature_map": self.output.layernorm(ffn, post_attention), **extra}
            if _runs_packed(post_attention, w1, b1, w2, b2):
                # Both convolutions one block of positions at a time: the
                # [B, 3072, L] intermediate never leaves the cache.
                isa = ops.cpu_isa()
                ffn = ops.grouped_pw_ffn_packed(post_attention, _packed_weight(inter, w1, b1, isa),
                                                _packed_weight(out, w2, b2, isa), inter.out_channels,
                                                out.out_channels, "gelu")
                return {"feature_map": self.output.layernorm(ffn, post_attention), **extra}
        return {"feature_map": self.output(self.intermediate(post_attention), post_attention), **extra}


class SqueezeBertEncoder(nn.Module):
    def __init__(self, config: SqueezeBertConfig):
        super().__init__()
        if config.embedding_size != config.hidden_size:
            raise ValueError("SqueezeBERT needs embedding_size == hidden_size")
        self.layers = nn.ModuleList(SqueezeBertModule(config) for _ in range(config.num_hidden_layers))
        self.gradient_checkpointing = False

    def forward(self, hidden_states, attention_mask=None, output_hidden_states=False, output_attentions=False):
        """The last hidden state [B, L, C], the hidden states (embeddings and
        each layer's output, or None) and the attentions (each layer's
        masked scores [B, heads, L, L], or None). With a Varlen for
        attention_mask the layers run on the real tokens only, end to end,
        and every output holds 0 at the padded positions."""
        varlen = attention_mask if isinstance(attention_mask, Varlen) else None
        # [B, L, C] -> NCW once for the whole encoder.
        x = varlen.gather(hidden_states) if varlen else hidden_states.transpose(1, 2).contiguous()
        padded = varlen.scatter if varlen else (lambda t: t.transpose(1, 2))
        all_hidden, all_attentions = [], []
        for layer in self.layers:
            if output_hidden_states:
                all_hidden.append(padded(x))
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                out = checkpoint(layer, x, attention_mask, output_attentions, use_reentrant=False)
            else:
                out = layer(x, attention_mask, output_attentions)
            x = out["feature_map"]
            if output_attentions:
                all_attentions.append(out["attention_score"])
        x = padded(x)
        if output_hidden_states:
            all_hidden.append(x)
        return (x, tuple(all_hidden) if output_hidden_states else None,
                tuple(all_attentions) if output_attentions else None)


class SqueezeBertPooler(nn.Module):
    def __init__(self, config: SqueezeBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states):
        return self.activation(self.dense(hidden_states[:, 0]))

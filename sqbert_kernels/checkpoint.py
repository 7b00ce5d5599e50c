"""Configs and checkpoint folders, checked before they are used.

A config is refused (ValueError naming the field and its value) before any
weight is allocated: sizes are positive integers that divide as the
convolutions and heads need, and the model they make has at most
:data:`MAX_PARAMETERS` parameters. A checkpoint is refused when its file is
malformed (ValueError naming the file), when a weight has another shape or
is not floating-point, and, unless ``strict=False``, when weights are
missing or left over.
"""
import json
import math
import os
import reprlib
import warnings
from collections import Counter
from dataclasses import dataclass, fields
from typing import Any, Dict, List, NamedTuple, Optional

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

# The hidden_act values besides "gelu", which runs exactly in the
# convolution's epilogue.
_ACTIVATIONS = {
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
    # The rest of what transformers' ACT2FN maps a parameter-free name to,
    # as transformers.activations computes them, but for gelu_fast, which
    # tests/test_checkpoint.py pins as refused (optimize() takes it).
    "gelu_python": lambda x: x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0))),
    "gelu_python_tanh": lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi)
                                                                 * (x + 0.044715 * torch.pow(x, 3.0)))),
    "gelu_accurate": lambda x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * torch.pow(x, 3)))),
    "gelu_10": lambda x: torch.clip(F.gelu(x), -10, 10),
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
    "laplace": lambda x: 0.5 * (1.0 + torch.erf((x - 0.707107) / (0.282095 * math.sqrt(2.0)))),
    "hardswish": F.hardswish,
    "leaky_relu": F.leaky_relu,
    "linear": lambda x: x,
    "mish": F.mish,
    "relu2": lambda x: torch.square(F.relu(x)),
    "relu6": F.relu6,
    "sigmoid": torch.sigmoid,
}

_SIZES = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
          "max_position_embeddings", "type_vocab_size", "embedding_size", "q_groups", "k_groups", "v_groups",
          "post_attention_groups", "intermediate_groups", "output_groups", "num_labels")
# A typo'd or hostile config.json fails in validate(), not after allocating
# (and initialising) gigabytes: each size at most 2**20 (a vocabulary of a
# million words), the model at most 2**31 parameters (8 GiB in float32).
MAX_SIZE = 2 ** 20
MAX_PARAMETERS = 2 ** 31
_PROBLEM_TYPES = (None, "regression", "single_label_classification", "multi_label_classification")


@dataclass
class SqueezeBertConfig:
    """The fields of Hugging Face's ``SqueezeBertConfig`` that the model uses,
    with its defaults (``squeezebert/squeezebert-uncased``). Validated on
    construction and again by the models' constructors."""

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
    pad_token_id: Optional[int] = 0
    embedding_size: int = 768
    q_groups: int = 4
    k_groups: int = 4
    v_groups: int = 4
    post_attention_groups: int = 1
    intermediate_groups: int = 4
    output_groups: int = 4
    num_labels: int = 2
    problem_type: Optional[str] = None
    # What the models return unless a call says otherwise, as in transformers.
    output_attentions: bool = False
    output_hidden_states: bool = False
    return_dict: bool = True

    @property
    def use_return_dict(self) -> bool:
        return self.return_dict

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raises ValueError naming the first field the model cannot be built with."""
        for name in _SIZES:
            value = getattr(self, name)
            if not (_is_int(value) and 1 <= value <= MAX_SIZE):
                self._refuse(name, f"an integer in [1, {MAX_SIZE}]")
        h, inter = self.hidden_size, self.intermediate_size
        if self.embedding_size != h:
            self._refuse("embedding_size", f"hidden_size ({h})")
        for name in ("num_attention_heads", "q_groups", "k_groups", "v_groups", "post_attention_groups",
                     "intermediate_groups", "output_groups"):
            if h % getattr(self, name):
                self._refuse(name, f"a divisor of hidden_size ({h})")
        for name in ("intermediate_groups", "output_groups"):
            if inter % getattr(self, name):
                self._refuse(name, f"a divisor of intermediate_size ({inter})")
        if not (_is_real(self.layer_norm_eps) and 0 < self.layer_norm_eps < math.inf):
            self._refuse("layer_norm_eps", "a finite number > 0")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not (_is_real(getattr(self, name)) and 0 <= getattr(self, name) <= 1):
                self._refuse(name, "a number in [0, 1]")
        if not (_is_real(self.initializer_range) and 0 <= self.initializer_range < math.inf):
            self._refuse("initializer_range", "a finite number >= 0")
        if self.pad_token_id is not None and not (_is_int(self.pad_token_id)
                                                  and 0 <= self.pad_token_id < self.vocab_size):
            self._refuse("pad_token_id", f"None or an integer in [0, vocab_size ({self.vocab_size}))")
        if not (isinstance(self.hidden_act, str) and (self.hidden_act == "gelu" or self.hidden_act in _ACTIVATIONS)):
            self._refuse("hidden_act", f"one of {['gelu', *sorted(_ACTIVATIONS)]}")
        for name in ("output_attentions", "output_hidden_states", "return_dict"):
            if not isinstance(getattr(self, name), bool):
                self._refuse(name, "True or False")
        if self.problem_type not in _PROBLEM_TYPES:
            self._refuse("problem_type", f"one of {list(_PROBLEM_TYPES)}")
        count = parameter_count(self)
        if count > MAX_PARAMETERS:
            sizes = ", ".join(f"{name}={getattr(self, name)}" for name in (
                "vocab_size", "hidden_size", "num_hidden_layers", "intermediate_size", "max_position_embeddings",
                "type_vocab_size", "num_labels"))
            raise ValueError(f"SqueezeBertConfig: {count:,} parameters, more than the {MAX_PARAMETERS:,} "
                             f"allowed ({sizes})")

    def to_dict(self) -> Dict[str, Any]:
        """The fields as transformers' ``config.json`` holds them."""
        return {"model_type": "squeezebert", **{f.name: getattr(self, f.name) for f in fields(self)}}

    def _refuse(self, name: str, expected: str):
        raise ValueError(f"SqueezeBertConfig: {name}={reprlib.repr(getattr(self, name))}: expected {expected}")

    @classmethod
    def from_dict(cls, values: Dict[str, Any], **overrides) -> "SqueezeBertConfig":
        """The config from Hugging Face's ``config.json`` fields (others are
        ignored), with ``overrides`` replacing some."""
        if not isinstance(values, dict):
            raise ValueError(f"SqueezeBertConfig: expected a dict (a JSON object) of fields, got "
                             f"{type(values).__name__}")
        values = {**values, **overrides}
        known = {f.name: values[f.name] for f in fields(cls) if f.name in values}
        id2label = values.get("id2label")
        if "num_labels" not in values and id2label is not None:
            if not isinstance(id2label, dict):
                raise ValueError(f"SqueezeBertConfig: id2label={reprlib.repr(id2label)}: expected a dict of "
                                 f"label names by id")
            known["num_labels"] = len(id2label)
        return cls(**known)

    @classmethod
    def from_json_file(cls, path: str, **overrides) -> "SqueezeBertConfig":
        try:
            with open(path, encoding="utf-8") as f:
                return cls.from_dict(json.load(f), **overrides)
        except (ValueError, RecursionError) as e:  # bad UTF-8 or JSON (nested too deep), or bad fields
            raise ValueError(f"{path}: {e}") from e


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parameter_count(config: SqueezeBertConfig) -> int:
    """The parameters of the base model and its largest head, counted from
    the config's sizes (validated as positive integers) without building it."""
    h, inter, v = config.hidden_size, config.intermediate_size, config.vocab_size

    def conv(cin, cout, groups):
        return cout * (cin // groups) + cout

    layer = (conv(h, h, config.q_groups) + conv(h, h, config.k_groups) + conv(h, h, config.v_groups)
             + conv(h, h, config.post_attention_groups) + conv(h, inter, config.intermediate_groups)
             + conv(inter, h, config.output_groups) + 4 * h)  # + 2 LayerNorms
    embeddings = (v + config.max_position_embeddings + config.type_vocab_size) * config.embedding_size + 2 * h
    pooler = h * h + h
    head = max(h * h + 3 * h + v, (h + 1) * config.num_labels)  # masked LM (decoder tied), classifiers
    return embeddings + config.num_hidden_layers * layer + pooler + head


def as_config(config) -> SqueezeBertConfig:
    """Accepts this package's config, a dict, or a ``transformers`` config."""
    if isinstance(config, SqueezeBertConfig):
        config.validate()  # its fields may have been set since it was made
        return config
    if isinstance(config, dict):
        return SqueezeBertConfig.from_dict(config)
    if not callable(getattr(config, "to_dict", None)):
        raise ValueError(f"expected a SqueezeBertConfig, a dict or a transformers config, got "
                         f"{type(config).__name__}")
    return SqueezeBertConfig.from_dict(config.to_dict())


def load_checkpoint(path: str) -> Dict[str, Tensor]:
    """The state dict in a Hugging Face checkpoint folder: ``model.safetensors``
    (memory-mapped) or ``pytorch_model.bin``."""
    file = os.path.join(path, "model.safetensors")
    if os.path.isfile(file):
        return read_safetensors(file)
    file = os.path.join(path, "pytorch_model.bin")
    if os.path.isfile(file):
        return _read_bin(file)
    raise FileNotFoundError(f"from_pretrained: expected model.safetensors or pytorch_model.bin in {path!r}")


def read_safetensors(path: str) -> Dict[str, Tensor]:
    """A .safetensors file's tensors, memory-mapped; safetensors checks the
    header, the dtypes and that the tensors tile the data exactly."""
    try:
        state = load_file(path)
        # safetensors keeps the last of two entries under one name: which
        # one the writer meant is unknowable. (The header is valid JSON of a
        # bounded length and depth here.)
        with open(path, "rb") as f:
            json.loads(f.read(int.from_bytes(f.read(8), "little")), object_pairs_hook=_unique_names)
    except (SafetensorError, ValueError) as e:
        raise ValueError(f"{path}: not a valid safetensors file: {e}") from e
    return state


def _unique_names(pairs):
    unique = dict(pairs)
    if len(unique) != len(pairs):
        counts = Counter(name for name, _ in pairs)
        raise ValueError(f"duplicate names in the header: {sorted(name for name in counts if counts[name] > 1)}")
    return unique


def _read_bin(path: str) -> Dict[str, Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # whatever a corrupt zip or pickle makes the unpickler raise
        raise ValueError(f"{path}: not a loadable PyTorch checkpoint: {type(e).__name__}: {e}") from e
    if not (isinstance(state, dict) and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items())):
        raise ValueError(f"{path}: expected a dict of tensors by name, got {reprlib.repr(state)}")
    return state


class LoadingInfo(NamedTuple):
    """What :func:`load_state` left out (checkpoint names for unexpected keys)."""
    missing_keys: List[str]
    unexpected_keys: List[str]


# Weights are cast to the model's dtype as load_state_dict does: lossless or
# rounding for these. Integers, booleans, complex numbers and scaled float8
# (or float4) weights would be silently wrong.
_WEIGHT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def load_state(model: nn.Module, state: Dict[str, Tensor], strict: bool = True,
               source: str = "the checkpoint") -> LoadingInfo:
    """Loads a Hugging Face state dict saved from ``model``'s class or any
    other SqueezeBERT class (keys with or without ``transformer.``) into it.

    Weights of other shapes or dtypes are errors. Missing weights (but for
    tied ones) and unexpected ones are too when ``strict``; otherwise they are
    named in a warning, the missing ones keep their initialisation and the
    unexpected ones are dropped."""
    prefix = model.base_model_prefix + "."
    headed = any(k.startswith(prefix) for k in state)  # saved from a model with a head
    if hasattr(model, model.base_model_prefix) and not headed:
        names = {prefix + k: k for k in state}
    elif not hasattr(model, model.base_model_prefix) and headed:
        # A base model takes the base model out of a head's checkpoint; the
        # head's weights are not its concern.
        names = {k[len(prefix):]: k for k in state if k.startswith(prefix)}
    else:
        names = {k: k for k in state}
    own = model.state_dict()
    # Older transformers saved position_ids, a non-persistent buffer here.
    buffers = {name for name, _ in model.named_buffers()}
    unexpected = [names[k] for k in names if k not in own and k not in buffers]
    missing = [k for k in own if k not in names and not model._is_tied(k)]
    # The checkpoint's copy of a tied weight is not loaded: the decoder is the
    # word embedding matrix, whatever an untied checkpoint holds.
    loaded = {k: state[names[k]] for k in names if k in own and not model._is_tied(k)}
    errors = [f"{names[k]} has shape {list(v.shape)}, the model's is {list(own[k].shape)}"
              for k, v in loaded.items() if v.shape != own[k].shape]
    errors += [f"{names[k]} is a {v.dtype} tensor ({v.layout}), expected dense float16, bfloat16, float32 "
               f"or float64" for k, v in loaded.items() if v.dtype not in _WEIGHT_DTYPES or v.layout != torch.strided]
    if errors:
        raise ValueError(f"{source}: {len(errors)} weights do not fit {type(model).__name__}: {_some(errors, '; ')}")
    if missing or unexpected:
        problems = []
        if missing:
            problems.append(f"the checkpoint lacks {len(missing)} of {type(model).__name__}'s weights: "
                            f"{_some(missing)}")
        if unexpected:
            problems.append(f"{len(unexpected)} weights in it are not {type(model).__name__}'s: {_some(unexpected)}")
        message = f"{source}: {'; '.join(problems)}"
        if strict:
            raise ValueError(f"{message}. With strict=False the model loads anyway, the missing weights left "
                             f"randomly initialised and the unexpected ones dropped.")
        warnings.warn(f"{message}. The missing weights are left randomly initialised, the unexpected ones "
                      f"dropped.", stacklevel=3)
    model.load_state_dict(loaded, strict=False)
    model.tie_weights()
    return LoadingInfo(missing, unexpected)


def _some(items: List[str], sep: str = ", ", shown: int = 10) -> str:
    more = f"{sep}... ({len(items) - shown} more)" if len(items) > shown else ""
    return sep.join(items[:shown]) + more

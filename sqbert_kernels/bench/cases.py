"""What sqbert-bench times: each case is a set of candidates doing the same
work (this package's ops and model, and what stock PyTorch or Hugging Face
would run instead), and the FLOPs of that work."""
import copy
import os
import tempfile
import warnings
from dataclasses import dataclass, field
import math
from typing import Callable, Dict, List, Optional

import torch
import torch.nn.functional as F

from .. import ops
from ..convert import quantize
from ..model import SqueezeBertConfig, SqueezeBertModel

# SqueezeBERT's 1x1 convolutions (Cin, Cout, groups): Q/K/V, the intermediate,
# the feed-forward output, and the post-attention one, the only dense one.
SQUEEZEBERT_CONVS = [(768, 768, 4), (768, 3072, 4), (3072, 768, 4), (768, 768, 1)]


@dataclass
class Case:
    name: str
    flops: int  # of the grouped work; the dense baseline does groups x more
    candidates: Dict[str, Callable[[], torch.Tensor]] = field(default_factory=dict)
    model_flops: Dict[str, int] = field(default_factory=dict)  # per candidate, where they differ
    skipped: Dict[str, str] = field(default_factory=dict)  # baseline left out -> why, and the command adding it
    label: str = ""  # what the case is, for the section's title (the model's depth and width)
    lengths: List[int] = field(default_factory=list)  # the mixed-lengths case's sequence lengths (real tokens)
    padded_length: int = 0  # and the length they are padded to


BENCH_EXTRA = 'pip install ".[bench]"'
ONNX_INSTALL = "pip install onnxruntime onnx"


def conv_case(cin: int, cout: int, batch: int, length: int, groups: int = 4) -> Case:
    """One grouped 1x1 convolution and the ways to do it in stock PyTorch."""
    m, k = cout // groups, cin // groups
    x = torch.randn(batch, cin, length)
    weight = torch.randn(cout, k, 1) / k**0.5
    bias = torch.randn(cout)
    packed = ops.pack_pw_weight(weight, bias, groups)
    packed_q8 = ops.quantize_pw_weight(weight, bias, groups)  # the default int8 kernel, cpu_isa("int8")
    # The same work as one batched matmul over batch x groups.
    w_bmm = weight.view(groups, m, k).repeat(batch, 1, 1)
    b_bmm = bias.view(groups, m, 1).repeat(batch, 1, 1)
    x_bmm = x.view(batch * groups, k, length)
    # BERT-base's dense layer on the same activations, in its [B, L, C] layout.
    linear = torch.nn.Linear(cin, cout)
    x_blc = x.transpose(1, 2).contiguous()
    case = Case(f"conv {cin}->{cout} g{groups} B{batch} L{length}", 2 * batch * length * m * k * groups)
    case.candidates = {
        "sqbert packed": lambda: ops.grouped_pw_conv_packed(x, packed, cout),
        "sqbert int8": lambda: ops.grouped_pw_conv_q8(x, packed_q8, cout),
        "sqbert": lambda: ops.grouped_pw_conv(x, weight, bias, groups),
        "conv1d": lambda: F.conv1d(x, weight, bias, groups=groups),
        "bmm": lambda: torch.baddbmm(b_bmm, w_bmm, x_bmm),
        "linear (dense)": lambda: linear(x_blc),
    }
    return case


def attention_case(batch: int, length: int, channels: int = 768, heads: int = 12) -> Case:
    """Attention from NCW q, k, v to the NCW context, with transformers 5.x's
    [B, 1, L, L] padding mask (the last batch row padded by a quarter). The
    fused op skips padded keys at the end of a row, so it is timed also with
    a mask of zeros ("unpadded"): all keys, as the other candidates compute."""
    d = channels // heads
    q, k, v = (torch.randn(batch, channels, length) for _ in range(3))
    mask = torch.zeros(batch, 1, length, length)
    mask[-1, ..., length - length // 4:] = torch.finfo(torch.float32).min
    no_padding = torch.zeros_like(mask)

    def heads_last(t):
        return t.view(batch, heads, d, length).transpose(2, 3)

    def sdpa():
        out = F.scaled_dot_product_attention(heads_last(q).contiguous(), heads_last(k).contiguous(),
                                             heads_last(v).contiguous(), attn_mask=mask)
        return out.transpose(2, 3).reshape(batch, channels, length)

    case = Case(f"attention C{channels} H{heads} B{batch} L{length}", 4 * batch * channels * length**2)
    case.candidates = {
        "sqbert fused": lambda: ops.fused_attention(q, k, v, mask, heads),
        "sqbert fused unpadded": lambda: ops.fused_attention(q, k, v, no_padding, heads),
        "HF eager": lambda: ops.attention_reference(q, k, v, mask, heads),
        "SDPA + transposes": sdpa,
    }
    return case


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call, as torch.utils.flop_counter counts them (matmuls,
    convolutions, and this package's ops by their registered formulas)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def model_case(batch: int, length: int, checkpoint: Optional[str] = None, compile_hf: bool = False,
               onnx: bool = False, progress=print) -> Case:
    """The whole model: this package's, in float32 and int8 (sk.quantize),
    and when transformers is installed, Hugging Face's SqueezeBERT on the
    same weights and a BERT of the same depth and width (random init), in
    float32 and dynamically quantized to int8 by torch on FBGEMM. Without a
    checkpoint that is the base model and BERT-base; with one (a SqueezeBERT
    folder), its config's layers, hidden and intermediate sizes, heads and
    vocabulary. With onnx, ONNX Runtime on the exports of HF SqueezeBERT
    (float32 and int8) and of the BERT (int8), quantized by onnxruntime's
    quantize_dynamic."""
    if checkpoint:
        ours = SqueezeBertModel.from_pretrained(checkpoint)
    else:
        ours = SqueezeBertModel(SqueezeBertConfig(vocab_size=30528)).eval()
    ours_int8 = quantize(copy.deepcopy(ours))
    # Token ids every model here has (BERT-base has 30522 words).
    ids = torch.randint(1, min(ours.config.vocab_size, 30522), (batch, length))
    case = Case(f"model B{batch} L{length}", count_flops(lambda: ours(ids)))
    case.candidates = {"sqbert_kernels": lambda: ours(ids), "sqbert int8": lambda: ours_int8(ids)}
    # The int8 ops count their multiply-adds as the float32 ones do: the same work.
    case.model_flops = {"sqbert_kernels": case.flops, "sqbert int8": case.flops}
    cfg = ours.config
    shape = dict(num_hidden_layers=cfg.num_hidden_layers, hidden_size=cfg.hidden_size,
                 intermediate_size=cfg.intermediate_size, num_attention_heads=cfg.num_attention_heads,
                 vocab_size=cfg.vocab_size, max_position_embeddings=cfg.max_position_embeddings)
    base = (cfg.num_hidden_layers, cfg.hidden_size, cfg.intermediate_size, cfg.num_attention_heads) == (12, 768, 3072, 12)
    depth = (f"{cfg.num_hidden_layers} layers, hidden {cfg.hidden_size}, intermediate {cfg.intermediate_size}, "
             f"{cfg.num_attention_heads} heads")
    bert_name = "HF BERT-base" if base and not checkpoint else f"HF BERT ({cfg.num_hidden_layers} layers, {cfg.hidden_size})"
    bert_int8 = f"{bert_name} int8 (FBGEMM)"
    case.label = "whole base model" if base and not checkpoint else f"whole model (checkpoint: {depth})"
    try:
        import transformers
    except ImportError:
        why = f"transformers not installed: {BENCH_EXTRA}"
        case.skipped.update({"HF SqueezeBERT": why, bert_name: why, bert_int8: why})
        progress(f"  (Hugging Face SqueezeBERT and {bert_name} skipped: {why})")
        return case
    transformers.logging.set_verbosity_error()
    hf = transformers.SqueezeBertModel(transformers.SqueezeBertConfig(**vars(ours.config))).eval()
    hf.load_state_dict(ours.state_dict())
    # A BERT of the same depth and width, so that the comparison is like with like.
    bert = transformers.BertModel(transformers.BertConfig(**shape), add_pooling_layer=True).eval()
    case.candidates["HF SqueezeBERT"] = lambda: hf(ids)
    case.candidates[bert_name] = lambda: bert(ids)
    case.model_flops["HF SqueezeBERT"] = count_flops(lambda: hf(ids))
    case.model_flops[bert_name] = count_flops(lambda: bert(ids))
    bert_q8 = _torch_int8(bert)
    if bert_q8 is None:
        case.skipped[bert_int8] = "this torch has no torch.ao.quantization.quantize_dynamic or no FBGEMM engine"
        progress(f"  ({bert_int8} skipped: {case.skipped[bert_int8]})")
    else:
        case.candidates[bert_int8] = lambda: bert_q8(ids)
        case.model_flops[bert_int8] = case.model_flops[bert_name]  # FlopCounterMode does not count quantized ops
    if compile_hf:
        compiled = torch.compile(hf)
        case.candidates["torch.compile(HF SqueezeBERT)"] = lambda: compiled(ids)
        case.model_flops["torch.compile(HF SqueezeBERT)"] = case.model_flops["HF SqueezeBERT"]
    if onnx:
        # (model, its candidate's name, {ONNX Runtime candidate: int8?}).
        exports = [(hf, "HF SqueezeBERT", {"ONNX Runtime (HF SqueezeBERT)": False,
                                           "ONNX Runtime int8 (HF SqueezeBERT)": True}),
                   (bert, bert_name, {f"ONNX Runtime int8 ({bert_name.removeprefix('HF ')})": True})]
        sessions = _onnx_sessions([(model, names) for model, _, names in exports], ids, progress)
        feed = {"input_ids": ids.numpy()}
        for _, source, names in exports:
            for name in names:
                if sessions is None:
                    case.skipped[name] = f"onnxruntime or onnx not installed: {ONNX_INSTALL}"
                else:
                    case.candidates[name] = lambda session=sessions[name]: session.run(None, feed)
                    case.model_flops[name] = case.model_flops[source]
    return case


# The mixed-lengths case: sentence-classification batches (SST-2, MRPC, QQP
# sentences, [CLS] and [SEP] included), most 10-60 tokens, a tail to 128.
MIXED_BATCH, MIXED_LENGTH, MIXED_SEED = 32, 128, 0
MIXED_MEDIAN, MIXED_SIGMA, MIXED_MIN = 25.0, 0.6, 3
MIXED_DISTRIBUTION = (f"log-normal lengths (median {MIXED_MEDIAN:g}, sigma {MIXED_SIGMA:g}: mean "
                      f"{MIXED_MEDIAN * math.exp(MIXED_SIGMA ** 2 / 2):.0f}), rounded, clipped to "
                      f"{MIXED_MIN}..{MIXED_LENGTH}")


def mixed_lengths(batch: int = MIXED_BATCH, length: int = MIXED_LENGTH, seed: int = MIXED_SEED) -> List[int]:
    """Sequence lengths like a sentence-classification set's: exp(N(log 25,
    0.6^2)) rounded and clipped to 3 ([CLS], a word, [SEP]) .. length, drawn
    with a fixed seed (the same on every machine: torch's CPU generator)."""
    g = torch.Generator().manual_seed(seed)
    drawn = torch.exp(math.log(MIXED_MEDIAN) + MIXED_SIGMA * torch.randn(batch, generator=g, dtype=torch.float64))
    return drawn.round().clamp(min(MIXED_MIN, length), length).long().tolist()


def mixed_inputs(lengths: List[int], length: int, vocab_size: int, seed: int = MIXED_SEED):
    """A tokenizer's right-padded batch: input_ids [B, length] (random words,
    [CLS] 101 first and [SEP] 102 last where the vocabulary has them, 0 on
    padding), its 2-D attention_mask (1 real, 0 padding), and the same mask
    as transformers' 4-D additive one ([B, 1, 1, length], 0 keep, float32
    min on padding)."""
    g = torch.Generator().manual_seed(seed + 1)
    batch = len(lengths)
    ids = torch.randint(1, min(vocab_size, 30522), (batch, length), generator=g)
    mask = (torch.arange(length)[None] < torch.tensor(lengths)[:, None]).long()
    if vocab_size > 102:
        ids[:, 0] = 101
        ids[torch.arange(batch), torch.tensor(lengths) - 1] = 102
    ids = ids * mask
    additive = ((1.0 - mask.float()) * torch.finfo(torch.float32).min)[:, None, None, :]
    return ids, mask, additive


def mixed_case(checkpoint: Optional[str] = None, onnx: bool = False, threads: Optional[List[int]] = None,
               progress=print, batch: int = MIXED_BATCH, length: int = MIXED_LENGTH, seed: int = MIXED_SEED) -> Case:
    """The whole model on a batch of mixed lengths (mixed_lengths), padded
    to `length` on the right as a tokenizer pads: this package's model with
    the 2-D attention_mask (it runs the real tokens only), with the same
    mask as a 4-D additive one (its padded path, every position:
    "sqbert_kernels padded"), its int8 copy (sk.quantize, 2-D mask), and
    where transformers is installed Hugging Face's SqueezeBERT on the same
    weights and a BERT of the same depth and width (as in model_case); with
    onnx, ONNX Runtime on HF SqueezeBERT's export with an attention_mask
    input, a session per thread count in `threads` (default: torch's
    current one)."""
    if checkpoint:
        ours = SqueezeBertModel.from_pretrained(checkpoint)
    else:
        ours = SqueezeBertModel(SqueezeBertConfig(vocab_size=30528)).eval()
    cfg = ours.config
    length = min(length, cfg.max_position_embeddings)
    lengths = mixed_lengths(batch, length, seed)
    ids, mask, additive = mixed_inputs(lengths, length, cfg.vocab_size, seed)
    ours_int8 = quantize(copy.deepcopy(ours))
    case = Case(f"mixed lengths B{batch} L{length}", 0, lengths=lengths, padded_length=length)
    case.candidates = {
        "sqbert_kernels": lambda: ours(ids, attention_mask=mask),
        "sqbert_kernels padded": lambda: ours(ids, attention_mask=additive),
        "sqbert int8": lambda: ours_int8(ids, attention_mask=mask),
    }
    base = (cfg.num_hidden_layers, cfg.hidden_size, cfg.intermediate_size, cfg.num_attention_heads) == (12, 768, 3072, 12)
    base = base and not checkpoint
    bert_name = "HF BERT-base" if base else f"HF BERT ({cfg.num_hidden_layers} layers, {cfg.hidden_size})"
    tokens = sum(lengths)
    in_range = sum(10 <= n <= 60 for n in lengths)
    case.label = (("whole base model" if base else f"whole model (checkpoint: {cfg.num_hidden_layers} layers, "
                   f"hidden {cfg.hidden_size})")
                  + f", B{batch} of mixed lengths right-padded to {length}: {MIXED_DISTRIBUTION}, seed {seed}; "
                  f"mean {tokens / batch:.1f}, {in_range} of {batch} in 10..60, longest {max(lengths)}; "
                  f"{tokens} real tokens of {batch * length} ({tokens / (batch * length):.0%})")
    onnx_name = "ONNX Runtime (HF SqueezeBERT)"
    try:
        import transformers
    except ImportError:
        why = f"transformers not installed: {BENCH_EXTRA}"
        case.skipped.update({"HF SqueezeBERT": why, bert_name: why})
        if onnx:
            case.skipped[onnx_name] = why
        progress(f"  (Hugging Face SqueezeBERT and {bert_name} skipped: {why})")
        return case
    transformers.logging.set_verbosity_error()
    hf = transformers.SqueezeBertModel(transformers.SqueezeBertConfig(**vars(cfg))).eval()
    hf.load_state_dict(ours.state_dict())
    shape = dict(num_hidden_layers=cfg.num_hidden_layers, hidden_size=cfg.hidden_size,
                 intermediate_size=cfg.intermediate_size, num_attention_heads=cfg.num_attention_heads,
                 vocab_size=cfg.vocab_size, max_position_embeddings=cfg.max_position_embeddings)
    bert = transformers.BertModel(transformers.BertConfig(**shape), add_pooling_layer=True).eval()
    case.candidates["HF SqueezeBERT"] = lambda: hf(ids, attention_mask=mask)
    case.candidates[bert_name] = lambda: bert(ids, attention_mask=mask)
    if onnx:
        sessions = _onnx_sessions([(hf, {onnx_name: False})], ids, progress, attention_mask=mask,
                                  threads=threads or [torch.get_num_threads()])
        if sessions is None:
            case.skipped[onnx_name] = f"onnxruntime or onnx not installed: {ONNX_INSTALL}"
        else:
            feed = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
            by_threads = sessions[onnx_name]
            # The session made for torch's thread count at the time of the call.
            case.candidates[onnx_name] = lambda: by_threads[torch.get_num_threads()].run(None, feed)
    return case


def _torch_int8(model):
    """A copy of model with its nn.Linear layers quantized dynamically to int8
    for FBGEMM (torch.ao.quantization, deprecated but still in torch), or
    None where this torch lacks either."""
    if "fbgemm" not in torch.backends.quantized.supported_engines:
        return None
    engine = torch.backends.quantized.engine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation warnings
        try:
            from torch.ao.quantization import quantize_dynamic
        except ImportError:
            return None
        # The engine picks the kernels the weights are packed for; those then run them whatever the engine.
        torch.backends.quantized.engine = "fbgemm"
        try:
            return quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)
        finally:
            torch.backends.quantized.engine = engine


class _ByKeyword(torch.nn.Module):
    """model(input_ids=ids[, attention_mask=mask]) as a tuple: transformers
    5's BertModel, traced for the ONNX export, refuses the positional call
    ("got multiple values for argument 'use_cache'")."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, attention_mask=None):
        return self.model(input_ids=ids, attention_mask=attention_mask, return_dict=False)


def _onnx_sessions(exports, ids, progress, attention_mask=None, threads=None):
    """ONNX Runtime sessions on [(model, {name: int8?})]: the model exported,
    and for int8 that export quantized by onnxruntime's quantize_dynamic
    (int8 weights, activations quantized as it runs); None when onnxruntime
    or onnx is not installed. With attention_mask the export takes it as a
    second input, "attention_mask". Each session runs torch's current thread
    count, or with threads (a list of counts) sessions[name] is {count: session}."""
    try:
        import onnx  # noqa: F401  (torch.onnx.export writes with it)
        import onnxruntime
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        progress(f"  (ONNX Runtime skipped: onnxruntime or onnx not installed: {ONNX_INSTALL})")
        return None
    def session(path, nthreads):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = nthreads
        return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    args, names_in = ((ids,), ["input_ids"]) if attention_mask is None else \
        ((ids, attention_mask), ["input_ids", "attention_mask"])
    sessions = {}
    # A session holds its model once built: the files (GBs over a full matrix) need not stay.
    with tempfile.TemporaryDirectory() as folder:
        for i, (model, names) in enumerate(exports):
            path = os.path.join(folder, f"{i}.onnx")
            torch.onnx.export(_ByKeyword(model), args, path, input_names=names_in, dynamo=False)
            for name, int8 in names.items():
                if int8:
                    quantize_dynamic(path, path + ".int8", weight_type=QuantType.QInt8)
                file = path + ".int8" if int8 else path
                sessions[name] = (session(file, torch.get_num_threads()) if threads is None
                                  else {t: session(file, t) for t in threads})
    return sessions


def sgemm_case(n: int = 1024) -> Case:
    """The machine's fp32 ceiling: torch.mm on an n^3 product."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return Case(f"mm {n}^3", 2 * n**3, {"torch.mm": lambda: torch.mm(a, b)})

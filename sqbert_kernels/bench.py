"""Benchmark cases and the ``sqbert-bench`` report.

The cases are shared with ``benchmarks/`` (pytest-benchmark): each is a set of
candidates doing the same work, timed side by side in one run, because these
machines are shared and noisy and only ratios taken together mean anything.
"""
import argparse
import json
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import torch
import torch.nn.functional as F

from . import ops

# SqueezeBERT's grouped 1x1 convolutions (Cin, Cout): Q/K/V and the output
# projection, the intermediate, and the FFN output; groups = 4.
SQUEEZEBERT_SHAPES = [(768, 768), (768, 3072), (3072, 768)]
SQUEEZEBERT_GROUPS = 4


@dataclass
class Case:
    name: str
    flops: int  # of the grouped work; the dense baseline does groups x more
    candidates: Dict[str, Callable[[], torch.Tensor]] = field(default_factory=dict)
    model_flops: Dict[str, int] = field(default_factory=dict)  # per candidate, where they differ


def conv_case(cin: int, cout: int, batch: int, length: int, groups: int = SQUEEZEBERT_GROUPS) -> Case:
    """One grouped 1x1 convolution and the ways to do it in stock PyTorch."""
    m, k = cout // groups, cin // groups
    x = torch.randn(batch, cin, length)
    weight = torch.randn(cout, k, 1) / k**0.5
    bias = torch.randn(cout)
    packed = ops.pack_pw_weight(weight, bias, groups)
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
    """The whole base model: this package, and when transformers is installed,
    Hugging Face's SqueezeBERT on the same weights and BERT-base (random init
    from their configs, or the SqueezeBERT checkpoint folder given)."""
    from . import model as sqmodel

    if checkpoint:
        ours = sqmodel.SqueezeBertModel.from_pretrained(checkpoint)
    else:
        ours = sqmodel.SqueezeBertModel(sqmodel.SqueezeBertConfig(vocab_size=30528)).eval()
    # Token ids every model here has (BERT-base has 30522 words).
    ids = torch.randint(1, min(ours.config.vocab_size, 30522), (batch, length))
    case = Case(f"model B{batch} L{length}", count_flops(lambda: ours(ids)))
    case.candidates["sqbert_kernels"] = lambda: ours(ids)
    case.model_flops = {"sqbert_kernels": case.flops}
    try:
        import transformers
    except ImportError:
        progress("  (transformers not installed: Hugging Face SqueezeBERT and BERT-base skipped)")
        return case
    transformers.logging.set_verbosity_error()
    hf = transformers.SqueezeBertModel(transformers.SqueezeBertConfig(**vars(ours.config))).eval()
    hf.load_state_dict(ours.state_dict())
    bert = transformers.BertModel(transformers.BertConfig(), add_pooling_layer=True).eval()
    case.candidates["HF SqueezeBERT"] = lambda: hf(ids)
    case.candidates["HF BERT-base"] = lambda: bert(ids)
    case.model_flops["HF SqueezeBERT"] = count_flops(lambda: hf(ids))
    case.model_flops["HF BERT-base"] = count_flops(lambda: bert(ids))
    if compile_hf:
        compiled = torch.compile(hf)
        case.candidates["torch.compile(HF SqueezeBERT)"] = lambda: compiled(ids)
        case.model_flops["torch.compile(HF SqueezeBERT)"] = case.model_flops["HF SqueezeBERT"]
    if onnx:
        session = _onnx_session(hf, ids, progress)
        if session is not None:
            feed = {"input_ids": ids.numpy()}
            case.candidates["ONNX Runtime (HF SqueezeBERT)"] = lambda: session.run(None, feed)
            case.model_flops["ONNX Runtime (HF SqueezeBERT)"] = case.model_flops["HF SqueezeBERT"]
    return case


def _onnx_session(hf, ids, progress):
    try:
        import onnxruntime
    except ImportError:
        progress("  (onnxruntime not installed: ONNX Runtime skipped)")
        return None
    import os
    import tempfile

    path = os.path.join(tempfile.mkdtemp(), "squeezebert.onnx")
    torch.onnx.export(hf, (ids,), path, input_names=["input_ids"], dynamo=False)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def sgemm_case(n: int = 1024) -> Case:
    """The machine's fp32 ceiling: torch.mm on an n^3 product."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return Case(f"mm {n}^3", 2 * n**3, {"torch.mm": lambda: torch.mm(a, b)})


def time_case(case: Case, rounds: int, min_round_s: float = 0.02) -> Dict[str, float]:
    """Median seconds per call of each candidate, rounds interleaved."""
    calls = {}
    for name, fn in case.candidates.items():
        fn()  # warm up (and pack, allocate, pick algorithms)
        start = time.perf_counter()
        fn()
        once = time.perf_counter() - start
        calls[name] = max(1, int(min_round_s / max(once, 1e-7)))
    samples = {name: [] for name in case.candidates}
    for _ in range(rounds):
        for name, fn in case.candidates.items():
            start = time.perf_counter()
            for _ in range(calls[name]):
                fn()
            samples[name].append((time.perf_counter() - start) / calls[name])
    return {name: statistics.median(s) for name, s in samples.items()}


@torch.no_grad()
def attention_report(threads: List[int], batches: List[int], lengths: List[int], rounds: int,
                     progress=print) -> List[dict]:
    rows = []
    for nthreads in threads:
        torch.set_num_threads(nthreads)
        for batch in batches:
            for length in lengths:
                case = attention_case(batch, length)
                times = time_case(case, rounds)
                row = {"case": case.name, "threads": nthreads, "batch": batch, "length": length,
                       "gflop": case.flops / 1e9, "ms": {k: v * 1e3 for k, v in times.items()},
                       "gflops": {k: case.flops / v / 1e9 for k, v in times.items()}}
                rows.append(row)
                ms = row["ms"]
                progress(f"  attention t{nthreads} B{batch} L{length:<4} fused {ms['sqbert fused']:7.3f} ms "
                         f"{row['gflops']['sqbert fused']:6.1f} GF/s | HF eager {ms['HF eager']:7.3f} ms | "
                         f"SDPA+transposes {ms['SDPA + transposes']:7.3f} ms | fused/HF "
                         f"{ms['sqbert fused'] / ms['HF eager']:.2f}x time, fused/SDPA "
                         f"{ms['sqbert fused'] / ms['SDPA + transposes']:.2f}x time | unpadded "
                         f"{ms['sqbert fused unpadded']:7.3f} ms, /HF {ms['sqbert fused unpadded'] / ms['HF eager']:.2f}x, "
                         f"/SDPA {ms['sqbert fused unpadded'] / ms['SDPA + transposes']:.2f}x")
    return rows


@torch.no_grad()
def model_report(threads: List[int], batches: List[int], lengths: List[int], rounds: int, checkpoint=None,
                 compile_hf=False, onnx=False, progress=print) -> List[dict]:
    rows = []
    for nthreads in threads:
        torch.set_num_threads(nthreads)
        for batch in batches:
            for length in lengths:
                case = model_case(batch, length, checkpoint, compile_hf, onnx, progress)
                times = time_case(case, rounds)
                ours = times["sqbert_kernels"]
                row = {"case": case.name, "threads": nthreads, "batch": batch, "length": length,
                       "ms": {k: v * 1e3 for k, v in times.items()},
                       "gflop": {k: f / 1e9 for k, f in case.model_flops.items()},
                       "speedup": {k: v / ours for k, v in times.items()}}
                rows.append(row)
                cells = ", ".join(f"{k} {v * 1e3:.1f} ms ({row['speedup'][k]:.2f}x)" for k, v in times.items())
                progress(f"  model t{nthreads} B{batch} L{length}: {cells}")
    return rows


@torch.no_grad()
def conv_report(threads: List[int], batches: List[int], lengths: List[int], rounds: int,
                progress=print) -> List[dict]:
    rows = []
    for nthreads in threads:
        torch.set_num_threads(nthreads)
        ceiling = sgemm_case()
        progress(f"[{nthreads} thread(s)]")
        for batch in batches:
            for length in lengths:
                for cin, cout in SQUEEZEBERT_SHAPES:
                    case = conv_case(cin, cout, batch, length)
                    # The sgemm ceiling is timed in the same rounds as the case.
                    case.candidates["torch.mm 1024^3"] = ceiling.candidates["torch.mm"]
                    times = time_case(case, rounds)
                    mm_gflops = ceiling.flops / times.pop("torch.mm 1024^3") / 1e9
                    row = {
                        "case": case.name, "threads": nthreads, "batch": batch, "length": length,
                        "cin": cin, "cout": cout, "gflop": case.flops / 1e9,
                        "sgemm_gflops": mm_gflops,
                        "ms": {k: v * 1e3 for k, v in times.items()},
                        "gflops": {k: case.flops / v / 1e9 for k, v in times.items()
                                   if k != "linear (dense)"},
                    }
                    rows.append(row)
                    progress(format_conv_row(row))
    return rows


def format_conv_row(row: dict) -> str:
    ms, gf = row["ms"], row["gflops"]
    best = ms["sqbert packed"]
    return (f"  {row['cin']:>4}->{row['cout']:<4} B{row['batch']} L{row['length']:<4} "
            f"packed {best:7.3f} ms {gf['sqbert packed']:6.1f} GF/s "
            f"({gf['sqbert packed'] / row['sgemm_gflops']:4.0%} of mm {row['sgemm_gflops']:.0f}) | "
            f"per-call {gf['sqbert']:6.1f} | conv1d {gf['conv1d']:6.1f} | bmm {gf['bmm']:6.1f} GF/s | "
            f"vs linear {best / ms['linear (dense)']:.2f}x time, "
            f"conv1d/packed {ms['conv1d'] / best:.2f}x, conv1d/per-call {ms['conv1d'] / ms['sqbert']:.2f}x")


def markdown_tables(conv: List[dict], attention: List[dict], models: List[dict]) -> str:
    """The results as the README's tables, one per section that ran."""
    tables = []
    if models:
        rows = [f"| {r['threads']} | {r['batch']} | {r['length']} | {name} | {r['gflop'][name]:.2f} | "
                f"{ms:.1f} | {r['speedup'][name]:.2f}x |" for r in models for name, ms in r["ms"].items()]
        tables.append(["| threads | B | L | model | GFLOP | ms | time / sqbert_kernels' |",
                       "|---|---|---|---|---|---|---|"] + rows)
    if conv:
        rows = []
        for r in conv:
            ms, gf = r["ms"], r["gflops"]
            rows.append(
                f"| {r['threads']} | {r['batch']} | {r['length']} | {r['cin']}->{r['cout']} | "
                f"{ms['sqbert packed']:.3f} | {gf['sqbert packed']:.1f} ({gf['sqbert packed'] / r['sgemm_gflops']:.0%}) | "
                f"{gf['sqbert']:.1f} | {gf['conv1d']:.1f} | {gf['bmm']:.1f} | "
                f"{ms['conv1d'] / ms['sqbert packed']:.2f}x | {ms['bmm'] / ms['sqbert packed']:.2f}x | "
                f"{ms['sqbert packed'] / ms['linear (dense)']:.2f} |")
        tables.append(["| threads | B | L | Cin->Cout | sqbert packed ms | GF/s (% of mm) | per-call GF/s | "
                       "conv1d GF/s | bmm GF/s | conv1d / packed | bmm / packed | packed / linear |",
                       "|---|---|---|---|---|---|---|---|---|---|---|---|"] + rows)
    if attention:
        rows = []
        for r in attention:
            ms = r["ms"]
            rows.append(
                f"| {r['threads']} | {r['batch']} | {r['length']} | {ms['sqbert fused']:.3f} | "
                f"{r['gflops']['sqbert fused']:.1f} | {ms['HF eager']:.3f} | {ms['SDPA + transposes']:.3f} | "
                f"{ms['sqbert fused'] / ms['HF eager']:.2f}x | {ms['sqbert fused'] / ms['SDPA + transposes']:.2f}x | "
                f"{ms['sqbert fused unpadded']:.3f} | {ms['sqbert fused unpadded'] / ms['HF eager']:.2f}x | "
                f"{ms['sqbert fused unpadded'] / ms['SDPA + transposes']:.2f}x |")
        tables.append(["| threads | B | L | fused ms | fused GF/s | HF eager ms | SDPA + transposes ms | "
                       "fused / HF eager | fused / SDPA | unpadded ms | unpadded / HF eager | unpadded / SDPA |",
                       "|---|---|---|---|---|---|---|---|---|---|---|---|"] + rows)
    return "\n\n".join("\n".join(t) for t in tables) + "\n"


def draw_chart(path: str, conv: List[dict], attention: List[dict], models: List[dict]) -> None:
    """Latency per model, and per-op GFLOP/s against the sgemm ceiling."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    names = list(dict.fromkeys(n for r in models for n in r["ms"]))
    groups = [f"t{r['threads']} B{r['batch']} L{r['length']}" for r in models]
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        left.bar([g + i * width for g in range(len(models))], [r["ms"].get(name, 0) for r in models],
                 width, label=name)
    left.set_xticks([g + 0.4 - width / 2 for g in range(len(models))], groups)
    left.set_ylabel("latency (ms, median)")
    left.set_title("Whole base model, fp32" if models else "Whole base model: not run")
    if models:
        left.legend(fontsize=8)

    ops = [(f"{r['cin']}->{r['cout']} t{r['threads']}", r["gflops"], r["sgemm_gflops"]) for r in conv
           if r["batch"] == models[0]["batch"] and r["length"] == models[0]["length"]] if models else []
    ops += [(f"attention t{r['threads']}", r["gflops"], None) for r in attention
            if not models or (r["batch"] == models[0]["batch"] and r["length"] == models[0]["length"])]
    series = ["sqbert packed", "sqbert", "conv1d", "bmm", "sqbert fused", "HF eager", "SDPA + transposes"]
    width = 0.8 / 4
    for x, (label, gflops, ceiling) in enumerate(ops):
        present = [s for s in series if s in gflops]
        for i, name in enumerate(present):
            right.bar(x + i * width, gflops[name], width, color=f"C{series.index(name)}",
                      label=name if name not in right.get_legend_handles_labels()[1] else None)
        if ceiling:
            right.hlines(ceiling, x - width / 2, x + 3.5 * width, colors="k", linestyles="dashed",
                         label="sgemm (torch.mm 1024^3)" if x == 0 else None)
    right.set_xticks([x + 1.5 * width for x in range(len(ops))], [o[0] for o in ops], rotation=30, fontsize=8)
    right.set_ylabel("GFLOP/s")
    right.set_title("Per op, against the machine's sgemm ceiling" if ops else "Per op: not run")
    if ops:
        right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="sqbert-bench", description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batch", type=int, nargs="+", default=[1])
    p.add_argument("--length", type=int, nargs="+", default=[128])
    p.add_argument("--rounds", type=int, default=15, help="interleaved timing rounds (medians)")
    p.add_argument("--json", default="sqbert-bench.json", help="where to write the full results")
    p.add_argument("--markdown", help="also write the results as Markdown tables here")
    p.add_argument("--png", default="sqbert-bench.png", help="where to draw the chart")
    p.add_argument("--checkpoint", help="a local Hugging Face SqueezeBERT folder for the model section")
    p.add_argument("--compile", action="store_true", help="also time torch.compile of HF SqueezeBERT")
    p.add_argument("--onnx", action="store_true", help="also time ONNX Runtime on HF SqueezeBERT's export")
    p.add_argument("--skip", nargs="*", default=[], choices=["conv", "attention", "model"],
                   help="sections to leave out")
    args = p.parse_args(argv)

    print(f"sqbert-bench: {platform.machine()}, torch {torch.__version__}, "
          f"kernels {ops.cpu_isa()} {ops.cpu_gemm_tile()}", flush=True)
    progress = lambda s: print(s, flush=True)  # noqa: E731
    conv = attention = models = []
    if "conv" not in args.skip:
        progress("grouped 1x1 convolutions (groups 4): GFLOP/s, and time ratios")
        conv = conv_report(args.threads, args.batch, args.length, args.rounds, progress)
    if "attention" not in args.skip:
        progress("attention (12 heads, C 768, NCW in and out)")
        attention = attention_report(args.threads, args.batch, args.length, args.rounds, progress)
    if "model" not in args.skip:
        progress("whole base model (time, and speedup of sqbert_kernels over each)")
        models = model_report(args.threads, args.batch, args.length, max(5, args.rounds // 2),
                              args.checkpoint, args.compile, args.onnx, progress)
    with open(args.json, "w") as f:
        json.dump({"machine": platform.machine(), "torch": torch.__version__, "isa": ops.cpu_isa(),
                   "conv": conv, "attention": attention, "model": models}, f, indent=1)
    print(f"wrote {args.json}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown_tables(conv, attention, models))
        print(f"wrote {args.markdown}")
    try:
        draw_chart(args.png, conv, attention, models)
        print(f"wrote {args.png}")
    except ImportError:
        print("matplotlib not installed: no chart")
    return 0


if __name__ == "__main__":
    sys.exit(main())

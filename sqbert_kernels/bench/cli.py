"""sqbert-bench: this package's ops and model timed against stock PyTorch and Hugging Face.

Runs the sections asked for, then writes the results as JSON, optionally as
Markdown tables, and as a chart."""
import argparse
import json
import platform

import torch

from .. import ops
from .report import draw_chart, markdown_tables
from .sections import attention_report, conv_report, model_report


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
        progress("SqueezeBERT's 1x1 convolutions: GFLOP/s, and time ratios")
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
        print('matplotlib not installed: no chart (pip install ".[bench]")')
    return 0

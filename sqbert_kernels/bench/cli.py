"""sqbert-bench: this package's ops and model timed against stock PyTorch and Hugging Face.

Runs the sections asked for, then writes the results as JSON, optionally as
Markdown tables, and as a chart. Every ratio is a speedup of this package's
candidate (its time over the other's inverted: "x faster than", higher is
better); every case's spread over the rounds is printed, and a run on a
machine too noisy to trust is flagged in the table, the JSON and the chart."""
import argparse
import json
import os

from .. import __version__
from . import noise
from .machine import describe, machine_info
from .cases import MIXED_BATCH, MIXED_DISTRIBUTION, MIXED_LENGTH, MIXED_SEED
from .report import draw_chart, markdown_tables, noise_banner
from .sections import attention_report, conv_report, mixed_report, model_report


def _max_positions(checkpoint):
    """The model's max_position_embeddings (the checkpoint's, or the base model's 512)."""
    from ..model import SqueezeBertConfig

    if checkpoint:
        return SqueezeBertConfig.from_json_file(os.path.join(checkpoint, "config.json")).max_position_embeddings
    return SqueezeBertConfig().max_position_embeddings


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="sqbert-bench", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to time each case at")
    p.add_argument("--batch", type=int, nargs="+", default=[1], help="batch sizes")
    p.add_argument("--length", type=int, nargs="+", default=[128],
                   help="sequence lengths (at most the model's max_position_embeddings)")
    p.add_argument("--rounds", type=int, default=15,
                   help="interleaved timing rounds (medians; the model section runs min(rounds, max(5, rounds // 2)), "
                        "the mixed section --mixed-rounds)")
    p.add_argument("--mixed-rounds", type=int, default=None,
                   help="timing rounds of the mixed section (default min(rounds, 2): at batch 32 a call of HF BERT-base "
                        "takes seconds)")
    p.add_argument("--json", default="sqbert-bench.json", help="where to write the full results")
    p.add_argument("--markdown", default=None, help="also write the results as Markdown tables here")
    p.add_argument("--png", default="sqbert-bench.png", help="where to draw the chart")
    p.add_argument("--checkpoint", default=None,
                   help="a local Hugging Face SqueezeBERT folder for the model section "
                        "(compared with a BERT of its depth and width)")
    p.add_argument("--compile", action="store_true", help="also time torch.compile of HF SqueezeBERT")
    p.add_argument("--onnx", action="store_true",
                   help="also time ONNX Runtime on HF SqueezeBERT's export, float32 and int8, and on the BERT's, "
                        "int8 (pip install onnxruntime onnx)")
    p.add_argument("--skip", nargs="*", default=[], choices=["conv", "attention", "model", "mixed"],
                   help="sections to leave out (mixed: the whole model on a batch of "
                        f"{MIXED_BATCH} sentences of mixed lengths, right-padded to {MIXED_LENGTH} with a 2-D "
                        f"attention_mask, ms and sequences/s; {MIXED_DISTRIBUTION}, seed {MIXED_SEED}; "
                        "not swept over --batch and --length)")
    args = p.parse_args(argv)

    if args.rounds < 1:
        p.error(f"--rounds must be at least 1, got {args.rounds}")
    if args.mixed_rounds is None:
        args.mixed_rounds = min(args.rounds, 2)
    elif args.mixed_rounds < 1:
        p.error(f"--mixed-rounds must be at least 1, got {args.mixed_rounds}")
    for option in ("threads", "batch", "length"):
        bad = [v for v in getattr(args, option) if v < 1]
        if bad:
            p.error(f"--{option} must be at least 1, got {' '.join(map(str, bad))}")
    if args.checkpoint and not os.path.isfile(os.path.join(args.checkpoint, "config.json")):
        p.error(f"--checkpoint: expected a folder with config.json, got {args.checkpoint!r}")
    if "model" not in args.skip or "mixed" not in args.skip:
        try:
            limit = _max_positions(args.checkpoint)
        except (OSError, ValueError, TypeError) as e:
            p.error(f"--checkpoint {args.checkpoint!r}: unreadable config.json ({e})")
    if "model" not in args.skip:
        bad = [v for v in args.length if v > limit]
        if bad:
            p.error(f"--length {' '.join(map(str, bad))}: over the model's max_position_embeddings ({limit}); "
                    "use --skip model to time the ops alone at longer lengths")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    info = machine_info()
    model_rounds = min(args.rounds, max(5, args.rounds // 2))
    print(f"sqbert-bench {__version__}: {describe(info)}, gemm tile {info['gemm_tile']}", flush=True)
    print("Ratios are speedups (x faster than, higher is better); spread is a case's upper quartile of rounds "
          f"over its lower one (over {noise.SPREAD_LIMIT:.2f}x is too noisy to trust).", flush=True)
    progress = lambda s: print(s, flush=True)  # noqa: E731
    conv = attention = models = mixed = []
    if "conv" not in args.skip:
        progress("SqueezeBERT's 1x1 convolutions: GFLOP/s, and speedups")
        conv = conv_report(args.threads, args.batch, args.length, args.rounds, progress)
    if "attention" not in args.skip:
        progress("attention (12 heads, C 768, NCW in and out)")
        attention = attention_report(args.threads, args.batch, args.length, args.rounds, progress)
    if "model" not in args.skip:
        progress("whole model (time, and speedup of sqbert_kernels and of sqbert int8 over each)")
        models = model_report(args.threads, args.batch, args.length, model_rounds,
                              args.checkpoint, args.compile, args.onnx, progress)
        if models:
            progress(f"  models compared: {models[0]['model']}")
    if "mixed" not in args.skip:
        progress(f"mixed lengths (B{MIXED_BATCH}, right-padded to {MIXED_LENGTH}; ms, sequences/s, and speedup of "
                 "sqbert_kernels and of sqbert int8 over each)")
        mixed = mixed_report(args.threads, args.mixed_rounds, args.checkpoint, args.onnx, progress)
        if mixed:
            progress(f"  batch: {mixed[0]['model']}")
    sections = {"conv": conv, "attention": attention, "model": models, "mixed": mixed}
    for name, rows in (("convolutions", conv), ("attention", attention), ("model", models), ("mixed lengths", mixed)):
        for w in noise.thread_warnings(rows):
            progress(f"  !! NOISY ({name}): {w}")
    verdict = noise.assess(sections)
    for line in noise_banner(verdict, limit=20):
        print(line, flush=True)
    if not verdict["noisy"]:
        print(f"noise: every spread within {noise.SPREAD_LIMIT:.2f}x"
              + ("" if args.rounds >= 2 else " (1 round: spreads not measured)"))
    with open(args.json, "w") as f:
        json.dump({**info, "rounds": {"conv": args.rounds, "attention": args.rounds, "model": model_rounds,
                                      "mixed": args.mixed_rounds},
                   "threads": args.threads, "batch": args.batch, "length": args.length,
                   "ratios": "speedup: other's median time / ours (x faster than; higher is better)",
                   "seq_per_s": "mixed: sequences per second, batch / median time",
                   "noise": verdict, **sections}, f, indent=1)
    print(f"wrote {args.json}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown_tables(conv, attention, models, info, verdict, mixed))
        print(f"wrote {args.markdown}")
    try:
        draw_chart(args.png, conv, attention, models, info, verdict, mixed)
        print(f"wrote {args.png}")
    except ImportError:
        print('matplotlib not installed: no chart (pip install ".[bench]")')
    return 0

"""GPU benchmark of the Triton kernels (sqbert_kernels.triton_ops).

For SqueezeBERT's shapes, on a CUDA GPU:

* grouped 1x1 convolution (768->768, 768->3072, 3072->768, groups 4) on NCW
  ``[B, C, L]``: Triton against cuDNN (``F.conv1d(groups=4)``, same layout)
  and cuBLAS (a dense ``nn.Linear`` on ``[B, L, C]``: the 4x larger
  ungrouped product BERT-style layers compute);
* attention (C 768, 12 heads) on NCW q, k, v: Triton against
  ``F.scaled_dot_product_attention`` with the same additive mask and the
  transposes it needs (NCW -> ``[B, H, L, d]`` contiguous, and the context
  back to NCW), with a ``[B, 1, L, L]`` padding mask and without a mask;

at batch 1, 8, 32 and length 128, 512, in float32 and float16. Times are
medians over CUDA-event-timed samples after warm-up; TFLOP/s count each
candidate's own FLOPs (the dense Linear does 4x the grouped work). Prints a
Markdown table and writes JSON. The goals (reported, not asserted): the
convolution at least as fast as conv1d(groups=4) and at least 3x faster than
the dense Linear; the attention no slower than SDPA.

float32 runs with TF32 on for all candidates by default (``--tf32 off`` for
full float32 everywhere): the Triton kernels follow
``torch.backends.cuda.matmul.allow_tf32``, cuDNN follows
``torch.backends.cudnn.allow_tf32``; this script sets both.

Usage (from the repository root, with the package and triton==3.7.1
installed, on a machine with a CUDA GPU)::

    python benchmarks/gpu_bench.py                  # all cases, table + gpu_bench.json
    python benchmarks/gpu_bench.py --quick          # B 8, L 128 and 512 only
    python benchmarks/gpu_bench.py --run-tests      # the GPU tests, then the benchmark

The GPU tests alone: ``TRITON_INTERPRET=0 python -m pytest tests/test_triton_ops.py tests/test_shared_ops.py -k triton -q``
(tests/conftest.py turns Triton's CPU interpreter on only when
TRITON_INTERPRET is unset; 0 means compiled kernels on the GPU).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from typing import Callable, Dict, List, Optional

TEST_COMMAND = [sys.executable, "-m", "pytest", "tests/test_triton_ops.py", "tests/test_shared_ops.py", "-k", "triton",
                "-q"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEVICE = "cuda"


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "on", "yes")


def run_tests() -> int:
    """Runs the Triton tests (tests/test_triton_ops.py and the shared tests' triton cases) on the GPU
    (TRITON_INTERPRET=0)."""
    env = dict(os.environ, TRITON_INTERPRET="0")
    print("$ TRITON_INTERPRET=0 " + " ".join(["python"] + TEST_COMMAND[1:]), flush=True)
    return subprocess.call(TEST_COMMAND, cwd=ROOT, env=env)


def time_ms(fn: Callable[[], object], samples: int, warmup: int) -> float:
    """Median milliseconds per call: CUDA events around batches of calls
    long enough (about 1 ms) for the events' resolution."""
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    inner = max(1, min(1000, int(1.0 / max(start.elapsed_time(end), 1e-3))))
    times = []
    for _ in range(samples):
        start.record()
        for _ in range(inner):
            fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / inner)
    return statistics.median(times)


def conv_rows(T, dtype, batches, lengths, samples, warmup) -> List[Dict]:
    import torch
    import torch.nn.functional as F

    rows = []
    for cin, cout in ((768, 768), (768, 3072), (3072, 768)):
        groups = 4
        torch.manual_seed(0)
        w = torch.randn(cout, cin // groups, 1, device=DEVICE, dtype=dtype) / (cin // groups) ** 0.5
        b = torch.randn(cout, device=DEVICE, dtype=dtype)
        linear = torch.nn.Linear(cin, cout, device=DEVICE, dtype=dtype)
        for batch in batches:
            for length in lengths:
                x = torch.randn(batch, cin, length, device=DEVICE, dtype=dtype)
                x_blc = x.transpose(1, 2).contiguous()
                flops = 2 * batch * length * cout * cin // groups
                with torch.no_grad():
                    ours = T.grouped_pw_conv(x, w, b, groups)
                    ref = F.conv1d(x, w, b, groups=groups)
                    err = (ours.float() - ref.float()).abs().max().item()
                    t_ours = time_ms(lambda: T.grouped_pw_conv(x, w, b, groups), samples, warmup)
                    t_cudnn = time_ms(lambda: F.conv1d(x, w, b, groups=groups), samples, warmup)
                    t_dense = time_ms(lambda: linear(x_blc), samples, warmup)
                rows.append(dict(
                    op="conv", case=f"{cin}->{cout} g{groups}", dtype=str(dtype).split(".")[-1], batch=batch,
                    length=length, triton_ms=t_ours, conv1d_ms=t_cudnn, linear_ms=t_dense,
                    triton_tflops=flops / t_ours / 1e9, conv1d_tflops=flops / t_cudnn / 1e9,
                    linear_tflops=4 * flops / t_dense / 1e9,
                    speedup_vs_conv1d=t_cudnn / t_ours, speedup_vs_linear=t_dense / t_ours, max_abs_err=err,
                    goal_met=t_ours <= t_cudnn and t_dense / t_ours >= 3.0,
                ))
                print(_row_line(rows[-1]), flush=True)
    return rows


def attention_rows(T, dtype, batches, lengths, samples, warmup, channels=768, heads=12) -> List[Dict]:
    import torch
    import torch.nn.functional as F

    d = channels // heads
    rows = []
    for batch in batches:
        for length in lengths:
            torch.manual_seed(0)
            q, k, v = (torch.randn(batch, channels, length, device=DEVICE, dtype=dtype) for _ in range(3))
            padded = torch.zeros(batch, 1, length, length, device=DEVICE, dtype=dtype)
            padded[-1, ..., length - length // 4:] = torch.finfo(dtype).min  # last row padded by a quarter
            for mask_name, mask in (("padding [B,1,L,L]", padded), ("none", None)):

                def heads_last(t):
                    return t.view(batch, heads, d, length).transpose(2, 3).contiguous()

                def sdpa():
                    out = F.scaled_dot_product_attention(heads_last(q), heads_last(k), heads_last(v),
                                                         attn_mask=mask)
                    return out.transpose(2, 3).reshape(batch, channels, length)

                flops = 4 * batch * channels * length * length
                with torch.no_grad():
                    ours = T.fused_attention(q, k, v, mask, heads)
                    err = (ours.float() - sdpa().float()).abs().max().item()
                    t_ours = time_ms(lambda: T.fused_attention(q, k, v, mask, heads), samples, warmup)
                    t_sdpa = time_ms(sdpa, samples, warmup)
                rows.append(dict(
                    op="attention", case=f"C{channels} H{heads} mask {mask_name}", dtype=str(dtype).split(".")[-1],
                    batch=batch, length=length, triton_ms=t_ours, sdpa_ms=t_sdpa,
                    triton_tflops=flops / t_ours / 1e9, sdpa_tflops=flops / t_sdpa / 1e9,
                    speedup_vs_sdpa=t_sdpa / t_ours, max_abs_err=err, goal_met=t_ours <= t_sdpa,
                ))
                print(_row_line(rows[-1]), flush=True)
    return rows


def _row_line(r: Dict) -> str:
    if r["op"] == "conv":
        return (f"conv {r['case']} {r['dtype']} B{r['batch']} L{r['length']}: triton {r['triton_ms']:.4f} ms "
                f"({r['triton_tflops']:.1f} TF/s), conv1d {r['conv1d_ms']:.4f} ms, linear {r['linear_ms']:.4f} ms")
    return (f"attention {r['case']} {r['dtype']} B{r['batch']} L{r['length']}: triton {r['triton_ms']:.4f} ms "
            f"({r['triton_tflops']:.1f} TF/s), sdpa {r['sdpa_ms']:.4f} ms")


def markdown(rows: List[Dict]) -> str:
    out = []
    conv = [r for r in rows if r["op"] == "conv"]
    if conv:
        out += ["### Grouped 1x1 convolution (NCW), TFLOP/s and speedups (time ratios)", "",
                "| case | dtype | B | L | Triton ms | Triton TF/s | conv1d TF/s | Linear (4x FLOPs) TF/s "
                "| vs conv1d | vs Linear | max err | goal |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in conv:
            out.append(f"| {r['case']} | {r['dtype']} | {r['batch']} | {r['length']} | {r['triton_ms']:.4f} "
                       f"| {r['triton_tflops']:.1f} | {r['conv1d_tflops']:.1f} | {r['linear_tflops']:.1f} "
                       f"| {r['speedup_vs_conv1d']:.2f}x | {r['speedup_vs_linear']:.2f}x | {r['max_abs_err']:.1e} "
                       f"| {'met' if r['goal_met'] else 'NOT met'} |")
        out.append("")
    attention = [r for r in rows if r["op"] == "attention"]
    if attention:
        out += ["### Attention (NCW in and out), TFLOP/s and speedup (time ratio)", "",
                "| case | dtype | B | L | Triton ms | Triton TF/s | SDPA + transposes TF/s | vs SDPA "
                "| max err | goal |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for r in attention:
            out.append(f"| {r['case']} | {r['dtype']} | {r['batch']} | {r['length']} | {r['triton_ms']:.4f} "
                       f"| {r['triton_tflops']:.1f} | {r['sdpa_tflops']:.1f} | {r['speedup_vs_sdpa']:.2f}x "
                       f"| {r['max_abs_err']:.1e} | {'met' if r['goal_met'] else 'NOT met'} |")
        out.append("")
    return "\n".join(out)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="GPU tests: TRITON_INTERPRET=0 python -m pytest tests/test_triton_ops.py tests/test_shared_ops.py -k triton -q "
               "(or --run-tests). Goals are reported in the table, not asserted.",
    )
    parser.add_argument("--json", default="gpu_bench.json", help="where to write the results (default %(default)s)")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float16"],
                        choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--lengths", nargs="+", type=int, default=[128, 512])
    parser.add_argument("--ops", nargs="+", default=["conv", "attention"], choices=["conv", "attention"])
    parser.add_argument("--tf32", choices=["on", "off"], default="on",
                        help="TF32 for float32 in Triton, cuBLAS and cuDNN alike (default %(default)s)")
    parser.add_argument("--samples", type=int, default=30, help="timed samples per candidate (median taken)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls before timing")
    parser.add_argument("--quick", action="store_true", help="batch 8 only")
    parser.add_argument("--run-tests", action="store_true",
                        help="first run the Triton tests on the GPU (TRITON_INTERPRET=0)")
    parser.add_argument("--tests-only", action="store_true", help="run the GPU tests and exit")
    args = parser.parse_args(argv)

    if _interpreting():
        sys.exit("gpu_bench: TRITON_INTERPRET is set; unset it (or set TRITON_INTERPRET=0) to time the compiled "
                 "kernels on the GPU.")
    import torch

    if not torch.cuda.is_available():
        sys.exit("gpu_bench: no CUDA GPU (torch.cuda.is_available() is False). This benchmark times the Triton "
                 "kernels on a GPU; on a CPU-only machine run the interpreter tests instead: "
                 "python -m pytest tests/test_triton_ops.py")
    if args.run_tests or args.tests_only:
        rc = run_tests()
        if args.tests_only:
            return rc
        if rc != 0:
            print(f"gpu_bench: the GPU tests failed (exit status {rc}); benchmarking anyway", flush=True)

    sys.path.insert(0, ROOT)
    from sqbert_kernels import triton_ops as T

    tf32 = args.tf32 == "on"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    batches = [8] if args.quick else args.batches
    device = torch.cuda.get_device_name()
    print(f"# {device}, torch {torch.__version__}, triton {__import__('triton').__version__}, "
          f"TF32 {args.tf32}", flush=True)
    rows = []
    for name in args.dtypes:
        dtype = getattr(torch, name)
        if "conv" in args.ops:
            rows += conv_rows(T, dtype, batches, args.lengths, args.samples, args.warmup)
        if "attention" in args.ops:
            rows += attention_rows(T, dtype, batches, args.lengths, args.samples, args.warmup)
    table = markdown(rows)
    print()
    print(f"## {device} (TF32 {args.tf32} for float32)")
    print()
    print(table)
    met = sum(r["goal_met"] for r in rows)
    print(f"goals met in {met} of {len(rows)} cases")
    with open(args.json, "w") as f:
        json.dump(dict(device=device, torch=torch.__version__, triton=__import__("triton").__version__,
                       tf32=tf32, rows=rows), f, indent=1)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

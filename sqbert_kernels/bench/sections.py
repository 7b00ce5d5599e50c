"""The report's sections (convolutions, attention, whole model): each sweeps
its cases over thread counts, batches and lengths, and returns a row of
results per case, printing a line per row as it goes."""
from typing import List

import torch

from .cases import SQUEEZEBERT_CONVS, attention_case, conv_case, model_case, sgemm_case
from .timing import time_case


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
                for cin, cout, groups in SQUEEZEBERT_CONVS:
                    case = conv_case(cin, cout, batch, length, groups)
                    # The sgemm ceiling is timed in the same rounds as the case.
                    case.candidates["torch.mm 1024^3"] = ceiling.candidates["torch.mm"]
                    times = time_case(case, rounds)
                    mm_gflops = ceiling.flops / times.pop("torch.mm 1024^3") / 1e9
                    row = {
                        "case": case.name, "threads": nthreads, "batch": batch, "length": length,
                        "cin": cin, "cout": cout, "groups": groups, "gflop": case.flops / 1e9,
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
    return (f"  {row['cin']:>4}->{row['cout']:<4} g{row['groups']} B{row['batch']} L{row['length']:<4} "
            f"packed {best:7.3f} ms {gf['sqbert packed']:6.1f} GF/s "
            f"({gf['sqbert packed'] / row['sgemm_gflops']:4.0%} of mm {row['sgemm_gflops']:.0f}) | "
            f"per-call {gf['sqbert']:6.1f} | conv1d {gf['conv1d']:6.1f} | bmm {gf['bmm']:6.1f} GF/s | "
            f"vs linear {best / ms['linear (dense)']:.2f}x time, "
            f"conv1d/packed {ms['conv1d'] / best:.2f}x, conv1d/per-call {ms['conv1d'] / ms['sqbert']:.2f}x")

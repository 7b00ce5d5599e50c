"""The report's sections (convolutions, attention, whole model, whole model
on a batch of mixed lengths): each sweeps
its cases over thread counts, batches and lengths, and returns a row of
results per case, printing a line per row as it goes.

Every ratio is a speedup (higher is better): row["speedup"][ours][other] is
other's median time over ours, "ours x faster than other". Every row holds
each candidate's spread over the rounds (slowest / fastest round) and the
warnings of :mod:`.noise` when it is over the limit. "gflops" of an int8
candidate are its multiply-adds as operations per second (GOP/s), counted
as the float32 ones' FLOPs."""
import statistics
from typing import Dict, List

import torch

from . import noise
from .cases import SQUEEZEBERT_CONVS, attention_case, conv_case, mixed_case, model_case, sgemm_case
from .timing import calibrate, medians, time_case_rounds

SGEMM = "torch.mm 1024^3"


def speedups(ms: Dict[str, float], ours: List[str]) -> Dict[str, Dict[str, float]]:
    """Each of ours over every other candidate: other's time / ours."""
    return {o: {k: v / ms[o] for k, v in ms.items() if k != o} for o in ours if o in ms}


def _faster(row: dict, ours: str, others: List[str]) -> str:
    s = row["speedup"][ours]
    return f"{ours} x faster than: " + ", ".join(f"{k} {s[k]:.2f}x" for k in others if k in s)


def _spread_cell(row: dict) -> str:
    cell = noise.format_spread(row["spread"])
    if row.get("sgemm_variation") is not None:
        cell += f", sgemm varied {row['sgemm_variation']:.0%}"
    return cell + ("  !! NOISY: " + "; ".join(row["warnings"]) if row["warnings"] else "")


@torch.no_grad()
def attention_report(threads: List[int], batches: List[int], lengths: List[int], rounds: int,
                     progress=print) -> List[dict]:
    rows = []
    for nthreads in threads:
        torch.set_num_threads(nthreads)
        for batch in batches:
            for length in lengths:
                case = attention_case(batch, length)
                samples = time_case_rounds(case, rounds)
                times = medians(samples)
                spread = noise.spreads(samples)
                ms = {k: v * 1e3 for k, v in times.items()}
                row = {"case": case.name, "threads": nthreads, "batch": batch, "length": length,
                       "rounds": rounds, "gflop": case.flops / 1e9, "ms": ms,
                       "gflops": {k: case.flops / v / 1e9 for k, v in times.items()},
                       "speedup": speedups(ms, ["sqbert fused", "sqbert fused unpadded"]),
                       "spread": spread, "warnings": noise.row_warnings(spread)}
                rows.append(row)
                progress(format_attention_row(row))
    return rows


def format_attention_row(row: dict) -> str:
    ms, others = row["ms"], ["HF eager", "SDPA + transposes"]
    return (f"  attention t{row['threads']} B{row['batch']} L{row['length']:<4} ms: "
            + ", ".join(f"{k} {v:.3f}" for k, v in ms.items())
            + f" | sqbert fused {row['gflops']['sqbert fused']:.1f} GF/s | "
            + _faster(row, "sqbert fused", others) + " | "
            + _faster(row, "sqbert fused unpadded", others) + " | " + _spread_cell(row))


@torch.no_grad()
def model_report(threads: List[int], batches: List[int], lengths: List[int], rounds: int, checkpoint=None,
                 compile_hf=False, onnx=False, progress=print) -> List[dict]:
    rows = []
    for nthreads in threads:
        torch.set_num_threads(nthreads)
        for batch in batches:
            for length in lengths:
                case = model_case(batch, length, checkpoint, compile_hf, onnx, progress)
                samples = time_case_rounds(case, rounds)
                times = medians(samples)
                spread = noise.spreads(samples)
                ms = {k: v * 1e3 for k, v in times.items()}
                row = {"case": case.name, "model": case.label, "threads": nthreads, "batch": batch,
                       "length": length, "rounds": rounds, "ms": ms,
                       "gflop": {k: f / 1e9 for k, f in case.model_flops.items()},
                       "speedup": speedups(ms, ["sqbert_kernels", "sqbert int8"]), "skipped": case.skipped,
                       "spread": spread, "warnings": noise.row_warnings(spread)}
                rows.append(row)
                progress(format_model_row(row))
    return rows


def _faster_than(row: dict, name: str) -> str:
    """" (ours 1.23x, ... faster)": each of ours x faster than candidate name."""
    ratios = [f"{ours} {s[name]:.2f}x" for ours, s in row["speedup"].items() if name in s]
    return f" ({', '.join(ratios)} faster)" if ratios else ""


def _skipped_cells(row: dict) -> str:
    return "".join(f" | {k} skipped ({why})" for k, why in row.get("skipped", {}).items())


def format_model_row(row: dict) -> str:
    cells = [f"{k} {v:.1f} ms" + _faster_than(row, k) for k, v in row["ms"].items()]
    return (f"  model t{row['threads']} B{row['batch']} L{row['length']}: " + " | ".join(cells) + _skipped_cells(row)
            + " | " + _spread_cell(row))


@torch.no_grad()
def mixed_report(threads: List[int], rounds: int, checkpoint=None, onnx=False, progress=print) -> List[dict]:
    """The mixed-lengths case (cases.mixed_case) at each thread count: ms and
    sequences per second (batch / median time). The case is built once and
    each candidate called once untimed (its warm-up and calibration) before
    the rounds of the first thread count: at batch 32 a call of the
    baselines takes seconds."""
    torch.set_num_threads(threads[0])
    case = mixed_case(checkpoint, onnx, threads, progress)
    batch, length = len(case.lengths), case.padded_length
    rows, calls = [], None
    for nthreads in threads:
        torch.set_num_threads(nthreads)
        if calls is None:
            calls = calibrate(case, warmup=False)
        else:  # a fresh ONNX Runtime session for this thread count
            for name, fn in case.candidates.items():
                if name.startswith("ONNX Runtime"):
                    fn()
        samples = time_case_rounds(case, rounds, calls=calls)
        times = medians(samples)
        spread = noise.spreads(samples)
        ms = {k: v * 1e3 for k, v in times.items()}
        row = {"case": case.name, "model": case.label, "threads": nthreads, "batch": batch, "length": length,
               "lengths": case.lengths, "tokens": sum(case.lengths), "rounds": rounds, "ms": ms,
               "seq_per_s": {k: batch / v for k, v in times.items()},
               "speedup": speedups(ms, ["sqbert_kernels", "sqbert int8"]), "skipped": case.skipped,
               "spread": spread, "warnings": noise.row_warnings(spread)}
        rows.append(row)
        progress(format_mixed_row(row))
    return rows


def format_mixed_row(row: dict) -> str:
    cells = [f"{k} {v:.1f} ms {row['seq_per_s'][k]:.1f} seq/s" + _faster_than(row, k) for k, v in row["ms"].items()]
    return (f"  mixed t{row['threads']} B{row['batch']} L{row['length']} ({row['tokens']} real tokens): "
            + " | ".join(cells) + _skipped_cells(row) + " | " + _spread_cell(row))


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
                    case.candidates[SGEMM] = ceiling.candidates["torch.mm"]
                    samples = time_case_rounds(case, rounds)
                    spread = noise.spreads(samples)
                    mm_rounds = [ceiling.flops / t / 1e9 for t in samples.pop(SGEMM)]
                    times = medians(samples)
                    mm_gflops = statistics.median(mm_rounds)
                    sgemm_variation = noise.variation(mm_rounds)
                    ms = {k: v * 1e3 for k, v in times.items()}
                    row = {
                        "case": case.name, "threads": nthreads, "batch": batch, "length": length,
                        "cin": cin, "cout": cout, "groups": groups, "rounds": rounds, "gflop": case.flops / 1e9,
                        "sgemm_gflops": mm_gflops, "sgemm_gflops_rounds": mm_rounds,
                        "sgemm_variation": sgemm_variation,
                        "ms": ms,
                        "gflops": {k: case.flops / v / 1e9 for k, v in times.items() if k != "linear (dense)"},
                        "speedup": speedups(ms, ["sqbert packed", "sqbert", "sqbert int8"]),
                        "spread": spread,
                        "warnings": noise.row_warnings(spread, sgemm_variation),
                    }
                    rows.append(row)
                    progress(format_conv_row(row))
    return rows


def format_conv_row(row: dict) -> str:
    ms, gf = row["ms"], row["gflops"]
    return (f"  {row['cin']:>4}->{row['cout']:<4} g{row['groups']} B{row['batch']} L{row['length']:<4} "
            f"sqbert packed {ms['sqbert packed']:7.3f} ms {gf['sqbert packed']:6.1f} GF/s "
            f"({gf['sqbert packed'] / row['sgemm_gflops']:4.0%} of torch.mm {row['sgemm_gflops']:.0f}) | GF/s: "
            f"sqbert {gf['sqbert']:6.1f}, conv1d {gf['conv1d']:6.1f}, bmm {gf['bmm']:6.1f} | "
            f"sqbert int8 {ms['sqbert int8']:7.3f} ms {gf['sqbert int8']:6.1f} GOP/s | "
            + _faster(row, "sqbert packed", ["conv1d", "bmm", "linear (dense)"]) + " | "
            + _faster(row, "sqbert", ["conv1d"]) + " | " + _faster(row, "sqbert int8", ["sqbert packed"]) + " | "
            + _spread_cell(row))

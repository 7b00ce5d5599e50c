"""How sqbert-bench times a case: its candidates interleaved, round after
round, medians (and each candidate's seconds per round, for the spread)."""
import statistics
import time
from typing import Dict, List, Optional

import torch

from .cases import Case


def calibrate(case: Case, min_round_s: float = 0.02, warmup: bool = True) -> Dict[str, int]:
    """Calls per round of each candidate (enough for min_round_s), from one
    timed call after a warm-up call (pack, allocate, pick algorithms); with
    warmup=False the timed call is the warm-up too (for long calls, where
    the first one's extra work is small and a second call costs seconds)."""
    calls = {}
    for name, fn in case.candidates.items():
        if warmup:
            fn()
        start = time.perf_counter()
        fn()
        once = time.perf_counter() - start
        calls[name] = max(1, int(min_round_s / max(once, 1e-7)))
    return calls


def time_case_rounds(case: Case, rounds: int, min_round_s: float = 0.02,
                     calls: Optional[Dict[str, int]] = None) -> Dict[str, List[float]]:
    """Seconds per call of each candidate in each round, rounds interleaved;
    calls per round from calibrate (warm-up included) unless given."""
    if calls is None:
        calls = calibrate(case, min_round_s)
    samples = {name: [] for name in case.candidates}
    for _ in range(rounds):
        for name, fn in case.candidates.items():
            # Each round starts without the OpenMP threads of the candidate
            # before, which spin for milliseconds on the cores this one's
            # threads (torch's or the package's pool) need.
            torch.ops.sqbert._release_openmp_threads()
            start = time.perf_counter()
            for _ in range(calls[name]):
                fn()
            samples[name].append((time.perf_counter() - start) / calls[name])
    return samples


def medians(samples: Dict[str, List[float]]) -> Dict[str, float]:
    return {name: statistics.median(s) for name, s in samples.items()}


def time_case(case: Case, rounds: int, min_round_s: float = 0.02) -> Dict[str, float]:
    """Median seconds per call of each candidate, rounds interleaved."""
    return medians(time_case_rounds(case, rounds, min_round_s))

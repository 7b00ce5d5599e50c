"""How sqbert-bench times a case: its candidates interleaved, round after
round, medians (and each candidate's seconds per round, for the spread)."""
import statistics
import time
from typing import Dict, List

from .cases import Case


def time_case_rounds(case: Case, rounds: int, min_round_s: float = 0.02) -> Dict[str, List[float]]:
    """Seconds per call of each candidate in each round, rounds interleaved."""
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
    return samples


def medians(samples: Dict[str, List[float]]) -> Dict[str, float]:
    return {name: statistics.median(s) for name, s in samples.items()}


def time_case(case: Case, rounds: int, min_round_s: float = 0.02) -> Dict[str, float]:
    """Median seconds per call of each candidate, rounds interleaved."""
    return medians(time_case_rounds(case, rounds, min_round_s))

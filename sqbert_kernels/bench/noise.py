"""Is the machine quiet enough to trust a run? Pure functions on timings.

A case's candidates are timed in interleaved rounds and reported by their
medians; the spread of a candidate is the upper quartile of its rounds over
the lower one, which one stray round (common on a shared machine, and
harmless to a median) does not move. On a busy machine the spread grows, the
sgemm ceiling (torch.mm, timed in the same rounds as each convolution)
moves, and more threads come out slower than fewer: any of these and the
ratios of the run mean little."""
import statistics
from typing import Dict, Iterable, List, Optional

SPREAD_LIMIT = 1.2  # upper over lower quartile of a candidate's rounds
SGEMM_LIMIT = 0.1  # interquartile range over the median of the ceiling's GFLOP/s
THREADS_LIMIT = 1.3  # more threads this many times slower than fewer


def quartiles(values: List[float]):
    """The lower quartile, median and upper quartile (inclusive: defined from 2 values)."""
    return statistics.quantiles(values, n=4, method="inclusive")


def spreads(samples: Dict[str, List[float]]) -> Dict[str, Optional[float]]:
    """Each candidate's upper quartile over its lower one (None under 2 rounds)."""
    out = {}
    for name, s in samples.items():
        q1, _, q3 = quartiles(s) if len(s) >= 2 else (0, 0, 0)
        out[name] = q3 / q1 if q1 > 0 else None
    return out


def variation(values: List[float]) -> Optional[float]:
    """The interquartile range over the median, None under 2 values."""
    if len(values) < 2:
        return None
    q1, mid, q3 = quartiles(values)
    return (q3 - q1) / mid if mid > 0 else None


def row_warnings(spread: Dict[str, Optional[float]], sgemm_variation: Optional[float] = None,
                 limit: float = SPREAD_LIMIT, sgemm_limit: float = SGEMM_LIMIT) -> List[str]:
    """Warnings for one case: candidates over the spread limit, a moving ceiling."""
    out = [f"{name} spread {s:.3f}x > {limit:.2f}x" for name, s in spread.items() if s is not None and s > limit]
    if sgemm_variation is not None and sgemm_variation > sgemm_limit:
        out.append(f"sgemm ceiling varied {sgemm_variation:.0%} > {sgemm_limit:.0%} over rounds")
    return out


def thread_warnings(rows: Iterable[dict], limit: float = THREADS_LIMIT, mark: bool = False) -> List[str]:
    """Rows of one section ({"case", "threads", "ms": {candidate: ms}}) where
    more threads took over `limit` times as long as fewer on the same case;
    with `mark`, each such warning is added to the slower row's "warnings"."""
    by_case: Dict[str, List[dict]] = {}
    for r in rows:
        # A case's name does not carry its thread count.
        by_case.setdefault(r["case"], []).append(r)
    out = []
    for name, group in by_case.items():
        group = sorted(group, key=lambda r: r["threads"])
        for fewer, more in zip(group, group[1:]):
            if more["threads"] <= fewer["threads"]:
                continue
            for cand, ms in more["ms"].items():
                base = fewer["ms"].get(cand)
                if base and ms > limit * base:
                    w = f"{cand} {ms / base:.1f}x slower with {more['threads']} threads than with {fewer['threads']}"
                    out.append(f"{name}: {w}")
                    if mark and w not in more.setdefault("warnings", []):
                        more["warnings"].append(w)
    return out


def assess(sections: Dict[str, List[dict]]) -> dict:
    """The run's verdict from its sections' rows (each row's "warnings", to
    which the rows slower with more threads than with fewer get theirs)."""
    warnings = []
    for rows in sections.values():
        thread_warnings(rows, mark=True)
        for r in rows:
            warnings += [f"{r['case']} t{r['threads']}: {w}" for w in r.get("warnings", [])]
    return {"noisy": bool(warnings), "warnings": warnings, "spread_limit": SPREAD_LIMIT,
            "sgemm_limit": SGEMM_LIMIT, "threads_limit": THREADS_LIMIT}


def max_spread(spread: Dict[str, Optional[float]]) -> Optional[float]:
    values = [s for s in spread.values() if s is not None]
    return max(values) if values else None


def format_spread(spread: Dict[str, Optional[float]], limit: float = SPREAD_LIMIT) -> str:
    worst = max_spread(spread)
    if worst is None:
        return "spread n/a (1 round)"
    return f"spread {worst:.2f}x"

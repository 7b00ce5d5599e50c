"""Prints, after the pytest-benchmark tables, each group's candidates as
ratios against the group's baselines: on a shared machine only figures
taken side by side in one run compare."""
import pytest
import torch


@pytest.fixture
def threads(request):
    """Runs a benchmark with torch's intra-op pool at request.param threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(previous)


def pytest_terminal_summary(terminalreporter, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups = {}
    for bench in session.benchmarks:
        if bench.stats is not None and bench.stats.rounds:
            groups.setdefault(bench.group, {})[bench.extra_info["candidate"]] = bench
    write = terminalreporter.write_line
    write("")
    write("sqbert ratios (median time of the baseline / median time of sqbert; >1 means sqbert is faster)")
    for group, benches in sorted(groups.items()):
        cells = [f"{name} {b.extra_info['flops'] / b.stats.median / 1e9:.1f} GF/s" for name, b in benches.items()
                 if name != "linear (dense)"]
        write(f"{group}: " + ", ".join(cells))
        for ours in ("sqbert packed", "sqbert", "sqbert fused", "sqbert fused unpadded", "sqbert_kernels"):
            if ours not in benches:
                continue
            mine = benches[ours].stats.median
            ratios = [f"{name} {b.stats.median / mine:.2f}x" for name, b in benches.items()
                      if not name.startswith("sqbert")]
            write(f"    {ours}: " + ", ".join(ratios))

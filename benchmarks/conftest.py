"""The benchmarks' shape matrix, the thread-count fixture, and, after the
pytest-benchmark tables, each group's candidates as ratios against the
group's baselines: on a shared machine only figures taken side by side in
one run compare.

A benchmark takes any of the arguments ``threads``, ``batch`` and ``length``;
pytest_generate_tests below gives them their values from the matrix:

- ``default`` (``pytest --benchmark-only``, a few minutes): the headline
  shapes, batch 1 length 128 at 1 thread, and the cases a test adds with
  ``@pytest.mark.bench_default((threads, batch, length), ...)``;
- ``full`` (``--bench-matrix=full``, or SQBERT_BENCH_MATRIX=full; tens of
  minutes): threads 1 and 2, batch 1 and 8, length 128 and 512.

The run prints the number of benchmarks it collected and an estimate of how
long they take.
"""
import itertools
import os

import pytest
import torch

SHAPE_ARGS = ("threads", "batch", "length")
MATRICES = {
    "default": [(1, 1, 128)],
    "full": list(itertools.product([1, 2], [1, 8], [128, 512])),
}
ENV_MATRIX = "SQBERT_BENCH_MATRIX"

# Rough seconds per call of each benchmark at batch 1, length 128 (measured
# on a shared 2-core x86_64 machine), scaled by the work; not divided by the
# threads (2 threads on a shared machine are as often slower as faster). The
# estimate only has to tell minutes from hours.
CALL_S = {"test_sgemm_ceiling": 0.025, "test_grouped_pw_conv": 0.001, "test_fused_attention": 0.002,
          "test_model": 0.14}
# test_model's candidates against this package's model.
MODEL_FACTOR = {"sqbert int8": 0.5, "HF SqueezeBERT": 1.7, "HF BERT-base": 3.2, "HF BERT-base int8 (FBGEMM)": 1.0}
# Seconds to build a model case (this package's model and its int8 copy,
# Hugging Face's SqueezeBERT and BERT-base, BERT-base in int8, and their
# FLOP counts), once per batch and length.
MODEL_SETUP_S = 14.0


def pytest_addoption(parser):
    parser.addoption(
        "--bench-matrix", choices=sorted(MATRICES), default=os.environ.get(ENV_MATRIX) or "default",
        help="the benchmarks' shapes: 'default' (batch 1, length 128, 1 thread: a few minutes) or 'full' "
             f"(threads 1 2 x batch 1 8 x length 128 512: tens of minutes); default from ${ENV_MATRIX}, "
             "else 'default'")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "bench_default(*cases): (threads, batch, length) cases the default benchmark matrix adds "
                   "for this benchmark")
    config._sqbert_full_counts = {}
    matrix = config.getoption("bench_matrix")
    if matrix not in MATRICES:  # from the environment: argparse checks the option only
        raise pytest.UsageError(f"{ENV_MATRIX}={matrix!r}: expected one of {', '.join(sorted(MATRICES))}")


def _shape_values(metafunc, matrix):
    names = [name for name in SHAPE_ARGS if name in metafunc.fixturenames]
    cases = list(MATRICES[matrix])
    if matrix == "default":
        for marker in metafunc.definition.iter_markers("bench_default"):
            cases.extend(tuple(case) for case in marker.args)
    values = []
    for case in cases:
        value = tuple(case[SHAPE_ARGS.index(name)] for name in names)
        if value not in values:
            values.append(value)
    return names, values


def pytest_generate_tests(metafunc):
    if "benchmark" not in metafunc.fixturenames:
        return
    names, values = _shape_values(metafunc, metafunc.config.getoption("bench_matrix"))
    if not names:
        return
    # For the line printed at collection: how many the full matrix would hold.
    metafunc.config._sqbert_full_counts[metafunc.definition.nodeid] = (
        len(values), len(_shape_values(metafunc, "full")[1]))
    prefix = {"threads": "t", "batch": "B", "length": "L"}
    ids = ["-".join(f"{prefix[name]}{v}" for name, v in zip(names, value)) for value in values]
    metafunc.parametrize(names, values, indirect=["threads"] if "threads" in names else False, ids=ids)


@pytest.fixture
def threads(request):
    """Runs a benchmark with torch's intra-op pool at request.param threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(previous)


def _estimate_s(item, max_time, min_rounds, models_built):
    """Rough seconds one benchmark takes: pytest-benchmark repeats a call for
    max_time seconds and at least min_rounds times, after a calibration;
    test_model runs 1 warmup and 5 rounds, after building its case."""
    params = getattr(item, "callspec", None)
    params = params.params if params else {}
    batch, length = params.get("batch", 1), params.get("length", 128)
    name = item.originalname
    scale = batch * length / 128
    if name == "test_fused_attention":
        scale *= length / 128
    call = CALL_S.get(name, 0.01) * scale
    if name == "test_model":
        setup = 0.0
        if (batch, length) not in models_built:
            models_built.add((batch, length))
            setup = MODEL_SETUP_S * max(1.0, scale / 4)
        return setup + 6 * call * MODEL_FACTOR.get(params.get("candidate"), 1.0)
    return 0.2 + max(max_time, min_rounds * call) + 2 * call


def pytest_collection_finish(session):
    config = session.config
    items = [item for item in session.items if "benchmark" in getattr(item, "fixturenames", ())]
    try:
        off = config.getoption("benchmark_skip") or config.getoption("benchmark_disable")
        off = off and not (config.getoption("benchmark_only") or config.getoption("benchmark_enable"))
        max_time, min_rounds = config.getoption("benchmark_max_time"), config.getoption("benchmark_min_rounds")
    except ValueError:  # pytest-benchmark not installed
        return
    if not items or off or config.getoption("collectonly"):
        return
    matrix = config.getoption("bench_matrix")
    full = 0
    for item in items:
        here, there = config._sqbert_full_counts.get(item.parent.nodeid + "::" + item.originalname, (1, 1))
        full += there / here
    models_built = set()
    total = sum(_estimate_s(item, float(max_time), int(min_rounds), models_built) for item in items)
    other = (f"--bench-matrix=full: {round(full)} benchmarks" if matrix == "default"
             else "--bench-matrix=default: the headline shapes only")
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"sqbert benchmarks: {len(items)} (matrix '{matrix}'; {other}), "
                            f"about {total / 60:.0f} min ({total:.0f} s, a rough estimate)")


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
        cells = [f"{name} {b.extra_info['flops'] / b.stats.median / 1e9:.1f} {'GOP/s' if 'int8' in name else 'GF/s'}"
                 for name, b in benches.items() if name != "linear (dense)"]
        write(f"{group}: " + ", ".join(cells))
        for ours in ("sqbert packed", "sqbert", "sqbert int8", "sqbert fused", "sqbert fused unpadded",
                     "sqbert_kernels"):
            if ours not in benches:
                continue
            mine = benches[ours].stats.median
            # int8 against every other candidate, this package's float32 ones too; float32 against the baselines.
            ratios = [f"{name} {b.stats.median / mine:.2f}x" for name, b in benches.items()
                      if name != ours and (ours == "sqbert int8" or not name.startswith("sqbert"))]
            write(f"    {ours}: " + ", ".join(ratios))

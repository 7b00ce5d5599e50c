"""What a bare ``pytest`` (no paths: pyproject.toml's testpaths) collects.

``pytest`` runs the tests (tests/) only; ``pytest --benchmark-only`` runs the
benchmarks (benchmarks/) only, with the short default matrix (see
benchmarks/conftest.py: ``--bench-matrix=full`` for every shape);
``pytest --benchmark-enable`` runs both. Paths given on the command line are
collected as given (``pytest tests``, ``pytest benchmarks --benchmark-only``).

Kept free of imports of torch and the package: tests/conftest.py must set
TRITON_INTERPRET before they load.
"""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


def _benchmark_option(config, name):
    # pytest-benchmark's options (absent if the plugin is not installed).
    try:
        return bool(config.getoption(name))
    except ValueError:
        return False


def pytest_configure(config):
    # Paths given on the command line (or pytest run from another directory)
    # are left alone: only a bare `pytest` in the root reads testpaths.
    # testpaths still names both folders, so that both conftests (and the
    # options benchmarks/conftest.py adds) load at startup.
    if config.args_source != pytest.Config.ArgsSource.TESTPATHS:
        return
    if _benchmark_option(config, "benchmark_only"):
        # Every test would be skipped: not even collected.
        folders = ["benchmarks"]
    elif _benchmark_option(config, "benchmark_enable"):
        folders = ["tests", "benchmarks"]
    else:
        folders = ["tests"]
    config.args = [arg for arg in config.args if (ROOT / arg).resolve() in [ROOT / f for f in folders]]


def pytest_report_header(config):
    if config.args_source != pytest.Config.ArgsSource.TESTPATHS:
        return None
    collected = {(ROOT / arg).resolve().name for arg in config.args}
    if "benchmarks" not in collected:
        return "benchmarks/: not collected (pytest --benchmark-only runs them)"
    if "tests" not in collected:
        return "tests/: not collected (--benchmark-only)"
    return None

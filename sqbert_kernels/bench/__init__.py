"""Benchmark cases and the ``sqbert-bench`` report.

The cases are shared with ``benchmarks/`` (pytest-benchmark): each is a set of
candidates doing the same work, timed side by side in one run, because these
machines are shared and noisy and only ratios taken together mean anything.

:mod:`.cases` defines the cases (and the mixed-lengths batch), :mod:`.timing` times them, :mod:`.sections`
sweeps them into rows of results, :mod:`.noise` judges whether the machine
was quiet enough to trust them (spreads over rounds), :mod:`.machine` says
what it was, :mod:`.report` writes those as tables and a chart, and
:mod:`.cli` is the command (``sqbert-bench``, or ``python -m
sqbert_kernels.bench``).
"""
from .cases import (SQUEEZEBERT_CONVS, Case, attention_case, conv_case, count_flops, mixed_case, mixed_lengths,
                    model_case, sgemm_case)
from .cli import main
from .report import draw_chart, markdown_tables
from .sections import attention_report, conv_report, format_conv_row, mixed_report, model_report
from .timing import calibrate, time_case, time_case_rounds

__all__ = [
    "SQUEEZEBERT_CONVS",
    "Case",
    "attention_case",
    "attention_report",
    "calibrate",
    "conv_case",
    "conv_report",
    "count_flops",
    "draw_chart",
    "format_conv_row",
    "main",
    "markdown_tables",
    "mixed_case",
    "mixed_lengths",
    "mixed_report",
    "model_case",
    "model_report",
    "sgemm_case",
    "time_case",
    "time_case_rounds",
]

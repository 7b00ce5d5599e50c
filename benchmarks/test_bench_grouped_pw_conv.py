"""Grouped 1x1 convolution latency against conv1d, one bmm over the groups
and BERT-base's dense nn.Linear, at 1 and 2 threads, for SqueezeBERT's
shapes: pytest benchmarks --benchmark-only"""
import pytest
import torch

from sqbert_kernels.bench import SQUEEZEBERT_SHAPES, conv_case, sgemm_case

CANDIDATES = ["sqbert packed", "sqbert", "conv1d", "bmm", "linear (dense)"]


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_sgemm_ceiling(benchmark, threads):
    case = sgemm_case()
    benchmark.group = f"mm 1024^3 t{threads}"
    benchmark.extra_info.update(candidate="torch.mm", flops=case.flops)
    benchmark(case.candidates["torch.mm"])


@pytest.mark.parametrize("candidate", CANDIDATES)
@pytest.mark.parametrize("cin,cout", SQUEEZEBERT_SHAPES)
@pytest.mark.parametrize("length", [128, 512])
@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_grouped_pw_conv(benchmark, threads, batch, length, cin, cout, candidate):
    case = conv_case(cin, cout, batch, length)
    benchmark.group = f"{case.name} t{threads}"
    benchmark.extra_info.update(candidate=candidate, flops=case.flops)
    with torch.no_grad():
        benchmark(case.candidates[candidate])

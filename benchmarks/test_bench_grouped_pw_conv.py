"""Grouped 1x1 convolution latency (float32, and int8) against conv1d, one
bmm over the groups and BERT-base's dense nn.Linear, for SqueezeBERT's shapes: pytest
--benchmark-only (batch 1, length 128, 1 thread; --bench-matrix=full: 1 and 2
threads, batch 1 and 8, length 128 and 512)"""
import pytest
import torch

from sqbert_kernels.bench import SQUEEZEBERT_CONVS, conv_case, sgemm_case

CANDIDATES = ["sqbert packed", "sqbert int8", "sqbert", "conv1d", "bmm", "linear (dense)"]


def test_sgemm_ceiling(benchmark, threads):
    case = sgemm_case()
    benchmark.group = f"mm 1024^3 t{threads}"
    benchmark.extra_info.update(candidate="torch.mm", flops=case.flops)
    benchmark(case.candidates["torch.mm"])


# threads, batch and length: from the matrix (benchmarks/conftest.py).
@pytest.mark.parametrize("candidate", CANDIDATES)
@pytest.mark.parametrize("cin,cout,groups", SQUEEZEBERT_CONVS)
def test_grouped_pw_conv(benchmark, threads, batch, length, cin, cout, groups, candidate):
    case = conv_case(cin, cout, batch, length, groups)
    benchmark.group = f"{case.name} t{threads}"
    benchmark.extra_info.update(candidate=candidate, flops=case.flops)
    with torch.no_grad():
        benchmark(case.candidates[candidate])

"""Fused attention from NCW q, k, v to the NCW context against Hugging Face's
eager composition and scaled_dot_product_attention with the transposes it
needs: pytest benchmarks --benchmark-only"""
import pytest
import torch

from sqbert_kernels.bench import attention_case

CANDIDATES = ["sqbert fused", "sqbert fused unpadded", "HF eager", "SDPA + transposes"]


@pytest.mark.parametrize("candidate", CANDIDATES)
@pytest.mark.parametrize("length", [128, 512])
@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_fused_attention(benchmark, threads, batch, length, candidate):
    case = attention_case(batch, length)
    benchmark.group = f"{case.name} t{threads}"
    benchmark.extra_info.update(candidate=candidate, flops=case.flops)
    with torch.no_grad():
        benchmark(case.candidates[candidate])

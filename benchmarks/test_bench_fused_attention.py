"""Fused attention from NCW q, k, v to the NCW context against Hugging Face's
eager composition and scaled_dot_product_attention with the transposes it
needs: pytest --benchmark-only (batch 1, length 128, 1 thread;
--bench-matrix=full: 1 and 2 threads, batch 1 and 8, length 128 and 512)"""
import pytest
import torch

from sqbert_kernels.bench import attention_case

CANDIDATES = ["sqbert fused", "sqbert fused unpadded", "HF eager", "SDPA + transposes"]


# threads, batch and length: from the matrix (benchmarks/conftest.py).
@pytest.mark.parametrize("candidate", CANDIDATES)
def test_fused_attention(benchmark, threads, batch, length, candidate):
    case = attention_case(batch, length)
    benchmark.group = f"{case.name} t{threads}"
    benchmark.extra_info.update(candidate=candidate, flops=case.flops)
    with torch.no_grad():
        benchmark(case.candidates[candidate])

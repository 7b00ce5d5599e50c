"""The whole base model: this package against Hugging Face's SqueezeBERT on
the same weights and BERT-base: pytest benchmarks --benchmark-only"""
import functools

import pytest
import torch

from sqbert_kernels.bench import model_case

CANDIDATES = ["sqbert_kernels", "HF SqueezeBERT", "HF BERT-base"]


@functools.lru_cache(maxsize=None)
def cached_case(batch, length):
    return model_case(batch, length, progress=lambda _: None)


@pytest.mark.parametrize("candidate", CANDIDATES)
@pytest.mark.parametrize("length", [128, 512])
@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_model(benchmark, threads, batch, length, candidate):
    case = cached_case(batch, length)
    if candidate not in case.candidates:
        pytest.skip("transformers is not installed")
    benchmark.group = f"{case.name} t{threads}"
    benchmark.extra_info.update(candidate=candidate, flops=case.model_flops[candidate])
    with torch.no_grad():
        benchmark.pedantic(case.candidates[candidate], rounds=5, warmup_rounds=1)

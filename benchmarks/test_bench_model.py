"""The whole base model: this package's, float32 and int8, against Hugging
Face's SqueezeBERT on the same weights and BERT-base, float32 and int8:
pytest --benchmark-only (batch 1, length 128 at 1 and 2 threads;
--bench-matrix=full: batch 1 and 8, length 128 and 512)"""
import functools

import pytest
import torch

from sqbert_kernels.bench import model_case

CANDIDATES = ["sqbert_kernels", "sqbert int8", "HF SqueezeBERT", "HF BERT-base", "HF BERT-base int8 (FBGEMM)"]


@functools.lru_cache(maxsize=None)
def cached_case(batch, length):
    return model_case(batch, length, progress=lambda _: None)


# threads, batch and length: from the matrix (benchmarks/conftest.py); the
# default one has the model at 2 threads too.
@pytest.mark.bench_default((2, 1, 128))
@pytest.mark.parametrize("candidate", CANDIDATES)
def test_model(benchmark, threads, batch, length, candidate):
    case = cached_case(batch, length)
    if candidate not in case.candidates:
        pytest.skip(case.skipped[candidate])
    benchmark.group = f"{case.name} t{threads}"
    benchmark.extra_info.update(candidate=candidate, flops=case.model_flops[candidate])
    with torch.no_grad():
        benchmark.pedantic(case.candidates[candidate], rounds=5, warmup_rounds=1)

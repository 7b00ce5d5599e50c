"""Interleaved A/B of the models' query, key and value: one
grouped_pw_convs_packed (or _q8) call against three convolution calls, the
float32 and the int8 base model at B1 L128, one and two threads; 15 rounds
of 3 forwards, alternating which goes first.

    python benchmarks/qkv_ab.py [--rounds 15]
"""
import argparse
import statistics
import time

import torch

import sqbert_kernels as sk
from sqbert_kernels import encoder


def separate(self, x):
    return tuple(conv(x) for conv in (self.query, self.key, self.value))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    fused = encoder.SqueezeBertSelfAttention._query_key_value
    torch.manual_seed(0)
    models = {"float": sk.SqueezeBertModel(sk.SqueezeBertConfig(vocab_size=30528)).eval(),
              "int8": sk.quantize(sk.SqueezeBertModel(sk.SqueezeBertConfig(vocab_size=30528)).eval())}
    ids = torch.randint(1, 30522, (1, 128))
    try:
        with torch.inference_mode():
            for threads in (1, 2):
                torch.set_num_threads(threads)
                for name, model in models.items():
                    times = {"separate": [], "fused": []}
                    for i in range(args.rounds):
                        for variant in (("separate", "fused") if i % 2 == 0 else ("fused", "separate")):
                            encoder.SqueezeBertSelfAttention._query_key_value = (
                                separate if variant == "separate" else fused)
                            model(ids)
                            start = time.perf_counter()
                            for _ in range(3):
                                model(ids)
                            times[variant].append((time.perf_counter() - start) / 3)
                    a, b = statistics.median(times["separate"]), statistics.median(times["fused"])
                    print(f"{threads}t {name}: three calls {a * 1e3:.2f} ms, one call {b * 1e3:.2f} ms, "
                          f"one / three {b / a:.3f}")
    finally:
        encoder.SqueezeBertSelfAttention._query_key_value = fused


if __name__ == "__main__":
    main()

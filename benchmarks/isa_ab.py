"""Interleaved A/B of two float32 kernel sets (default: avx512f and avx2) on
the base model and the ops at B1 L128, one and two threads: each round
times both, in alternating order; prints medians and their ratio.

    python benchmarks/isa_ab.py [--rounds 9] [--isas avx512f avx2]
"""
import argparse
import statistics
import time

import torch

import sqbert_kernels as sk


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--isas", nargs=2, default=["avx512f", "avx2"])
    args = parser.parse_args()
    a, b = args.isas
    torch.manual_seed(0)
    model = sk.SqueezeBertModel(sk.SqueezeBertConfig(vocab_size=30528)).eval()
    ids = torch.randint(1, 30522, (1, 128))
    x, r = torch.randn(1, 768, 128), torch.randn(1, 768, 128)
    weights = [torch.randn(768, 192, 1), torch.randn(3072, 192, 1), torch.randn(768, 768, 1)]
    packed = {isa: [sk.pack_pw_weight(w, None, 4, isa) for w in weights] for isa in (a, b)}
    cases = {  # name: (fn, calls a timing)
        "model": (lambda: model(ids), 1),
        "conv 768->768 g4": (lambda: sk.grouped_pw_conv_packed(x, packed[sk.cpu_isa()][0], 768), 20),
        "ffn 768->3072->768 g4": (lambda: sk.grouped_pw_ffn_packed(
            x, packed[sk.cpu_isa()][1], packed[sk.cpu_isa()][2], 3072, 768, "gelu"), 5),
        "attention": (lambda: sk.fused_attention(x, r, x, None, 12), 20),
    }
    previous = sk.cpu_isa()
    try:
        with torch.inference_mode():
            for threads in (1, 2):
                torch.set_num_threads(threads)
                for name, (fn, calls) in cases.items():
                    times = {a: [], b: []}
                    for i in range(args.rounds):
                        for isa in ((a, b) if i % 2 == 0 else (b, a)):
                            sk.set_cpu_isa(isa)
                            fn()
                            start = time.perf_counter()
                            for _ in range(calls):
                                fn()
                            times[isa].append((time.perf_counter() - start) / calls)
                    ta, tb = statistics.median(times[a]), statistics.median(times[b])
                    print(f"{threads}t {name:22} {a} {ta * 1e3:8.3f} ms  {b} {tb * 1e3:8.3f} ms  {b}/{a} {tb / ta:.2f}x")
    finally:
        sk.set_cpu_isa(previous)


if __name__ == "__main__":
    main()

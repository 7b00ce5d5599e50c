"""Interleaved A/B of the two runtimes on an idle machine, two threads: the
package's pool against OpenMP (at::parallel_for). Each round times both, in
alternating order, each after --settle-ms asleep (OpenMP's threads spin for
milliseconds after a call and would take the other runtime's cores); prints
the median and quartiles of the paired ratio pool / OpenMP and each median.

    python benchmarks/runtime_ab.py [--rounds 30] [--settle-ms 20]

Cases: the ops at B1 L128 (20 back-to-back calls, after 3 untimed ones),
the float32 and int8 base models (one forward), and the float model right
after a torch op at two threads (a 512x512 matmul), as in a pipeline.
"""
import argparse
import statistics
import time

import torch

import sqbert_kernels as sk


def cases():
    """{name: (fn, calls a timing, before)}: before runs untimed first."""
    torch.manual_seed(0)
    x, r, gamma, beta = torch.randn(1, 768, 128), torch.randn(1, 768, 128), torch.randn(768), torch.randn(768)
    w, w1, w2 = torch.randn(768, 192, 1) / 14, torch.randn(3072, 192, 1) / 14, torch.randn(768, 768, 1) / 28
    p, p1, p2 = (sk.pack_pw_weight(v, None, 4) for v in (w, w1, w2))
    q, q1, q2 = (sk.quantize_pw_weight(v, None, 4) for v in (w, w1, w2))
    model = sk.SqueezeBertModel(sk.SqueezeBertConfig(vocab_size=30528)).eval()
    int8 = sk.quantize(sk.SqueezeBertModel(sk.SqueezeBertConfig(vocab_size=30528)).eval())
    ids = torch.randint(1, 30522, (1, 128))
    a = torch.randn(512, 512)
    return {
        "add_layernorm": (lambda: sk.add_layernorm(x, r, gamma, beta, 1e-12), 20, None),
        "conv 768->768 g4": (lambda: sk.grouped_pw_conv_packed(x, p, 768), 20, None),
        "conv q8 768->768 g4": (lambda: sk.grouped_pw_conv_q8(x, q, 768), 20, None),
        "ffn 768->3072->768 g4": (lambda: sk.grouped_pw_ffn_packed(x, p1, p2, 3072, 768, "gelu"), 20, None),
        "ffn q8": (lambda: sk.grouped_pw_ffn_q8(x, q1, q2, 3072, 768, "gelu"), 20, None),
        "attention": (lambda: sk.fused_attention(x, r, x, None, 12), 20, None),
        "model": (lambda: model(ids), 1, None),
        "model int8": (lambda: int8(ids), 1, None),
        "model after a torch matmul": (lambda: model(ids), 1, lambda: a @ a),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--settle-ms", type=float, default=20)
    args = parser.parse_args()
    previous = torch.get_num_threads(), sk.cpu_threading()
    torch.set_num_threads(2)
    try:
        timed = cases()
        with torch.inference_mode():
            for name, (fn, calls, before) in timed.items():
                times = {"pool": [], "openmp": []}
                for i in range(args.rounds):
                    for runtime in (("openmp", "pool") if i % 2 == 0 else ("pool", "openmp")):
                        sk.set_cpu_threading(runtime)
                        for _ in range(3 if calls > 1 else 1):
                            fn()
                        time.sleep(args.settle_ms / 1e3)
                        if before is not None:
                            before()
                        start = time.perf_counter()
                        for _ in range(calls):
                            fn()
                        times[runtime].append((time.perf_counter() - start) / calls)
                ratios = [p / o for p, o in zip(times["pool"], times["openmp"])]
                q1, _, q3 = statistics.quantiles(ratios, n=4)
                print(f"{name:27} pool/OpenMP {statistics.median(ratios):.3f} [{q1:.3f} .. {q3:.3f}]  "
                      f"pool {statistics.median(times['pool']) * 1e3:8.3f} ms  "
                      f"OpenMP {statistics.median(times['openmp']) * 1e3:8.3f} ms")
    finally:
        torch.set_num_threads(previous[0])
        sk.set_cpu_threading(previous[1])


if __name__ == "__main__":
    main()

"""Ops at one and two threads beside a busy neighbour: another process
running torch.mm on two threads, started and stopped by this script, as a
second inference worker on the same machine would be.

    python benchmarks/neighbour_bench.py [--rounds 15] [--neighbour-threads 2]

For each case (the packed convolutions on SqueezeBERT's shapes, the
attention, conv1d and torch.mm as references) and each of 1 and 2 threads,
the median and best of `--rounds` calls, first with the machine as it is,
then beside the neighbour. Prints each median and the two-thread median over
the one-thread median in each condition."""
import argparse
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

import sqbert_kernels as sk

NEIGHBOUR = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
a = torch.randn(1024, 1024)
while True:
    a @ a
"""


def cases():
    torch.manual_seed(0)
    out = {}
    for cin, cout, groups in ((768, 768, 4), (768, 3072, 4), (3072, 768, 4)):
        x = torch.randn(1, cin, 128)
        w = torch.randn(cout, cin // groups, 1) / (cin // groups) ** 0.5
        packed = sk.pack_pw_weight(w, None, groups)
        out[f"packed {cin}->{cout} g{groups}"] = lambda x=x, p=packed, c=cout: sk.grouped_pw_conv_packed(x, p, c)
        if (cin, cout) == (768, 768):
            out[f"conv1d {cin}->{cout} g{groups}"] = lambda x=x, w=w, g=groups: F.conv1d(x, w, groups=g)
    q, k, v = (torch.randn(1, 768, 128) for _ in range(3))
    out["attention B1 L128"] = lambda: sk.fused_attention(q, k, v, None, 12)
    a = torch.randn(384, 768)
    b = torch.randn(768, 512)
    out["torch.mm 384x768x512"] = lambda: a @ b
    return out


def time_rounds(fn, rounds):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def measure(fns, rounds):
    """{(case, threads): (median, best)}, threads interleaved case by case."""
    out = {}
    with torch.no_grad():
        for name, fn in fns.items():
            for threads in (1, 2):
                torch.set_num_threads(threads)
                fn()
                out[name, threads] = time_rounds(fn, rounds)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15, help="calls timed per case and thread count")
    parser.add_argument("--neighbour-threads", type=int, default=2, help="threads of the neighbour's torch.mm")
    args = parser.parse_args()
    fns = cases()
    quiet = measure(fns, args.rounds)
    neighbour = subprocess.Popen([sys.executable, "-c", NEIGHBOUR, str(args.neighbour_threads)],
                                 env=dict(os.environ, OMP_NUM_THREADS=str(args.neighbour_threads)))
    try:
        time.sleep(1.0)
        busy = measure(fns, args.rounds)
    finally:
        neighbour.kill()
        neighbour.wait()
    print(f"medians (best) in ms over {args.rounds} calls; 2t/1t = two-thread median over one-thread median")
    print(f"{'case':26} {'quiet 1t':>16} {'quiet 2t':>16} {'2t/1t':>6}   {'busy 1t':>16} {'busy 2t':>16} {'2t/1t':>6}")
    for name in fns:
        row = [f"{name:26}"]
        for results in (quiet, busy):
            (m1, b1), (m2, b2) = results[name, 1], results[name, 2]
            row.append(f"{m1 * 1e3:7.3f} ({b1 * 1e3:6.3f}) {m2 * 1e3:7.3f} ({b2 * 1e3:6.3f}) {m2 / m1:6.2f}")
        print(" ".join(row[:1]) + " " + "   ".join(row[1:]))


if __name__ == "__main__":
    main()

"""The varlen attention against the padded fused attention, interleaved.

    python benchmarks/varlen_bench.py [--rounds 60] [--threads 2] [--batch 8] [--length 128] [--seed 0]

SqueezeBERT's attention (768 channels, 12 heads). Two cases:

- equal: `--batch` sequences of `--length` positions: ``fused_attention`` on
  ``[B, C, L]`` with no mask against ``fused_attention_varlen`` on the same
  sequences laid one after another in ``[1, C, B*L]``;
- mixed: lengths drawn uniformly from 1 .. `--length` (seeded; the longest
  set to `--length`): ``fused_attention`` on the padded ``[B, C, Lmax]`` with
  transformers' ``[B, 1, 1, Lmax]`` padding mask (its keys past each row's
  length are skipped, its padded queries are not) against the varlen op on
  the ``sum(lengths)`` positions.

Each round times one call of each, in alternating order, after a few
untimed calls; prints the median times, the median of the per-round ratios
varlen / padded, and their spread (25th-75th and 10th-90th percentiles).
"""
import argparse
import time

import torch

import sqbert_kernels as sk

CHANNELS, HEADS = 768, 12


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def interleave(rounds, padded, varlen):
    for _ in range(3):
        padded()
        varlen()
    t_padded, t_varlen = [], []
    for r in range(rounds):
        order = (padded, varlen) if r % 2 else (varlen, padded)
        for fn in order:
            start = time.perf_counter()
            fn()
            (t_padded if fn is padded else t_varlen).append(time.perf_counter() - start)
    return t_padded, t_varlen


def report(name, t_padded, t_varlen):
    ratios = [v / p for p, v in zip(t_padded, t_varlen)]
    print(f"{name}: padded median {percentile(t_padded, 50) * 1e3:.3f} ms, "
          f"varlen median {percentile(t_varlen, 50) * 1e3:.3f} ms")
    print(f"  varlen / padded: median {percentile(ratios, 50):.3f}, "
          f"25-75% {percentile(ratios, 25):.3f}-{percentile(ratios, 75):.3f}, "
          f"10-90% {percentile(ratios, 10):.3f}-{percentile(ratios, 90):.3f} ({len(ratios)} rounds)")


def packed(t, lengths):
    """[B, C, Lmax] rows' first lengths[b] positions one after another: [1, C, sum]."""
    return torch.cat([t[b:b + 1, :, :n] for b, n in enumerate(lengths)], dim=2).contiguous()


def offsets_of(lengths):
    return torch.tensor([0] + list(lengths), dtype=torch.int64).cumsum(0).to(torch.int32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    B, L = args.batch, args.length
    print(f"C {CHANNELS}, {HEADS} heads, {args.threads} threads, kernels {sk.cpu_isa()}")

    q, k, v = (torch.randn(B, CHANNELS, L) for _ in range(3))
    lengths = [L] * B
    qv, kv, vv = (packed(t, lengths) for t in (q, k, v))
    offsets = offsets_of(lengths)
    with torch.no_grad():
        want = packed(sk.fused_attention(q, k, v, None, HEADS), lengths)
        assert torch.allclose(sk.fused_attention_varlen(qv, kv, vv, offsets, HEADS), want, rtol=1e-5, atol=1e-6)
        report(f"equal lengths B{B} L{L}",
               *interleave(args.rounds, lambda: sk.fused_attention(q, k, v, None, HEADS),
                           lambda: sk.fused_attention_varlen(qv, kv, vv, offsets, HEADS)))

    lengths = torch.randint(1, L + 1, (B,)).tolist()
    lengths[0] = L
    mask = torch.zeros(B, 1, 1, L)
    for b, n in enumerate(lengths):
        mask[b, ..., n:] = torch.finfo(torch.float32).min
    qv, kv, vv = (packed(t, lengths) for t in (q, k, v))
    offsets = offsets_of(lengths)
    with torch.no_grad():
        want = packed(sk.fused_attention(q, k, v, mask, HEADS), lengths)
        assert torch.allclose(sk.fused_attention_varlen(qv, kv, vv, offsets, HEADS), want, rtol=1e-4, atol=1e-5)
        report(f"mixed lengths {lengths} (sum {sum(lengths)} of {B * L})",
               *interleave(args.rounds, lambda: sk.fused_attention(q, k, v, mask, HEADS),
                           lambda: sk.fused_attention_varlen(qv, kv, vv, offsets, HEADS)))


if __name__ == "__main__":
    main()

"""Where a forward pass spends its time: torch.profiler over Hugging Face's
SqueezeBERT and this package's, same random weights, batch 1, length 128,
one thread (the README's "Fusions, and where the time goes" table); then,
for this package's model, each op's wall time per forward as a timing
wrapper sees it, without the profiler's own cost.

    python benchmarks/profile_model.py [--threads N] [--batch B] [--length L] [--rows R]
"""
import argparse
import collections
import time

import torch
import transformers
from torch.profiler import profile

import sqbert_kernels as sk


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--rows", type=int, default=12)
    p.add_argument("--forwards", type=int, default=5)
    args = p.parse_args()
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    hf = transformers.SqueezeBertModel(transformers.SqueezeBertConfig(vocab_size=30528)).eval()
    ours = sk.SqueezeBertModel(sk.SqueezeBertConfig(vocab_size=30528)).eval()
    ours.load_state_dict(hf.state_dict())
    ids = torch.randint(1, 30522, (args.batch, args.length))
    for name, model in (("Hugging Face SqueezeBERT", hf), ("sqbert_kernels", ours)):
        with torch.no_grad():
            for _ in range(2):
                model(ids)
            with profile() as prof:
                for _ in range(args.forwards):
                    model(ids)
        print(f"{name}: {args.forwards} forwards (divide by {args.forwards} for one)")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows,
                                        max_name_column_width=32))
    op_wall_times(ours, ids, args.forwards)


def op_wall_times(model, ids, forwards):
    """Each sqbert op's wall time per forward, timed by a wrapper."""
    from sqbert_kernels import ops

    names = ["grouped_pw_ffn_packed", "grouped_pw_conv_packed", "fused_attention", "add_layernorm"]
    spent = collections.defaultdict(float)
    calls = collections.Counter()
    originals = {name: getattr(ops, name) for name in names}

    def timed(name, fn):
        def run(*args, **kwargs):
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            spent[name] += time.perf_counter() - start
            calls[name] += 1
            return out
        return run

    try:
        for name, fn in originals.items():
            setattr(ops, name, timed(name, fn))
        with torch.no_grad():
            model(ids)
            spent.clear()
            calls.clear()
            start = time.perf_counter()
            for _ in range(forwards):
                model(ids)
            total = (time.perf_counter() - start) / forwards
    finally:
        for name, fn in originals.items():
            setattr(ops, name, fn)
    print(f"sqbert_kernels, wall time per forward: {total * 1e3:.1f} ms")
    for name in names:
        print(f"  {name:24s} {spent[name] / forwards * 1e3:6.1f} ms  ({calls[name] // forwards} calls, "
              f"{spent[name] / max(1, calls[name]) * 1e6:.0f} us a call)")
    rest = total - sum(spent.values()) / forwards
    print(f"  {'everything else':24s} {rest * 1e3:6.1f} ms")


if __name__ == "__main__":
    main()

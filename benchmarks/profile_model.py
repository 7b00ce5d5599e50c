"""Where a forward pass spends its time: torch.profiler over Hugging Face's
SqueezeBERT, this package's and its int8 copy (sk.quantize), same random
weights, batch 1, length 128, one thread (the README's "Fusions, and where the
time goes" table); then this package's float32 and int8 forwards side by side
per op kind; then, for each, each op's wall time per forward as a timing
wrapper sees it, without the profiler's own cost. How an int8 convolution
splits between quantizing its input and the GEMM: benchmarks/cpp/kernels_bench.sh
(its qs8 lines: the quantizer's ns an element, the int8 GEMM's GMAC/s).

    python benchmarks/profile_model.py [--threads N] [--batch B] [--length L] [--rows R]
"""
import argparse
import collections
import copy
import time

import torch
import transformers
from torch.profiler import profile, record_function

import sqbert_kernels as sk

# Op kinds, each the profiler's names of its float32 and int8 ops.
KINDS = {
    "1x1 convolutions": ["sqbert::grouped_pw_conv_packed", "sqbert::grouped_pw_conv_q8"],
    "feed-forward op": ["sqbert::grouped_pw_ffn_packed", "sqbert::grouped_pw_ffn_q8"],
    "attention": ["sqbert::fused_attention"],
    "LayerNorm": ["sqbert::add_layernorm"],
}


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
    models = {"Hugging Face SqueezeBERT": hf, "sqbert_kernels": ours, "sqbert int8": sk.quantize(copy.deepcopy(ours))}
    ids = torch.randint(1, 30522, (args.batch, args.length))
    kinds = {}
    for name, model in models.items():
        with torch.no_grad():
            for _ in range(2):
                model(ids)
            with profile() as prof:
                for _ in range(args.forwards):
                    with record_function("forward"):
                        model(ids)
        print(f"{name}: {args.forwards} forwards (divide by {args.forwards} for one)")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows,
                                        max_name_column_width=32))
        kinds[name] = kind_times(prof, args.forwards)
    print_kinds({name: kinds[name] for name in ("sqbert_kernels", "sqbert int8")})
    for name in ("sqbert_kernels", "sqbert int8"):
        op_wall_times(name, models[name], ids, args.forwards)


def kind_times(prof, forwards):
    """ms per forward in each op kind (the ops' time with their children),
    the rest (embeddings, reshapes, Python) being the forward's less those."""
    spent = {e.key: e.cpu_time_total for e in prof.key_averages()}
    times = {kind: sum(spent.get(op, 0) for op in ops) for kind, ops in KINDS.items()}
    times["embeddings and the rest"] = spent["forward"] - sum(times.values())
    times["forward"] = spent["forward"]
    return {kind: us / forwards / 1e3 for kind, us in times.items()}


def print_kinds(kinds):
    names = list(kinds)
    print("per op kind, ms per forward under the profiler: " + " | ".join(names))
    for kind in list(KINDS) + ["embeddings and the rest", "forward"]:
        cells = [f"{kinds[n][kind]:7.1f} ({kinds[n][kind] / kinds[n]['forward']:4.0%})" for n in names]
        print(f"  {kind:24s} " + " | ".join(cells))
    print()


def op_wall_times(label, model, ids, forwards):
    """Each sqbert op's wall time per forward, timed by a wrapper."""
    from sqbert_kernels import ops

    names = [op.split("::")[1] for kind_ops in KINDS.values() for op in kind_ops]
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
    print(f"{label}, wall time per forward: {total * 1e3:.1f} ms")
    for name in names:
        if calls[name]:
            print(f"  {name:24s} {spent[name] / forwards * 1e3:6.1f} ms  ({calls[name] // forwards} calls, "
                  f"{spent[name] / calls[name] * 1e6:.0f} us a call)")
    rest = total - sum(spent.values()) / forwards
    print(f"  {'everything else':24s} {rest * 1e3:6.1f} ms")


if __name__ == "__main__":
    main()

"""Interleaved A/B of the drop-in model between two revisions of the Python
package (model.py and the modules it imports from the package, ops.py aside),
on the installed extension: for changes on the Python side of the model.

    python benchmarks/ab/model_ab.py OLD NEW [--batch 1] [--length 128] [--rounds 15] [--threads 1] [--mask]

OLD and NEW are git revisions, or `.` for the working tree. Each round
times one forward of each (best of 5 calls), alternating which goes first;
prints the median, the spread (max/min - 1) and NEW/OLD."""
import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import torch

import sqbert_kernels as sk

ROOT = Path(__file__).resolve().parents[2]


def load_model_module(rev: str, workdir: Path):
    """model.py of `rev`, and the modules it imports from the package, as a
    package of their own; the extension and ops.py, which register the ops
    (once per process), are the installed package's."""
    source = ROOT / "sqbert_kernels" if rev == "." else workdir / rev
    if rev != ".":
        source.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "sqbert_kernels"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
        source = source / "sqbert_kernels"
    name = f"sqbert_kernels._ab_{abs(hash((rev, str(source))))}"
    package = types.ModuleType(name)
    package.__path__ = [str(source)]
    sys.modules[name] = package
    for shared in ("_C", "ops"):
        sys.modules[f"{name}.{shared}"] = getattr(sk, shared)
        setattr(package, shared, getattr(sk, shared))
    return importlib.import_module(f"{name}.model")


def best_of(fn, calls=5):
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    parser.add_argument("--length", type=int, default=128, help="sequence length (default 128)")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--mask", action="store_true", help="pass an attention_mask of ones (no padding)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        modules = {"old": load_model_module(args.old, Path(tmp)), "new": load_model_module(args.new, Path(tmp))}
    config = dict(vocab_size=30522, num_hidden_layers=12)
    models = {}
    for key, module in modules.items():
        models[key] = module.SqueezeBertModel(module.SqueezeBertConfig(**config)).eval()
    models["new"].load_state_dict(models["old"].state_dict())
    ids = torch.randint(1, 30522, (args.batch, args.length))
    kwargs = {"attention_mask": torch.ones_like(ids)} if args.mask else {}
    times = {key: [] for key in models}
    with torch.no_grad():
        outs = {key: m(ids, **kwargs).last_hidden_state for key, m in models.items()}
        torch.testing.assert_close(outs["new"], outs["old"], rtol=1e-4, atol=1e-4)
        for r in range(args.rounds):
            order = ("old", "new") if r % 2 == 0 else ("new", "old")
            for key in order:
                times[key].append(best_of(lambda: models[key](ids, **kwargs)))
    med = {key: statistics.median(t) for key, t in times.items()}
    for key in ("old", "new"):
        rev = getattr(args, key)
        print(f"{key} ({rev}): median {med[key] * 1e3:8.3f} ms  best {min(times[key]) * 1e3:8.3f} ms  "
              f"spread {max(times[key]) / min(times[key]) - 1:6.1%}")
    print(f"new/old: median {med['new'] / med['old']:.4f}  best {min(times['new']) / min(times['old']):.4f}  "
          f"(B{args.batch} L{args.length}, {args.threads} thread(s), {args.rounds} rounds, kernels {sk.cpu_isa()})")


if __name__ == "__main__":
    main()

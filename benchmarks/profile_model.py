"""Where a forward pass spends its time: torch.profiler over Hugging Face's
SqueezeBERT and this package's, same random weights, batch 1, length 128,
one thread (the README's "Fusions, and where the time goes" table).

    python benchmarks/profile_model.py [--threads N] [--length L] [--rows R]
"""
import argparse

import torch
import transformers
from torch.profiler import profile

import sqbert_kernels as sk


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--rows", type=int, default=12)
    p.add_argument("--forwards", type=int, default=5)
    args = p.parse_args()
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    hf = transformers.SqueezeBertModel(transformers.SqueezeBertConfig(vocab_size=30528)).eval()
    ours = sk.SqueezeBertModel(sk.SqueezeBertConfig(vocab_size=30528)).eval()
    ours.load_state_dict(hf.state_dict())
    ids = torch.randint(1, 30522, (1, args.length))
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


if __name__ == "__main__":
    main()

"""Exports Hugging Face SqueezeBERT (base config, random weights) to a LiteRT
.tflite for one batch size at sequence length 128, for the LiteRT (XNNPACK)
rows of neighbour_bench.py. litert-torch pins an old typing-extensions, so
it runs in a venv of its own:

    python -m venv /tmp/litert && /tmp/litert/bin/pip install torch==2.13.0 litert-torch transformers
    /tmp/litert/bin/python benchmarks/litert_export.py squeezebert_b1_l128.tflite [--batch 1]

The runtime (`pip install ai-edge-litert`) goes beside this package. The
.tflite takes int32 ids (litert-torch narrows int64 inputs); the export is
checked against the torch model before it is written.
"""
import argparse

import numpy as np
import torch
import litert_torch
from ai_edge_litert.interpreter import Interpreter
from transformers import SqueezeBertConfig, SqueezeBertModel


class LastHiddenState(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids=input_ids).last_hidden_state


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--length", type=int, default=128)
    args = parser.parse_args()
    torch.manual_seed(0)
    config = SqueezeBertConfig()
    model = LastHiddenState(SqueezeBertModel(config).eval()).eval()
    ids = torch.randint(0, config.vocab_size, (args.batch, args.length))
    with torch.no_grad():
        want = model(ids).numpy()
    litert_torch.convert(model, (ids,)).export(args.path)
    interpreter = Interpreter(model_path=args.path)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    interpreter.set_tensor(inp["index"], ids.numpy().astype(inp["dtype"]))
    interpreter.invoke()
    diff = float(np.abs(interpreter.get_tensor(out["index"]) - want).max())
    print(f"{args.path}: max abs difference to torch {diff:.2e}")
    if not diff < 1e-3:
        raise SystemExit("the export does not match the torch model")


if __name__ == "__main__":
    main()

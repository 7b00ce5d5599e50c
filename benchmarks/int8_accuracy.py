"""How close the int8 models come to float32: this package's
``sqbert_kernels.quantize`` beside ONNX Runtime's ``quantize_dynamic`` of the
same float model exported to ONNX.

(a) The base config (transformers.SqueezeBertConfig() defaults, Hugging
    Face's random init, seed 0), batch 8, length 128, padded sentence pairs
    with Zipf-distributed word ids: per-token cosine of the last hidden state
    over the unpadded tokens (mean, min), the mean per-token cosine of the
    change the encoder makes (last hidden state - float embedding output),
    and the pooled output's relative error, each against float32.
(b) A small SqueezeBERT trained here on a task that needs attention over
    positions (int8_eval.py: is token A before token B?): held-out accuracy,
    agreement of the predictions with float32, and the logits' relative error.

ONNX Runtime rows: quantize_dynamic with int8 and uint8 weights, per-tensor
and per-channel, on the ops it quantizes by default (Conv, the pooler's
Gemm, the embeddings' Gather) and on the Conv nodes only (what sk.quantize
quantizes). Its ConvInteger takes a scalar weight zero point, so
per_channel=True leaves the convolutions per-tensor; ORT quantizes the
activations per tensor too (DynamicQuantizeLinear), sk.quantize per position.

    python benchmarks/int8_accuracy.py [--quick] [--json PATH] [--threads N]

--quick runs one ONNX Runtime variant (QInt8, per-tensor weights, the ops
it quantizes by default) and 1000 held-out examples instead of 4000.
ONNX Runtime is optional (pip install onnxruntime onnx): without it its
rows are left out with a note.
"""
import argparse
import json
import logging
import os
import sys
import tempfile
import time
import warnings

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import int8_eval as E  # noqa: E402

import sqbert_kernels as sk  # noqa: E402

OURS = "sqbert_kernels int8 (sk.quantize)"


def ort_variants(quick):
    """(weight type, per_channel, op types) for quantize_dynamic. None is
    ORT's default set (Conv, MatMul, Gather...: the embeddings too); ["Conv"]
    quantizes what sk.quantize does, the encoder convolutions only."""
    if quick:
        return [("QInt8", False, None)]
    return [(w, pc, ops) for ops in (None, ["Conv"]) for w in ("QInt8", "QUInt8") for pc in (False, True)]


def variant_name(weight, per_channel, op_types):
    return (f"ORT quantize_dynamic {weight} per_channel={per_channel} "
            f"({'Conv only' if op_types else 'default ops'})")


class Ort:
    """The float model exported to ONNX once, then quantize_dynamic variants
    of it; run() gives each output by name, or raises what ORT raised."""

    def __init__(self, model, inputs, output_names, folder):
        import onnxruntime  # noqa: F401  (fail here, not half way through)

        self.folder, self.inputs, self.output_names = folder, inputs, output_names
        self.path = os.path.join(folder, "f32.onnx")
        # Static shapes: every run below feeds these exact tensors, so the
        # tracer's warnings (shapes taken as constants) do not apply.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, tuple(inputs.values()), self.path, input_names=list(inputs),
                              output_names=output_names, dynamo=False)

    def run(self, path):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        out = session.run(self.output_names, {k: v.numpy() for k, v in self.inputs.items()})
        return {name: torch.from_numpy(o) for name, o in zip(self.output_names, out)}

    def quantized(self, weight, per_channel, op_types):
        from onnxruntime.quantization import QuantType, quantize_dynamic

        path = os.path.join(self.folder, f"q_{weight}_{per_channel}_{bool(op_types)}.onnx")
        logging.disable(logging.WARNING)  # its advice to pre-process the model, at every call
        try:
            quantize_dynamic(self.path, path, weight_type=QuantType[weight], per_channel=per_channel,
                             op_types_to_quantize=op_types)
        finally:
            logging.disable(logging.NOTSET)
        return self.run(path)


def ort_rows(make_ort, quick, metrics, log):
    """Rows for ORT float32 (the export's check) and each quantize_dynamic
    variant: metrics(outputs) -> dict, or the error a variant failed with."""
    try:
        ort = make_ort()
    except ImportError as e:
        log(f"  (ONNX Runtime rows skipped: {e}; pip install onnxruntime onnx)")
        return []
    rows = [dict(model="ORT float32 (export check)", **metrics(ort.run(ort.path)))]
    for variant in ort_variants(quick):
        name = variant_name(*variant)
        try:
            rows.append(dict(model=name, **metrics(ort.quantized(*variant))))
        except Exception as e:  # noqa: BLE001  (a variant ORT cannot build or run is a finding)
            rows.append(dict(model=name, error=f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"))
        log(f"  {name}: done")
    return rows


def base_section(quick, folder, log):
    hf, ours = E.base_models()
    inputs = E.base_inputs()
    with torch.no_grad():
        reference = E.BaseReference(ours, inputs)
        rows = [dict(model=OURS, **reference.metrics(E.int8_copy(ours)(**inputs)))]
    rows += ort_rows(lambda: Ort(hf, inputs, ["last_hidden_state", "pooler_output"], folder), quick,
                     reference.metrics, log)
    return dict(config=f"transformers.SqueezeBertConfig() defaults (12 layers, hidden 768, groups 4, vocab "
                       f"{hf.config.vocab_size}), transformers {transformers.__version__} init, seed 0",
                batch=8, length=128, tokens=int(inputs["attention_mask"].sum()), rows=rows)


def task_section(quick, folder, log):
    model, train_s = E.train_task_model()
    inputs, labels = E.task_data(1000 if quick else 4000, seed=E.HELD_OUT_SEED)
    f32 = E.logits(model, inputs)

    def metrics(logits):
        return E.task_metrics(logits, f32, labels)

    rows = [dict(model="sqbert_kernels float32", **metrics(f32)),
            dict(model=OURS, **metrics(E.logits(E.int8_copy(model), inputs)))]
    # The same weights in transformers' class (the same state-dict keys) for the ONNX export.
    hf = transformers.SqueezeBertForSequenceClassification(transformers.SqueezeBertConfig(**E.TASK_CONFIG)).eval()
    hf.load_state_dict(model.state_dict())
    rows += ort_rows(lambda: Ort(hf, inputs, ["logits"], folder), quick, lambda out: metrics(out["logits"]), log)
    return dict(config=E.TASK_CONFIG, train_steps=E.TRAIN_STEPS, train_batch=E.TRAIN_BATCH, train_s=train_s,
                train_threads=1, held_out=len(labels), rows=rows)


def fmt(value):
    return f"{value:.5f}" if isinstance(value, float) else str(value)


def print_table(title, rows, columns):
    print(f"\n{title}")
    width = max(len(r["model"]) for r in rows)
    print(f"  {'model':{width}}  " + "  ".join(f"{c:>14}" for c in columns))
    for r in rows:
        cells = r["error"] if "error" in r else "  ".join(f"{fmt(r[c]):>14}" for c in columns)
        print(f"  {r['model']:{width}}  {cells}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one ORT variant, 1000 held-out examples")
    p.add_argument("--json", help="write the figures to this file too")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    def log(line):
        print(line, file=sys.stderr, flush=True)

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        log("(a) base config")
        base = base_section(args.quick, folder, log)
        log("(b) trained task model")
        task = task_section(args.quick, folder, log)
    print(f"sqbert_kernels {sk.__version__}, torch {torch.__version__}, {args.threads} threads, "
          f"ISA {sk.cpu_isa()} (int8: {sk.cpu_isa('int8')}), {time.perf_counter() - start:.0f} s")
    print_table(f"(a) {base['config']}\n    B{base['batch']} L{base['length']}, {base['tokens']} unpadded tokens; "
                f"against float32", base["rows"], ["mean_cos", "min_cos", "change_cos", "pooled_rel_err"])
    print_table(f"(b) A-before-B task: {task['train_steps']} steps x {task['train_batch']} trained in "
                f"{task['train_s']:.1f} s at 1 thread; {task['held_out']} held-out examples",
                task["rows"], ["accuracy", "agreement", "logits_rel_err"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(base=base, task=task, torch=torch.__version__, threads=args.threads,
                           isa=sk.cpu_isa(), int8_isa=sk.cpu_isa("int8")), f, indent=1)


if __name__ == "__main__":
    main()

"""The ops and the model at one and two threads on a quiet machine, beside a
busy neighbour (another process running torch.mm on two threads, started
and stopped by this script, as a second inference worker on the same
machine would be) and with a simulated little core (one of the two threads
slowed by a known factor: sqbert_kernels._set_slow_thread).

    python benchmarks/neighbour_bench.py [--rounds 15] [--neighbour-threads 2]
        [--slow-factor 2] [--conditions quiet,neighbour,slow] [--calls 10]
        [--settle-ms 20] [--no-onnx] [--litert squeezebert_b1_l128.tflite]

Cases: the packed convolutions on SqueezeBERT's shapes (B1 L128, groups 4),
the attention, the base model (random weights), and as references conv1d,
torch.mm and (for the model) ONNX Runtime on Hugging Face SqueezeBERT's
export and, with --litert, LiteRT (XNNPACK) on its .tflite export
(benchmarks/litert_export.py). Variants: one thread; two threads on OpenMP
(set_cpu_threading("openmp"): at::parallel_for's static split) and on the
package's pool; the references at one and two threads. The timings are
interleaved round by round (each round times every variant of every case
once: an op as the mean of --calls back-to-back calls, the model as one
call, each after the OpenMP threads of the variant before are released
and --settle-ms asleep, as after an idle stretch: 0 times warm workers),
so slow stretches of a noisy machine hit them all. The
simulated little core slows thread 1 of this package's ops only (OpenMP's
thread 1, or the pool's first worker); the references run unslowed there.

Prints, per condition, each variant's median and best (ms), the spread
(median over best), and each two-thread median over the case's one-thread
median; and the pool's counters (how often a call waited for a range a
worker had claimed, and how long)."""
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

OURS = (("1t", 1, "pool"), ("2t openmp", 2, "openmp"), ("2t pool", 2, "pool"))
REFERENCE = (("1t", 1, None), ("2t", 2, None))


def cases(onnx, litert):
    """{name: (fn, variants, model?)}."""
    torch.manual_seed(0)
    out = {}
    for cin, cout, groups in ((768, 768, 4), (768, 3072, 4), (3072, 768, 4)):
        x = torch.randn(1, cin, 128)
        w = torch.randn(cout, cin // groups, 1) / (cin // groups) ** 0.5
        packed = sk.pack_pw_weight(w, None, groups)
        out[f"packed {cin}->{cout} g{groups}"] = (
            lambda x=x, p=packed, c=cout: sk.grouped_pw_conv_packed(x, p, c), OURS)
        if (cin, cout) == (768, 768):
            out[f"conv1d {cin}->{cout} g{groups}"] = (lambda x=x, w=w, g=groups: F.conv1d(x, w, groups=g), REFERENCE)
    q, k, v = (torch.randn(1, 768, 128) for _ in range(3))
    out["attention B1 L128"] = (lambda: sk.fused_attention(q, k, v, None, 12), OURS)
    a = torch.randn(384, 768)
    b = torch.randn(768, 512)
    out["torch.mm 384x768x512"] = (lambda: a @ b, REFERENCE)
    model = sk.SqueezeBertModel(sk.SqueezeBertConfig(vocab_size=30528)).eval()
    ids = torch.randint(1, 30522, (1, 128))
    out["model B1 L128"] = (lambda: model(ids), OURS)
    if onnx:
        sessions = onnx_sessions(model, ids)
        if sessions:
            feed = {"input_ids": ids.numpy()}
            out["ONNX Runtime model B1 L128"] = (
                {threads: (lambda s=s: s.run(None, feed)) for threads, s in sessions.items()}, REFERENCE)
    if litert:
        out["LiteRT model B1 L128"] = (litert_interpreters(litert), REFERENCE)
    return out


def litert_interpreters(path):
    """{threads: invoke} of LiteRT interpreters (XNNPACK) on the .tflite at
    `path`, fed random ids."""
    from ai_edge_litert.interpreter import Interpreter
    invokes = {}
    for threads in (1, 2):
        interpreter = Interpreter(model_path=path, num_threads=threads)
        interpreter.allocate_tensors()
        inp = interpreter.get_input_details()[0]
        interpreter.set_tensor(inp["index"], torch.randint(1, 30522, tuple(inp["shape"])).numpy().astype(inp["dtype"]))
        invokes[threads] = interpreter.invoke
    return invokes


def onnx_sessions(model, ids):
    """{threads: ONNX Runtime session} on HF SqueezeBERT's export with our
    model's weights, or {} when onnxruntime, onnx or transformers is missing."""
    try:
        import tempfile

        import onnxruntime
        import transformers
    except ImportError as e:
        print(f"(ONNX Runtime skipped: {e})")
        return {}
    transformers.logging.set_verbosity_error()
    hf = transformers.SqueezeBertModel(transformers.SqueezeBertConfig(**vars(model.config))).eval()
    hf.load_state_dict(model.state_dict())
    sessions = {}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        torch.onnx.export(hf, (ids,), path, input_names=["input_ids"], dynamo=False)
        for threads in (1, 2):
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            sessions[threads] = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return sessions


def call(fn, threads, runtime, calls, settle):
    """Seconds a call: the mean of `calls` back-to-back calls, as a model
    makes them, after `settle` seconds asleep (as after an idle stretch:
    the workers asleep; 0 times calls on warm workers)."""
    torch.set_num_threads(threads)
    if runtime is not None:
        sk.set_cpu_threading(runtime)
    f = fn[threads] if isinstance(fn, dict) else fn
    # The OpenMP threads of the variant before would spin on the cores this
    # one needs (the settle's sleep outlasts them too).
    torch.ops.sqbert._release_openmp_threads()
    time.sleep(settle)
    start = time.perf_counter()
    for _ in range(calls):
        f()
    return (time.perf_counter() - start) / calls


def measure(fns, rounds, calls, settle):
    """{(case, variant): [seconds per round]}, every variant of every case
    timed once per round (`calls` back-to-back calls of an op, one of a
    model)."""
    times = {(name, v[0]): [] for name, (_, variants) in fns.items() for v in variants}
    with torch.inference_mode():
        for name, (fn, variants) in fns.items():  # warm-up
            for _, threads, runtime in variants:
                call(fn, threads, runtime, 1, 0)
        sk.ops._thread_pool_stats(reset=True)
        for _ in range(rounds):
            for name, (fn, variants) in fns.items():
                n = 1 if "model" in name else calls
                for label, threads, runtime in variants:
                    times[name, label].append(call(fn, threads, runtime, n, settle))
    sk.set_cpu_threading("pool")
    return times, sk.ops._thread_pool_stats(reset=True)


def report(title, fns, times, stats):
    print(f"\n== {title}: median (best) ms, spread = median/best, x1t = median over the case's 1t median")
    for name, (_, variants) in fns.items():
        one = statistics.median(times[name, "1t"])
        cells = []
        for label, _, _ in variants:
            t = times[name, label]
            med, best = statistics.median(t), min(t)
            ratio = "" if label == "1t" else f" x1t {med / one:5.2f}"
            cells.append(f"{label}: {med * 1e3:7.2f} ({best * 1e3:6.2f}) sp {med / best:4.2f}{ratio}")
        print(f"{name:27} " + " | ".join(cells))
    if stats["calls"]:
        print(f"pool: {stats['calls']} calls (2t pool rounds), {stats['waited_calls']} waited for a claimed range"
              f" ({stats['wait_ns'] / max(1, stats['waited_calls']) / 1e3:.1f} us mean,"
              f" {stats['wait_ns'] / 1e6:.2f} ms in all, {stats['caller_slept']} asleep); workers ran"
              f" {stats['worker_tasks']} of {stats['tasks']} tasks, {stats['shared_cpu']} times on the caller's CPU")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15, help="rounds; each times every variant once")
    parser.add_argument("--neighbour-threads", type=int, default=2, help="threads of the neighbour's torch.mm")
    parser.add_argument("--slow-factor", type=float, default=2.0, help="the simulated little core's slowdown")
    parser.add_argument("--conditions", default="quiet,neighbour,slow", help="which conditions, in order")
    parser.add_argument("--cases", default="", help="only the cases whose name contains one of these (comma-separated)")
    parser.add_argument("--calls", type=int, default=10, help="back-to-back calls an op's timing averages")
    parser.add_argument("--settle-ms", type=float, default=20, help="sleep before each timing")
    parser.add_argument("--no-onnx", action="store_true", help="skip ONNX Runtime")
    parser.add_argument("--litert", help="a .tflite of SqueezeBERT B1 L128 (benchmarks/litert_export.py) to time"
                                         " LiteRT on (pip install ai-edge-litert)")
    parser.add_argument("--no-openmp", action="store_true",
                        help="skip the old runtime (its OpenMP threads spin after each call, taking a core from"
                             " the variants timed next)")
    args = parser.parse_args()
    fns = cases(onnx=not args.no_onnx, litert=args.litert)
    if args.no_openmp:
        fns = {k: (fn, tuple(v for v in variants if v[2] != "openmp")) for k, (fn, variants) in fns.items()}
    if args.cases:
        fns = {k: v for k, v in fns.items() if any(c in k for c in args.cases.split(","))}
    for condition in args.conditions.split(","):
        if condition == "quiet":
            report("quiet", fns, *measure(fns, args.rounds, args.calls, args.settle_ms / 1e3))
        elif condition == "neighbour":
            neighbour = subprocess.Popen([sys.executable, "-c", NEIGHBOUR, str(args.neighbour_threads)],
                                         env=dict(os.environ, OMP_NUM_THREADS=str(args.neighbour_threads)))
            try:
                time.sleep(1.0)
                result = measure(fns, args.rounds, args.calls, args.settle_ms / 1e3)
            finally:
                neighbour.kill()
                neighbour.wait()
            report(f"beside a neighbour (torch.mm on {args.neighbour_threads} threads)", fns, *result)
        elif condition == "slow":
            sk.ops._set_slow_thread(1, args.slow_factor)
            try:
                result = measure(fns, args.rounds, args.calls, args.settle_ms / 1e3)
            finally:
                sk.ops._set_slow_thread(1, 1.0)
            report(f"thread 1 at 1/{args.slow_factor:g} speed (this package's ops only)", fns, *result)
        else:
            raise SystemExit(f"unknown condition {condition!r}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Static cost model of the NEON GEMM micro-kernel's inner loop, per ARM core.

Cross-compiles csrc/kernels/f32_gemm_8x8_neon.cpp to assembly with
aarch64-linux-gnu-g++ -O2 (-mcpu=CORE, and as the extension is built:
-march=armv8-a), finds the inner k loop of each instantiation of the 8x8
micro-kernel (the innermost loop, closed by a backward branch, whose body
holds the by-element ``fmla``), runs llvm-mca on it and prints, per core:
predicted cycles per iteration, FLOPs per iteration (an ``fmla`` on a 4-lane
vector is 8 FLOPs), predicted FLOPs per cycle and the fraction of the core's
FMA peak.

These are predictions of LLVM's static scheduling models, not measurements:
no ARM hardware runs here. The models are approximations, and LLVM 15 has
none of its own for the Cortex-A76 or the Neoverse N1 (it schedules both
with its Cortex-A57 model); so the output gives each model's own FMA peak,
from a synthetic block of independent ``fmla``, beside the core's.

The int8 kernels get the same treatment (--int8-only skips the f32 part):
the inner loop of qs8_gemm_8x8c4__neondot (ARMv8.2 sdot; Cortex-A76,
Neoverse N1, and the Cortex-A55, which has it too) and of
qs8_gemm_4x8c4__neon (ARMv8.0 smull/smlal/sadalp; Cortex-A53, and the A76
for comparison), compiled with -O3 -march=armv8-a (the dot product comes
from the kernel file's own target pragma, as in the library). Their rate is
given in int8 multiply-accumulates (MACs) per cycle (a 4-lane sdot is 16, an
8-lane smull/smlal 8) beside the f32 loop's FMAs (MACs) per cycle on the
same core and model (the packed full-tile 8x8 loop, -O2 -march=armv8-a).

What the model leaves out, for both: every load hits L1 (no cache or TLB
misses, no prefetching, no bank conflicts), load latency is hidden by the
loop's independence (the model does not wait on memory), the loop runs
forever (no entry, exit, epilogue or call overhead: short k loops do worse),
branches are predicted perfectly, and the core's front end (decode, the
loop buffer, fetch alignment) is modelled only as a dispatch width. For the
A76 and N1 the model is LLVM's Cortex-A57 one, whose dispatch is 3 wide
(the cores decode 4): a loop with overhead beside its sdots can be charged
more cycles than the core spends.

Needs Debian's g++-aarch64-linux-gnu and llvm-15 (``apt-get install
--no-install-recommends g++-aarch64-linux-gnu llvm-15``, or pass --install
to have this script run that apt-get). --llvm-mca picks another llvm-mca
(Debian bookworm also has llvm-19, whose Neoverse N1 model has two 128-bit
FP pipes).

    python benchmarks/neon_mca.py
    python benchmarks/neon_mca.py --llvm-mca llvm-mca-19 --show-asm
    python benchmarks/neon_mca.py --int8-only
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL = os.path.join(ROOT, "csrc", "kernels", "f32_gemm_8x8_neon.cpp")
CXX = "aarch64-linux-gnu-g++"
CXXFILT = "aarch64-linux-gnu-c++filt"

# FMA peak in FLOPs per cycle (fp32, 128-bit NEON; 2 FLOPs per lane per FMA),
# from ARM's software optimization guides, and why.
CORES = {
    "cortex-a76": (16, "2 FP/ASIMD pipes (V0, V1), each one 128-bit FMLA per cycle"),
    "neoverse-n1": (16, "the Cortex-A76's FP/ASIMD back end: 2 x 128-bit FMLA per cycle"),
    "cortex-a55": (8, "in-order, 64-bit-wide NEON datapath: one 128-bit FMLA per cycle"),
}

# The int8 kernels: (source, symbol part, cores, what it is). The symbol part
# ends the unmangled name ("...__neonE" in the mangled one) so "__neon" does
# not also match "__neondot".
INT8_KERNELS = [
    ("qs8_gemm_8x8c4_neondot.cpp", "qs8_gemm_8x8c4__neondotE", ["cortex-a76", "neoverse-n1", "cortex-a55"],
     "8x8c4 sdot (ARMv8.2)"),
    ("qs8_gemm_4x8c4_neon.cpp", "qs8_gemm_4x8c4__neonE", ["cortex-a53", "cortex-a76"],
     "4x8c4 smull/smlal/sadalp (ARMv8.0)"),
]
# int8 MACs of one instruction: sdot on 4 lanes 16, smull/smlal on 8 lanes 8.
INT8_MAC = [(re.compile(r"^[su]dot\s+v\d+\.4s"), 16), (re.compile(r"^[su]m(ull|lal)2?\s+v\d+\.8h"), 8)]

# The micro-kernel template: gemm_8x8<kPartial, kRowsAdjacent, kScaled>; kScaled
# (attention's column scale) only changes the stores, so its loops are left out.
VARIANTS = {
    ("false", "true"): "full tile, packed weights (2 vector loads of weights per k)",
    ("false", "false"): "full tile, weights in place (8 lane loads per k)",
    ("true", "true"): "partial tile (nc < 8), packed weights",
    ("true", "false"): "partial tile (nc < 8), weights in place",
}

# Branches to a label: b, b.cond (GCC writes "bne" as well as "b.ne"), cb(n)z, tb(n)z.
BRANCH = re.compile(r"^(b|b\.?(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)|cbn?z|tbn?z)$")
LABEL = re.compile(r"^([A-Za-z_.$][\w.$]*):")
FMLA_LANE = re.compile(r"^fml[as]\s+v\d+\.4s,\s*v\d+\.4s,\s*v\d+\.s\[\d\]")
VECTOR_FMA = re.compile(r"^f(?:n?ml[as]|madd|msub)\s+v\d+\.(\d+)([sd])\b")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def compile_asm(flags, source=KERNEL, opt="-O2"):
    return run([CXX, "-std=c++17", opt, "-I", os.path.dirname(source), *flags, "-S", "-o", "-", source])


def demangle(name):
    tool = shutil.which(CXXFILT) or shutil.which("c++filt")
    return run([tool, name]).strip() if tool else name


def functions(asm):
    """{symbol: [line, ...]}: each global function's labels and instructions."""
    funcs, current = {}, None
    for raw in asm.splitlines():
        line = raw.split("//")[0].strip()
        if not line:
            continue
        m = LABEL.match(line)
        if m and not m.group(1).startswith(".L"):
            current = m.group(1)
            funcs[current] = []
        elif current is not None and (m or not line.startswith(".")):
            funcs[current].append(line)  # a local label or an instruction
    return funcs


def int8_macs(lines):
    return sum(n for line in lines for pattern, n in INT8_MAC if pattern.match(line))


def inner_loops(body, is_mac=FMLA_LANE.match):
    """[(start, end)]: innermost loops (label .. backward branch) holding a
    multiply-accumulate (by default a by-element fmla)."""
    labels = {}
    loops = []
    for i, line in enumerate(body):
        m = LABEL.match(line)
        if m:
            labels[m.group(1)] = i
            continue
        parts = line.replace(",", " ").split()
        op = parts[0]
        if BRANCH.match(op) and parts[-1] in labels:
            loops.append((labels[parts[-1]], i))
    loops = [(s, e) for s, e in loops if any(is_mac(x) for x in body[s:e + 1])]
    return [(s, e) for s, e in loops
            if not any((s2, e2) != (s, e) and s <= s2 and e2 <= e for s2, e2 in loops)]


def flops(lines):
    total = 0
    for line in lines:
        m = VECTOR_FMA.match(line)
        if m:
            total += 2 * int(m.group(1))
    return total


def mca(llvm_mca, cpu, lines, iterations):
    with tempfile.NamedTemporaryFile("w", suffix=".s", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        path = f.name
    try:
        out = run([llvm_mca, "-mtriple=aarch64", f"-mcpu={cpu}", f"-iterations={iterations}", path])
    finally:
        os.unlink(path)
    iters = int(re.search(r"^Iterations:\s+(\d+)", out, re.M).group(1))
    cycles = int(re.search(r"^Total Cycles:\s+(\d+)", out, re.M).group(1))
    rthroughput = float(re.search(r"^Block RThroughput:\s+([\d.]+)", out, re.M).group(1))
    resources = re.findall(r"^\[[\d.]+\]\s+-\s+(\S+)", out.split("Resources:")[1], re.M)
    model = sorted({re.sub(r"Unit.*", "", r) for r in resources})
    return {"cycles_per_iter": cycles / iters, "block_rthroughput": rthroughput,
            "model": "/".join(model), "resources": resources}


def model_peak(llvm_mca, cpu, iterations):
    # 24 independent accumulators: enough to hide any FMA latency, so the
    # model's FP pipes alone set the rate.
    block = [f"fmla v{i}.4s, v30.4s, v31.s[{i % 4}]" for i in range(24)]
    r = mca(llvm_mca, cpu, block, iterations)
    return flops(block) / r["cycles_per_iter"]


def f32_fma_rate(llvm_mca, cpu, iterations):
    """FMAs (4 a 4-lane fmla) per cycle of the f32 8x8 kernel's packed
    full-tile loop, as the library builds it (-O2 -march=armv8-a)."""
    for symbol, body in functions(compile_asm(["-march=armv8-a"])).items():
        if "gemm_8x8<false, true, false>" in demangle(symbol):
            loop = [body[s:e + 1] for s, e in inner_loops(body)][0]
            return flops(loop) / 2 / mca(llvm_mca, cpu, loop, iterations)["cycles_per_iter"]
    sys.exit("the f32 8x8 kernel's packed full-tile loop was not found")


def int8_results(llvm_mca, iterations):
    results, f32 = [], {}
    for source, symbol_part, cores, what in INT8_KERNELS:
        path = os.path.join(ROOT, "csrc", "kernels", source)
        funcs = functions(compile_asm(["-march=armv8-a"], path, "-O3"))
        bodies = [body for symbol, body in funcs.items() if symbol_part in symbol]
        if not bodies:
            sys.exit(f"{symbol_part} not found in {source}")
        # The k loop closes with a conditional branch; a backward plain "b"
        # only jumps to code GCC placed earlier (the 4x8 kernel's odd last
        # depth group and epilogue).
        loops = [bodies[0][s:e + 1] for s, e in inner_loops(bodies[0], lambda x: int8_macs([x]) > 0)
                 if bodies[0][e].split()[0] != "b"]
        if len(loops) != 1:
            sys.exit(f"{symbol_part}: expected one k loop, found {len(loops)}")
        loop = loops[0]
        for cpu in cores:
            if cpu not in f32:
                f32[cpu] = f32_fma_rate(llvm_mca, cpu, iterations)
            r = mca(llvm_mca, cpu, loop, iterations)
            macs = int8_macs(loop)
            results.append({"core": cpu, "kernel": what, "source": source,
                            "instructions": sum(1 for x in loop if not LABEL.match(x)),
                            "cycles_per_iter": r["cycles_per_iter"], "block_rthroughput": r["block_rthroughput"],
                            "macs_per_iter": macs, "macs_per_cycle": macs / r["cycles_per_iter"],
                            "f32_fma_per_cycle": f32[cpu], "model": r["model"], "asm": loop})
    return results


def print_int8(results, show_asm):
    print("\nint8 GEMM micro-kernels, inner k loop (-O3 -march=armv8-a; STATIC MODEL PREDICTIONS):")
    header = (f"{'core':<12} {'kernel':<36} {'insns':>5} {'cyc/iter':>8} {'MAC/iter':>8} {'MAC/cyc':>7} "
              f"{'f32 FMA/cyc':>11} {'ratio':>5} {'core f32 peak':>13} {'ratio':>5}  model")
    print(header)
    print("-" * len(header))
    for r in results:
        # The core's own f32 peak in FMAs per cycle (CORES: FLOPs / 2), where known.
        peak = CORES[r["core"]][0] / 2 if r["core"] in CORES else None
        vs_peak = f"{peak:>13.0f} {r['macs_per_cycle'] / peak:>5.2f}" if peak else f"{'-':>13} {'-':>5}"
        print(f"{r['core']:<12} {r['kernel']:<36} {r['instructions']:>5} {r['cycles_per_iter']:>8.2f} "
              f"{r['macs_per_iter']:>8} {r['macs_per_cycle']:>7.2f} {r['f32_fma_per_cycle']:>11.2f} "
              f"{r['macs_per_cycle'] / r['f32_fma_per_cycle']:>5.2f} {vs_peak}  {r['model']}")
    print("MAC: one int8 multiply-accumulate (sdot on 4 lanes = 16, smull/smlal on 8 lanes = 8). f32 FMA/cyc:\n"
          "the f32 8x8 kernel's packed full-tile loop on the same model; core f32 peak: the core's own\n"
          "(CORES); ratio: int8 MACs per f32 FMA. The A57 model that LLVM 15 uses for the A76 and N1\n"
          "issues sdot two a cycle like the cores (32 MACs: 4x their 8 FMAs) but a 128-bit fmla only\n"
          "one (two 64-bit pipes), so its int8/f32 ratio is twice the cores'; read those rows against\n"
          "the core's f32 peak. Its dispatch is 3 wide (the cores decode 4): the sdot loop's loads and\n"
          "loop overhead cost it cycles that the cores hide behind the 8 cycles of 16 sdot.\n"
          "Not modelled: cache and TLB misses, memory latency, loop entry and exit, the tile's\n"
          "epilogue and the quantizer's pass over the activations.")
    if show_asm:
        for r in results:
            print(f"\n# {r['core']} {r['kernel']}")
            print("\n".join("    " + x if not LABEL.match(x) else x for x in r["asm"]))


def find_llvm_mca(name, install):
    path = shutil.which(name)
    if path is None and install:
        pkg = re.sub(r"^llvm-mca-", "llvm-", name)
        print(f"installing {pkg}: apt-get install -y --no-install-recommends {pkg}", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", pkg], check=True)
        path = shutil.which(name)
    if path is None:
        sys.exit(f"{name} not found: apt-get install --no-install-recommends "
                 f"{re.sub(r'^llvm-mca-', 'llvm-', name)} (or run with --install)")
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cores", nargs="+", default=list(CORES), choices=list(CORES))
    ap.add_argument("--llvm-mca", default="llvm-mca-15", help="llvm-mca binary (default llvm-mca-15)")
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--install", action="store_true", help="apt-get install the LLVM package if missing")
    ap.add_argument("--show-asm", action="store_true", help="print each extracted loop")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--int8-only", action="store_true", help="only the int8 kernels")
    args = ap.parse_args()

    if shutil.which(CXX) is None:
        sys.exit(f"{CXX} not found: apt-get install --no-install-recommends g++-aarch64-linux-gnu")
    llvm_mca = find_llvm_mca(args.llvm_mca, args.install)
    version = run([llvm_mca, "--version"]).strip().splitlines()
    version = next((v.strip() for v in version if "version" in v.lower()), version[0])

    int8 = int8_results(llvm_mca, args.iterations)
    if args.int8_only:
        if args.json:
            print(json.dumps({"llvm_mca": version, "static_model_predictions_not_measurements": True,
                              "int8": int8}, indent=1))
        else:
            print(f"{llvm_mca} ({version}), -mtriple=aarch64 -iterations={args.iterations}")
            print_int8(int8, args.show_asm)
        return

    results = []
    for cpu in args.cores:
        nominal, why = CORES[cpu]
        peak = model_peak(llvm_mca, cpu, args.iterations)
        for code, flags in ((f"-mcpu={cpu}", [f"-mcpu={cpu}"]), ("-march=armv8-a", ["-march=armv8-a"])):
            for symbol, body in functions(compile_asm(flags)).items():
                name = demangle(symbol)
                m = re.search(r"gemm_8x8<(true|false), (true|false), false>", name)
                if not m:
                    continue
                for start, end in inner_loops(body):
                    loop = body[start:end + 1]
                    r = mca(llvm_mca, cpu, loop, args.iterations)
                    flop = flops(loop)
                    results.append({
                        "core": cpu, "code": code, "variant": VARIANTS[m.groups()],
                        "template": f"gemm_8x8<{m.group(1)}, {m.group(2)}>",
                        "instructions": sum(1 for x in loop if not LABEL.match(x)),
                        "fmla": sum(1 for x in loop if VECTOR_FMA.match(x)),
                        "cycles_per_iter": r["cycles_per_iter"],
                        "block_rthroughput": r["block_rthroughput"],
                        "flops_per_iter": flop,
                        "flops_per_cycle": flop / r["cycles_per_iter"],
                        "nominal_peak": nominal, "fraction_of_peak": flop / r["cycles_per_iter"] / nominal,
                        "model": r["model"], "model_peak": peak,
                        "fraction_of_model_peak": flop / r["cycles_per_iter"] / peak,
                        "calls": [x.split()[-1] for x in loop if re.match(r"^blr?\s", x)],
                        "asm": loop,
                    })

    if args.json:
        print(json.dumps({"llvm_mca": version, "static_model_predictions_not_measurements": True,
                          "results": results, "int8": int8}, indent=1))
        return

    print(f"NEON 8x8 micro-kernel, inner k loop: {os.path.relpath(KERNEL, ROOT)}")
    print(f"{llvm_mca} ({version}), -mtriple=aarch64 -iterations={args.iterations}")
    print("STATIC MODEL PREDICTIONS, NOT MEASUREMENTS: llvm-mca simulates LLVM's scheduling model\n"
          "of each core; no ARM hardware ran this.\n")
    header = (f"{'core':<12} {'compiled with':<18} {'variant':<58} {'insns':>5} {'fmla':>4} "
              f"{'cyc/iter':>8} {'FLOP/iter':>9} {'FLOP/cyc':>8} {'% peak':>6} {'% model peak':>12}")
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r['core']:<12} {r['code']:<18} {r['variant']:<58} {r['instructions']:>5} {r['fmla']:>4} "
              f"{r['cycles_per_iter']:>8.2f} {r['flops_per_iter']:>9} {r['flops_per_cycle']:>8.2f} "
              f"{100 * r['fraction_of_peak']:>5.0f}% {100 * r['fraction_of_model_peak']:>11.0f}%"
              + (" *" if r["calls"] else ""))
    calls = sorted({c for r in results for c in r["calls"]})
    if calls:
        print(f"\n* the loop calls {', '.join(calls)} every iteration (and spills the accumulators around\n"
              "  the call): llvm-mca counts a call as a branch, so the callee's cost is missing and the\n"
              "  figure is a lower bound on the loop's cycles.")
    print("\nPeaks (fp32 FMA, FLOPs/cycle), and the scheduling model llvm-mca used:")
    for cpu in args.cores:
        rows = [r for r in results if r["core"] == cpu]
        if not rows:
            continue
        nominal, why = CORES[cpu]
        print(f"  {cpu:<12} peak {nominal:>2} assumed ({why});\n"
              f"  {'':<12} model '{rows[0]['model']}' peaks at {rows[0]['model_peak']:.1f} "
              f"(24 independent 4-lane fmla by element)")
    print("\nFLOPs: each fmla on 4 lanes = 8. '% peak' is against the assumed peak, '% model peak'\n"
          "against what the scheduling model itself allows. Where the two peaks differ, so do the\n"
          "columns:")
    for cpu in args.cores:
        rows = [r for r in results if r["core"] == cpu]
        if not rows:
            continue
        nominal, peak, model = CORES[cpu][0], rows[0]["model_peak"], rows[0]["model"]
        if peak < 0.95 * nominal:
            print(f"  {cpu}: the '{model}' model caps FMA issue at {peak:.0f} FLOPs/cycle, below the core's "
                  f"{nominal}:\n    it overstates the cycles of FMA-bound loops on this core"
                  + (" (LLVM schedules it with the Cortex-A57's\n    two 64-bit FP pipes)." if model == "A57" else "."))
        elif peak > 1.05 * nominal:
            print(f"  {cpu}: the '{model}' model issues {peak:.0f} FLOPs/cycle of 128-bit FMLA, more than the "
                  f"core's {nominal}:\n    a loop of {rows[0]['fmla']} fmla takes at least "
                  f"{rows[0]['fmla'] * 8 / nominal:.0f} cycles per iteration on the core, whatever the model says.")
        else:
            print(f"  {cpu}: the '{model}' model's FMA peak matches the core's.")
    if args.show_asm:
        for r in results:
            print(f"\n# {r['core']} {r['code']} {r['template']}: {r['variant']}")
            print("\n".join("    " + x if not LABEL.match(x) else x for x in r["asm"]))
    print_int8(int8, args.show_asm)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Builds (Release, CMakeLists.txt with SQBERT_BENCHMARKS=ON) and runs the
# kernel micro-benchmarks, kernels_bench.cc (what they time is there).
#   benchmarks/cpp/kernels_bench.sh [ROUNDS [ISA...]]   (21 rounds, every ISA)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${SQBERT_BENCH_DIR:-$root/build/bench}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSQBERT_BENCHMARKS=ON > /dev/null
cmake --build "$build" --target kernels_bench -j "$(nproc)" > /dev/null
"$build/kernels_bench" "$@"

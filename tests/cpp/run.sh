#!/usr/bin/env bash
# Builds and runs the C++ kernel tests (CMakeLists.txt, no Python or torch):
# natively, natively under ASan+UBSan, the thread pool's under TSan, and
# cross-compiled for aarch64 under qemu-user on a plain ARMv8.0 core (Cortex-A53, where the dot-product
# kernels' tests are skipped), then the dot-product (neondot) tests again on
# QEMU_CPU=max, which has it: there they must run and pass, a skip there
# fails the script. The aarch64 step needs
# Debian's g++-aarch64-linux-gnu and qemu-user; without them it is skipped,
# except under CI, where it is required.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${SQBERT_BUILD_DIR:-$root/build}

run() {
  local name=$1
  shift
  echo "== C++ kernel tests: $name"
  cmake -S "$root" -B "$build/$name" "$@" > /dev/null
  cmake --build "$build/$name" -j "$(nproc)" > /dev/null
  ctest --test-dir "$build/$name" --output-on-failure -j "$(nproc)"
}

run native
run sanitize -DSQBERT_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
# The thread pool's claims and job hand-over under ThreadSanitizer (a worker
# late for one job racing the next was seen only there).
echo "== C++ kernel tests: thread pool under ThreadSanitizer"
cmake -S "$root" -B "$build/tsan" -DSQBERT_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build "$build/tsan" -j "$(nproc)" --target thread_pool_test > /dev/null
TSAN_OPTIONS=halt_on_error=1 "$build/tsan/thread_pool_test"
if command -v aarch64-linux-gnu-g++ > /dev/null && command -v qemu-aarch64 > /dev/null; then
  QEMU_CPU=cortex-a53 run aarch64 -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake"
  echo "== C++ kernel tests: aarch64 neondot (QEMU_CPU=max)"
  # ctest counts a skipped test (exit 77) as no failure: here that would hide
  # a kernel never run, so a skip, like no test at all, is an error.
  log=$build/aarch64/neondot.log
  QEMU_CPU=max ctest --test-dir "$build/aarch64" --output-on-failure -j "$(nproc)" -R neondot --no-tests=error \
    2>&1 | tee "$log"
  if grep -q "tests did not run" "$log"; then
    echo "neondot tests were skipped under QEMU_CPU=max, which has the dot product" >&2
    exit 1
  fi
elif [ "${CI:-}" = true ]; then
  echo "aarch64 cross tools missing: apt-get install g++-aarch64-linux-gnu qemu-user" >&2
  exit 1
else
  echo "== skipping aarch64: apt-get install g++-aarch64-linux-gnu qemu-user to run it"
fi

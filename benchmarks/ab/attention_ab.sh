#!/usr/bin/env bash
# Interleaved C++ A/B of the attention operator: revision OLD's csrc/
# against NEW's (`.`: the working tree), in one binary (attention_ab.cc).
# x86 with AVX2 only.
#   benchmarks/ab/attention_ab.sh OLD NEW BATCH LENGTH [ROUNDS]
# e.g. benchmarks/ab/attention_ab.sh 8c53188 . 1 128
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 OLD NEW BATCH LENGTH [ROUNDS]" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${SQBERT_AB_DIR:-$root/build/ab}
rm -rf "$work" && mkdir -p "$work/old" "$work/new" "$work/obj_old" "$work/obj_new"
git -C "$root" archive "$1" csrc | tar -x -C "$work/old"
if [ "$2" = . ]; then cp -r "$root/csrc" "$work/new/"; else git -C "$root" archive "$2" csrc | tar -x -C "$work/new"; fi
build() {  # namespace, csrc dir, object dir
  for f in "$2"/kernels/*.cpp "$2"/operators/*.cpp; do
    g++ -O3 -std=c++17 -D"sqbert=$1" -I"$2" -c "$f" -o "$3/$(basename "$f" .cpp).o" &
  done
  wait
}
build sqold "$work/old/csrc" "$work/obj_old"
build sqbert "$work/new/csrc" "$work/obj_new"
g++ -O2 -std=c++17 -I"$work/new/csrc" -I"$work" "$root/benchmarks/ab/attention_ab.cc" \
  "$work"/obj_new/*.o "$work"/obj_old/*.o -o "$work/attention_ab"
"$work/attention_ab" "${@:3}"

#!/usr/bin/env bash
# Interleaved C++ A/B of an operator: revision OLD's csrc/ against NEW's
# (`.`: the working tree), both built into one binary with OPERATOR_ab.cc
# (the old one in namespace sqold) and timed alternately on the same
# inputs. x86 with AVX2 only.
#   benchmarks/ab/operator_ab.sh OPERATOR OLD NEW BATCH LENGTH [ROUNDS]
# OPERATOR: attention (attention_ab.cc), conv (conv_ab.cc: the packed
# convolutions on SqueezeBERT's shapes and the feed-forward block) or
# layernorm (layernorm_ab.cc: residual + LayerNorm, 768 channels), e.g.
#   benchmarks/ab/operator_ab.sh conv 3330dc9 . 1 128
set -euo pipefail
[ $# -ge 5 ] || { echo "usage: $0 OPERATOR OLD NEW BATCH LENGTH [ROUNDS]" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
main="$root/benchmarks/ab/$1_ab.cc"
[ -f "$main" ] || { echo "$0: no $main" >&2; exit 2; }
work=${SQBERT_AB_DIR:-$root/build/ab}
rm -rf "$work" && mkdir -p "$work/old" "$work/new" "$work/obj_old" "$work/obj_new"
git -C "$root" archive "$2" csrc | tar -x -C "$work/old"
if [ "$3" = . ]; then cp -r "$root/csrc" "$work/new/"; else git -C "$root" archive "$3" csrc | tar -x -C "$work/new"; fi
# -DNDEBUG as in the shipped build (setup.py gets it from Python's CFLAGS)
# and CMake's Release: the kernels' assert()s are for the checked builds.
build() {  # namespace, csrc dir, object dir
  for f in "$2"/kernels/*.cpp "$2"/operators/*.cpp; do
    g++ -O3 -std=c++17 -DNDEBUG -D"sqbert=$1" -I"$2" -c "$f" -o "$3/$(basename "$f" .cpp).o" &
  done
  wait
}
build sqold "$work/old/csrc" "$work/obj_old"
build sqbert "$work/new/csrc" "$work/obj_new"
g++ -O2 -std=c++17 -I"$work/new/csrc" -I"$work" "$main" "$work"/obj_new/*.o "$work"/obj_old/*.o -o "$work/$1_ab"
"$work/$1_ab" "${@:4}"

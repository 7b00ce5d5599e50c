#!/usr/bin/env bash
# Interleaved C++ A/B of the AVX2 LayerNorm micro-kernel: revision OLD's
# csrc/kernels/f32_layernorm_avx2.cpp against the working tree's, in one
# binary (layernorm_ab.cc), at SqueezeBERT's shape (C768 L128, residual).
# Where the code lands moves its time by up to ~6% here (the same code at
# two addresses), so the binary is linked twice, old first and new first,
# and the rounds alternate between the two, each in a fresh process; a
# round times old and new sweep by sweep, alternately. Prints, over the
# rounds, the median and spread of each and of new / old. x86 AVX2 only.
#   benchmarks/cpp/layernorm_ab.sh [OLD [ROUNDS [SWEEPS]]]   (HEAD 30 200)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
old=${1:-HEAD} rounds=${2:-30} sweeps=${3:-200}
work=${SQBERT_AB_DIR:-$root/build/layernorm_ab}
rm -rf "$work" && mkdir -p "$work/old"
git -C "$root" archive "$old" csrc/kernels | tar -x -C "$work/old"
g++ -O3 -std=c++17 -Dsqbert=sqold -I"$work/old/csrc/kernels" \
  -c "$work/old/csrc/kernels/f32_layernorm_avx2.cpp" -o "$work/old.o" &
g++ -O3 -std=c++17 -I"$root/csrc/kernels" -c "$root/csrc/kernels/f32_layernorm_avx2.cpp" -o "$work/new.o" &
g++ -O2 -std=c++17 -I"$root/csrc" -c "$root/benchmarks/cpp/layernorm_ab.cc" -o "$work/main.o" &
wait
g++ "$work/main.o" "$work/old.o" "$work/new.o" -o "$work/ab_old_first"
g++ "$work/main.o" "$work/new.o" "$work/old.o" -o "$work/ab_new_first"
for k in $(seq "$rounds"); do
  if [ $((k % 2)) = 1 ]; then bin=ab_old_first; else bin=ab_new_first; fi
  "$work/$bin" 1 "$sweeps" raw | sed "s/^/$bin /"
done > "$work/rounds.txt"
python3 - "$work/rounds.txt" "$old" "$rounds" "$sweeps" <<'PY'
import math, sys
rows = {}
for line in open(sys.argv[1]):
    binary, _, n, _, o, _, w = line.split()
    rows.setdefault(n, []).append((binary, float(o), float(w)))
def q(v, p):
    v = sorted(v); i = p * (len(v) - 1); j = int(i)
    return v[j] + (i - j) * (v[min(j + 1, len(v) - 1)] - v[j])
print(f"f32_layernorm__avx2, C768 L128 with residual, eps 1e-12: {sys.argv[2]} (old) against the working "
      f"tree (new); {sys.argv[3]} rounds (processes, two link orders alternately) x {sys.argv[4]} "
      f"alternating sweeps of each; us a [768,128] sweep, a round's figure its median sweep")
for n, r in rows.items():
    print(f"{n} positions a call:")
    for name, v in (("old", [a for _, a, _ in r]), ("new", [b for _, _, b in r])):
        print(f"  {name}  median {q(v, .5):7.2f}  p25 {q(v, .25):7.2f}  p75 {q(v, .75):7.2f}  "
              f"min {min(v):7.2f}  max {max(v):7.2f}")
    ratio = [b / a for _, a, b in r]
    by_link = {k: q([b / a for x, a, b in r if x == k], .5) for k in ("ab_old_first", "ab_new_first")
               if any(x == k for x, _, _ in r)}
    both = math.exp(sum(math.log(v) for v in by_link.values()) / len(by_link))
    print(f"  new/old: {both:.4f} (geometric mean of the link orders' medians: "
          + ", ".join(f"{k} {v:.4f}" for k, v in by_link.items())
          + f"); all rounds: median {q(ratio, .5):.4f}, p25 {q(ratio, .25):.4f}, p75 {q(ratio, .75):.4f}")
PY

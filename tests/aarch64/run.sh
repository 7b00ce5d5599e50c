#!/usr/bin/env bash
# The real op on emulated aarch64: builds the torch extension for 64-bit ARM
# and runs tests/aarch64/test_neon_op.py (the x86 suite's shared tests,
# tests/test_shared_ops.py, on the neon and scalar kernels, and the aarch64
# build's own) with PyPI's aarch64 torch under qemu-user, so the NEON kernels
# run behind torch.ops.sqbert.* as they would on an ARM machine.
#
#   1. An aarch64 root (cached): Debian bookworm's arm64 python3.11 and the
#      libraries it and torch need, fetched with a private apt state (the
#      host's dpkg and apt lists are never touched), unpacked with dpkg -x;
#      PyPI's aarch64 CPU wheel torch==2.10.0, its pure-Python deps and pytest
#      unzipped into the root's dist-packages and byte-compiled natively.
#   2. The extension cross-compiled with aarch64-linux-gnu-g++ over every
#      .cpp under csrc/ against that wheel, placed in a staging copy of the
#      package ($build/pkg/sqbert_kernels), never in the repo's
#      sqbert_kernels/ (which holds the x86 build of the editable install).
#   3. A static check that the extension holds no instruction past ARMv8.0
#      (it is compiled with -march=armv8-a and must run on any 64-bit ARM
#      core; tests/cpp/run.sh runs the kernels themselves on a Cortex-A53),
#      but the dot product (sdot/udot) in the neondot int8 kernel, which
#      runs only where the CPU has it (kernel_config.cpp), and nowhere else.
#   4. pytest in one qemu-aarch64 process, on an emulated Cortex-A76 (ARMv8.2)
#      by default: PyPI's torch 2.10.0 aarch64 wheel itself dies of SIGILL
#      on ARMv8.0 cores (cortex-a53, cortex-a72) at import, as on a Raspberry
#      Pi 4 (pytorch/pytorch#176993: it uses ARMv8.1 atomics). import torch
#      takes 20-60 s there; compute is about 100x slower than native.
#
# Needs Debian (apt, dpkg-deb), g++-aarch64-linux-gnu, qemu-user, make, a
# host python3 with pip, and the network on a cold cache (Debian and PyPI
# only); a warm cache needs no network. Environment:
#   SQBERT_AARCH64_CACHE  the cached root and downloads (~/.cache/sqbert-aarch64)
#   SQBERT_AARCH64_BUILD  objects and the staging package (build/aarch64-python)
#   SQBERT_AARCH64_CPU    the emulated core for the tests (cortex-a76; `max`,
#                         neoverse-n1 work too, cortex-a53 and -a72 do not)
#   SQBERT_AARCH64_JOBS   parallel compile jobs (2)
# Extra arguments go to pytest, e.g. `tests/aarch64/run.sh -k packed -x`.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${SQBERT_AARCH64_CACHE:-$HOME/.cache/sqbert-aarch64}
build=${SQBERT_AARCH64_BUILD:-$root/build/aarch64-python}
qemu_cpu=${SQBERT_AARCH64_CPU:-cortex-a76}
jobs=${SQBERT_AARCH64_JOBS:-2}

# What the root holds. Changing either list rebuilds the root; files already
# downloaded are kept and reused.
debs=(python3.11 libpython3.11-dev libstdc++6 libgcc-s1 libgomp1)
wheels=(
  torch==2.10.0
  typing_extensions==4.16.0 sympy==1.14.0 mpmath==1.3.0 networkx==3.6.1
  jinja2==3.1.6 markupsafe==3.0.4 filelock==4.2.12 fsspec==2026.9.0
  pytest==9.2.0 iniconfig==2.3.1 packaging==26.3 pluggy==1.7.0 pygments==2.21.0
  safetensors==0.8.0
)

t_start=$SECONDS
step() { echo "== aarch64 [$((SECONDS - t_start))s] $*"; }
die() { echo "== aarch64: error: $*" >&2; exit 1; }

for tool in aarch64-linux-gnu-g++ aarch64-linux-gnu-objdump qemu-aarch64 make dpkg-deb apt-get; do
  command -v "$tool" > /dev/null ||
    die "$tool missing: apt-get install --no-install-recommends g++-aarch64-linux-gnu qemu-user make"
done
python=$(command -v python3 || true)
[ -n "$python" ] || die "python3 (with pip) missing on the host"

rootfs=$cache/rootfs
site=$rootfs/usr/lib/python3/dist-packages
spec="root v1; debs: ${debs[*]}; wheels: ${wheels[*]}"

# ---------------------------------------------------------------- the root
fetch_debs() {
  local apt=$cache/apt
  mkdir -p "$apt/etc/apt.conf.d" "$apt/etc/preferences.d" "$apt/etc/sources.list.d" \
    "$apt/state/lists/partial" "$apt/cache/archives/partial" "$cache/debs"
  : > "$apt/state/status" # nothing "installed": apt resolves every dependency
  local suite keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -f "$keyring" ] || die "$keyring missing: apt-get install debian-archive-keyring"
  {
    for suite in bookworm bookworm-updates; do
      echo "deb [arch=arm64 signed-by=$keyring] http://deb.debian.org/debian $suite main"
    done
    echo "deb [arch=arm64 signed-by=$keyring] http://deb.debian.org/debian-security bookworm-security main"
  } > "$apt/etc/sources.list"
  # APT_CONFIG is read before anything else, so the host's apt.conf.d,
  # sources, state and dpkg database stay out of this entirely.
  cat > "$apt/apt.conf" <<EOF
Dir::Etc "$apt/etc";
Dir::Etc::main "$apt/etc/apt.conf";
Dir::Etc::parts "$apt/etc/apt.conf.d";
Dir::Etc::preferences "$apt/etc/preferences";
Dir::Etc::preferencesparts "$apt/etc/preferences.d";
Dir::Etc::sourcelist "$apt/etc/sources.list";
Dir::Etc::sourceparts "$apt/etc/sources.list.d";
Dir::State "$apt/state";
Dir::State::status "$apt/state/status";
Dir::Cache "$apt/cache";
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT::Sandbox::User "root";
Acquire::Languages "none";
Debug::NoLocking "true";
EOF
  export APT_CONFIG=$apt/apt.conf
  step "apt-get update (arm64, private state in $apt)"
  apt-get update -qq > "$apt/update.log" 2>&1 || { cat "$apt/update.log" >&2; die "apt-get update failed"; }
  # The closure of the packages, as apt would install them on an empty arm64
  # system: "Inst NAME (VERSION ...".
  local plan
  plan=$(apt-get install -s -qq "${debs[@]}") || die "apt cannot resolve ${debs[*]}"
  local names=() missing=() name version file
  while read -r name version; do
    names+=("$name=$version")
    file=$(ls "$cache/debs/${name}_${version//:/%3a}_"*.deb 2> /dev/null | head -n 1 || true)
    [ -n "$file" ] || missing+=("$name=$version")
  done < <(awk '$1 == "Inst" { v = $3; sub(/^\(/, "", v); print $2, v }' <<< "$plan")
  [ "${#names[@]}" -gt 0 ] || die "apt planned no packages for ${debs[*]}"
  if [ "${#missing[@]}" -gt 0 ]; then
    step "downloading ${#missing[@]} of ${#names[@]} Debian arm64 packages"
    (cd "$cache/debs" && apt-get download -qq "${missing[@]}") || die "apt-get download failed"
  else
    step "all ${#names[@]} Debian arm64 packages already downloaded"
  fi
  unset APT_CONFIG
  deb_files=()
  for name in "${names[@]}"; do
    version=${name#*=}
    deb_files+=("$(ls "$cache/debs/${name%%=*}_${version//:/%3a}_"*.deb | head -n 1)")
  done
}

find_wheels() { # sets wheel_files (found) and missing_wheels (to fetch)
  local spec_ name version file
  wheel_files=()
  missing_wheels=()
  for spec_ in "${wheels[@]}"; do
    name=${spec_%%==*}
    version=${spec_#*==}
    # Wheel file names use the normalized name: lower case, "_" for "-" and ".".
    name=$(tr 'A-Z.-' 'a-z__' <<< "$name")
    file=$(find "$cache/wheels" -maxdepth 1 -name '*.whl' | LC_ALL=C sort |
      awk -v n="$name" -v v="$version" '{ f = $0; sub(/.*\//, "", f); split(f, p, "-");
        if (tolower(p[1]) == n && p[2] == v) { print; exit } }')
    if [ -n "$file" ]; then wheel_files+=("$file"); else missing_wheels+=("$spec_"); fi
  done
}

fetch_wheels() {
  mkdir -p "$cache/wheels"
  find_wheels
  if [ "${#missing_wheels[@]}" -eq 0 ]; then
    step "all ${#wheels[@]} aarch64 wheels already downloaded"
    return
  fi
  step "pip download (manylinux aarch64, cp311): ${missing_wheels[*]}"
  # --no-deps: pip would evaluate torch's dependency markers for this x86
  # host and fetch CUDA packages; the list above is the whole closure.
  "$python" -m pip download -q --disable-pip-version-check --no-deps \
    --only-binary=:all: --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 \
    --python-version 3.11 --implementation cp --abi cp311 --abi abi3 \
    -d "$cache/wheels" "${missing_wheels[@]}" > "$cache/pip.log" 2>&1 ||
    { cat "$cache/pip.log" >&2; die "pip download failed"; }
  find_wheels
  [ "${#missing_wheels[@]}" -eq 0 ] || die "pip did not fetch: ${missing_wheels[*]}"
}

build_root() {
  fetch_debs
  fetch_wheels
  step "unpacking ${#deb_files[@]} .debs and ${#wheel_files[@]} wheels into $rootfs"
  # Unpacked in place (byte code records its source paths); the stamp file,
  # written last, marks the root complete.
  rm -rf "$rootfs"
  mkdir -p "$rootfs"
  local f
  for f in "${deb_files[@]}"; do dpkg-deb -x "$f" "$rootfs"; done
  [ -x "$rootfs/usr/bin/python3.11" ] || die "no usr/bin/python3.11 in the unpacked packages"
  mkdir -p "$site"
  for f in "${wheel_files[@]}"; do
    if command -v unzip > /dev/null; then
      unzip -q -o "$f" -d "$site"
    else
      "$python" -m zipfile -e "$f" "$site"
    fi
  done
  # Keep the loader off the host's x86 /etc/ld.so.cache (qemu -L falls back
  # to host paths for files the root lacks): an empty cache is no cache, and
  # the loader searches the default directories.
  mkdir -p "$rootfs/etc"
  : > "$rootfs/etc/ld.so.cache"
  # Byte code once, here: the tests run with PYTHONDONTWRITEBYTECODE, and
  # compiling torch's Python under emulation on every run would cost minutes.
  # Every 3.11.x writes the same byte code, so a host 3.11 does it natively.
  # compileall's exit status is ignored: a few stdlib test-data files never
  # compile.
  local compiler=("$python")
  if ! "$python" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2> /dev/null; then
    compiler=(env QEMU_CPU="$qemu_cpu" qemu-aarch64 -L "$rootfs" "$rootfs/usr/bin/python3.11")
  fi
  step "byte-compiling the root's Python (${compiler[*]:0:3})"
  "${compiler[@]}" -m compileall -q -j "$jobs" "$rootfs/usr/lib/python3.11" "$site" > /dev/null 2>&1 || true
  echo "$spec" > "$rootfs/.sqbert-root"
}

if [ -f "$rootfs/.sqbert-root" ] && [ "$(cat "$rootfs/.sqbert-root")" = "$spec" ]; then
  step "cached aarch64 root: $rootfs"
else
  step "building the aarch64 root in $rootfs"
  build_root
fi

# -------------------------------------------------------- the extension
torch_dir=$site/torch
py_inc=$rootfs/usr/include/python3.11
[ -f "$py_inc/Python.h" ] || die "no Python.h in $py_inc (libpython3.11-dev)"
mkdir -p "$build/obj"
# Python.h's pyconfig.h includes <aarch64-linux-gnu/python3.11/pyconfig.h>:
# the root's usr/include comes after the cross compiler's own headers.
cxxflags="-std=c++17 -O2 -fPIC -fopenmp -march=armv8-a -D_GLIBCXX_USE_CXX11_ABI=1 \
-isystem $torch_dir/include -isystem $torch_dir/include/torch/csrc/api/include \
-isystem $py_inc -idirafter $rootfs/usr/include"
ldflags="-shared -fopenmp -L$torch_dir/lib -Wl,-rpath-link,$torch_dir/lib \
-Wl,-rpath-link,$site/torch.libs -lc10 -ltorch_cpu -ltorch"
so_name=_C.cpython-311-aarch64-linux-gnu.so
mapfile -t sources < <(cd "$root" && find csrc -name '*.cpp' | LC_ALL=C sort)
[ "${#sources[@]}" -gt 0 ] || die "no .cpp files under csrc/"

# Flags in a file the objects depend on: changing them rebuilds everything.
echo "$cxxflags | $ldflags" > "$build/flags.new"
cmp -s "$build/flags.new" "$build/flags" 2> /dev/null || mv "$build/flags.new" "$build/flags"
rm -f "$build/flags.new"
{
  echo "SRC := $root"
  echo "OBJS := ${sources[*]/%.cpp/.o}"
  echo 'OBJS := $(addprefix obj/,$(OBJS))'
  echo "$so_name: \$(OBJS)"
  printf '\taarch64-linux-gnu-g++ -o $@ $(OBJS) %s\n' "$ldflags"
  echo 'obj/%.o: $(SRC)/%.cpp flags'
  echo '	@mkdir -p $(dir $@)'
  echo '	@echo "   $<"'
  printf '\t@aarch64-linux-gnu-g++ %s -MMD -MP -c $< -o $@\n' "$cxxflags"
  echo '-include $(OBJS:.o=.d)'
} > "$build/Makefile"
step "cross-compiling ${#sources[@]} sources for aarch64 (make -j$jobs in $build)"
make -s -C "$build" -j "$jobs" "$so_name" || die "the aarch64 build failed"

step "checking $so_name for instructions past ARMv8.0"
# Mnemonics of ARMv8.1+ and optional extensions: LSE atomics, RDMA, FP16
# arithmetic, dot product, I8MM, BF16, FCMA, JSCVT, FRINTTS, FlagM, RCPC,
# pointer authentication (the non-hint forms), SVE, CRC and crypto. libgcc's
# outline atomics (__aarch64_*) hold LSE instructions behind a run-time check,
# so they are allowed; so are sdot/udot in the functions of the dot-product
# kernel (symbols holding qs8_gemm_*c4__neondot, its lambdas too: behind
# HWCAP_ASIMDDP), and only those two there. The kernel must hold some: else
# it was not compiled for dotprod, and the check would prove nothing.
disasm=$build/$so_name.disasm
aarch64-linux-gnu-objdump -d --no-show-raw-insn "$build/$so_name" > "$disasm"
dot_count=$(awk '
  /^[0-9a-f]+ <.*>:$/ { fn = $2; next }
  fn ~ /qs8_gemm_[0-9]+x[0-9]+c4__neondot/ && /^ *[0-9a-f]+:\t[su]dot\t/ { n++ }
  END { print n + 0 }' "$disasm")
[ "$dot_count" -gt 0 ] || die "$so_name: no sdot/udot in the neondot kernel (is it compiled for dotprod?)"
bad=$(awk '
  /^[0-9a-f]+ <.*>:$/ { fn = $2; next }
  /^ *[0-9a-f]+:\t/ {
    split($0, f, "\t"); op = f[2]; args = f[3]
    if (fn ~ /^<__aarch64_/) next
    if (fn ~ /qs8_gemm_[0-9]+x[0-9]+c4__neondot/ && op ~ /^[su]dot$/) next
    late = op ~ /^(casp?|ld(add|clr|eor|set|smax|smin|umax|umin)|st(add|clr|eor|set|smax|smin|umax|umin)|swp)(a|al|l)?(b|h)?$/ ||
      op ~ /^(sqrdmlah|sqrdmlsh|sdot|udot|usdot|sudot|smmla|ummla|usmmla|bfdot|bfmmla|bfmlalb|bfmlalt|bfcvtn?2?|fcmla|fcadd|fjcvtzs|frint(32|64)[xz]|cfinv|rmif|setf8|setf16|axflag|xaflag|ldapu?rs?[bhw]?|stlur[bh]?)$/ ||
      op ~ /^((bl?r|ret|ldr)a[ab]|eret?a[ab]|pacga|xpac[id]|(pac|aut)[id]z?[ab])$/ ||
      op ~ /^(crc32c?[bhwx]|aes[edi]|aesimc|aesmc|sha(1|256|512)|sm[34]|eor3|bcax|rax1|xar)/ ||
      args ~ /(^|[ ,{\[])[zp][0-9]+(\.|[ ,\/]|$)/ ||
      (op ~ /^f/ && op !~ /^fcvt/ && args ~ /(^|[ ,{])h[0-9]+([ ,]|$)|\.[48]h/)
    if (late) print fn, op, args
  }' "$disasm" | head -n 20)
[ -z "$bad" ] || die "$so_name uses instructions past ARMv8.0 (the build must run on any aarch64 core):
$bad"

pkg=$build/pkg/sqbert_kernels
rm -rf "$build/pkg"
mkdir -p "$pkg"
# The package's Python, subpackages included, without the x86 build.
tar -C "$root/sqbert_kernels" --exclude='*.so' --exclude=__pycache__ -cf - . | tar -C "$pkg" -xf -
cp "$build/$so_name" "$pkg/"

# ----------------------------------------------------------- the tests
step "pytest tests/aarch64 under qemu-aarch64 (QEMU_CPU=$qemu_cpu; import torch alone takes 20-60 s)"
# Run from the build directory: the repo root on sys.path would shadow the
# staging package with the x86 one. tests/ is on the path for what the suites
# share: the helpers (cases.py), the backend fixture (backends.py) and the
# tests (test_shared_ops.py, which test_neon_op.py imports); confcutdir keeps
# tests/conftest.py (the x86 suite's) out, tests/aarch64/conftest.py takes
# its place.
status=0
(
  cd "$build"
  QEMU_CPU=$qemu_cpu QEMU_LD_PREFIX=$rootfs PYTHONPATH=$build/pkg:$root/tests PYTHONDONTWRITEBYTECODE=1 \
    PYTHONNOUSERSITE=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} \
    qemu-aarch64 "$rootfs/usr/bin/python3.11" -m pytest "$root/tests/aarch64" \
    --rootdir="$root/tests/aarch64" --confcutdir="$root/tests/aarch64" \
    -p no:cacheprovider -q -W "ignore:Failed to initialize NumPy:UserWarning" "$@"
) || status=$?
if [ "$status" -ne 0 ]; then
  echo "== aarch64 [$((SECONDS - t_start))s] FAILED (pytest exit $status)" >&2
  exit "$status"
fi
step "passed"

// Per-file ISA targets. A kernel file opens its ISA region after all of its
// includes and closes it at the end, so only that file's code may use the
// ISA: the rest of the library stays baseline and runs on any CPU of the
// architecture. Doing this in the source (rather than with -mavx2 on the
// command line) gives setup.py, whose ninja build has one flag set for all
// files, and CMake the same per-file result.
//
// NEONDOT (AArch64 dot product, sdot/udot) names GCC's arch=armv8.2-a, not
// +dotprod: arm_neon.h declares the dot-product intrinsics under that arch,
// and GCC inlines them only into functions whose target includes it. ARMv8.2
// also allows LSE atomics and RDMA there; tests/aarch64/run.sh checks that
// only sdot/udot appear. Clang's arm_neon.h declares them for a target
// attribute from Clang 16 on (before, only under -march=...+dotprod); only
// GCC 12 is tested here.
#pragma once

#if defined(__clang__)
#define SQBERT_ISA_BEGIN_AVX2 \
  _Pragma("clang attribute push(__attribute__((target(\"avx2,fma\"))), apply_to = function)")
#define SQBERT_ISA_BEGIN_AVXVNNI \
  _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,avxvnni\"))), apply_to = function)")
#define SQBERT_ISA_BEGIN_AVX512F \
  _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx2,fma\"))), apply_to = function)")
#define SQBERT_ISA_BEGIN_AVX512VNNI \
  _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx512bw,avx512vnni,fma\"))), apply_to = function)")
#define SQBERT_ISA_BEGIN_NEONDOT \
  _Pragma("clang attribute push(__attribute__((target(\"dotprod\"))), apply_to = function)")
#define SQBERT_ISA_END _Pragma("clang attribute pop")
#elif defined(__GNUC__)
#define SQBERT_ISA_BEGIN_AVX2 \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma\")")
#define SQBERT_ISA_BEGIN_AVXVNNI \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,avxvnni\")")
#define SQBERT_ISA_BEGIN_AVX512F \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx2,fma\")")
#define SQBERT_ISA_BEGIN_AVX512VNNI \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx512bw,avx512vnni,fma\")")
#define SQBERT_ISA_BEGIN_NEONDOT \
  _Pragma("GCC push_options") _Pragma("GCC target(\"arch=armv8.2-a+dotprod\")")
#define SQBERT_ISA_END _Pragma("GCC pop_options")
#else
#error "sqbert-kernels needs GCC or Clang for its per-file ISA targets"
#endif

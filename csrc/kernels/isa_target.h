// Per-file ISA targets. A kernel file opens its ISA region after all of its
// includes and closes it at the end, so only that file's code may use the
// ISA: the rest of the library stays baseline and runs on any CPU of the
// architecture. Doing this in the source (rather than with -mavx2 on the
// command line) gives setup.py, whose ninja build has one flag set for all
// files, and CMake the same per-file result.
#pragma once

#if defined(__clang__)
#define SQBERT_ISA_BEGIN_AVX2 \
  _Pragma("clang attribute push(__attribute__((target(\"avx2,fma\"))), apply_to = function)")
#define SQBERT_ISA_END _Pragma("clang attribute pop")
#elif defined(__GNUC__)
#define SQBERT_ISA_BEGIN_AVX2 \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma\")")
#define SQBERT_ISA_END _Pragma("GCC pop_options")
#else
#error "sqbert-kernels needs GCC or Clang for its per-file ISA targets"
#endif

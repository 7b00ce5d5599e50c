// The f32 GELU micro-kernel contract: x = x * (1 + erf(x / sqrt(2))) / 2 in
// place over `rows` rows of n floats, row r at x + r * stride (a tile the
// GEMM kernel just wrote: one call per tile). The exact GELU: torch's default and Hugging Face's
// "gelu"). Every kernel, the scalar reference included, is f32_vgelu.inl
// over its ISA's SIMD layer: erf from Abramowitz & Stegun 7.1.28 (absolute
// error below 3e-7), a polynomial and one division, no exp.
#pragma once

#include <cstddef>

namespace sqbert {

using f32_vgelu_ukernel_fn = void (*)(size_t rows, size_t n, float* x, size_t stride);

void f32_vgelu__scalar(size_t rows, size_t n, float* x, size_t stride);

#if defined(__x86_64__)
void f32_vgelu__avx2(size_t rows, size_t n, float* x, size_t stride);
void f32_vgelu__avx512f(size_t rows, size_t n, float* x, size_t stride);
#endif

#if defined(__aarch64__)
void f32_vgelu__neon(size_t rows, size_t n, float* x, size_t stride);
#endif

}  // namespace sqbert

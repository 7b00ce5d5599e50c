// The f32 GELU micro-kernel contract: x = x * (1 + erf(x / sqrt(2))) / 2 in
// place over n floats (the exact GELU: torch's default and Hugging Face's
// "gelu"). The SIMD kernels take erf from Abramowitz & Stegun 7.1.26
// (absolute error below 1.5e-7) with their own exp.
#pragma once

#include <cstddef>

namespace sqbert {

using f32_vgelu_ukernel_fn = void (*)(size_t n, float* x);

void f32_vgelu__scalar(size_t n, float* x);

#if defined(__x86_64__) || defined(_M_X64)
void f32_vgelu__avx2(size_t n, float* x);
#endif

#if defined(__aarch64__)
void f32_vgelu__neon(size_t n, float* x);
#endif

}  // namespace sqbert

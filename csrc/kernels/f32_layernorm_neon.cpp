// ARM NEON (AArch64) LayerNorm over channels: 4 positions a step along each
// row segment, the tail (n % 4 positions) through lane loads and stores.
// The algorithm: f32_layernorm.inl.
#if defined(__aarch64__)

#include "f32_layernorm.h"
#include "simd/f32_neon.h"
#include "f32_layernorm.inl"

namespace sqbert {

void f32_layernorm__neon(size_t channels, size_t n, const float* x, size_t x_stride,
                         const float* r, size_t r_stride, const float* gamma,
                         const float* beta, float eps, float* y, size_t y_stride,
                         float* scratch) {
  f32_layernorm<F32Neon>(channels, n, x, x_stride, r, r_stride, gamma, beta, eps, y, y_stride,
                         scratch);
}

}  // namespace sqbert

#endif

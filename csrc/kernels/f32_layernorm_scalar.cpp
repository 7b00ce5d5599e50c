// The scalar reference LayerNorm over channels: the algorithm of
// f32_layernorm.inl, one position at a time.
#include "f32_layernorm.h"
#include "simd/f32_scalar.h"
#include "f32_layernorm.inl"

namespace sqbert {

void f32_layernorm__scalar(size_t channels, size_t n, const float* x, size_t x_stride,
                           const float* r, size_t r_stride, const float* gamma,
                           const float* beta, float eps, float* y, size_t y_stride,
                           float* scratch) {
  f32_layernorm<F32Scalar>(channels, n, x, x_stride, r, r_stride, gamma, beta, eps, y, y_stride,
                           scratch);
}

}  // namespace sqbert

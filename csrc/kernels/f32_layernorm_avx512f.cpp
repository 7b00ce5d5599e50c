// x86 AVX-512F LayerNorm over channels: 16 positions a step along each row
// segment, the tail through masked loads. The algorithm: f32_layernorm.inl.
#if defined(__x86_64__)

#include <immintrin.h>

#include "f32_layernorm.h"
#include "isa_target.h"

SQBERT_ISA_BEGIN_AVX512F

#include "simd/f32_avx512.h"
#include "f32_layernorm.inl"

namespace sqbert {

void f32_layernorm__avx512f(size_t channels, size_t n, const float* x, size_t x_stride,
                         const float* r, size_t r_stride, const float* gamma,
                         const float* beta, float eps, float* y, size_t y_stride,
                         float* scratch) {
  f32_layernorm<F32Avx512>(channels, n, x, x_stride, r, r_stride, gamma, beta, eps, y, y_stride,
                         scratch);
}

}  // namespace sqbert

SQBERT_ISA_END

#endif

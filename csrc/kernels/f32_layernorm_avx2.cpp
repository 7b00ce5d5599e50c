// x86 AVX2+FMA LayerNorm over channels: 8 positions a step along each row
// segment, the tail through masked loads. The algorithm: f32_layernorm.inl.
#if defined(__x86_64__)

#include <immintrin.h>

#include "f32_layernorm.h"
#include "isa_target.h"

SQBERT_ISA_BEGIN_AVX2

#include "simd/f32_avx2.h"
#include "f32_layernorm.inl"

namespace sqbert {

void f32_layernorm__avx2(size_t channels, size_t n, const float* x, size_t x_stride,
                         const float* r, size_t r_stride, const float* gamma,
                         const float* beta, float eps, float* y, size_t y_stride,
                         float* scratch) {
  f32_layernorm<F32Avx2>(channels, n, x, x_stride, r, r_stride, gamma, beta, eps, y, y_stride,
                         scratch);
}

}  // namespace sqbert

SQBERT_ISA_END

#endif

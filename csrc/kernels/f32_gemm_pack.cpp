#include "f32_gemm_pack.h"

namespace sqbert {

size_t f32_gemm_packed_size(size_t groups, size_t m, size_t k, size_t mr) {
  return groups * ((m + mr - 1) / mr) * (1 + k) * mr;
}

void f32_gemm_pack_weights(size_t groups, size_t m, size_t k, size_t mr,
                           const float* weight, size_t w_stride_c,
                           size_t w_stride_k, const float* bias,
                           size_t b_stride, float* packed) {
  for (size_t g = 0; g < groups; g++) {
    for (size_t m0 = 0; m0 < m; m0 += mr) {
      for (size_t i = 0; i < mr; i++) {
        const size_t c = g * m + m0 + i;
        *packed++ = (m0 + i < m && bias != nullptr) ? bias[c * b_stride] : 0.0f;
      }
      for (size_t j = 0; j < k; j++) {
        for (size_t i = 0; i < mr; i++) {
          const size_t c = g * m + m0 + i;
          *packed++ = m0 + i < m ? weight[c * w_stride_c + j * w_stride_k] : 0.0f;
        }
      }
    }
  }
}

}  // namespace sqbert

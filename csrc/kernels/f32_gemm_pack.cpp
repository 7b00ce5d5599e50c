#include "f32_gemm_pack.h"

namespace sqbert {

size_t f32_gemm_panel_count(size_t m, size_t mr) { return (m + mr - 1) / mr; }

size_t f32_gemm_packed_size(size_t groups, size_t m, size_t k, size_t mr) {
  return groups * f32_gemm_panel_count(m, mr) * (1 + k) * mr;
}

void f32_gemm_pack_weights(size_t m, size_t k, size_t mr, size_t panel_begin,
                           size_t panel_end, const float* weight,
                           size_t w_stride_c, size_t w_stride_k,
                           const float* bias, size_t b_stride, float* packed) {
  const size_t panels = f32_gemm_panel_count(m, mr);
  packed += panel_begin * (1 + k) * mr;
  for (size_t p = panel_begin; p < panel_end; p++) {
    const size_t m0 = (p % panels) * mr;
    const size_t rows = m - m0 < mr ? m - m0 : mr;
    const size_t c0 = (p / panels) * m + m0;
    for (size_t i = 0; i < mr; i++) {
      *packed++ = (i < rows && bias != nullptr) ? bias[(c0 + i) * b_stride] : 0.0f;
    }
    for (size_t j = 0; j < k; j++) {
      const float* w = weight + c0 * w_stride_c + j * w_stride_k;
      for (size_t i = 0; i < rows; i++) *packed++ = w[i * w_stride_c];
      for (size_t i = rows; i < mr; i++) *packed++ = 0.0f;
    }
  }
}

}  // namespace sqbert

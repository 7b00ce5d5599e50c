#include "qs8_gemm_pack.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "qs8_gemm.h"

namespace sqbert {

void qs8_gemm_pack_weights(size_t m, size_t k, size_t mr, size_t panel_begin, size_t panel_end,
                           const float* weight, size_t w_stride_c, size_t w_stride_k, const float* bias,
                           size_t b_stride, void* packed, size_t group_stride) {
  const size_t panels = (m + mr - 1) / mr, panel_bytes = qs8_panel_bytes(mr, k);
  if (group_stride == 0) group_stride = panels * panel_bytes;
  for (size_t p = panel_begin; p < panel_end; p++) {
    const size_t g = p / panels, m0 = (p % panels) * mr, rows = std::min(mr, m - m0);
    uint8_t* panel = static_cast<uint8_t*>(packed) + g * group_stride + (p % panels) * panel_bytes;
    std::memset(panel, 0, panel_bytes);
    auto* row_sum = reinterpret_cast<int32_t*>(panel);
    auto* scale = reinterpret_cast<float*>(panel + mr * sizeof(int32_t));
    float* b = scale + mr;
    auto* w = reinterpret_cast<int8_t*>(b + mr);
    for (size_t i = 0; i < rows; i++) {
      const float* row = weight + (g * m + m0 + i) * w_stride_c;
      float amax = 0.0f;
      for (size_t j = 0; j < k; j++) amax = std::max(amax, std::fabs(row[j * w_stride_k]));
      const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
      scale[i] = amax / 127.0f;
      if (bias != nullptr) b[i] = bias[(g * m + m0 + i) * b_stride];
      int32_t sum = 0;
      for (size_t j = 0; j < k; j++) {
        const float q = std::min(127.0f, std::max(-127.0f, std::nearbyint(row[j * w_stride_k] * inv)));
        w[(j / kQs8Kr * mr + i) * kQs8Kr + j % kQs8Kr] = static_cast<int8_t>(q);
        sum += static_cast<int32_t>(q);
      }
      row_sum[i] = sum;
    }
  }
}

}  // namespace sqbert

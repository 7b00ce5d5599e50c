// Portable reference int8 kernels (qs8_gemm.h): any CPU, and the ground
// truth the SIMD kernels are checked against, byte for byte and bit for bit.
#include <algorithm>
#include <cassert>
#include <cfloat>
#include <cmath>
#include <limits>

#include "qs8_gemm.h"

namespace sqbert {

void qs8_gemm_4x4c4__scalar(size_t mr, size_t nc, size_t kc, const void* w, const uint8_t* x,
                            const float* x_scale, const int32_t* x_zero, float* y, size_t y_stride) {
  constexpr size_t MR = 4, NR = 4;
  assert(mr >= 1 && mr <= MR && nc >= 1 && nc <= NR);
  const auto* row_sum = static_cast<const int32_t*>(w);
  const auto* scale = reinterpret_cast<const float*>(row_sum + MR);
  const float* bias = scale + MR;
  const auto* wq = reinterpret_cast<const int8_t*>(bias + MR);
  int32_t acc[MR][NR] = {};
  for (size_t q = 0; q < (kc + kQs8Kr - 1) / kQs8Kr; q++, wq += MR * kQs8Kr, x += NR * kQs8Kr) {
    for (size_t i = 0; i < MR; i++)
      for (size_t j = 0; j < NR; j++)
        for (size_t t = 0; t < kQs8Kr; t++) acc[i][j] += int32_t{wq[i * kQs8Kr + t]} * int32_t{x[j * kQs8Kr + t]};
  }
  for (size_t i = 0; i < mr; i++)
    for (size_t j = 0; j < nc; j++)
      y[i * y_stride + j] =
          std::fma(static_cast<float>(acc[i][j] - x_zero[j] * row_sum[i]), scale[i] * x_scale[j], bias[i]);
}

void f32_qu7_quantize__scalar(size_t kc, size_t nc, size_t nr, const float* x, size_t x_stride, uint8_t* xq,
                              float* x_scale, int32_t* x_zero) {
  assert(nc <= nr);
  std::fill(xq, xq + qu7_block_bytes(nr, kc), uint8_t{0});
  for (size_t n = 0; n < nr; n++) {
    x_scale[n] = 0.0f;
    x_zero[n] = 0;
  }
  for (size_t n = 0; n < nc; n++) {
    float lo = 0.0f, hi = 0.0f, nan_check = 0.0f;
    for (size_t k = 0; k < kc; k++) {
      const float v = x[k * x_stride + n];
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      nan_check += v - v;  // NaN once any input is inf or NaN
    }
    const float range = hi - lo;
    if (!(nan_check == 0.0f && range <= FLT_MAX)) {
      x_scale[n] = std::numeric_limits<float>::quiet_NaN();
      continue;  // xq and x_zero stay 0
    }
    const float inv = range > 0.0f ? 127.0f / range : 0.0f;
    x_scale[n] = range / 127.0f;
    const float zero = std::min(127.0f, std::max(0.0f, std::nearbyint(-lo * inv)));
    x_zero[n] = static_cast<int32_t>(zero);
    for (size_t k = 0; k < kc; k++) {
      const float q = std::min(127.0f, std::max(0.0f, std::nearbyint(x[k * x_stride + n] * inv) + zero));
      xq[(k / kQs8Kr * nr + n) * kQs8Kr + k % kQs8Kr] = static_cast<uint8_t>(q);
    }
  }
}

}  // namespace sqbert

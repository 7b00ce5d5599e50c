// Portable reference micro-kernel: any CPU, and the ground truth the SIMD
// kernels are checked against in the C++ tests.
#include "f32_gemm.h"

namespace sqbert {

void f32_gemm_4x4__scalar(size_t mr, size_t nc, size_t kc, const float* w,
                          const float* x, size_t x_stride, float* y,
                          size_t y_stride) {
  constexpr size_t MR = 4, NR = 4;
  float acc[MR][NR];
  for (size_t i = 0; i < MR; i++) {
    for (size_t j = 0; j < NR; j++) acc[i][j] = w[i];
  }
  w += MR;
  for (size_t k = 0; k < kc; k++, x += x_stride, w += MR) {
    float xr[NR];
    for (size_t j = 0; j < NR; j++) xr[j] = j < nc ? x[j] : 0.0f;
    for (size_t i = 0; i < MR; i++) {
      for (size_t j = 0; j < NR; j++) acc[i][j] += w[i] * xr[j];
    }
  }
  for (size_t i = 0; i < mr; i++) {
    for (size_t j = 0; j < nc; j++) y[i * y_stride + j] = acc[i][j];
  }
}

}  // namespace sqbert

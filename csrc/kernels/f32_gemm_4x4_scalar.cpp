// Portable reference micro-kernel: any CPU, and the ground truth the SIMD
// kernels are checked against in the C++ tests.
#include "f32_gemm.h"

#include <cassert>

namespace sqbert {

void f32_gemm_4x4__scalar(size_t mr, size_t nc, size_t kc,
                          const F32GemmWeights& w, const float* x,
                          size_t x_stride, float* y, size_t y_stride,
                          const F32GemmEpilogue& epilogue) {
  constexpr size_t MR = 4, NR = 4;
  assert(mr >= 1 && mr <= MR && nc >= 1 && nc <= NR);
  assert(kc == 0 || (w.w != nullptr && x != nullptr));
  const bool accumulate = epilogue.accumulate;
  const float* col_scale = epilogue.col_scale;
  float acc[MR][NR] = {};
  for (size_t i = 0; i < mr; i++) {
    for (size_t j = 0; j < nc; j++) {
      acc[i][j] = accumulate ? y[i * y_stride + j] : (w.bias ? w.bias[i] : 0.0f);
    }
  }
  for (size_t k = 0; k < kc; k++, x += x_stride) {
    for (size_t i = 0; i < mr; i++) {
      const float a = w.w[i * w.stride_m + k * w.stride_k];
      for (size_t j = 0; j < nc; j++) acc[i][j] += a * x[j];
    }
  }
  for (size_t i = 0; i < mr; i++) {
    for (size_t j = 0; j < nc; j++) {
      y[i * y_stride + j] = col_scale ? acc[i][j] * col_scale[j] : acc[i][j];
    }
  }
}

}  // namespace sqbert

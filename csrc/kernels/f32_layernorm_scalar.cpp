#include <cmath>

#include "f32_layernorm.h"

namespace sqbert {

void f32_layernorm__scalar(size_t channels, size_t n, const float* x, size_t x_stride,
                           const float* r, size_t r_stride, const float* gamma,
                           const float* beta, float eps, float* y, size_t y_stride,
                           float* scratch) {
  float* mean = scratch;
  float* rstd = scratch + n;
  for (size_t i = 0; i < n; i++) mean[i] = rstd[i] = 0.0f;
  for (size_t c = 0; c < channels; c++) {
    const float* xc = x + c * x_stride;
    float* yc = y + c * y_stride;
    for (size_t i = 0; i < n; i++) {
      yc[i] = xc[i] + (r ? r[c * r_stride + i] : 0.0f);
      mean[i] += yc[i];
    }
  }
  for (size_t i = 0; i < n; i++) mean[i] /= static_cast<float>(channels);
  for (size_t c = 0; c < channels; c++) {
    for (size_t i = 0; i < n; i++) {
      const float d = y[c * y_stride + i] - mean[i];
      rstd[i] += d * d;
    }
  }
  for (size_t i = 0; i < n; i++) rstd[i] = 1.0f / std::sqrt(rstd[i] / static_cast<float>(channels) + eps);
  for (size_t c = 0; c < channels; c++) {
    float* yc = y + c * y_stride;
    for (size_t i = 0; i < n; i++) yc[i] = (yc[i] - mean[i]) * rstd[i] * gamma[c] + beta[c];
  }
}

}  // namespace sqbert

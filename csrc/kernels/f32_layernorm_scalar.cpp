#include <cmath>

#include "f32_layernorm.h"

namespace sqbert {

void f32_layernorm__scalar(size_t channels, size_t n, const float* x, size_t x_stride,
                           const float* r, size_t r_stride, const float* gamma,
                           const float* beta, float eps, float* y, size_t y_stride,
                           float* scratch) {
  if (channels == 0) return;
  float* mean = scratch;      // the sums of z - z0, then the means
  float* rstd = scratch + n;  // z0 (row 0 of z) until the means are in
  // z = x + r into y, and the sums of z - z0 (the shift: f32_layernorm.h),
  // z0 kept in scratch and rows 1.. two at a time, as the vector kernels
  // add them.
  for (size_t i = 0; i < n; i++) {
    y[i] = rstd[i] = x[i] + (r ? r[i] : 0.0f);
    mean[i] = 0.0f;
  }
  size_t c = 1;
  for (; c + 2 <= channels; c += 2) {
    const float* xa = x + c * x_stride;
    const float* xb = xa + x_stride;
    const float* ra = r ? r + c * r_stride : nullptr;
    const float* rb = r ? ra + r_stride : nullptr;
    float* ya = y + c * y_stride;
    float* yb = ya + y_stride;
    for (size_t i = 0; i < n; i++) {
      const float za = xa[i] + (r ? ra[i] : 0.0f), zb = xb[i] + (r ? rb[i] : 0.0f);
      ya[i] = za;
      yb[i] = zb;
      mean[i] += (za - rstd[i]) + (zb - rstd[i]);
    }
  }
  for (; c < channels; c++) {
    const float* xc = x + c * x_stride;
    float* yc = y + c * y_stride;
    for (size_t i = 0; i < n; i++) {
      const float z = xc[i] + (r ? r[c * r_stride + i] : 0.0f);
      yc[i] = z;
      mean[i] += z - rstd[i];
    }
  }
  for (size_t i = 0; i < n; i++) {
    mean[i] = rstd[i] + mean[i] / static_cast<float>(channels);
    rstd[i] = 0.0f;
  }
  // The sums of squared deviations, two rows at a time too.
  for (c = 0; c + 2 <= channels; c += 2) {
    const float* ya = y + c * y_stride;
    const float* yb = ya + y_stride;
    for (size_t i = 0; i < n; i++) {
      const float da = ya[i] - mean[i], db = yb[i] - mean[i];
      rstd[i] += da * da;
      rstd[i] += db * db;
    }
  }
  for (; c < channels; c++) {
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

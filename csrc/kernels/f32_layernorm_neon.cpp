// ARM NEON (AArch64) LayerNorm over channels: 4 positions a step along each
// row segment, the tail (n % 4 positions) lane by lane.
#if defined(__aarch64__)

#include <arm_neon.h>

#include "f32_layernorm.h"

namespace sqbert {
namespace {

// f4(i) for each step of 4 positions of [0, n), f1(i) for the rest.
template <typename F4, typename F1>
inline void for_steps(size_t n, F4 f4, F1 f1) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) f4(i);
  for (; i < n; i++) f1(i);
}

}  // namespace

void f32_layernorm__neon(size_t channels, size_t n, const float* x, size_t x_stride,
                         const float* r, size_t r_stride, const float* gamma,
                         const float* beta, float eps, float* y, size_t y_stride,
                         float* scratch) {
  if (channels == 0) return;
  float* mean = scratch;      // the sums of z - z0, then the means
  float* rstd = scratch + n;  // z0 (row 0 of z) until the means are in
  // z = x + r into y, and the sums of z - z0 (the shift: f32_layernorm.h),
  // z0 kept in scratch and rows 1.. two a sweep, as the AVX2 kernel does.
  for_steps(
      n,
      [&](size_t i) {
        float32x4_t z = vld1q_f32(x + i);
        if (r != nullptr) z = vaddq_f32(z, vld1q_f32(r + i));
        vst1q_f32(y + i, z);
        vst1q_f32(rstd + i, z);
        vst1q_f32(mean + i, vdupq_n_f32(0.0f));
      },
      [&](size_t i) {
        y[i] = rstd[i] = x[i] + (r != nullptr ? r[i] : 0.0f);
        mean[i] = 0.0f;
      });
  size_t c = 1;
  for (; c + 2 <= channels; c += 2) {
    const float* xa = x + c * x_stride;
    const float* xb = xa + x_stride;
    const float* ra = r != nullptr ? r + c * r_stride : nullptr;
    const float* rb = r != nullptr ? ra + r_stride : nullptr;
    float* ya = y + c * y_stride;
    float* yb = ya + y_stride;
    for_steps(
        n,
        [&](size_t i) {
          float32x4_t za = vld1q_f32(xa + i), zb = vld1q_f32(xb + i);
          if (r != nullptr) {
            za = vaddq_f32(za, vld1q_f32(ra + i));
            zb = vaddq_f32(zb, vld1q_f32(rb + i));
          }
          vst1q_f32(ya + i, za);
          vst1q_f32(yb + i, zb);
          const float32x4_t z0 = vld1q_f32(rstd + i);
          const float32x4_t dz = vaddq_f32(vsubq_f32(za, z0), vsubq_f32(zb, z0));
          vst1q_f32(mean + i, vaddq_f32(vld1q_f32(mean + i), dz));
        },
        [&](size_t i) {
          const float za = xa[i] + (r != nullptr ? ra[i] : 0.0f);
          const float zb = xb[i] + (r != nullptr ? rb[i] : 0.0f);
          ya[i] = za;
          yb[i] = zb;
          mean[i] += (za - rstd[i]) + (zb - rstd[i]);
        });
  }
  for (; c < channels; c++) {
    const float* xc = x + c * x_stride;
    const float* rc = r != nullptr ? r + c * r_stride : nullptr;
    float* yc = y + c * y_stride;
    for_steps(
        n,
        [&](size_t i) {
          float32x4_t z = vld1q_f32(xc + i);
          if (rc != nullptr) z = vaddq_f32(z, vld1q_f32(rc + i));
          vst1q_f32(yc + i, z);
          vst1q_f32(mean + i, vaddq_f32(vld1q_f32(mean + i), vsubq_f32(z, vld1q_f32(rstd + i))));
        },
        [&](size_t i) {
          const float z = xc[i] + (rc != nullptr ? rc[i] : 0.0f);
          yc[i] = z;
          mean[i] += z - rstd[i];
        });
  }
  const float inv_c = 1.0f / static_cast<float>(channels);
  for (size_t i = 0; i < n; i++) {
    mean[i] = rstd[i] + mean[i] * inv_c;
    rstd[i] = 0.0f;
  }
  // The sums of squared deviations, two rows a sweep too.
  for (c = 0; c + 2 <= channels; c += 2) {
    const float* ya = y + c * y_stride;
    const float* yb = ya + y_stride;
    for_steps(
        n,
        [&](size_t i) {
          const float32x4_t mu = vld1q_f32(mean + i);
          const float32x4_t da = vsubq_f32(vld1q_f32(ya + i), mu);
          const float32x4_t db = vsubq_f32(vld1q_f32(yb + i), mu);
          vst1q_f32(rstd + i, vfmaq_f32(vfmaq_f32(vld1q_f32(rstd + i), da, da), db, db));
        },
        [&](size_t i) {
          const float da = ya[i] - mean[i], db = yb[i] - mean[i];
          rstd[i] += da * da;
          rstd[i] += db * db;
        });
  }
  for (; c < channels; c++) {
    const float* yc = y + c * y_stride;
    for_steps(
        n,
        [&](size_t i) {
          const float32x4_t d = vsubq_f32(vld1q_f32(yc + i), vld1q_f32(mean + i));
          vst1q_f32(rstd + i, vfmaq_f32(vld1q_f32(rstd + i), d, d));
        },
        [&](size_t i) { rstd[i] += (yc[i] - mean[i]) * (yc[i] - mean[i]); });
  }
  // Exact 1 / sqrt, not vrsqrte's 8 bits: outputs are held to 1e-4 of float64.
  const float32x4_t e = vdupq_n_f32(eps), one = vdupq_n_f32(1.0f);
  for_steps(
      n,
      [&](size_t i) {
        const float32x4_t var = vfmaq_n_f32(e, vld1q_f32(rstd + i), inv_c);
        vst1q_f32(rstd + i, vdivq_f32(one, vsqrtq_f32(var)));
      },
      [&](size_t i) { rstd[i] = 1.0f / __builtin_sqrtf(rstd[i] * inv_c + eps); });
  for (size_t c = 0; c < channels; c++) {
    float* yc = y + c * y_stride;
    const float g = gamma[c];
    const float32x4_t b = vdupq_n_f32(beta[c]);
    for_steps(
        n,
        [&](size_t i) {
          const float32x4_t d = vsubq_f32(vld1q_f32(yc + i), vld1q_f32(mean + i));
          vst1q_f32(yc + i, vfmaq_f32(b, d, vmulq_n_f32(vld1q_f32(rstd + i), g)));
        },
        [&](size_t i) { yc[i] = (yc[i] - mean[i]) * (rstd[i] * g) + beta[c]; });
  }
}

}  // namespace sqbert

#endif

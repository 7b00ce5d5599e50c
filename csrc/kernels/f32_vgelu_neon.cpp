// ARM NEON (AArch64) exact GELU, 4 floats a step; the tail staged.
#if defined(__aarch64__)

#include <arm_neon.h>

#include <cstring>

#include "f32_vexp_neon.h"
#include "f32_vgelu.h"

namespace sqbert {
namespace {

float32x4_t gelu_f32(float32x4_t x) {
  // erf(|z|) = 1 - t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) exp(-z^2),
  // t = 1 / (1 + p |z|), z = x / sqrt(2); gelu = x (1 + sign(x) erf|z|) / 2.
  const float32x4_t z = vmulq_n_f32(x, 0.70710678f);
  const float32x4_t az = vabsq_f32(z);
  const float32x4_t t = vdivq_f32(vdupq_n_f32(1.0f), vfmaq_n_f32(vdupq_n_f32(1.0f), az, 0.3275911f));
  float32x4_t p = vdupq_n_f32(1.061405429f);
  p = vfmaq_f32(vdupq_n_f32(-1.453152027f), p, t);
  p = vfmaq_f32(vdupq_n_f32(1.421413741f), p, t);
  p = vfmaq_f32(vdupq_n_f32(-0.284496736f), p, t);
  p = vfmaq_f32(vdupq_n_f32(0.254829592f), p, t);
  p = vmulq_f32(p, t);
  const float32x4_t e = exp_f32(vnegq_f32(vmulq_f32(az, az)));
  const float32x4_t erf_abs = vfmsq_f32(vdupq_n_f32(1.0f), p, e);
  // Put the sign of z back on erf.
  const uint32x4_t sign = vandq_u32(vreinterpretq_u32_f32(z), vdupq_n_u32(0x80000000u));
  const float32x4_t erf = vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(erf_abs), sign));
  return vmulq_f32(vmulq_n_f32(x, 0.5f), vaddq_f32(erf, vdupq_n_f32(1.0f)));
}

}  // namespace

void f32_vgelu__neon(size_t n, float* x) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(x + i, gelu_f32(vld1q_f32(x + i)));
  if (i < n) {
    float tail[4] = {0, 0, 0, 0};
    std::memcpy(tail, x + i, (n - i) * sizeof(float));
    vst1q_f32(tail, gelu_f32(vld1q_f32(tail)));
    std::memcpy(x + i, tail, (n - i) * sizeof(float));
  }
}

}  // namespace sqbert

#endif

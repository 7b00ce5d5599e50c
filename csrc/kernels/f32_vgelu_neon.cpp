// ARM NEON (AArch64) exact GELU, 4 floats a step; the tail staged.
#if defined(__aarch64__)

#include <arm_neon.h>

#include <cstring>

#include "f32_vgelu.h"

namespace sqbert {
namespace {

float32x4_t gelu_f32(float32x4_t x) {
  // erf(|z|) = 1 - (1 + a1|z| + ... + a6|z|^6)^-16, z = x / sqrt(2);
  // gelu = x (1 + sign(x) erf|z|) / 2. Past |z| ~ 1e3 the power overflows
  // to inf and erf to exactly 1.
  const float32x4_t z = vmulq_n_f32(x, 0.70710678f);
  const float32x4_t az = vabsq_f32(z);
  float32x4_t p = vdupq_n_f32(0.0000430638f);
  p = vfmaq_f32(vdupq_n_f32(0.0002765672f), p, az);
  p = vfmaq_f32(vdupq_n_f32(0.0001520143f), p, az);
  p = vfmaq_f32(vdupq_n_f32(0.0092705272f), p, az);
  p = vfmaq_f32(vdupq_n_f32(0.0422820123f), p, az);
  p = vfmaq_f32(vdupq_n_f32(0.0705230784f), p, az);
  p = vfmaq_f32(vdupq_n_f32(1.0f), p, az);
  p = vmulq_f32(p, p);
  p = vmulq_f32(p, p);
  p = vmulq_f32(p, p);
  p = vmulq_f32(p, p);
  const float32x4_t erf_abs = vsubq_f32(vdupq_n_f32(1.0f), vdivq_f32(vdupq_n_f32(1.0f), p));
  // Put the sign of z back on erf.
  const uint32x4_t sign = vandq_u32(vreinterpretq_u32_f32(z), vdupq_n_u32(0x80000000u));
  const float32x4_t erf = vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(erf_abs), sign));
  return vmulq_f32(vmulq_n_f32(x, 0.5f), vaddq_f32(erf, vdupq_n_f32(1.0f)));
}

}  // namespace

void f32_vgelu__neon(size_t rows, size_t n, float* x, size_t stride) {
  for (size_t r = 0; r < rows; r++, x += stride) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(x + i, gelu_f32(vld1q_f32(x + i)));
    if (i < n) {
      float tail[4] = {0, 0, 0, 0};
      std::memcpy(tail, x + i, (n - i) * sizeof(float));
      vst1q_f32(tail, gelu_f32(vld1q_f32(tail)));
      std::memcpy(x + i, tail, (n - i) * sizeof(float));
    }
  }
}

}  // namespace sqbert

#endif

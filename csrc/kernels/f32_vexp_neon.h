// exp for NEON kernels (AArch64), after <arm_neon.h>.
#pragma once

#include <arm_neon.h>

namespace sqbert {
namespace {

// exp(x) in float32 for x <= 0, what the softmax exponentiates (s - max):
// 2^n * p(t) with x = n ln2 + t, the scheme of the AVX2 exp_ps
// (f32_vexp_avx2.h): a magic bias leaves n + 127 in the low mantissa bits,
// shifted straight into the exponent field, so no rounding or conversion
// instructions; x raised to -88 first gives exactly 0 there (-inf
// included), and fmax keeps a NaN. 8 fmla/fmul a vector.
inline float32x4_t exp_f32(float32x4_t x) {
  const float32x4_t magic_bias = vdupq_n_f32(0x1.8000FEp23f);
  x = vmaxq_f32(x, vdupq_n_f32(-88.0f));
  float32x4_t n = vfmaq_f32(magic_bias, x, vdupq_n_f32(0x1.715476p+0f));
  const float32x4_t scale = vreinterpretq_f32_s32(vshlq_n_s32(vreinterpretq_s32_f32(n), 23));
  n = vsubq_f32(n, magic_bias);
  const float32x4_t t = vfmaq_f32(x, n, vdupq_n_f32(-0x1.62E430p-1f));
  float32x4_t p = vfmaq_f32(vdupq_n_f32(0x1.573A1Ap-5f), vdupq_n_f32(0x1.0F9F9Cp-7f), t);
  p = vfmaq_f32(vdupq_n_f32(0x1.555A80p-3f), p, t);
  p = vfmaq_f32(vdupq_n_f32(0x1.FFFDC6p-2f), p, t);
  p = vfmaq_f32(vdupq_n_f32(0x1.FFFFF6p-1f), p, t);
  return vfmaq_f32(scale, vmulq_f32(t, scale), p);
}

}  // namespace
}  // namespace sqbert

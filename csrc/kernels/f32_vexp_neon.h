// exp for NEON kernels (AArch64), after <arm_neon.h>.
#pragma once

#include <arm_neon.h>

namespace sqbert {
namespace {

// exp(x) in float32 (Cephes' polynomial, about 1 ulp): 2^n * p(r) with
// x = n ln2 + r. Exactly 0 below ln(FLT_MIN), -inf included.
inline float32x4_t exp_f32(float32x4_t x) {
  const uint32x4_t valid = vcgeq_f32(x, vdupq_n_f32(-87.33654f));
  x = vmaxq_f32(vminq_f32(x, vdupq_n_f32(88.37626f)), vdupq_n_f32(-87.33654f));
  const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504f));
  float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
  r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
  p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
  p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
  p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), vmulq_f32(p, r), r);
  const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  const float32x4_t y = vmulq_f32(p, vreinterpretq_f32_s32(e));
  return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(y), valid));
}

}  // namespace
}  // namespace sqbert

// ARM NEON (AArch64) online softmax over 8 query lanes (two q registers).
#if defined(__aarch64__)

#include <arm_neon.h>

#include "f32_softmax.h"

namespace sqbert {
namespace {

// exp(x) in float32 (Cephes' polynomial, about 1 ulp): 2^n * p(r) with
// x = n ln2 + r. Exactly 0 below ln(FLT_MIN), -inf included.
float32x4_t exp_f32(float32x4_t x) {
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

void f32_online_softmax_8__neon(size_t bk, size_t d, float* s, float* m,
                                float* l, float* o) {
  for (size_t h = 0; h < 8; h += 4) {
    const float32x4_t m_old = vld1q_f32(m + h);
    float32x4_t m_new = m_old;
    for (size_t j = 0; j < bk; j++) m_new = vmaxq_f32(m_new, vld1q_f32(s + j * 8 + h));
    // While every score is -inf, exponentiate against 0: exp(-inf) = 0.
    const uint32x4_t all_inf = vceqq_f32(m_new, vdupq_n_f32(-__builtin_inff()));
    const float32x4_t ref = vbslq_f32(all_inf, vdupq_n_f32(0.0f), m_new);
    const float32x4_t alpha = exp_f32(vsubq_f32(m_old, ref));
    float32x4_t sum = vdupq_n_f32(0.0f);
    for (size_t j = 0; j < bk; j++) {
      const float32x4_t p = exp_f32(vsubq_f32(vld1q_f32(s + j * 8 + h), ref));
      vst1q_f32(s + j * 8 + h, p);
      sum = vaddq_f32(sum, p);
    }
    vst1q_f32(l + h, vfmaq_f32(sum, vld1q_f32(l + h), alpha));
    for (size_t c = 0; c < d; c++) {
      vst1q_f32(o + c * 8 + h, vmulq_f32(vld1q_f32(o + c * 8 + h), alpha));
    }
    vst1q_f32(m + h, m_new);
  }
}

}  // namespace sqbert

#endif

// ARM NEON (AArch64) online softmax over 8 query lanes (two q registers).
#if defined(__aarch64__)

#include <arm_neon.h>

#include "f32_softmax.h"
#include "f32_vexp_neon.h"

namespace sqbert {

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

// ARM NEON (AArch64) online softmax over 8 query lanes (two q registers).
#if defined(__aarch64__)

#include <arm_neon.h>

#include "f32_softmax.h"
#include "f32_vexp_neon.h"

namespace sqbert {
namespace {

float32x4_t trn1_f64(float32x4_t a, float32x4_t b) {
  return vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(a), vreinterpretq_f64_f32(b)));
}

float32x4_t trn2_f64(float32x4_t a, float32x4_t b) {
  return vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(a), vreinterpretq_f64_f32(b)));
}

// s[j][h + i] += mask[i][j] for i < 4: the mask's [query][key] rows are
// turned into the scores' [key][query] rows by 4x4 transposes in registers.
void add_mask_quarter(size_t bk, float* s, const float* mask, size_t mask_stride) {
  size_t j = 0;
  for (; j + 4 <= bk; j += 4) {
    const float32x4_t r0 = vld1q_f32(mask + j), r1 = vld1q_f32(mask + mask_stride + j);
    const float32x4_t r2 = vld1q_f32(mask + 2 * mask_stride + j);
    const float32x4_t r3 = vld1q_f32(mask + 3 * mask_stride + j);
    const float32x4_t t0 = vtrn1q_f32(r0, r1), t1 = vtrn2q_f32(r0, r1);
    const float32x4_t t2 = vtrn1q_f32(r2, r3), t3 = vtrn2q_f32(r2, r3);
    const float32x4_t c[4] = {trn1_f64(t0, t2), trn1_f64(t1, t3), trn2_f64(t0, t2),
                              trn2_f64(t1, t3)};
    for (size_t jj = 0; jj < 4; jj++) {
      float* row = s + (j + jj) * 8;
      vst1q_f32(row, vaddq_f32(vld1q_f32(row), c[jj]));
    }
  }
  for (; j < bk; j++) {
    for (size_t i = 0; i < 4; i++) s[j * 8 + i] += mask[i * mask_stride + j];
  }
}

}  // namespace

void f32_online_softmax_8__neon(size_t bk, size_t d, float* s, const float* mask,
                                size_t mask_stride, float* m, float* l, float* o) {
  for (size_t h = 0; h < 8; h += 4) {
    if (mask != nullptr) add_mask_quarter(bk, s + h, mask + h * mask_stride, mask_stride);
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

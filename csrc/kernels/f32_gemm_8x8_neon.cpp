// ARM NEON (AArch64, ARMv8.0) micro-kernel: 8 output channels x 8 sequence
// positions. 16 q-register accumulators; per k step the x row (2 loads) and
// the 8 packed weights (2 loads) feed 16 by-lane FMAs, so on two-pipe cores
// (Cortex-A76, Neoverse N1) the loop is bound by the FMA pipes, not loads.
#if defined(__aarch64__)

#include <arm_neon.h>

#include <cstring>

#include "f32_gemm.h"

namespace sqbert {
namespace {

template <bool kPartial>
void gemm_8x8(size_t mr, size_t nc, size_t kc, const float* w,
              const float* x, size_t x_stride, float* y, size_t y_stride) {
  const float32x4_t b0123 = vld1q_f32(w);
  const float32x4_t b4567 = vld1q_f32(w + 4);
  float32x4_t c0l = vdupq_laneq_f32(b0123, 0), c0h = c0l;
  float32x4_t c1l = vdupq_laneq_f32(b0123, 1), c1h = c1l;
  float32x4_t c2l = vdupq_laneq_f32(b0123, 2), c2h = c2l;
  float32x4_t c3l = vdupq_laneq_f32(b0123, 3), c3h = c3l;
  float32x4_t c4l = vdupq_laneq_f32(b4567, 0), c4h = c4l;
  float32x4_t c5l = vdupq_laneq_f32(b4567, 1), c5h = c5l;
  float32x4_t c6l = vdupq_laneq_f32(b4567, 2), c6h = c6l;
  float32x4_t c7l = vdupq_laneq_f32(b4567, 3), c7h = c7l;
  w += 8;

  for (size_t k = 0; k < kc; k++, x += x_stride, w += 8) {
    float32x4_t xl, xh;
    if (kPartial) {
      // NEON has no masked load: stage the nc valid columns, zero the rest.
      float row[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      std::memcpy(row, x, nc * sizeof(float));
      xl = vld1q_f32(row);
      xh = vld1q_f32(row + 4);
    } else {
      xl = vld1q_f32(x);
      xh = vld1q_f32(x + 4);
    }
    const float32x4_t a0123 = vld1q_f32(w);
    const float32x4_t a4567 = vld1q_f32(w + 4);
    c0l = vfmaq_laneq_f32(c0l, xl, a0123, 0);
    c0h = vfmaq_laneq_f32(c0h, xh, a0123, 0);
    c1l = vfmaq_laneq_f32(c1l, xl, a0123, 1);
    c1h = vfmaq_laneq_f32(c1h, xh, a0123, 1);
    c2l = vfmaq_laneq_f32(c2l, xl, a0123, 2);
    c2h = vfmaq_laneq_f32(c2h, xh, a0123, 2);
    c3l = vfmaq_laneq_f32(c3l, xl, a0123, 3);
    c3h = vfmaq_laneq_f32(c3h, xh, a0123, 3);
    c4l = vfmaq_laneq_f32(c4l, xl, a4567, 0);
    c4h = vfmaq_laneq_f32(c4h, xh, a4567, 0);
    c5l = vfmaq_laneq_f32(c5l, xl, a4567, 1);
    c5h = vfmaq_laneq_f32(c5h, xh, a4567, 1);
    c6l = vfmaq_laneq_f32(c6l, xl, a4567, 2);
    c6h = vfmaq_laneq_f32(c6h, xh, a4567, 2);
    c7l = vfmaq_laneq_f32(c7l, xl, a4567, 3);
    c7h = vfmaq_laneq_f32(c7h, xh, a4567, 3);
  }

  const float32x4_t rows[8][2] = {{c0l, c0h}, {c1l, c1h}, {c2l, c2h},
                                  {c3l, c3h}, {c4l, c4h}, {c5l, c5h},
                                  {c6l, c6h}, {c7l, c7h}};
  for (size_t i = 0; i < mr; i++, y += y_stride) {
    if (kPartial) {
      float row[8];
      vst1q_f32(row, rows[i][0]);
      vst1q_f32(row + 4, rows[i][1]);
      std::memcpy(y, row, nc * sizeof(float));
    } else {
      vst1q_f32(y, rows[i][0]);
      vst1q_f32(y + 4, rows[i][1]);
    }
  }
}

}  // namespace

void f32_gemm_8x8__neon(size_t mr, size_t nc, size_t kc, const float* w,
                        const float* x, size_t x_stride, float* y,
                        size_t y_stride) {
  if (nc == 8) {
    gemm_8x8<false>(mr, nc, kc, w, x, x_stride, y, y_stride);
  } else {
    gemm_8x8<true>(mr, nc, kc, w, x, x_stride, y, y_stride);
  }
}

}  // namespace sqbert

#endif

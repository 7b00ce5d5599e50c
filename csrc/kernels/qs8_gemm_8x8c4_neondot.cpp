// ARMv8.2 dot-product (sdot) int8 micro-kernel: 8 output rows x 8 sequence
// positions, 16 q-register accumulators (row m: positions 0-3 and 4-7).
// Per group of 4 depth values: 2 loads of weights (4 rows x 4 depth each,
// used by lane: vdotq_laneq_s32 broadcasts one row's 4 bytes), 2 loads of
// activations (4 positions x 4 depth each) and 16 sdot, each 16 MACs. The
// activations are 0..127, so the signed dot product of the qs8 weights with
// them read as int8 is exact. 16 accumulators + 4 operands leave registers
// free; 4 loads per 16 sdot stay well below what two load pipes issue while
// the two ASIMD pipes run the sdots (Cortex-A76, Neoverse N1:
// benchmarks/neon_mca.py). Only this file is compiled for dotprod
// (isa_target.h); kernel_config.cpp calls it only when HWCAP_ASIMDDP is set.
#if defined(__aarch64__)

#include <arm_neon.h>

#include <cassert>

#include "isa_target.h"
#include "qs8_gemm.h"
#include "qs8_gemm_neon_epilogue.h"

SQBERT_ISA_BEGIN_NEONDOT

namespace sqbert {

void qs8_gemm_8x8c4__neondot(size_t mr, size_t nc, size_t kc, const void* w, const uint8_t* x,
                             const float* x_scale, const int32_t* x_zero, float* y, size_t y_stride) {
  constexpr size_t MR = 8;
  assert(mr >= 1 && mr <= MR && nc >= 1 && nc <= 8);
  const auto* row_sum = static_cast<const int32_t*>(w);
  const auto* scale = reinterpret_cast<const float*>(row_sum + MR);
  const float* bias = scale + MR;
  const auto* wq = reinterpret_cast<const int8_t*>(bias + MR);

  int32x4_t c0l = vdupq_n_s32(0), c0h = c0l, c1l = c0l, c1h = c0l, c2l = c0l, c2h = c0l, c3l = c0l, c3h = c0l;
  int32x4_t c4l = c0l, c4h = c0l, c5l = c0l, c5h = c0l, c6l = c0l, c6h = c0l, c7l = c0l, c7h = c0l;
  for (size_t q = (kc + kQs8Kr - 1) / kQs8Kr; q != 0; q--, wq += 32, x += 32) {
    const int8x16_t w0123 = vld1q_s8(wq), w4567 = vld1q_s8(wq + 16);
    const int8x16_t xl = vreinterpretq_s8_u8(vld1q_u8(x)), xh = vreinterpretq_s8_u8(vld1q_u8(x + 16));
    c0l = vdotq_laneq_s32(c0l, xl, w0123, 0);
    c0h = vdotq_laneq_s32(c0h, xh, w0123, 0);
    c1l = vdotq_laneq_s32(c1l, xl, w0123, 1);
    c1h = vdotq_laneq_s32(c1h, xh, w0123, 1);
    c2l = vdotq_laneq_s32(c2l, xl, w0123, 2);
    c2h = vdotq_laneq_s32(c2h, xh, w0123, 2);
    c3l = vdotq_laneq_s32(c3l, xl, w0123, 3);
    c3h = vdotq_laneq_s32(c3h, xh, w0123, 3);
    c4l = vdotq_laneq_s32(c4l, xl, w4567, 0);
    c4h = vdotq_laneq_s32(c4h, xh, w4567, 0);
    c5l = vdotq_laneq_s32(c5l, xl, w4567, 1);
    c5h = vdotq_laneq_s32(c5h, xh, w4567, 1);
    c6l = vdotq_laneq_s32(c6l, xl, w4567, 2);
    c6h = vdotq_laneq_s32(c6h, xh, w4567, 2);
    c7l = vdotq_laneq_s32(c7l, xl, w4567, 3);
    c7h = vdotq_laneq_s32(c7h, xh, w4567, 3);
  }

  // Rows past mr were computed from the panel's zero padding: not stored.
  const Qu7Columns8 cols(x_scale, x_zero);
  auto store = [&](size_t i, int32x4_t lo, int32x4_t hi) {
    if (i < mr) qs8_store_row8(y + i * y_stride, nc, lo, hi, row_sum[i], scale[i], bias[i], cols);
  };
  store(0, c0l, c0h);
  store(1, c1l, c1h);
  store(2, c2l, c2h);
  store(3, c3l, c3h);
  store(4, c4l, c4h);
  store(5, c5l, c5h);
  store(6, c6l, c6h);
  store(7, c7l, c7h);
}

}  // namespace sqbert

SQBERT_ISA_END

#endif

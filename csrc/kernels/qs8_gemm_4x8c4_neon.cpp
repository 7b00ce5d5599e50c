// ARMv8.0 int8 micro-kernel (no dot product: Cortex-A53, A72): 4 output
// rows x 8 sequence positions. A weight row's 4 depth values are broadcast
// to all 4 positions of an activation load (dup by lane); smull multiplies 8
// byte pairs into int16, smlal adds the next group of 4 depth values' product
// to the same lane (two products: at most 2 * 127 * 127 = 32258, exact), and
// sadalp adds adjacent int16 pairs into int32. An accumulator then holds 2
// positions x 2 partial sums; vpaddq folds them once, after the k loop.
// 2 positions a register make 16 accumulators for 4 x 8 outputs (8 x 8
// would need 32, all the registers): per 2 groups of depth values, 2 weight
// and 4 activation loads, 8 dups and 16 each of smull, smlal and sadalp.
#if defined(__aarch64__)

#include <arm_neon.h>

#include <cassert>

#include "qs8_gemm.h"
#include "qs8_gemm_neon_epilogue.h"

namespace sqbert {
namespace {

// Row kRow (lane kRow of the weight loads wa, wb: 4 depth values each, of
// two successive depth groups) against positions 0-7 (xa*, xb*: the same
// two groups, 4 positions a load): c01 gets positions 0 and 1, and so on.
template <int kRow>
inline void accumulate_row(int32x4_t& c01, int32x4_t& c23, int32x4_t& c45, int32x4_t& c67, int8x16_t& wa,
                           int8x16_t& wb, int8x16_t xa0, int8x16_t xa1, int8x16_t xb0, int8x16_t xb1) {
  const int8x16_t da = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(wa), kRow));
  const int8x16_t db = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(wb), kRow));
  c01 = vpadalq_s16(c01, vmlal_s8(vmull_s8(vget_low_s8(xa0), vget_low_s8(da)), vget_low_s8(xb0), vget_low_s8(db)));
  c23 = vpadalq_s16(c23, vmlal_high_s8(vmull_high_s8(xa0, da), xb0, db));
  c45 = vpadalq_s16(c45, vmlal_s8(vmull_s8(vget_low_s8(xa1), vget_low_s8(da)), vget_low_s8(xb1), vget_low_s8(db)));
  c67 = vpadalq_s16(c67, vmlal_high_s8(vmull_high_s8(xa1, da), xb1, db));
  // An empty asm that "changes" the weights after this row's sums: the next
  // row's products wait for them. Left free, GCC starts all 16 products at
  // once and spills accumulators to the stack every iteration.
  __asm__("" : "+w"(c01), "+w"(c23), "+w"(c45), "+w"(c67), "+w"(wa), "+w"(wb));
}

inline int8x16_t load_x(const uint8_t* p) { return vreinterpretq_s8_u8(vld1q_u8(p)); }

}  // namespace

void qs8_gemm_4x8c4__neon(size_t mr, size_t nc, size_t kc, const void* w, const uint8_t* x,
                          const float* x_scale, const int32_t* x_zero, float* y, size_t y_stride) {
  constexpr size_t MR = 4;
  assert(mr >= 1 && mr <= MR && nc >= 1 && nc <= 8);
  const auto* row_sum = static_cast<const int32_t*>(w);
  const auto* scale = reinterpret_cast<const float*>(row_sum + MR);
  const float* bias = scale + MR;
  const auto* wq = reinterpret_cast<const int8_t*>(bias + MR);

  // Named registers, as in the f32 kernel (arrays went through the stack).
  int32x4_t c00 = vdupq_n_s32(0), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
  int32x4_t c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
  // Inlined at both calls: GCC -O2 would call it out of line, with the
  // accumulators in memory.
  auto accumulate = [&](int8x16_t wa, int8x16_t wb, int8x16_t xa0, int8x16_t xa1, int8x16_t xb0,
                        int8x16_t xb1) __attribute__((always_inline)) {
    accumulate_row<0>(c00, c01, c02, c03, wa, wb, xa0, xa1, xb0, xb1);
    accumulate_row<1>(c10, c11, c12, c13, wa, wb, xa0, xa1, xb0, xb1);
    accumulate_row<2>(c20, c21, c22, c23, wa, wb, xa0, xa1, xb0, xb1);
    accumulate_row<3>(c30, c31, c32, c33, wa, wb, xa0, xa1, xb0, xb1);
  };
  size_t q = (kc + kQs8Kr - 1) / kQs8Kr;
  for (; q >= 2; q -= 2, wq += 32, x += 64) {
    accumulate(vld1q_s8(wq), vld1q_s8(wq + 16), load_x(x), load_x(x + 16), load_x(x + 32), load_x(x + 48));
  }
  if (q != 0) {
    // An odd last group: its smlal partner is zero (the block ends here).
    const int8x16_t zero = vdupq_n_s8(0);
    accumulate(vld1q_s8(wq), zero, load_x(x), load_x(x + 16), zero, zero);
  }

  const Qu7Columns8 cols(x_scale, x_zero);
  auto store = [&](size_t i, int32x4_t c0, int32x4_t c1, int32x4_t c2, int32x4_t c3) {
    if (i < mr) {
      qs8_store_row8(y + i * y_stride, nc, vpaddq_s32(c0, c1), vpaddq_s32(c2, c3), row_sum[i], scale[i], bias[i],
                     cols);
    }
  };
  store(0, c00, c01, c02, c03);
  store(1, c10, c11, c12, c13);
  store(2, c20, c21, c22, c23);
  store(3, c30, c31, c32, c33);
}

}  // namespace sqbert

#endif

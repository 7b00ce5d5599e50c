// The epilogue shared by the int8 NEON GEMMs (qs8_gemm_8x8c4_neondot.cpp,
// qs8_gemm_4x8c4_neon.cpp), whose tiles are 8 positions wide. It does the
// contract's operations in its order (qs8_gemm.h), so its bits are the
// scalar reference's: an exact int32 correction, one rounding int -> float,
// scale[m] * x_scale[n] (a product, so the operand order does not matter)
// and one fused multiply-add.
#pragma once

#if defined(__aarch64__)

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sqbert {
namespace {

// The block's x_zero and x_scale, all 8 entries (the contract lets the
// kernel read them past nc: they are 0 there).
struct Qu7Columns8 {
  int32x4_t zero_lo, zero_hi;
  float32x4_t scale_lo, scale_hi;
  Qu7Columns8(const float* x_scale, const int32_t* x_zero)
      : zero_lo(vld1q_s32(x_zero)), zero_hi(vld1q_s32(x_zero + 4)),
        scale_lo(vld1q_f32(x_scale)), scale_hi(vld1q_f32(x_scale + 4)) {}
};

// y[n] = fma(float(acc[n] - x_zero[n] * row_sum), scale * x_scale[n], bias)
// for n < nc of one row; acc[0..3] in lo, acc[4..7] in hi.
inline void qs8_store_row8(float* y, size_t nc, int32x4_t lo, int32x4_t hi, int32_t row_sum, float scale,
                           float bias, const Qu7Columns8& c) {
  const float32x4_t b = vdupq_n_f32(bias);
  const float32x4_t out_lo =
      vfmaq_f32(b, vcvtq_f32_s32(vmlsq_n_s32(lo, c.zero_lo, row_sum)), vmulq_n_f32(c.scale_lo, scale));
  const float32x4_t out_hi =
      vfmaq_f32(b, vcvtq_f32_s32(vmlsq_n_s32(hi, c.zero_hi, row_sum)), vmulq_n_f32(c.scale_hi, scale));
  if (nc == 8) {
    vst1q_f32(y, out_lo);
    vst1q_f32(y + 4, out_hi);
  } else {
    // Only the nc outputs are written: the row may end at a guard page.
    float buffer[8];
    vst1q_f32(buffer, out_lo);
    vst1q_f32(buffer + 4, out_hi);
    std::memcpy(y, buffer, nc * sizeof(float));
  }
}

}  // namespace
}  // namespace sqbert

#endif

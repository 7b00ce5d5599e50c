// ARM NEON (AArch64, ARMv8.0) micro-kernel: 8 output rows x 8 sequence
// positions, 16 q-register accumulators. With the 8 weights of a k step
// adjacent (packed panels, full tiles) they come in 2 loads and feed 16
// by-lane FMAs; otherwise each row's weight is loaded into its lane of the
// same two registers (ld1 {v.s}[i]: 8 lane loads) for the same by-lane
// FMAs. Either way, per k step the loads (4 or 10) stay below what two load
// pipes issue while the two FMA pipes run the 16 FMAs (Cortex-A76, Neoverse
// N1): benchmarks/neon_mca.py has llvm-mca's predictions.
#if defined(__aarch64__)

#include <arm_neon.h>

#include <cassert>
#include <cstring>

#include "f32_gemm.h"

namespace sqbert {
namespace {

template <bool kPartial>
inline void load_row(const float* p, size_t nc, float32x4_t& lo, float32x4_t& hi) {
  if (kPartial) {
    // NEON has no masked load: the nc < 8 valid columns lane by lane, the
    // rest zero (no staging through memory in the k loop).
    lo = hi = vdupq_n_f32(0.0f);
    switch (nc) {
      case 7: hi = vld1q_lane_f32(p + 6, hi, 2); [[fallthrough]];
      case 6: hi = vld1q_lane_f32(p + 5, hi, 1); [[fallthrough]];
      case 5: hi = vld1q_lane_f32(p + 4, hi, 0); [[fallthrough]];
      case 4: lo = vld1q_lane_f32(p + 3, lo, 3); [[fallthrough]];
      case 3: lo = vld1q_lane_f32(p + 2, lo, 2); [[fallthrough]];
      case 2: lo = vld1q_lane_f32(p + 1, lo, 1); [[fallthrough]];
      default: lo = vld1q_lane_f32(p, lo, 0);
    }
  } else {
    lo = vld1q_f32(p);
    hi = vld1q_f32(p + 4);
  }
}

// kRowsAdjacent: the 8 rows' weights of a k step are adjacent in memory.
// kScaled: col_scale is given (its own instantiations, as on AVX2).
template <bool kPartial, bool kRowsAdjacent, bool kScaled>
void gemm_8x8(size_t mr, size_t nc, size_t kc, const F32GemmWeights& wt,
              const float* x, size_t x_stride, float* y, size_t y_stride,
              bool accumulate, const float* col_scale) {
  // The accumulators are named registers, set and stored one by one: held
  // in an array they go through the stack (as they did on AVX2, where that
  // slowed the convolutions). Row i starts from y, the bias, or 0.
  auto init = [&](size_t i, float32x4_t& lo, float32x4_t& hi) {
    const size_t row = i < mr ? i : mr - 1;
    if (accumulate) {
      load_row<kPartial>(y + row * y_stride, nc, lo, hi);
    } else {
      lo = hi = vdupq_n_f32(wt.bias ? wt.bias[row] : 0.0f);
    }
  };
  float32x4_t c0l, c0h, c1l, c1h, c2l, c2h, c3l, c3h, c4l, c4h, c5l, c5h, c6l, c6h, c7l, c7h;
  init(0, c0l, c0h);
  init(1, c1l, c1h);
  init(2, c2l, c2h);
  init(3, c3l, c3h);
  init(4, c4l, c4h);
  init(5, c5l, c5h);
  init(6, c6l, c6h);
  init(7, c7l, c7h);

  // Rows past mr repeat the last real row: they are read, never stored.
  const float* w[8];
  for (size_t i = 0; i < 8; i++) w[i] = wt.w + (i < mr ? i : mr - 1) * wt.stride_m;
  const size_t sk = wt.stride_k;

  for (size_t k = 0, kk = 0; k < kc; k++, kk += sk, x += x_stride) {
    float32x4_t xl, xh;
    load_row<kPartial>(x, nc, xl, xh);
    float32x4_t a0123, a4567;
    if (kRowsAdjacent) {
      a0123 = vld1q_f32(w[0] + kk);
      a4567 = vld1q_f32(w[0] + kk + 4);
    } else {
      a0123 = vld1q_lane_f32(w[0] + kk, vdupq_n_f32(0), 0);
      a0123 = vld1q_lane_f32(w[1] + kk, a0123, 1);
      a0123 = vld1q_lane_f32(w[2] + kk, a0123, 2);
      a0123 = vld1q_lane_f32(w[3] + kk, a0123, 3);
      a4567 = vld1q_lane_f32(w[4] + kk, vdupq_n_f32(0), 0);
      a4567 = vld1q_lane_f32(w[5] + kk, a4567, 1);
      a4567 = vld1q_lane_f32(w[6] + kk, a4567, 2);
      a4567 = vld1q_lane_f32(w[7] + kk, a4567, 3);
    }
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

  float32x4_t scale_lo = vdupq_n_f32(1.0f), scale_hi = scale_lo;
  if (kScaled) load_row<kPartial>(col_scale, nc, scale_lo, scale_hi);
  auto store = [&](size_t i, float32x4_t lo, float32x4_t hi) {
    if (i >= mr) return;
    if (kScaled) {
      lo = vmulq_f32(lo, scale_lo);
      hi = vmulq_f32(hi, scale_hi);
    }
    float* row = y + i * y_stride;
    if (kPartial) {
      float buffer[8];
      vst1q_f32(buffer, lo);
      vst1q_f32(buffer + 4, hi);
      std::memcpy(row, buffer, nc * sizeof(float));
    } else {
      vst1q_f32(row, lo);
      vst1q_f32(row + 4, hi);
    }
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

template <bool kPartial, bool kScaled>
void gemm_8x8_rows(size_t mr, size_t nc, size_t kc, const F32GemmWeights& w,
                   const float* x, size_t x_stride, float* y, size_t y_stride,
                   bool accumulate, const float* col_scale) {
  if (mr == 8 && w.stride_m == 1) {
    gemm_8x8<kPartial, true, kScaled>(mr, nc, kc, w, x, x_stride, y, y_stride, accumulate, col_scale);
  } else {
    gemm_8x8<kPartial, false, kScaled>(mr, nc, kc, w, x, x_stride, y, y_stride, accumulate, col_scale);
  }
}

}  // namespace

void f32_gemm_8x8__neon(size_t mr, size_t nc, size_t kc,
                        const F32GemmWeights& w, const float* x,
                        size_t x_stride, float* y, size_t y_stride,
                        const F32GemmEpilogue& epilogue) {
  assert(mr >= 1 && mr <= 8 && nc >= 1 && nc <= 8);
  assert(kc == 0 || (w.w != nullptr && x != nullptr));
  const bool accumulate = epilogue.accumulate;
  const float* col_scale = epilogue.col_scale;
  const bool partial = nc != 8;
  if (col_scale != nullptr) {
    if (partial) {
      gemm_8x8_rows<true, true>(mr, nc, kc, w, x, x_stride, y, y_stride, accumulate, col_scale);
    } else {
      gemm_8x8_rows<false, true>(mr, nc, kc, w, x, x_stride, y, y_stride, accumulate, col_scale);
    }
  } else if (partial) {
    gemm_8x8_rows<true, false>(mr, nc, kc, w, x, x_stride, y, y_stride, accumulate, nullptr);
  } else {
    gemm_8x8_rows<false, false>(mr, nc, kc, w, x, x_stride, y, y_stride, accumulate, nullptr);
  }
}

}  // namespace sqbert

#endif

// The f32 SIMD layer for ARM NEON (AArch64): 4 floats a vector. The names
// and their meaning are those of f32_avx2.h; AArch64 needs no ISA region.
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

namespace sqbert {
namespace {

struct F32Neon {
  using V = float32x4_t;
  using M = uint32x4_t;
  using Tail = size_t;  // the lane count, 1 to 3
  static constexpr size_t kWidth = 4;
  static constexpr bool kFma = true;

  static inline V load(const float* p) { return vld1q_f32(p); }
  static inline void store(float* p, V v) { vst1q_f32(p, v); }
  static inline Tail tail(size_t count) { return count; }
  // Lane by lane: lanes past the tail read as 0 and are not written.
  static inline V load_tail(const float* p, Tail t) {
    V v = vld1q_lane_f32(p, vdupq_n_f32(0.0f), 0);
    if (t > 1) v = vld1q_lane_f32(p + 1, v, 1);
    if (t > 2) v = vld1q_lane_f32(p + 2, v, 2);
    return v;
  }
  static inline void store_tail(float* p, Tail t, V v) {
    vst1q_lane_f32(p, v, 0);
    if (t > 1) vst1q_lane_f32(p + 1, v, 1);
    if (t > 2) vst1q_lane_f32(p + 2, v, 2);
  }
  static inline V set1(float a) { return vdupq_n_f32(a); }
  static inline V zero() { return vdupq_n_f32(0.0f); }

  static inline V add(V a, V b) { return vaddq_f32(a, b); }
  static inline V sub(V a, V b) { return vsubq_f32(a, b); }
  static inline V mul(V a, V b) { return vmulq_f32(a, b); }
  static inline V fmadd(V a, V b, V c) { return vfmaq_f32(c, a, b); }
  static inline V div(V a, V b) { return vdivq_f32(a, b); }
  static inline V sqrt(V a) { return vsqrtq_f32(a); }
  // max: NaN where either is NaN (fmax); max_nonnan: the number (fmaxnm).
  static inline V max(V a, V b) { return vmaxq_f32(a, b); }
  static inline V max_nonnan(V a, V b) { return vmaxnmq_f32(a, b); }
  static inline V min(V a, V b) { return vminq_f32(a, b); }
  static inline V abs(V a) { return vabsq_f32(a); }

  static inline M eq(V a, V b) { return vceqq_f32(a, b); }
  static inline V select(M m, V t, V f) { return vbslq_f32(m, t, f); }
  static inline V select_sign(V x, V neg, V pos) {
    const uint32x4_t m = vreinterpretq_u32_s32(vshrq_n_s32(vreinterpretq_s32_f32(x), 31));
    return vbslq_f32(m, neg, pos);
  }
  static inline V shl23(V v) {
    return vreinterpretq_f32_s32(vshlq_n_s32(vreinterpretq_s32_f32(v), 23));
  }

  static inline V trn1_f64(V a, V b) {
    return vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(a), vreinterpretq_f64_f32(b)));
  }
  static inline V trn2_f64(V a, V b) {
    return vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(a), vreinterpretq_f64_f32(b)));
  }
  // The mask's [query][key] rows into the scores' [key][query] rows: 4x4
  // transposes in registers.
  static inline void add_transposed(size_t bk, float* s, size_t s_stride, const float* a,
                                    size_t a_stride) {
    size_t j = 0;
    for (; j + 4 <= bk; j += 4) {
      const V r0 = vld1q_f32(a + j), r1 = vld1q_f32(a + a_stride + j);
      const V r2 = vld1q_f32(a + 2 * a_stride + j), r3 = vld1q_f32(a + 3 * a_stride + j);
      const V t0 = vtrn1q_f32(r0, r1), t1 = vtrn2q_f32(r0, r1);
      const V t2 = vtrn1q_f32(r2, r3), t3 = vtrn2q_f32(r2, r3);
      const V c[4] = {trn1_f64(t0, t2), trn1_f64(t1, t3), trn2_f64(t0, t2), trn2_f64(t1, t3)};
      for (size_t jj = 0; jj < 4; jj++) {
        float* row = s + (j + jj) * s_stride;
        vst1q_f32(row, vaddq_f32(vld1q_f32(row), c[jj]));
      }
    }
    for (; j < bk; j++) {
      for (size_t i = 0; i < 4; i++) s[j * s_stride + i] += a[i * a_stride + j];
    }
  }
};

}  // namespace
}  // namespace sqbert

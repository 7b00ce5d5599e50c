// ARM NEON (AArch64, ARMv8.0) activation quantizer (qs8_gemm.h): 4
// positions a vector, for blocks of any nr that is a multiple of 4. The
// bytes match f32_qu7_quantize__scalar's: the same float32 operations
// (IEEE division, vrndnq's round to nearest even = nearbyint), the
// non-finite rule decided by the sum of x - x as there, and for the min and
// max over k fmin/fmax, which differ from std::min/max only on NaN (such a
// position is NaN'd by that rule anyway) and on the sign of a zero (which no
// output depends on).
#if defined(__aarch64__)

#include <arm_neon.h>

#include <algorithm>
#include <cassert>
#include <cfloat>
#include <cmath>

#include "qs8_gemm.h"

namespace sqbert {
namespace {

// Positions n < count (at most 4) of one row; the rest read as 0.
inline float32x4_t load_positions(const float* p, size_t count) {
  if (count == 4) return vld1q_f32(p);
  float32x4_t v = vdupq_n_f32(0.0f);
  if (count > 0) v = vld1q_lane_f32(p, v, 0);
  if (count > 1) v = vld1q_lane_f32(p + 1, v, 1);
  if (count > 2) v = vld1q_lane_f32(p + 2, v, 2);
  return v;
}

}  // namespace

void f32_qu7_quantize__neon(size_t kc, size_t nc, size_t nr, const float* x, size_t x_stride, uint8_t* xq,
                            float* x_scale, int32_t* x_zero) {
  assert(nc <= nr && nr % 4 == 0);
  const size_t kq_full = kc / kQs8Kr;
  // Positions past nc (up to nr) read as 0: range 0, so x_scale, x_zero and
  // xq come out 0, the contract's padding, from the same code.
  for (size_t n = 0; n < nr; n += 4) {
    const size_t count = n < nc ? std::min<size_t>(4, nc - n) : 0;
    const float* col = x + n;
    float32x4_t lo = vdupq_n_f32(0.0f), hi = lo, nan_check = lo;
    for (size_t k = 0; k < kc; k++) {
      const float32x4_t v = load_positions(col + k * x_stride, count);
      lo = vminq_f32(lo, v);
      hi = vmaxq_f32(hi, v);
      nan_check = vaddq_f32(nan_check, vsubq_f32(v, v));  // NaN once any input is inf or NaN
    }
    const float32x4_t range = vsubq_f32(hi, lo);
    const uint32x4_t valid =
        vandq_u32(vceqq_f32(nan_check, vdupq_n_f32(0.0f)), vcleq_f32(range, vdupq_n_f32(FLT_MAX)));
    // range > 0 ? 127 / range : 0 (127 / 0 = inf is masked off).
    const float32x4_t inv = vreinterpretq_f32_u32(vandq_u32(
        vcgtq_f32(range, vdupq_n_f32(0.0f)), vreinterpretq_u32_f32(vdivq_f32(vdupq_n_f32(127.0f), range))));
    vst1q_f32(x_scale + n, vbslq_f32(valid, vdivq_f32(range, vdupq_n_f32(127.0f)), vdupq_n_f32(NAN)));
    // The scalar code's float operations, clamps included: where range is
    // a denormal, inv is inf and x * inv may be +-inf or NaN (x = 0), so
    // rounding to int32 first would saturate or lose the NaN. vmaxnmq is
    // std::max(0.0f, v) there: NaN gives 0.
    auto clamp = [](float32x4_t v) { return vminq_f32(vmaxnmq_f32(v, vdupq_n_f32(0.0f)), vdupq_n_f32(127.0f)); };
    const float32x4_t zero = clamp(vrndnq_f32(vmulq_f32(vnegq_f32(lo), inv)));
    vst1q_s32(x_zero + n, vreinterpretq_s32_u32(vandq_u32(valid, vreinterpretq_u32_s32(vcvtq_s32_f32(zero)))));

    auto quantize = [&](size_t k) {
      const float32x4_t v = load_positions(col + k * x_stride, count);
      return vandq_u32(valid, vcvtq_u32_f32(clamp(vaddq_f32(vrndnq_f32(vmulq_f32(v, inv)), zero))));
    };
    // Rows 4q..4q+3 of the 4 positions into bytes [n][row]: byte t of each
    // 32-bit lane is row 4q + t (little-endian), 16 bytes at xq[q][n][0].
    uint8_t* out = xq + n * kQs8Kr;
    for (size_t q = 0; q < kq_full; q++, out += nr * kQs8Kr) {
      const size_t k = q * kQs8Kr;
      uint32x4_t packed = vsliq_n_u32(quantize(k), quantize(k + 1), 8);
      packed = vsliq_n_u32(packed, quantize(k + 2), 16);
      packed = vsliq_n_u32(packed, quantize(k + 3), 24);
      vst1q_u8(out, vreinterpretq_u8_u32(packed));
    }
    if (kc % kQs8Kr != 0) {
      // The last group's rows past kc are 0.
      const size_t k = kq_full * kQs8Kr;
      uint32x4_t packed = quantize(k);
      if (k + 1 < kc) packed = vsliq_n_u32(packed, quantize(k + 1), 8);
      if (k + 2 < kc) packed = vsliq_n_u32(packed, quantize(k + 2), 16);
      vst1q_u8(out, vreinterpretq_u8_u32(packed));
    }
  }
}

}  // namespace sqbert

#endif

// x86 AVX2 activation quantizer (qs8_gemm.h): 8 positions a vector along
// each row (rows are contiguous positions), byte for byte the scalar
// reference's output. Pass 1 finds each position's min, max and the
// non-finite check; pass 2 quantizes 4 rows at a time and packs them into
// the block's [position][4 depth] bytes.
#if defined(__x86_64__)

#include <immintrin.h>

#include <cassert>
#include <cfloat>
#include <cstdint>
#include <limits>

#include "qs8_gemm.h"
#include "isa_target.h"

SQBERT_ISA_BEGIN_AVX2

namespace sqbert {
namespace {

// Positions [0, valid) (valid in 1..8) of rows k < kc of x into bytes
// out[q * out_stride + 4 * n + i] (depth 4q + i), x_scale[8], x_zero[8].
void quantize8(size_t kc, size_t valid, const float* x, size_t x_stride, uint8_t* out, size_t out_stride,
               float* x_scale, int32_t* x_zero) {
  const __m256i mask =
      _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(valid)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  // Lanes past `valid` load 0, which quantizes to the padding's 0 scale,
  // 0 zero point and 0 bytes.
  auto load = [&](size_t k) {
    return valid == 8 ? _mm256_loadu_ps(x + k * x_stride) : _mm256_maskload_ps(x + k * x_stride, mask);
  };

  // std::min(lo, v) is (v < lo ? v : lo): _mm256_min_ps(v, lo), which keeps
  // lo for a NaN v, as does the max. Min, max and a sum of zeros and NaNs
  // do not depend on the order, so two rows a step run as two chains that
  // hide the adds' latency.
  __m256 lo0 = _mm256_setzero_ps(), hi0 = lo0, nan0 = lo0, lo1 = lo0, hi1 = lo0, nan1 = lo0;
  size_t k = 0;
  for (; k + 2 <= kc; k += 2) {
    const __m256 v0 = load(k), v1 = load(k + 1);
    lo0 = _mm256_min_ps(v0, lo0);
    hi0 = _mm256_max_ps(v0, hi0);
    nan0 = _mm256_add_ps(nan0, _mm256_sub_ps(v0, v0));  // NaN once any input is inf or NaN
    lo1 = _mm256_min_ps(v1, lo1);
    hi1 = _mm256_max_ps(v1, hi1);
    nan1 = _mm256_add_ps(nan1, _mm256_sub_ps(v1, v1));
  }
  if (k < kc) {
    const __m256 v0 = load(k);
    lo0 = _mm256_min_ps(v0, lo0);
    hi0 = _mm256_max_ps(v0, hi0);
    nan0 = _mm256_add_ps(nan0, _mm256_sub_ps(v0, v0));
  }
  const __m256 lo = _mm256_min_ps(lo0, lo1), hi = _mm256_max_ps(hi0, hi1);
  const __m256 nan_check = _mm256_add_ps(nan0, nan1);
  const __m256 range = _mm256_sub_ps(hi, lo);
  const __m256 c127 = _mm256_set1_ps(127.0f);
  // The non-finite check, not the min and max, decides: their NaN rules
  // differ from the scalar code's only where this fails anyway.
  const __m256 finite = _mm256_and_ps(_mm256_cmp_ps(nan_check, _mm256_setzero_ps(), _CMP_EQ_OQ),
                                      _mm256_cmp_ps(range, _mm256_set1_ps(FLT_MAX), _CMP_LE_OQ));
  _mm256_storeu_ps(x_scale, _mm256_blendv_ps(_mm256_set1_ps(std::numeric_limits<float>::quiet_NaN()),
                                             _mm256_div_ps(range, c127), finite));
  // inv is 0 where the position is not finite, so its zero point and bytes
  // come out 0 (x * 0 is 0 or NaN, and NaN quantizes to 0 below).
  const __m256 inv = _mm256_and_ps(_mm256_and_ps(finite, _mm256_cmp_ps(range, _mm256_setzero_ps(), _CMP_GT_OQ)),
                                   _mm256_div_ps(c127, range));
  // min(127, max(0, nearbyint(-lo * inv))) with std::min/max's operand
  // order: a NaN (-0 * inf past a denormal range) becomes 0.
  const __m256 neg_lo = _mm256_xor_ps(lo, _mm256_set1_ps(-0.0f));
  const __m256 zero_f = _mm256_min_ps(
      _mm256_max_ps(_mm256_round_ps(_mm256_mul_ps(neg_lo, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                    _mm256_setzero_ps()),
      c127);
  const __m256i zero = _mm256_cvtps_epi32(zero_f);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(x_zero), zero);

  // A row's bytes: cvtps_epi32 rounds as nearbyint; the int adds and the
  // saturating packs then clamp as the float min and max do. Capping at 255
  // first keeps +inf and huge products (a denormal range's inv is inf) at
  // 127, where the conversion's 0x80000000 would give 0; NaN stays NaN
  // (min_ps returns its second operand) and comes out 0, as in the scalar.
  const __m256 c255 = _mm256_set1_ps(255.0f);
  auto row = [&](size_t k) {
    if (k >= kc) return _mm256_setzero_si256();
    return _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_min_ps(c255, _mm256_mul_ps(load(k), inv))), zero);
  };
  const __m256i max_q = _mm256_set1_epi8(127);
  // packs + packus leave, in each 128-bit lane, rows 0-3 x positions 0-3
  // (low lane) or 4-7 (high lane) as [row][position]; this makes it
  // [position][row].
  const __m256i transpose = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
                                             0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  for (size_t k = 0; k < kc; k += 4, out += out_stride) {
    const __m256i r01 = _mm256_packs_epi32(row(k), row(k + 1));
    const __m256i r23 = _mm256_packs_epi32(row(k + 2), row(k + 3));
    const __m256i q = _mm256_min_epu8(_mm256_packus_epi16(r01, r23), max_q);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_shuffle_epi8(q, transpose));
  }
}

}  // namespace

void f32_qu7_quantize__avx2(size_t kc, size_t nc, size_t nr, const float* x, size_t x_stride, uint8_t* xq,
                            float* x_scale, int32_t* x_zero) {
  assert(nc <= nr && nr % 8 == 0);
  const size_t out_stride = nr * kQs8Kr;
  for (size_t n = 0; n < nr; n += 8) {
    if (n < nc) {
      quantize8(kc, nc - n < 8 ? nc - n : 8, x + n, x_stride, xq + n * kQs8Kr, out_stride, x_scale + n,
                x_zero + n);
      continue;
    }
    // Positions past nc: zeros, and nothing of x read.
    _mm256_storeu_ps(x_scale + n, _mm256_setzero_ps());
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(x_zero + n), _mm256_setzero_si256());
    for (size_t q = 0; q < (kc + kQs8Kr - 1) / kQs8Kr; q++) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(xq + q * out_stride + n * kQs8Kr), _mm256_setzero_si256());
    }
  }
}

}  // namespace sqbert

SQBERT_ISA_END

#endif

// x86 AVX2 activation quantizer (qs8_gemm.h): 8 positions a vector along
// each row (rows are contiguous positions), byte for byte the scalar
// reference's output. Pass 1 finds each position's min, max and the
// non-finite check; pass 2 quantizes 4 rows at a time and packs them into
// the block's [position][4 depth] bytes. ~0.55 cycles an element on Zen 5.
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

// Positions [0, 8 * (V - 1) + valid) (valid in 1..8, 8 unless kTail) of
// rows k < kc of x, V vectors of 8 a row, into bytes
// out[q * out_stride + 4 * n + i] (depth 4q + i), x_scale and x_zero.
// Rows are x_stride apart, often 512 bytes (128 positions), which maps
// them onto few L1 sets: two vectors a row read whole 64-byte lines, half
// as many as one. kTail picks masked loads for the last vector at compile
// time: tested per load, the branches slowed it.
template <size_t V, bool kTail>
void quantize(size_t kc, size_t valid, const float* x, size_t x_stride, uint8_t* out, size_t out_stride,
              float* x_scale, int32_t* x_zero) {
  auto each = [](auto f) {
    f(0);
    if constexpr (V > 1) f(1);
  };
  const __m256i mask =
      _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(valid)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  // Lanes past `valid` load 0, which quantizes to the padding's 0 scale,
  // 0 zero point and 0 bytes.
  auto load = [&](size_t k, size_t v) {
    const float* p = x + k * x_stride + 8 * v;
    return kTail && v == V - 1 ? _mm256_maskload_ps(p, mask) : _mm256_loadu_ps(p);
  };

  // std::min(lo, v) is (v < lo ? v : lo): _mm256_min_ps(v, lo), which keeps
  // lo for a NaN v, as does the max. The scalar code's check, the sum of
  // v - v, is 0 when every v is finite (v - v is then +0, all bits 0) and
  // NaN otherwise: here the bits of the v - v are ORed instead, which is 0
  // in the same cases and a NaN in the others, and none of these depends
  // on the order.
  __m256 lo[V], hi[V], nan[V];
  each([&](size_t v) { lo[v] = hi[v] = nan[v] = _mm256_setzero_ps(); });
  for (size_t k = 0; k < kc; k++) {
    each([&](size_t v) {
      const __m256 xv = load(k, v);
      lo[v] = _mm256_min_ps(xv, lo[v]);
      hi[v] = _mm256_max_ps(xv, hi[v]);
      nan[v] = _mm256_or_ps(nan[v], _mm256_sub_ps(xv, xv));
    });
  }
  const __m256 c127 = _mm256_set1_ps(127.0f);
  __m256 inv[V];
  __m256i zero[V];
  each([&](size_t v) {
    const __m256 range = _mm256_sub_ps(hi[v], lo[v]);
    // The non-finite check, not the min and max, decides: their NaN rules
    // differ from the scalar code's only where this fails anyway.
    const __m256 finite = _mm256_and_ps(_mm256_cmp_ps(nan[v], _mm256_setzero_ps(), _CMP_EQ_OQ),
                                        _mm256_cmp_ps(range, _mm256_set1_ps(FLT_MAX), _CMP_LE_OQ));
    _mm256_storeu_ps(x_scale + 8 * v, _mm256_blendv_ps(_mm256_set1_ps(std::numeric_limits<float>::quiet_NaN()),
                                                       _mm256_div_ps(range, c127), finite));
    // inv is 0 where the position is not finite, so its zero point and
    // bytes come out 0 (x * 0 is 0 or NaN, and NaN quantizes to 0 below).
    inv[v] = _mm256_and_ps(_mm256_and_ps(finite, _mm256_cmp_ps(range, _mm256_setzero_ps(), _CMP_GT_OQ)),
                           _mm256_div_ps(c127, range));
    // min(127, max(0, nearbyint(-lo * inv))) with std::min/max's operand
    // order: a NaN (-0 * inf past a denormal range) becomes 0.
    const __m256 neg_lo = _mm256_xor_ps(lo[v], _mm256_set1_ps(-0.0f));
    const __m256 zero_f = _mm256_min_ps(
        _mm256_max_ps(
            _mm256_round_ps(_mm256_mul_ps(neg_lo, inv[v]), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
            _mm256_setzero_ps()),
        c127);
    zero[v] = _mm256_cvtps_epi32(zero_f);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(x_zero + 8 * v), zero[v]);
  });

  // A row's bytes: cvtps_epi32 rounds as nearbyint; the int adds and the
  // saturating packs then clamp as the float min and max do. Capping at 255
  // first keeps +inf and huge products (a denormal range's inv is inf) at
  // 127, where the conversion's 0x80000000 would give 0; NaN stays NaN
  // (min_ps returns its second operand) and comes out 0, as in the scalar.
  const __m256 c255 = _mm256_set1_ps(255.0f);
  auto row = [&](size_t k, size_t v) {
    return _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_min_ps(c255, _mm256_mul_ps(load(k, v), inv[v]))), zero[v]);
  };
  const __m256i max_q = _mm256_set1_epi8(127);
  // packs + packus leave, in each 128-bit lane, rows 0-3 x positions 0-3
  // (low lane) or 4-7 (high lane) as [row][position]; this makes it
  // [position][row].
  const __m256i transpose = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
                                             0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  // Whole quads, then the last with rows past kc 0: tested per row, the
  // branches slowed it.
  auto quad = [&](size_t k, size_t rows) {
    each([&](size_t v) {
      const __m256i z = _mm256_setzero_si256();
      const __m256i q = _mm256_packus_epi16(
          _mm256_packs_epi32(row(k, v), rows > 1 ? row(k + 1, v) : z),
          _mm256_packs_epi32(rows > 2 ? row(k + 2, v) : z, rows > 3 ? row(k + 3, v) : z));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32 * v),
                          _mm256_shuffle_epi8(_mm256_min_epu8(q, max_q), transpose));
    });
    out += out_stride;
  };
  size_t k = 0;
  for (; k + 4 <= kc; k += 4) quad(k, 4);
  if (k < kc) quad(k, kc - k);
}

}  // namespace

void f32_qu7_quantize__avx2(size_t kc, size_t nc, size_t nr, const float* x, size_t x_stride, uint8_t* xq,
                            float* x_scale, int32_t* x_zero) {
  assert(nc <= nr && nr % 8 == 0);
  const size_t out_stride = nr * kQs8Kr;
  for (size_t n = 0; n < nr; n += 8) {
    uint8_t* out = xq + n * kQs8Kr;
    if (n + 16 <= nc) {
      quantize<2, false>(kc, 8, x + n, x_stride, out, out_stride, x_scale + n, x_zero + n);
      n += 8;
      continue;
    }
    if (n < nc) {
      if (n + 8 <= nc) {
        quantize<1, false>(kc, 8, x + n, x_stride, out, out_stride, x_scale + n, x_zero + n);
      } else {
        quantize<1, true>(kc, nc - n, x + n, x_stride, out, out_stride, x_scale + n, x_zero + n);
      }
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

// The x86 int8 GEMM (qs8_gemm.h) over a dot-product step D, written once for
// AVX2 and AVX-VNNI: MR rows x 16 positions of int32 accumulators, 2 ymm
// a row. Per k-quad one 32-byte load of x holds 8 positions x 4 depth
// bytes, and one broadcast of a row's 4 weight bytes meets each of them, so
// D::dot(acc, x, w) adds each lane's 4 products u8 x s8 to acc. Include it
// inside the kernel file's ISA region, with the headers below included
// before it (so no library code of theirs is compiled for the ISA);
// instantiate qs8_gemm_c4<MR, D>.
#pragma once

#include <immintrin.h>

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sqbert {
namespace {

// 4 weight bytes of one row in every lane: one vpbroadcastd from memory.
inline __m256i broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return _mm256_set1_epi32(v);
}

// MR (up to 6) rows x 16 positions.
template <size_t MR, class D>
inline void qs8_gemm_c4(size_t mr, size_t nc, size_t kc, const void* w, const uint8_t* x,
                        const float* x_scale, const int32_t* x_zero, float* y, size_t y_stride) {
  static_assert(MR >= 1 && MR <= 6, "12 accumulators at most");
  assert(mr >= 1 && mr <= MR && nc >= 1 && nc <= 16);
  const auto* row_sum = static_cast<const int32_t*>(w);
  const auto* scale = reinterpret_cast<const float*>(row_sum + MR);
  const float* bias = scale + MR;
  const auto* wq = reinterpret_cast<const int8_t*>(bias + MR);

  // Every row of the panel is computed (its rows past mr are zeros); only
  // the stores skip them. The accumulators are named registers: held in an
  // array, GCC stored them to the stack every step.
  const D dot;
  __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256i c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  // Two k-quads a trip: measured 20-40% faster on Zen 5 than one.
#pragma GCC unroll 2
  for (size_t q = (kc + 3) / 4; q != 0; q--) {
    const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
    const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x) + 1);
    __m256i wv = broadcast4(wq);
    c00 = dot(c00, x0, wv);
    c01 = dot(c01, x1, wv);
    if constexpr (MR > 1) {
      wv = broadcast4(wq + 4);
      c10 = dot(c10, x0, wv);
      c11 = dot(c11, x1, wv);
    }
    if constexpr (MR > 2) {
      wv = broadcast4(wq + 8);
      c20 = dot(c20, x0, wv);
      c21 = dot(c21, x1, wv);
    }
    if constexpr (MR > 3) {
      wv = broadcast4(wq + 12);
      c30 = dot(c30, x0, wv);
      c31 = dot(c31, x1, wv);
    }
    if constexpr (MR > 4) {
      wv = broadcast4(wq + 16);
      c40 = dot(c40, x0, wv);
      c41 = dot(c41, x1, wv);
    }
    if constexpr (MR > 5) {
      wv = broadcast4(wq + 20);
      c50 = dot(c50, x0, wv);
      c51 = dot(c51, x1, wv);
    }
    wq += 4 * MR;
    x += 64;
  }

  // The contract's epilogue, op for op as the scalar kernel: the same bits.
  // x_zero and x_scale are read per row as memory operands: held in
  // registers beside the 12 accumulators, they made GCC spill some of those
  // inside the loop.
  auto out = [&](__m256i acc, size_t j, __m256i rs, __m256 s, __m256 b) {
    const __m256i xz = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x_zero + 8 * j));
    const __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc, _mm256_mullo_epi32(xz, rs)));
    return _mm256_fmadd_ps(v, _mm256_mul_ps(s, _mm256_loadu_ps(x_scale + 8 * j)), b);
  };
  auto store = [&](size_t i, __m256i lo, __m256i hi) {
    if (i >= mr) return;
    const __m256i rs = _mm256_set1_epi32(row_sum[i]);
    const __m256 s = _mm256_set1_ps(scale[i]), b = _mm256_set1_ps(bias[i]);
    float* row = y + i * y_stride;
    if (nc == 16) {
      _mm256_storeu_ps(row, out(lo, 0, rs, s, b));
      _mm256_storeu_ps(row + 8, out(hi, 1, rs, s, b));
    } else {
      const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
      const __m256i n = _mm256_set1_epi32(static_cast<int32_t>(nc));
      _mm256_maskstore_ps(row, _mm256_cmpgt_epi32(n, lane), out(lo, 0, rs, s, b));
      _mm256_maskstore_ps(row + 8, _mm256_cmpgt_epi32(_mm256_sub_epi32(n, _mm256_set1_epi32(8)), lane),
                          out(hi, 1, rs, s, b));
    }
  };
  store(0, c00, c01);
  store(1, c10, c11);
  store(2, c20, c21);
  store(3, c30, c31);
  store(4, c40, c41);
  store(5, c50, c51);
}

}  // namespace
}  // namespace sqbert

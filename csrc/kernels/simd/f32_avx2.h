// The f32 SIMD layer for x86 AVX2+FMA: 8 floats a vector. Include it inside
// a file's SQBERT_ISA_BEGIN_AVX2 region (isa_target.h), after
// <immintrin.h>, with the algorithm templates (f32_vexp.inl and so on)
// after it: a function is compiled for AVX2 only where it is defined in
// that region, and these must be inlined into the kernel that uses them.
//
// Every ISA's layer (f32_avx2.h, f32_neon.h, f32_scalar.h) is a struct of
// the same names, so one algorithm source, a template over the struct,
// compiles to each ISA's kernel and to the scalar reference:
//   V, kWidth, kFma             vector type, floats a vector, fused fma
//   Tail, tail(count)           the lanes < count (0 < count < kWidth)
//   load, store, load_tail, store_tail, set1, zero
//   add, sub, mul, fmadd (a * b + c), div, sqrt, min, abs
//   max (NaN where b is NaN), max_nonnan (b where a is NaN)
//   M, eq, select(m, t, f)      a compare's lanes, and a blend by them
//   select_sign(x, neg, pos)    neg where the sign bit of x is set
//   shl23(v)                    the bits of v shifted into the exponent
//   add_transposed(bk, s, s_stride, a, a_stride)
//                               s[j * s_stride + i] += a[i * a_stride + j]
//                               for i < kWidth, j < bk (a tile transpose)
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace sqbert {
namespace {

struct F32Avx2 {
  using V = __m256;
  using M = __m256;
  using Tail = __m256i;
  static constexpr size_t kWidth = 8;
  static constexpr bool kFma = true;

  static inline V load(const float* p) { return _mm256_loadu_ps(p); }
  static inline void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static inline Tail tail(size_t count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(count)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  // Lanes past the tail read as 0 and are not written.
  static inline V load_tail(const float* p, Tail t) { return _mm256_maskload_ps(p, t); }
  static inline void store_tail(float* p, Tail t, V v) { _mm256_maskstore_ps(p, t, v); }
  static inline V set1(float a) { return _mm256_set1_ps(a); }
  static inline V zero() { return _mm256_setzero_ps(); }

  static inline V add(V a, V b) { return _mm256_add_ps(a, b); }
  static inline V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static inline V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static inline V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static inline V div(V a, V b) { return _mm256_div_ps(a, b); }
  static inline V sqrt(V a) { return _mm256_sqrt_ps(a); }
  // max is NaN where b is NaN; max_nonnan is b where a is NaN (maxps
  // returns its second operand where either is NaN: both at once).
  static inline V max(V a, V b) { return _mm256_max_ps(a, b); }
  static inline V max_nonnan(V a, V b) { return _mm256_max_ps(a, b); }
  static inline V min(V a, V b) { return _mm256_min_ps(a, b); }
  static inline V abs(V a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }

  static inline M eq(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
  static inline V select(M m, V t, V f) { return _mm256_blendv_ps(f, t, m); }
  static inline V select_sign(V x, V neg, V pos) { return _mm256_blendv_ps(pos, neg, x); }
  static inline V shl23(V v) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(v), 23));
  }

  // The mask's [query][key] rows into the scores' [key][query] rows: 8x8
  // transposes in registers.
  static inline void add_transposed(size_t bk, float* s, size_t s_stride, const float* a,
                                    size_t a_stride) {
    size_t j = 0;
    for (; j + 8 <= bk; j += 8) {
      __m256 r[8];
      for (size_t i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(a + i * a_stride + j);
      const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
      const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
      const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
      const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
      const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
      const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
      const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      const __m256 c[8] = {
          _mm256_permute2f128_ps(u0, u4, 0x20), _mm256_permute2f128_ps(u1, u5, 0x20),
          _mm256_permute2f128_ps(u2, u6, 0x20), _mm256_permute2f128_ps(u3, u7, 0x20),
          _mm256_permute2f128_ps(u0, u4, 0x31), _mm256_permute2f128_ps(u1, u5, 0x31),
          _mm256_permute2f128_ps(u2, u6, 0x31), _mm256_permute2f128_ps(u3, u7, 0x31)};
      for (size_t jj = 0; jj < 8; jj++) {
        float* row = s + (j + jj) * s_stride;
        _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), c[jj]));
      }
    }
    for (; j < bk; j++) {
      for (size_t i = 0; i < 8; i++) s[j * s_stride + i] += a[i * a_stride + j];
    }
  }
};

}  // namespace
}  // namespace sqbert

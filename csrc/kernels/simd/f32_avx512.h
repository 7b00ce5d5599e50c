// The f32 SIMD layer for x86 AVX-512F: 16 floats a vector, the same names
// as f32_avx2.h (which lists them). Include it inside a file's
// SQBERT_ISA_BEGIN_AVX512F region (isa_target.h), after <immintrin.h>.
// Compares give mask registers, and tails are masked loads and stores,
// which (unlike AVX2's maskload) do not fault on the lanes they skip.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "f32_avx2.h"

// GCC 12 warns that the `__Y = __Y` of _mm512_undefined_ps, which its
// max, sqrt and shift intrinsics pass as the unused merge source, is
// uninitialized (GCC bug 105593, fixed in 13); silenced for the kernel file
// that includes this layer.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace sqbert {
namespace {

struct F32Avx512 {
  using V = __m512;
  using M = __mmask16;
  using Tail = __mmask16;
  static constexpr size_t kWidth = 16;
  static constexpr bool kFma = true;

  static inline V load(const float* p) { return _mm512_loadu_ps(p); }
  static inline void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static inline Tail tail(size_t count) { return static_cast<Tail>((1u << count) - 1); }
  // Lanes past the tail read as 0 and are not written.
  static inline V load_tail(const float* p, Tail t) { return _mm512_maskz_loadu_ps(t, p); }
  static inline void store_tail(float* p, Tail t, V v) { _mm512_mask_storeu_ps(p, t, v); }
  static inline V set1(float a) { return _mm512_set1_ps(a); }
  static inline V zero() { return _mm512_setzero_ps(); }

  static inline V add(V a, V b) { return _mm512_add_ps(a, b); }
  static inline V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static inline V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static inline V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static inline V div(V a, V b) { return _mm512_div_ps(a, b); }
  static inline V sqrt(V a) { return _mm512_sqrt_ps(a); }
  // vmaxps returns its second operand where either is NaN, as on AVX2.
  static inline V max(V a, V b) { return _mm512_max_ps(a, b); }
  static inline V max_nonnan(V a, V b) { return _mm512_max_ps(a, b); }
  static inline V min(V a, V b) { return _mm512_min_ps(a, b); }
  static inline V abs(V a) {
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(0x7FFFFFFF)));
  }

  static inline M eq(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  static inline V select(M m, V t, V f) { return _mm512_mask_blend_ps(m, f, t); }
  static inline V select_sign(V x, V neg, V pos) {
    const M negative = _mm512_cmplt_epi32_mask(_mm512_castps_si512(x), _mm512_setzero_si512());
    return _mm512_mask_blend_ps(negative, pos, neg);
  }
  static inline V shl23(V v) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(v), 23));
  }

  // Two of AVX2's 8-row transposes: the mask adds once per key block, off
  // the GEMMs' critical path.
  static inline void add_transposed(size_t bk, float* s, size_t s_stride, const float* a,
                                    size_t a_stride) {
    F32Avx2::add_transposed(bk, s, s_stride, a, a_stride);
    F32Avx2::add_transposed(bk, s + 8, s_stride, a + 8 * a_stride, a_stride);
  }
};

}  // namespace
}  // namespace sqbert

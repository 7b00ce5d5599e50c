// exp for AVX2 kernels. Include it inside a file's SQBERT_ISA_BEGIN_AVX2
// region, after <immintrin.h>: its code is compiled for AVX2 there only.
#pragma once

namespace sqbert {
namespace {

// exp(x) in float32 for x <= 0, what the softmax exponentiates (s - max):
// 2^n * p(t) with x = n ln2 + t (XNNPACK's rr1-p5 scheme; relative error
// under 4e-7). n comes from adding a magic bias, whose low mantissa bits
// then hold n + 127, shifted straight into the exponent field: no rounding
// or conversion instructions. x is first raised to -88 (x = -inf included):
// from -87.7 down n = -127 makes that field, and the result, exactly 0. A
// NaN x stays NaN (maxps returns its second operand then). 8 FMA-pipe
// operations a vector; the two-part ln2 of rr2 and a compare for the
// underflow made 10, and a softmax of 128 keys 15% slower.
inline __m256 exp_ps(__m256 x) {
  const __m256 magic_bias = _mm256_set1_ps(0x1.8000FEp23f);
  x = _mm256_max_ps(_mm256_set1_ps(-88.0f), x);
  __m256 n = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), magic_bias);
  const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(n), 23));
  n = _mm256_sub_ps(n, magic_bias);
  // One-part ln2: its rounding error, |n| * 1.4e-9, is within the bound.
  const __m256 t = _mm256_fmadd_ps(n, _mm256_set1_ps(-0x1.62E430p-1f), x);
  __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(0x1.0F9F9Cp-7f), t, _mm256_set1_ps(0x1.573A1Ap-5f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0x1.555A80p-3f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0x1.FFFDC6p-2f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0x1.FFFFF6p-1f));
  return _mm256_fmadd_ps(_mm256_mul_ps(t, scale), p, scale);
}

}  // namespace
}  // namespace sqbert

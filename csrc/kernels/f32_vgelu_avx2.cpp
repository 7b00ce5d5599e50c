// x86 AVX2+FMA exact GELU, 8 floats a step; the tail through masked loads.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstdint>

#include "f32_vgelu.h"
#include "isa_target.h"

SQBERT_ISA_BEGIN_AVX2

namespace sqbert {
namespace {

__m256 gelu_ps(__m256 x) {
  // erf(|z|) = 1 - (1 + a1|z| + ... + a6|z|^6)^-16, z = x / sqrt(2);
  // gelu = x (1 + sign(x) erf|z|) / 2. Past |z| ~ 1e3 the power overflows
  // to inf and erf to exactly 1.
  const __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(0.70710678f));
  const __m256 az = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
  __m256 p = _mm256_set1_ps(0.0000430638f);
  p = _mm256_fmadd_ps(p, az, _mm256_set1_ps(0.0002765672f));
  p = _mm256_fmadd_ps(p, az, _mm256_set1_ps(0.0001520143f));
  p = _mm256_fmadd_ps(p, az, _mm256_set1_ps(0.0092705272f));
  p = _mm256_fmadd_ps(p, az, _mm256_set1_ps(0.0422820123f));
  p = _mm256_fmadd_ps(p, az, _mm256_set1_ps(0.0705230784f));
  p = _mm256_fmadd_ps(p, az, _mm256_set1_ps(1.0f));
  p = _mm256_mul_ps(p, p);
  p = _mm256_mul_ps(p, p);
  p = _mm256_mul_ps(p, p);
  p = _mm256_mul_ps(p, p);
  const __m256 erf_abs = _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(_mm256_set1_ps(1.0f), p));
  // Put the sign of z back on erf.
  const __m256 erf = _mm256_or_ps(erf_abs, _mm256_and_ps(z, _mm256_set1_ps(-0.0f)));
  return _mm256_mul_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.5f)), _mm256_add_ps(erf, _mm256_set1_ps(1.0f)));
}

}  // namespace

void f32_vgelu__avx2(size_t rows, size_t n, float* x, size_t stride) {
  const size_t full = n & ~size_t{7};
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(n - full)),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  for (size_t r = 0; r < rows; r++, x += stride) {
    for (size_t i = 0; i < full; i += 8) _mm256_storeu_ps(x + i, gelu_ps(_mm256_loadu_ps(x + i)));
    if (full < n) _mm256_maskstore_ps(x + full, mask, gelu_ps(_mm256_maskload_ps(x + full, mask)));
  }
}

}  // namespace sqbert

SQBERT_ISA_END

#endif

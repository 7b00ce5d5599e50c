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
  // erf(|z|) = 1 - r, r = (1 + a1|z| + ... + a6|z|^6)^-16, z = x / sqrt(2);
  // gelu = x (1 + sign(x) erf|z|) / 2 = x - x r / 2 for x >= 0, x r / 2
  // below. The polynomial goes by Estrin's scheme: a short dependency chain,
  // as the kernel runs on tiles of 12 vectors. Past |z| ~ 1e3 the power
  // overflows to inf and r to exactly 0.
  const __m256 t = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_mul_ps(x, _mm256_set1_ps(0.70710678f)));
  const __m256 t2 = _mm256_mul_ps(t, t), t4 = _mm256_mul_ps(t2, t2);
  const __m256 q0 = _mm256_fmadd_ps(_mm256_set1_ps(0.0705230784f), t, _mm256_set1_ps(1.0f));
  const __m256 q1 = _mm256_fmadd_ps(_mm256_set1_ps(0.0092705272f), t, _mm256_set1_ps(0.0422820123f));
  __m256 q2 = _mm256_fmadd_ps(_mm256_set1_ps(0.0002765672f), t, _mm256_set1_ps(0.0001520143f));
  q2 = _mm256_fmadd_ps(_mm256_set1_ps(0.0000430638f), t2, q2);
  __m256 p = _mm256_fmadd_ps(q2, t4, _mm256_fmadd_ps(q1, t2, q0));
  p = _mm256_mul_ps(p, p);
  p = _mm256_mul_ps(p, p);
  p = _mm256_mul_ps(p, p);
  p = _mm256_mul_ps(p, p);
  const __m256 half_xr = _mm256_div_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.5f)), p);
  // At x = +inf, half_xr is inf / inf = NaN: max(NaN, 0) = 0 keeps gelu(inf)
  // = inf; -inf gives NaN, as torch's gelu does.
  const __m256 positive = _mm256_sub_ps(x, _mm256_max_ps(half_xr, _mm256_setzero_ps()));
  return _mm256_blendv_ps(positive, half_xr, x);
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

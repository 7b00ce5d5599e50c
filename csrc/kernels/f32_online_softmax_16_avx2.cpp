// x86 AVX2+FMA online softmax over 16 query lanes (two ymm per row).
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include "f32_softmax.h"
#include "isa_target.h"

SQBERT_ISA_BEGIN_AVX2

#include "f32_vexp_avx2.h"

namespace sqbert {

void f32_online_softmax_16__avx2(size_t bk, size_t d, float* s, float* m,
                                 float* l, float* o) {
  for (size_t h = 0; h < 16; h += 8) {
    const __m256 m_old = _mm256_loadu_ps(m + h);
    __m256 m_new = m_old;
    for (size_t j = 0; j < bk; j++) m_new = _mm256_max_ps(m_new, _mm256_loadu_ps(s + j * 16 + h));
    // While every score is -inf, exponentiate against 0: exp(-inf) = 0.
    const __m256 ninf = _mm256_set1_ps(-__builtin_inff());
    const __m256 ref = _mm256_blendv_ps(m_new, _mm256_setzero_ps(),
                                        _mm256_cmp_ps(m_new, ninf, _CMP_EQ_OQ));
    const __m256 alpha = exp_ps(_mm256_sub_ps(m_old, ref));
    __m256 sum = _mm256_setzero_ps();
    for (size_t j = 0; j < bk; j++) {
      const __m256 p = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(s + j * 16 + h), ref));
      _mm256_storeu_ps(s + j * 16 + h, p);
      sum = _mm256_add_ps(sum, p);
    }
    _mm256_storeu_ps(l + h, _mm256_fmadd_ps(_mm256_loadu_ps(l + h), alpha, sum));
    for (size_t c = 0; c < d; c++) {
      _mm256_storeu_ps(o + c * 16 + h, _mm256_mul_ps(_mm256_loadu_ps(o + c * 16 + h), alpha));
    }
    _mm256_storeu_ps(m + h, m_new);
  }
}

}  // namespace sqbert

SQBERT_ISA_END

#endif

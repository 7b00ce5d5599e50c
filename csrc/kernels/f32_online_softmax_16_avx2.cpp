// x86 AVX2+FMA online softmax over 16 query lanes (two ymm per row).
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include "f32_softmax.h"
#include "isa_target.h"

SQBERT_ISA_BEGIN_AVX2

#include "f32_vexp_avx2.h"

namespace sqbert {
namespace {

// s[j][h + i] += mask[i][j] for i < 8: the mask's [query][key] rows are
// turned into the scores' [key][query] rows by 8x8 transposes in registers.
void add_mask_half(size_t bk, float* s, const float* mask, size_t mask_stride) {
  size_t j = 0;
  for (; j + 8 <= bk; j += 8) {
    __m256 r[8];
    for (size_t i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(mask + i * mask_stride + j);
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
      float* row = s + (j + jj) * 16;
      _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), c[jj]));
    }
  }
  for (; j < bk; j++) {
    for (size_t i = 0; i < 8; i++) s[j * 16 + i] += mask[i * mask_stride + j];
  }
}

}  // namespace

void f32_online_softmax_16__avx2(size_t bk, size_t d, float* s, const float* mask,
                                 size_t mask_stride, float* m, float* l, float* o) {
  for (size_t h = 0; h < 16; h += 8) {
    if (mask != nullptr) add_mask_half(bk, s + h, mask + h * mask_stride, mask_stride);
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

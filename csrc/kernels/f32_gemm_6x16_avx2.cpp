// x86 AVX2+FMA micro-kernel: 6 output rows x 16 sequence positions.
// 12 ymm accumulators, 2 ymm for the x row and 1 for the broadcast weight
// fit the 16 registers; per k step 12 FMAs against 2 loads and 6 broadcasts,
// so the two FMA pipes, not the load ports, set the pace.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstdint>

#include "f32_gemm.h"
#include "isa_target.h"

SQBERT_ISA_BEGIN_AVX2

namespace sqbert {
namespace {

// Lane j of the mask is on when j < n (n in [0, 8]).
__m256i first_lanes(size_t n) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(n)), lane);
}

// kMasked: the tile is narrower than 16 (nc < 16); x and y are touched only
// in the first nc columns.
template <bool kMasked>
void gemm_6x16(size_t mr, size_t nc, size_t kc, const F32GemmWeights& wt,
               const float* x, size_t x_stride, float* y, size_t y_stride,
               bool accumulate) {
  const __m256i mask0 = first_lanes(nc < 8 ? nc : 8);
  const __m256i mask1 = first_lanes(nc > 8 ? nc - 8 : 0);
  auto load = [&](const float* p, __m256i mask) {
    return kMasked ? _mm256_maskload_ps(p, mask) : _mm256_loadu_ps(p);
  };

  // Rows past mr repeat the last real row: they are read, never stored.
  const float* w[6];
  for (size_t i = 0; i < 6; i++) w[i] = wt.w + (i < mr ? i : mr - 1) * wt.stride_m;

  __m256 c[6][2];
  for (size_t i = 0; i < 6; i++) {
    const size_t row = i < mr ? i : mr - 1;
    if (accumulate) {
      c[i][0] = load(y + row * y_stride, mask0);
      c[i][1] = load(y + row * y_stride + 8, mask1);
    } else {
      c[i][0] = c[i][1] = wt.bias ? _mm256_broadcast_ss(wt.bias + row) : _mm256_setzero_ps();
    }
  }
  __m256 c00 = c[0][0], c01 = c[0][1], c10 = c[1][0], c11 = c[1][1];
  __m256 c20 = c[2][0], c21 = c[2][1], c30 = c[3][0], c31 = c[3][1];
  __m256 c40 = c[4][0], c41 = c[4][1], c50 = c[5][0], c51 = c[5][1];
  const float *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3], *w4 = w[4], *w5 = w[5];
  const size_t sk = wt.stride_k;

  for (size_t k = 0, kk = 0; k < kc; k++, kk += sk) {
    const __m256 x0 = load(x, mask0);
    const __m256 x1 = load(x + 8, mask1);
    x += x_stride;
    __m256 a = _mm256_broadcast_ss(w0 + kk);
    c00 = _mm256_fmadd_ps(a, x0, c00);
    c01 = _mm256_fmadd_ps(a, x1, c01);
    a = _mm256_broadcast_ss(w1 + kk);
    c10 = _mm256_fmadd_ps(a, x0, c10);
    c11 = _mm256_fmadd_ps(a, x1, c11);
    a = _mm256_broadcast_ss(w2 + kk);
    c20 = _mm256_fmadd_ps(a, x0, c20);
    c21 = _mm256_fmadd_ps(a, x1, c21);
    a = _mm256_broadcast_ss(w3 + kk);
    c30 = _mm256_fmadd_ps(a, x0, c30);
    c31 = _mm256_fmadd_ps(a, x1, c31);
    a = _mm256_broadcast_ss(w4 + kk);
    c40 = _mm256_fmadd_ps(a, x0, c40);
    c41 = _mm256_fmadd_ps(a, x1, c41);
    a = _mm256_broadcast_ss(w5 + kk);
    c50 = _mm256_fmadd_ps(a, x0, c50);
    c51 = _mm256_fmadd_ps(a, x1, c51);
  }

  const __m256 rows[6][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                             {c30, c31}, {c40, c41}, {c50, c51}};
  for (size_t i = 0; i < mr; i++, y += y_stride) {
    if (kMasked) {
      _mm256_maskstore_ps(y, mask0, rows[i][0]);
      _mm256_maskstore_ps(y + 8, mask1, rows[i][1]);
    } else {
      _mm256_storeu_ps(y, rows[i][0]);
      _mm256_storeu_ps(y + 8, rows[i][1]);
    }
  }
}

}  // namespace

void f32_gemm_6x16__avx2(size_t mr, size_t nc, size_t kc,
                         const F32GemmWeights& w, const float* x,
                         size_t x_stride, float* y, size_t y_stride,
                         bool accumulate) {
  if (nc == 16) {
    gemm_6x16<false>(mr, nc, kc, w, x, x_stride, y, y_stride, accumulate);
  } else {
    gemm_6x16<true>(mr, nc, kc, w, x, x_stride, y, y_stride, accumulate);
  }
}

}  // namespace sqbert

SQBERT_ISA_END

#endif

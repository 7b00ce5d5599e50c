// x86 AVX-512F micro-kernel: 8 output rows x 32 sequence positions.
// 16 zmm accumulators (two per row), 2 for the x row and the broadcast
// weights fit the 32 registers with room to spare; per k step 16 FMAs
// against 2 loads and 8 broadcasts, so the FMA pipes set the pace. Where
// they are 512 bits wide (Zen 5, Intel server cores) that is twice the
// AVX2 kernel's work a cycle.
#if defined(__x86_64__)

#include <immintrin.h>

#include <cassert>
#include <cstdint>

#include "f32_gemm.h"
#include "isa_target.h"

SQBERT_ISA_BEGIN_AVX512F

namespace sqbert {
namespace {

// Lanes < n of a 16-lane half (n in [0, 16]).
__mmask16 first_lanes(size_t n) { return static_cast<__mmask16>((1u << n) - 1); }

// Fetch the packed weights 96 k steps ahead, which the model's forward
// (its 106 MB of weights from DRAM) ran fastest at: 1t 38.1 -> 36.7 ms and
// 2t 21.3 -> 20.5 from the AVX2 kernel's 1536 bytes, 48 steps of this
// kernel's twice faster loop (4608 and 6144 gave no more).
constexpr uintptr_t kPrefetchAhead = 3072;

// kPartial: nc < 32, x and y touched only in the first nc columns (masked
// loads and stores, which do not fault on the lanes they skip).
// kRowsAdjacent: w.stride_m == 1 and a full tile, so the eight weights of a
// k step sit at constant offsets. kRows (4 or 8, at least mr) rows are
// computed: rows past mr repeat the last real row and are not stored.
template <bool kPartial, bool kRowsAdjacent, size_t kRows, bool kScaled>
void gemm_8x32(size_t mr, size_t nc, size_t kc, const F32GemmWeights& wt, const float* x, size_t x_stride,
               float* y, size_t y_stride, bool accumulate, const float* col_scale) {
  const __mmask16 mask0 = first_lanes(nc < 16 ? nc : 16);
  const __mmask16 mask1 = first_lanes(nc > 16 ? nc - 16 : 0);
  auto load = [&](const float* p, __mmask16 mask) {
    return kPartial ? _mm512_maskz_loadu_ps(mask, p) : _mm512_loadu_ps(p);
  };

  size_t o[8];
  for (size_t i = 0; i < 8; i++) o[i] = kRowsAdjacent ? i : (i < mr ? i : mr - 1) * wt.stride_m;

  // Named registers, as in the AVX2 kernel: an array of them went through
  // the stack. Row i starts from y itself, the bias, or 0.
  auto init = [&](size_t i, size_t half) {
    const size_t row = i < mr ? i : mr - 1;
    if (accumulate) return load(y + row * y_stride + 16 * half, half ? mask1 : mask0);
    return wt.bias ? _mm512_set1_ps(wt.bias[row]) : _mm512_setzero_ps();
  };
  __m512 c00 = init(0, 0), c01 = init(0, 1), c10 = init(1, 0), c11 = init(1, 1);
  __m512 c20 = init(2, 0), c21 = init(2, 1), c30 = init(3, 0), c31 = init(3, 1);
  __m512 c40 = init(4, 0), c41 = init(4, 1), c50 = init(5, 0), c51 = init(5, 1);
  __m512 c60 = init(6, 0), c61 = init(6, 1), c70 = init(7, 0), c71 = init(7, 1);
  const float* w = wt.w;
  const size_t sk = wt.stride_k;
  for (size_t k = 0; k < kc; k++) {
    const __m512 x0 = load(x, mask0);
    const __m512 x1 = load(x + 16, mask1);
    x += x_stride;
    if (kRowsAdjacent) {
      _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(w) + kPrefetchAhead), _MM_HINT_T0);
    }
    __m512 a = _mm512_set1_ps(w[o[0]]);
    c00 = _mm512_fmadd_ps(a, x0, c00);
    c01 = _mm512_fmadd_ps(a, x1, c01);
    a = _mm512_set1_ps(w[o[1]]);
    c10 = _mm512_fmadd_ps(a, x0, c10);
    c11 = _mm512_fmadd_ps(a, x1, c11);
    a = _mm512_set1_ps(w[o[2]]);
    c20 = _mm512_fmadd_ps(a, x0, c20);
    c21 = _mm512_fmadd_ps(a, x1, c21);
    a = _mm512_set1_ps(w[o[3]]);
    c30 = _mm512_fmadd_ps(a, x0, c30);
    c31 = _mm512_fmadd_ps(a, x1, c31);
    if constexpr (kRows > 4) {
      a = _mm512_set1_ps(w[o[4]]);
      c40 = _mm512_fmadd_ps(a, x0, c40);
      c41 = _mm512_fmadd_ps(a, x1, c41);
      a = _mm512_set1_ps(w[o[5]]);
      c50 = _mm512_fmadd_ps(a, x0, c50);
      c51 = _mm512_fmadd_ps(a, x1, c51);
      a = _mm512_set1_ps(w[o[6]]);
      c60 = _mm512_fmadd_ps(a, x0, c60);
      c61 = _mm512_fmadd_ps(a, x1, c61);
      a = _mm512_set1_ps(w[o[7]]);
      c70 = _mm512_fmadd_ps(a, x0, c70);
      c71 = _mm512_fmadd_ps(a, x1, c71);
    }
    w += sk;
  }

  const __m512 scale0 = kScaled ? load(col_scale, mask0) : _mm512_setzero_ps();
  const __m512 scale1 = kScaled ? load(col_scale + 16, mask1) : _mm512_setzero_ps();
  auto store = [&](size_t i, __m512 lo, __m512 hi) {
    if (i >= mr) return;
    if (kScaled) {
      lo = _mm512_mul_ps(lo, scale0);
      hi = _mm512_mul_ps(hi, scale1);
    }
    float* row = y + i * y_stride;
    if (kPartial) {
      _mm512_mask_storeu_ps(row, mask0, lo);
      _mm512_mask_storeu_ps(row + 16, mask1, hi);
    } else {
      _mm512_storeu_ps(row, lo);
      _mm512_storeu_ps(row + 16, hi);
    }
  };
  store(0, c00, c01);
  store(1, c10, c11);
  store(2, c20, c21);
  store(3, c30, c31);
  store(4, c40, c41);
  store(5, c50, c51);
  store(6, c60, c61);
  store(7, c70, c71);
}

// Tiles of up to 4 or 8 rows read at any stride.
template <bool kPartial, bool kScaled>
void gemm_8x32_rows(size_t mr, size_t nc, size_t kc, const F32GemmWeights& w, const float* x, size_t x_stride,
                    float* y, size_t y_stride, bool accumulate, const float* col_scale) {
  if (mr <= 4) {
    gemm_8x32<kPartial, false, 4, kScaled>(mr, nc, kc, w, x, x_stride, y, y_stride, accumulate, col_scale);
  } else {
    gemm_8x32<kPartial, false, 8, kScaled>(mr, nc, kc, w, x, x_stride, y, y_stride, accumulate, col_scale);
  }
}

}  // namespace

// As in the AVX2 kernel, col_scale and full tiles pick their own
// instantiations, and flatten inlines them all here.
[[gnu::flatten]] void f32_gemm_8x32__avx512f(size_t mr, size_t nc, size_t kc, const F32GemmWeights& w,
                                             const float* x, size_t x_stride, float* y, size_t y_stride,
                                             const F32GemmEpilogue& epilogue) {
  assert(mr >= 1 && mr <= 8 && nc >= 1 && nc <= 32);
  assert(kc == 0 || (w.w != nullptr && x != nullptr));
  const bool accumulate = epilogue.accumulate;
  const float* col_scale = epilogue.col_scale;
  if (col_scale != nullptr) {
    if (nc == 32) {
      gemm_8x32_rows<false, true>(mr, nc, kc, w, x, x_stride, y, y_stride, accumulate, col_scale);
    } else {
      gemm_8x32_rows<true, true>(mr, nc, kc, w, x, x_stride, y, y_stride, accumulate, col_scale);
    }
  } else if (nc == 32 && w.stride_m == 1 && mr == 8) {
    gemm_8x32<false, true, 8, false>(mr, nc, kc, w, x, x_stride, y, y_stride, accumulate, nullptr);
  } else if (nc == 32) {
    gemm_8x32_rows<false, false>(mr, nc, kc, w, x, x_stride, y, y_stride, accumulate, nullptr);
  } else {
    gemm_8x32_rows<true, false>(mr, nc, kc, w, x, x_stride, y, y_stride, accumulate, nullptr);
  }
}

}  // namespace sqbert

SQBERT_ISA_END

#endif

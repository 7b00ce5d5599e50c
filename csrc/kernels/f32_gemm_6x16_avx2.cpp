// x86 AVX2+FMA micro-kernel: 6 output rows x 16 sequence positions.
// 12 ymm accumulators, 2 ymm for the x row and 1 for the broadcast weight
// fit the 16 registers; per k step 12 FMAs against 2 loads and 6 broadcasts,
// so the two FMA pipes, not the load ports, set the pace.
#if defined(__x86_64__)

#include <immintrin.h>

#include <cassert>
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

// Packed weights stream through once per tile, from DRAM when the whole
// model's (106 MB for SqueezeBERT) outgrow the caches: fetch them this many
// bytes (64 k steps) ahead.
constexpr uintptr_t kPrefetchAhead = 1536;

// kPartial: the tile is narrower than 16 (nc < 16); x and y are touched only
// in the first nc columns. kRowsAdjacent: w.stride_m == 1 (packed weights,
// keys read transposed), so one pointer and constant offsets reach the six
// weights of a k step; otherwise rows 0-2 and 3-5 hang off two pointers by
// multiples of stride_m. Either way the loop has few integer ops beside the
// 12 FMAs and 8 loads, which keeps it within the core's dispatch width.
// kRows (2, 4 or 6, at least mr) rows are computed: a tile of 1-4 rows
// (attention's last 2 of 128 keys, 4 of 64 channels) skips the FMAs of the
// rest instead of repeating its last row.
template <bool kPartial, bool kRowsAdjacent, size_t kRows, bool kScaled>
void gemm_6x16(size_t mr, size_t nc, size_t kc, const F32GemmWeights& wt,
               const float* x, size_t x_stride, float* y, size_t y_stride,
               bool accumulate, const float* col_scale) {
  const __m256i mask0 = first_lanes(nc < 8 ? nc : 8);
  const __m256i mask1 = first_lanes(nc > 8 ? nc - 8 : 0);
  auto load = [&](const float* p, __m256i mask) {
    return kPartial ? _mm256_maskload_ps(p, mask) : _mm256_loadu_ps(p);
  };

  // Rows past mr repeat the last real row: they are read, never stored.
  size_t row_offset[6];
  for (size_t i = 0; i < 6; i++) row_offset[i] = (i < mr ? i : mr - 1) * wt.stride_m;

  // The accumulators are named registers, set and stored one by one: held
  // in an array they went through the stack, which slowed the
  // convolutions. Row i starts from y itself, the bias, or 0.
  auto init = [&](size_t i, size_t half) {
    const size_t row = i < mr ? i : mr - 1;
    if (accumulate) return load(y + row * y_stride + 8 * half, half ? mask1 : mask0);
    return wt.bias ? _mm256_broadcast_ss(wt.bias + row) : _mm256_setzero_ps();
  };
  __m256 c00 = init(0, 0), c01 = init(0, 1), c10 = init(1, 0), c11 = init(1, 1);
  __m256 c20 = init(2, 0), c21 = init(2, 1), c30 = init(3, 0), c31 = init(3, 1);
  __m256 c40 = init(4, 0), c41 = init(4, 1), c50 = init(5, 0), c51 = init(5, 1);
  const size_t sk = wt.stride_k;
  // Row i's weight at (i < 3 ? wa : wb)[o[i]]; with kRowsAdjacent and a full
  // tile the offsets are the constants 0..5.
  const bool full = kRowsAdjacent && mr == 6;
  const float* wa = wt.w;
  const float* wb = wt.w + (full ? 0 : row_offset[3]);
  const size_t o1 = full ? 1 : row_offset[1], o2 = full ? 2 : row_offset[2];
  const size_t o3 = full ? 3 : 0, o4 = full ? 4 : row_offset[4] - row_offset[3];
  const size_t o5 = full ? 5 : row_offset[5] - row_offset[3];

  for (size_t k = 0; k < kc; k++) {
    const __m256 x0 = load(x, mask0);
    const __m256 x1 = load(x + 8, mask1);
    x += x_stride;
    if (kRowsAdjacent) {
      _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(wa) + kPrefetchAhead),
                   _MM_HINT_T0);
    }
    __m256 a = _mm256_broadcast_ss(wa);
    c00 = _mm256_fmadd_ps(a, x0, c00);
    c01 = _mm256_fmadd_ps(a, x1, c01);
    a = _mm256_broadcast_ss(wa + o1);
    c10 = _mm256_fmadd_ps(a, x0, c10);
    c11 = _mm256_fmadd_ps(a, x1, c11);
    if constexpr (kRows > 2) {
      a = _mm256_broadcast_ss(wa + o2);
      c20 = _mm256_fmadd_ps(a, x0, c20);
      c21 = _mm256_fmadd_ps(a, x1, c21);
      a = _mm256_broadcast_ss(wb + o3);
      c30 = _mm256_fmadd_ps(a, x0, c30);
      c31 = _mm256_fmadd_ps(a, x1, c31);
    }
    if constexpr (kRows > 4) {
      a = _mm256_broadcast_ss(wb + o4);
      c40 = _mm256_fmadd_ps(a, x0, c40);
      c41 = _mm256_fmadd_ps(a, x1, c41);
      a = _mm256_broadcast_ss(wb + o5);
      c50 = _mm256_fmadd_ps(a, x0, c50);
      c51 = _mm256_fmadd_ps(a, x1, c51);
    }
    wa += sk;
    wb += sk;
  }

  const __m256 scale0 = kScaled ? load(col_scale, mask0) : _mm256_setzero_ps();
  const __m256 scale1 = kScaled ? load(col_scale + 8, mask1) : _mm256_setzero_ps();
  auto store = [&](size_t i, __m256 lo, __m256 hi) {
    if (i >= mr) return;
    if (kScaled) {
      lo = _mm256_mul_ps(lo, scale0);
      hi = _mm256_mul_ps(hi, scale1);
    }
    float* row = y + i * y_stride;
    if (kPartial) {
      _mm256_maskstore_ps(row, mask0, lo);
      _mm256_maskstore_ps(row + 8, mask1, hi);
    } else {
      _mm256_storeu_ps(row, lo);
      _mm256_storeu_ps(row + 8, hi);
    }
  };
  store(0, c00, c01);
  store(1, c10, c11);
  store(2, c20, c21);
  store(3, c30, c31);
  store(4, c40, c41);
  store(5, c50, c51);
}

// Full-width tiles of up to 2, 4 or 6 rows read at any stride.
template <bool kScaled>
void gemm_6x16_rows(size_t mr, size_t kc, const F32GemmWeights& w, const float* x, size_t x_stride,
                    float* y, size_t y_stride, bool accumulate, const float* col_scale) {
  if (mr <= 2) {
    gemm_6x16<false, false, 2, kScaled>(mr, 16, kc, w, x, x_stride, y, y_stride, accumulate, col_scale);
  } else if (mr <= 4) {
    gemm_6x16<false, false, 4, kScaled>(mr, 16, kc, w, x, x_stride, y, y_stride, accumulate, col_scale);
  } else {
    gemm_6x16<false, false, 6, kScaled>(mr, 16, kc, w, x, x_stride, y, y_stride, accumulate, col_scale);
  }
}

}  // namespace

// col_scale picks its own instantiations: a run-time test in the shared
// ones slowed every call, the convolutions' included. flatten inlines all
// nine here, with their lambdas: GCC's limits left some as calls, and
// packed tiles ran slower.
[[gnu::flatten]] void f32_gemm_6x16__avx2(size_t mr, size_t nc, size_t kc,
                                          const F32GemmWeights& w, const float* x,
                                          size_t x_stride, float* y, size_t y_stride,
                                          const F32GemmEpilogue& epilogue) {
  assert(mr >= 1 && mr <= 6 && nc >= 1 && nc <= 16);
  assert(kc == 0 || (w.w != nullptr && x != nullptr));
  const bool accumulate = epilogue.accumulate;
  const float* col_scale = epilogue.col_scale;
  if (col_scale != nullptr) {
    if (nc == 16) {
      gemm_6x16_rows<true>(mr, kc, w, x, x_stride, y, y_stride, accumulate, col_scale);
    } else {
      gemm_6x16<true, false, 6, true>(mr, nc, kc, w, x, x_stride, y, y_stride, accumulate, col_scale);
    }
  } else if (nc == 16 && w.stride_m == 1 && mr == 6) {
    gemm_6x16<false, true, 6, false>(mr, nc, kc, w, x, x_stride, y, y_stride, accumulate, nullptr);
  } else if (nc == 16) {
    gemm_6x16_rows<false>(mr, kc, w, x, x_stride, y, y_stride, accumulate, nullptr);
  } else {
    gemm_6x16<true, false, 6, false>(mr, nc, kc, w, x, x_stride, y, y_stride, accumulate, nullptr);
  }
}

}  // namespace sqbert

SQBERT_ISA_END

#endif

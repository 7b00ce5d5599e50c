// x86 AVX2 int8 GEMM (qs8_gemm.h): 4 rows x 16 positions. Per k-quad and
// 8 outputs, vpmaddubsw (x unsigned, weights signed) sums pairs into int16
// (exact: at most 2 * 127 * 127), vpmaddwd with ones sums those into int32
// and vpaddd accumulates. The two multiplies share Zen's two multiply pipes
// with f32's FMAs, which caps this at 32 MACs a cycle, twice f32's 16; a
// hot tile reaches ~31.5 (Zen 5). Tiles of 2 to 6 rows all measured at that
// cap; 4x16 (8 accumulators, 2 x, the weight, the ones and the products)
// fits the 16 ymm and loads x once for 4 rows.
#if defined(__x86_64__)

#include <immintrin.h>

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "qs8_gemm.h"
#include "isa_target.h"

SQBERT_ISA_BEGIN_AVX2

#include "qs8_gemm_c4_x86.inl"

namespace sqbert {
namespace {

// The ones are a constant the compiler keeps in a register.
struct DotAvx2 {
  __m256i operator()(__m256i acc, __m256i x, __m256i w) const {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), _mm256_set1_epi16(1)));
  }
};

}  // namespace

void qs8_gemm_4x16c4__avx2(size_t mr, size_t nc, size_t kc, const void* w, const uint8_t* x,
                           const float* x_scale, const int32_t* x_zero, float* y, size_t y_stride) {
  qs8_gemm_c4<4, DotAvx2>(mr, nc, kc, w, x, x_scale, x_zero, y, y_stride);
}

}  // namespace sqbert

SQBERT_ISA_END

#endif

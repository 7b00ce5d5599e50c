// x86 AVX-VNNI int8 GEMM (qs8_gemm.h): 6 rows x 16 positions. One
// vpdpbusd (x unsigned, weights signed, VEX-encoded; it wraps, never
// saturates, and the sums are exact) does the 4 products and the
// accumulation of each lane that AVX2 spends three instructions on. 12
// accumulators, 2 x and the weight fill 15 of the 16 ymm; the 12 chains
// hide vpdpbusd's latency at 2 a cycle: a hot tile reaches ~63 MACs a
// cycle on Zen 5, 4x f32, where 4x16 and 5x16 measured 53 and 59.
#if defined(__x86_64__)

#include <immintrin.h>

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "qs8_gemm.h"
#include "isa_target.h"

SQBERT_ISA_BEGIN_AVXVNNI

#include "qs8_gemm_c4_x86.inl"

namespace sqbert {
namespace {

struct DotAvxVnni {
  __m256i operator()(__m256i acc, __m256i x, __m256i w) const { return _mm256_dpbusd_avx_epi32(acc, x, w); }
};

}  // namespace

void qs8_gemm_6x16c4__avxvnni(size_t mr, size_t nc, size_t kc, const void* w, const uint8_t* x,
                              const float* x_scale, const int32_t* x_zero, float* y, size_t y_stride) {
  qs8_gemm_c4<6, DotAvxVnni>(mr, nc, kc, w, x, x_scale, x_zero, y, y_stride);
}

}  // namespace sqbert

SQBERT_ISA_END

#endif

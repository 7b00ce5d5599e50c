// x86 AVX-512 VNNI int8 GEMM (qs8_gemm.h): 12 rows x 32 positions. The
// avxvnni kernel's step on 512-bit vectors: per k-quad two 64-byte loads of
// x hold 32 positions x 4 depth bytes, one broadcast of a row's 4 weight
// bytes meets both, and vpdpbusd adds each lane's 4 products u8 x s8 (it
// wraps, never saturates; the sums are exact). 24 accumulators, 2 x and the
// weight take 27 of the 32 zmm, and 24 chains hide vpdpbusd's latency. Zen 5
// runs two 512-bit vpdpbusd a cycle, twice avxvnni's MACs; on cores that
// split 512-bit operations in two (Zen 4) it matches avxvnni with half the
// instructions. Rows of 12 divide SqueezeBERT's 192 and 768 channels a group.
#if defined(__x86_64__)

#include <immintrin.h>

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "qs8_gemm.h"
#include "isa_target.h"

SQBERT_ISA_BEGIN_AVX512VNNI

// GCC 12's _mm512_cvtepi32_ps passes a self-initialised _mm512_undefined_ps()
// and warns about it.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace sqbert {
namespace {

// The packed weights stream from DRAM in the model (26 MB int8): fetch them
// this many bytes (64 k-quads) ahead (the int8 model 1t 15.4 -> 14.9 ms, 2t
// 9.7 -> 9.4, alternating builds 4 times).
constexpr size_t kPrefetchAhead = 3072;

}  // namespace

void qs8_gemm_12x32c4__avx512vnni(size_t mr, size_t nc, size_t kc, const void* w, const uint8_t* x,
                                  const float* x_scale, const int32_t* x_zero, float* y, size_t y_stride) {
  constexpr size_t MR = 12;
  assert(mr >= 1 && mr <= MR && nc >= 1 && nc <= 32);
  const auto* row_sum = static_cast<const int32_t*>(w);
  const auto* scale = reinterpret_cast<const float*>(row_sum + MR);
  const float* bias = scale + MR;
  const auto* wq = reinterpret_cast<const int8_t*>(bias + MR);

  // Every row of the panel is computed (its rows past mr are zeros); only
  // the stores skip them. Fully unrolled, the accumulator array lives in
  // registers (checked in the object code: no spills in the loop).
  __m512i acc[MR][2];
#pragma GCC unroll 12
  for (size_t i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_si512();
  for (size_t q = (kc + 3) / 4; q != 0; q--) {
    const __m512i x0 = _mm512_loadu_si512(x);
    const __m512i x1 = _mm512_loadu_si512(x + 64);
    _mm_prefetch(reinterpret_cast<const char*>(wq) + kPrefetchAhead, _MM_HINT_T0);
#pragma GCC unroll 12
    for (size_t i = 0; i < MR; i++) {
      int32_t wi;
      std::memcpy(&wi, wq + 4 * i, sizeof(wi));
      const __m512i wv = _mm512_set1_epi32(wi);
      acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], x0, wv);
      acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], x1, wv);
    }
    wq += 4 * MR;
    x += 128;
  }

  // The contract's epilogue, op for op as the scalar kernel: the same bits.
  // Masked stores write only the nc positions (and fault on none past them).
  const __mmask16 m0 = nc >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << nc) - 1);
  const __mmask16 m1 = nc >= 32 ? __mmask16(0xFFFF) : nc <= 16 ? __mmask16(0) : __mmask16((1u << (nc - 16)) - 1);
  const __m512i xz0 = _mm512_loadu_si512(x_zero), xz1 = _mm512_loadu_si512(x_zero + 16);
  const __m512 xs0 = _mm512_loadu_ps(x_scale), xs1 = _mm512_loadu_ps(x_scale + 16);
#pragma GCC unroll 12
  for (size_t i = 0; i < MR; i++) {
    if (i >= mr) break;
    const __m512i rs = _mm512_set1_epi32(row_sum[i]);
    const __m512 s = _mm512_set1_ps(scale[i]), b = _mm512_set1_ps(bias[i]);
    float* row = y + i * y_stride;
    const __m512 v0 = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][0], _mm512_mullo_epi32(xz0, rs)));
    const __m512 v1 = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][1], _mm512_mullo_epi32(xz1, rs)));
    _mm512_mask_storeu_ps(row, m0, _mm512_fmadd_ps(v0, _mm512_mul_ps(s, xs0), b));
    _mm512_mask_storeu_ps(row + 16, m1, _mm512_fmadd_ps(v1, _mm512_mul_ps(s, xs1), b));
  }
}

}  // namespace sqbert

SQBERT_ISA_END

#endif

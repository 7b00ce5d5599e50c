// The int8 path's micro-kernel contracts, shared by every ISA: the
// activation quantizer (f32 -> qu7 packed block) and the int8 GEMM
// (qs8 weights x qu7 activations -> f32 tile).
//
// The scheme (README, "int8"), one for every ISA:
//   weights: symmetric int8 per output channel m,
//     amax = max_k |w[m][k]|, scale[m] = amax / 127, inv = 127 / amax,
//     wq[m][k] = nearbyint(w[m][k] * inv) in [-127, 127] (all 0 when amax = 0)
//   activations: asymmetric 7-bit per position n (over the group's channels),
//     lo = min(0, min_k x[k][n]), hi = max(0, max_k x[k][n]), range = hi - lo,
//     x_scale[n] = range / 127, inv = range > 0 ? 127 / range : 0,
//     x_zero[n] = clamp(nearbyint(-lo * inv), 0, 127),
//     xq[k][n] = clamp(nearbyint(x[k][n] * inv) + x_zero[n], 0, 127);
//     a position whose range is not finite (an inf or NaN among its inputs,
//     or a span past float's range) gets x_scale NaN, x_zero 0 and xq 0, so
//     its outputs are NaN.
// All arithmetic is float32 with round-to-nearest-even (nearbyint, which the
// SIMD conversions match), so every ISA quantizes to the same bytes.
//
// Why nothing saturates: xq is 0..127 and wq -127..127, so a product is at
// most 16129 in magnitude and a sum of two (AVX2's vpmaddubsw pairs into
// int16, ARMv8.0's smull + smlal) at most 32258 < 32767; the int32 sums
// reach 127 * 127 * k, below 2^31 for k < 133000. The accumulators of every
// kernel are therefore the exact integers, and the float epilogue below is
// one fused multiply-add of the same float32 values, so all ISAs produce the
// same bits.
//
// Packed weights (qs8_gemm_pack.h), a panel of MR rows (bytes):
//   int32 row_sum[MR]    sum_k wq[m][k]
//   float scale[MR]      the row's weight scale
//   float bias[MR]       0 without bias
//   int8  w[KQ][MR][4]   wq[m][4q + i]; KQ = ceil(k / 4), 0 past k and past
//                        the group's last row
// Packed activations (one quantizer call), a block of NR positions:
//   uint8 x[KQ][NR][4]   xq[4q + i][n]; 0 past k and past nc positions
//   float x_scale[NR], int32 x_zero[NR]; 0 past nc positions
//
// One GEMM call computes, for m < mr <= MR and n < nc <= NR:
//   acc[m][n] = sum_{k < KQ * 4} wq[m][k] * xq[k][n]              (int32)
//   y[m][n]   = fma(float(acc[m][n] - x_zero[n] * row_sum[m]),
//                   scale[m] * x_scale[n], bias[m])
// reading the panel's MR rows, the block's NR columns and x_scale, x_zero
// [NR], writing only the mr x nc outputs (row m at y + m * y_stride).
//
// Names follow XNNPACK: datatype, operation, MRxNR tile, c4 (4 depth values
// per packed group), ISA.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sqbert {

// Depth values per packed group in both operands.
constexpr size_t kQs8Kr = 4;

// Bytes of one packed weight panel of `mr` rows for depth `k`.
inline size_t qs8_panel_bytes(size_t mr, size_t k) {
  return mr * (sizeof(int32_t) + 2 * sizeof(float)) + (k + kQs8Kr - 1) / kQs8Kr * mr * kQs8Kr;
}

// Bytes of one packed activation block of `nr` positions for depth `k`.
inline size_t qu7_block_bytes(size_t nr, size_t k) { return (k + kQs8Kr - 1) / kQs8Kr * nr * kQs8Kr; }

using qs8_gemm_ukernel_fn = void (*)(size_t mr, size_t nc, size_t kc, const void* w, const uint8_t* x,
                                     const float* x_scale, const int32_t* x_zero, float* y, size_t y_stride);

// Quantizes rows k < kc of positions n < nc of x (row k at x + k * x_stride)
// into a block for kernels with `nr` positions (nc <= nr): xq, x_scale and
// x_zero as above, padding included.
using f32_qu7_quantize_ukernel_fn = void (*)(size_t kc, size_t nc, size_t nr, const float* x, size_t x_stride,
                                             uint8_t* xq, float* x_scale, int32_t* x_zero);

void qs8_gemm_4x4c4__scalar(size_t mr, size_t nc, size_t kc, const void* w, const uint8_t* x,
                            const float* x_scale, const int32_t* x_zero, float* y, size_t y_stride);
void f32_qu7_quantize__scalar(size_t kc, size_t nc, size_t nr, const float* x, size_t x_stride, uint8_t* xq,
                              float* x_scale, int32_t* x_zero);

#if defined(__aarch64__)
// ARMv8.2 dot product (sdot): call only where the CPU has it (HWCAP_ASIMDDP).
void qs8_gemm_8x8c4__neondot(size_t mr, size_t nc, size_t kc, const void* w, const uint8_t* x,
                             const float* x_scale, const int32_t* x_zero, float* y, size_t y_stride);
// ARMv8.0 (smull/smlal/sadalp): any AArch64 core.
void qs8_gemm_4x8c4__neon(size_t mr, size_t nc, size_t kc, const void* w, const uint8_t* x,
                          const float* x_scale, const int32_t* x_zero, float* y, size_t y_stride);
// For both: any nr that is a multiple of 4.
void f32_qu7_quantize__neon(size_t kc, size_t nc, size_t nr, const float* x, size_t x_stride, uint8_t* xq,
                            float* x_scale, int32_t* x_zero);
#endif

#if defined(__x86_64__)
void qs8_gemm_4x16c4__avx2(size_t mr, size_t nc, size_t kc, const void* w, const uint8_t* x,
                           const float* x_scale, const int32_t* x_zero, float* y, size_t y_stride);
void qs8_gemm_6x16c4__avxvnni(size_t mr, size_t nc, size_t kc, const void* w, const uint8_t* x,
                              const float* x_scale, const int32_t* x_zero, float* y, size_t y_stride);
// AVX-512 with VNNI (avx512f, avx512bw, avx512vnni).
void qs8_gemm_12x32c4__avx512vnni(size_t mr, size_t nc, size_t kc, const void* w, const uint8_t* x,
                                  const float* x_scale, const int32_t* x_zero, float* y, size_t y_stride);
// Any nr that is a multiple of 8.
void f32_qu7_quantize__avx2(size_t kc, size_t nc, size_t nr, const float* x, size_t x_stride, uint8_t* xq,
                            float* x_scale, int32_t* x_zero);
#endif

}  // namespace sqbert

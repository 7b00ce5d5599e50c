// The f32 GEMM micro-kernel contract, shared by every ISA.
//
// One call computes one output tile of a 1x1 convolution in NCW layout:
//
//   y[m][n] = bias[m] + sum_{k < kc} w[m][k] * x[k][n]      for m < mr, n < nc
//
// where mr <= MR and nc <= NR of the kernel. The weights come packed (see
// f32_gemm_pack.h): one panel of MR output channels is
//   [MR biases][kc x MR weights, k-major]
// zero-padded past the real channels, so the kernel never branches on mr
// inside its loop. x and y are row-major with the sequence axis contiguous:
// row k of x starts at x + k * x_stride, row m of y at y + m * y_stride.
// Only the mr x nc elements of y are written; x is read only in its kc x nc
// block.
//
// Kernel names follow XNNPACK: datatype, operation, MRxNR tile, ISA.
#pragma once

#include <cstddef>

namespace sqbert {

using f32_gemm_ukernel_fn = void (*)(size_t mr, size_t nc, size_t kc,
                                     const float* w, const float* x,
                                     size_t x_stride, float* y,
                                     size_t y_stride);

void f32_gemm_4x4__scalar(size_t mr, size_t nc, size_t kc, const float* w,
                          const float* x, size_t x_stride, float* y,
                          size_t y_stride);

#if defined(__x86_64__) || defined(_M_X64)
void f32_gemm_6x16__avx2(size_t mr, size_t nc, size_t kc, const float* w,
                         const float* x, size_t x_stride, float* y,
                         size_t y_stride);
#endif

#if defined(__aarch64__)
void f32_gemm_8x8__neon(size_t mr, size_t nc, size_t kc, const float* w,
                        const float* x, size_t x_stride, float* y,
                        size_t y_stride);
#endif

}  // namespace sqbert

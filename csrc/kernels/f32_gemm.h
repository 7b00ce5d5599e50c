// The f32 GEMM micro-kernel contract, shared by every ISA.
//
// One call computes one output tile with the sequence axis contiguous (the
// NCW layout of a 1x1 convolution, and of attention's scores and context):
//
//   y[m][n] = init[m][n] + sum_{k < kc} w[m * w_stride_m + k * w_stride_k] * x[k][n]
//
// for m < mr and n < nc, where 1 <= mr <= MR and 1 <= nc <= NR of the
// kernel, and init[m][n] is y[m][n] itself when epilogue.accumulate, else
// w.bias[m], or 0 when that is null (the bias lives with the weights: packed
// panels hold it). With epilogue.col_scale (nc values, or null) column n of
// the result is then multiplied by col_scale[n] before it is stored:
// attention divides its context by the softmax sums this way instead of in
// a pass of its own. The kernels assert the tile's bounds (assert():
// active without NDEBUG, as in the sanitize build of tests/cpp/run.sh).
// Row k of x starts at x + k * x_stride, row m of y at y + m * y_stride.
// Only the mr x nc elements of y are written, only rows m < mr of w and the
// kc x nc block of x are read, so the kernel can read operands in place:
// packed convolution weights (f32_gemm_pack.h: w_stride_m = 1, w_stride_k =
// MR), a [channels, length] head of attention keys read transposed
// (1, length), or values read as they are (length, 1).
//
// Kernel names follow XNNPACK: datatype, operation, MRxNR tile, ISA.
#pragma once

#include <cstddef>

namespace sqbert {

struct F32GemmWeights {
  const float* w;
  size_t stride_m, stride_k;
  const float* bias;  // mr values, or null
};

// How a tile starts and ends, beside the bias: what used to be loose
// arguments after the weights. (An activation is not here: the operators
// run f32_vgelu.h on the tile after the last depth slice.)
struct F32GemmEpilogue {
  bool accumulate = false;            // start from y itself, not the bias
  const float* col_scale = nullptr;   // nc factors for the columns, or null
};

using f32_gemm_ukernel_fn = void (*)(size_t mr, size_t nc, size_t kc,
                                     const F32GemmWeights& w, const float* x,
                                     size_t x_stride, float* y,
                                     size_t y_stride,
                                     const F32GemmEpilogue& epilogue);

void f32_gemm_4x4__scalar(size_t mr, size_t nc, size_t kc,
                          const F32GemmWeights& w, const float* x,
                          size_t x_stride, float* y, size_t y_stride,
                          const F32GemmEpilogue& epilogue);

#if defined(__x86_64__)
void f32_gemm_6x16__avx2(size_t mr, size_t nc, size_t kc,
                         const F32GemmWeights& w, const float* x,
                         size_t x_stride, float* y, size_t y_stride,
                         const F32GemmEpilogue& epilogue);
void f32_gemm_8x32__avx512f(size_t mr, size_t nc, size_t kc,
                            const F32GemmWeights& w, const float* x,
                            size_t x_stride, float* y, size_t y_stride,
                            const F32GemmEpilogue& epilogue);
#endif

#if defined(__aarch64__)
void f32_gemm_8x8__neon(size_t mr, size_t nc, size_t kc,
                        const F32GemmWeights& w, const float* x,
                        size_t x_stride, float* y, size_t y_stride,
                        const F32GemmEpilogue& epilogue);
#endif

}  // namespace sqbert

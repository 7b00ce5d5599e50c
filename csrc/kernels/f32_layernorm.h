// The f32 LayerNorm-over-channels micro-kernel contract (NCW activations),
// shared by every ISA. One call normalises n sequence positions across all
// `channels` rows:
//
//   z[c][i] = x[c][i] + r[c][i]          (r optional: the residual)
//   y[c][i] = (z[c][i] - mean_i) / sqrt(var_i + eps) * gamma[c] + beta[c]
//
// with mean and variance over c (two passes: no cancellation for inputs far
// from zero mean). Row c of x, r and y starts at x + c * x_stride (and so
// on); only the first n floats of a row are read or written. The kernel
// sweeps whole row segments, which keeps its reads sequential: positions
// as vector lanes, per-position sums in `scratch` (2 * n floats). z is
// staged in y, so y may be x itself (in place).
#pragma once

#include <cstddef>

namespace sqbert {

using f32_layernorm_ukernel_fn = void (*)(size_t channels, size_t n, const float* x,
                                          size_t x_stride, const float* r, size_t r_stride,
                                          const float* gamma, const float* beta, float eps,
                                          float* y, size_t y_stride, float* scratch);

void f32_layernorm__scalar(size_t channels, size_t n, const float* x, size_t x_stride,
                           const float* r, size_t r_stride, const float* gamma,
                           const float* beta, float eps, float* y, size_t y_stride,
                           float* scratch);

#if defined(__x86_64__) || defined(_M_X64)
void f32_layernorm__avx2(size_t channels, size_t n, const float* x, size_t x_stride,
                         const float* r, size_t r_stride, const float* gamma,
                         const float* beta, float eps, float* y, size_t y_stride,
                         float* scratch);
#endif

#if defined(__aarch64__)
void f32_layernorm__neon(size_t channels, size_t n, const float* x, size_t x_stride,
                         const float* r, size_t r_stride, const float* gamma,
                         const float* beta, float eps, float* y, size_t y_stride,
                         float* scratch);
#endif

}  // namespace sqbert

// The f32 LayerNorm-over-channels micro-kernel contract (NCW activations),
// shared by every ISA. One call normalises n sequence positions across all
// `channels` rows:
//
//   z[c][i] = x[c][i] + r[c][i]          (r optional: the residual)
//   y[c][i] = (z[c][i] - mean_i) / sqrt(var_i + eps) * gamma[c] + beta[c]
//
// with mean and variance over c (two passes: no cancellation for inputs far
// from zero mean). The mean is shifted by row 0:
//
//   mean_i = z[0][i] + (sum over c of (z[c][i] - z[0][i])) / channels
//
// which is exact where every channel of a position holds the same value v:
// each difference is exactly 0, so mean_i is v, every deviation is exactly
// 0 and y is exactly beta, at any eps > 0. The plain float32 sum(z) /
// channels misses v by a rounding; that residue d, the same at every
// channel, made var = d^2 >> eps (1e-12) and y = d / sqrt(d^2 + eps) *
// gamma + beta = +-gamma + beta. The shift also bounds the sum's rounding
// by the spread of z rather than its distance from zero.
//
// Row c of x, r and y starts at x + c * x_stride (and so on); only the
// first n floats of a row are read or written. The kernel sweeps whole row
// segments, which keeps its reads sequential: positions as vector lanes, per-position sums in
// `scratch` (2 * n floats; the second half holds z[0] until the means are
// in). z is staged in y, so y may be x itself (in place).
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

#if defined(__x86_64__)
void f32_layernorm__avx2(size_t channels, size_t n, const float* x, size_t x_stride,
                         const float* r, size_t r_stride, const float* gamma,
                         const float* beta, float eps, float* y, size_t y_stride,
                         float* scratch);
void f32_layernorm__avx512f(size_t channels, size_t n, const float* x, size_t x_stride,
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

#include "layernorm_ncw.h"

#include <algorithm>
#include <cmath>

namespace sqbert {
namespace {

// Positions per task: 768 channels x 64 positions (192 KiB) stay in L2
// across the three passes.
constexpr size_t kBlock = 64;

size_t blocks(const LayerNormNcwArgs& args) { return (args.length + kBlock - 1) / kBlock; }

}  // namespace

size_t layernorm_ncw_task_count(const LayerNormNcwArgs& args) {
  return args.batch * blocks(args);
}

void layernorm_ncw_run(const LayerNormNcwArgs& args, size_t task_begin, size_t task_end) {
  const size_t C = args.channels;
  for (size_t task = task_begin; task < task_end; task++) {
    const size_t b = task / blocks(args), l0 = (task % blocks(args)) * kBlock;
    const size_t n = std::min(kBlock, args.length - l0);
    const float* x = args.x + b * args.x_batch_stride + l0;
    const float* r = args.residual ? args.residual + b * args.r_batch_stride + l0 : nullptr;
    float* y = args.y + b * args.y_batch_stride + l0;
    float mean[kBlock] = {}, var[kBlock] = {};
    // y = x + residual, and the per-position sums.
    for (size_t c = 0; c < C; c++) {
      const float* xc = x + c * args.x_channel_stride;
      float* yc = y + c * args.y_channel_stride;
      if (r) {
        const float* rc = r + c * args.r_channel_stride;
        for (size_t l = 0; l < n; l++) yc[l] = xc[l] + rc[l];
      } else if (yc != xc) {
        for (size_t l = 0; l < n; l++) yc[l] = xc[l];
      }
      for (size_t l = 0; l < n; l++) mean[l] += yc[l];
    }
    for (size_t l = 0; l < n; l++) mean[l] /= C;
    // Two-pass variance: no cancellation for inputs far from zero mean.
    for (size_t c = 0; c < C; c++) {
      const float* yc = y + c * args.y_channel_stride;
      for (size_t l = 0; l < n; l++) {
        const float d = yc[l] - mean[l];
        var[l] += d * d;
      }
    }
    for (size_t l = 0; l < n; l++) var[l] = 1.0f / std::sqrt(var[l] / C + args.eps);
    for (size_t c = 0; c < C; c++) {
      float* yc = y + c * args.y_channel_stride;
      const float g = args.gamma[c], be = args.beta[c];
      for (size_t l = 0; l < n; l++) yc[l] = (yc[l] - mean[l]) * var[l] * g + be;
    }
  }
}

}  // namespace sqbert

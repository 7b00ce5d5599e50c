#include "layernorm_ncw.h"

#include <algorithm>

namespace sqbert {
namespace {

size_t blocks(const LayerNormNcwArgs& args) {
  return (args.length + kLayerNormBlock - 1) / kLayerNormBlock;
}

}  // namespace

size_t layernorm_ncw_task_count(const LayerNormNcwArgs& args) {
  return args.batch * blocks(args);
}

void layernorm_ncw_run(const LayerNormNcwArgs& args, const KernelConfig& config,
                       size_t task_begin, size_t task_end) {
  float scratch[2 * kLayerNormBlock];
  for (size_t task = task_begin; task < task_end; task++) {
    const size_t b = task / blocks(args), l0 = (task % blocks(args)) * kLayerNormBlock;
    const float* r = args.residual ? args.residual + b * args.r_batch_stride + l0 : nullptr;
    config.layernorm(args.channels, std::min(kLayerNormBlock, args.length - l0),
                     args.x + b * args.x_batch_stride + l0, args.x_channel_stride, r,
                     args.r_channel_stride, args.gamma, args.beta, args.eps,
                     args.y + b * args.y_batch_stride + l0, args.y_channel_stride, scratch);
  }
}

}  // namespace sqbert

// LayerNorm over the channel axis of NCW activations, with an optional
// residual added first: y = LayerNorm_c(x + residual) * gamma + beta, as
// SqueezeBERT's post-attention and output blocks do after their
// convolutions, without the two permutes Hugging Face pays per LayerNorm.
// Positions are contiguous, so the reductions across the strided channel
// axis run with positions as vector lanes (f32_layernorm.h).
#pragma once

#include <cstddef>

#include "../kernels/kernel_config.h"

namespace sqbert {

struct LayerNormNcwArgs {
  size_t batch, channels, length;
  const float* x;
  size_t x_batch_stride, x_channel_stride;
  const float* residual;  // or null
  size_t r_batch_stride, r_channel_stride;
  const float* gamma;
  const float* beta;
  float eps;
  float* y;
  size_t y_batch_stride, y_channel_stride;
};

// Positions per task. The kernels sweep rows block by block, so wider
// blocks read longer contiguous runs (32 and 64 measured slower).
constexpr size_t kLayerNormBlock = 128;

// A task is one block of positions of one batch entry, across all channels.
size_t layernorm_ncw_task_count(const LayerNormNcwArgs& args);
void layernorm_ncw_run(const LayerNormNcwArgs& args, const KernelConfig& config,
                       size_t task_begin, size_t task_end);

}  // namespace sqbert

// The grouped 1x1 convolution operator on NCW activations, independent of
// torch: it splits the work into tasks that any thread pool can run.
//
// For batch b, group g, output channel c = g*m + i and position l:
//   y[b][c][l] = bias[c] + sum_{j<k} weight[c][j] * x[b][g*k + j][l]
// with the weights either packed by f32_gemm_pack_weights for the config's
// mr, or read in place.
#pragma once

#include <cstddef>

#include "../kernels/kernel_config.h"

namespace sqbert {

struct GroupedPwConvArgs {
  size_t batch, groups;
  size_t group_out;  // m: output channels per group
  size_t group_in;   // k: input channels per group
  size_t length;     // sequence positions; contiguous in x and y
  const float* x;
  size_t x_batch_stride, x_channel_stride;
  // Packed: packed_weight from f32_gemm_pack_weights (bias included).
  // Otherwise weight[c][j] at weight + c * w_stride_c + j * w_stride_k and
  // bias (contiguous, or null).
  const float* packed_weight;
  const float* weight;
  size_t w_stride_c, w_stride_k;
  const float* bias;
  float* y;
  size_t y_batch_stride, y_channel_stride;
  // Apply the exact GELU to each tile as it is written (still in L1).
  bool gelu;
  // Floats from one group's packed panels to the next (a packed tensor's
  // row, packed_weights.h); 0: the groups' panels are back to back.
  size_t packed_group_stride;
};

// A task is one (batch, group, block of positions) with all of the group's
// output channels, so consecutive tasks share a group's weights.
size_t grouped_pw_conv_task_count(const GroupedPwConvArgs& args,
                                  const KernelConfig& config);

// FLOPs in one task, for choosing how finely to split the work.
size_t grouped_pw_conv_task_flops(const GroupedPwConvArgs& args,
                                  const KernelConfig& config);

void grouped_pw_conv_run(const GroupedPwConvArgs& args,
                         const KernelConfig& config, size_t task_begin,
                         size_t task_end);

// Convolutions of one x with the same geometry (all but the weights, the
// GELU and y of convs[0..count) alike: attention's query, key and value),
// as one call: a task copies its block of x once for all of them. Tasks as
// grouped_pw_conv's for convs[0].
constexpr size_t kMaxSharedInputConvs = 3;
size_t grouped_pw_convs_task_flops(const GroupedPwConvArgs* convs, size_t count, const KernelConfig& config);
void grouped_pw_convs_run(const GroupedPwConvArgs* convs, size_t count, const KernelConfig& config,
                          size_t task_begin, size_t task_end);

// Two grouped 1x1 convolutions with the same groups, a transformer's
// feed-forward block on NCW activations:
//   y = W2 act(W1 x + b1) + b2
// with act the exact GELU or none, both weights packed by
// f32_gemm_pack_weights (bias included). Group g of the hidden layer is
// group g's input to W2, so a task runs both convolutions on one block of
// positions and its hidden activations never leave the cache.
struct GroupedPwFfnArgs {
  size_t batch, groups;
  size_t group_in;      // input channels per group
  size_t group_hidden;  // hidden channels per group (W1's m, W2's k)
  size_t group_out;     // output channels per group
  size_t length;
  const float* x;
  size_t x_batch_stride, x_channel_stride;
  const float* packed_w1;
  const float* packed_w2;
  float* y;
  size_t y_batch_stride, y_channel_stride;
  bool gelu;
  // As GroupedPwConvArgs::packed_group_stride, for each weight.
  size_t packed_w1_group_stride, packed_w2_group_stride;
};

// Tasks as for grouped_pw_conv: (batch, group, block of positions).
size_t grouped_pw_ffn_task_count(const GroupedPwFfnArgs& args, const KernelConfig& config);

size_t grouped_pw_ffn_task_flops(const GroupedPwFfnArgs& args, const KernelConfig& config);

void grouped_pw_ffn_run(const GroupedPwFfnArgs& args, const KernelConfig& config, size_t task_begin,
                        size_t task_end);

// The int8 forms (qs8_gemm.h's scheme): weights packed by
// qs8_gemm_pack_weights (scales and bias included), each block of positions
// quantized per position and group as its task starts, the float epilogue
// (and GELU) applied to each tile. The geometry fields mean what they mean
// above; the packed groups are `packed_group_stride` bytes apart.
struct GroupedPwConvQ8Args {
  size_t batch, groups, group_out, group_in, length;
  const float* x;
  size_t x_batch_stride, x_channel_stride;
  const uint8_t* packed_weight;
  size_t packed_group_stride;
  float* y;
  size_t y_batch_stride, y_channel_stride;
  bool gelu;
};

size_t grouped_pw_conv_q8_task_count(const GroupedPwConvQ8Args& args, const Qs8KernelConfig& config);
size_t grouped_pw_conv_q8_task_flops(const GroupedPwConvQ8Args& args, const Qs8KernelConfig& config);
void grouped_pw_conv_q8_run(const GroupedPwConvQ8Args& args, const Qs8KernelConfig& config, size_t task_begin,
                            size_t task_end);
// As grouped_pw_convs_run, in int8: a task quantizes its block once.
size_t grouped_pw_convs_q8_task_flops(const GroupedPwConvQ8Args* convs, size_t count,
                                      const Qs8KernelConfig& config);
void grouped_pw_convs_q8_run(const GroupedPwConvQ8Args* convs, size_t count, const Qs8KernelConfig& config,
                             size_t task_begin, size_t task_end);

// The feed-forward block in int8: the hidden activations of a block are
// quantized again, per position and group, for the second convolution.
struct GroupedPwFfnQ8Args {
  size_t batch, groups, group_in, group_hidden, group_out, length;
  const float* x;
  size_t x_batch_stride, x_channel_stride;
  const uint8_t* packed_w1;
  const uint8_t* packed_w2;
  size_t packed_w1_group_stride, packed_w2_group_stride;
  float* y;
  size_t y_batch_stride, y_channel_stride;
  bool gelu;
};

size_t grouped_pw_ffn_q8_task_count(const GroupedPwFfnQ8Args& args, const Qs8KernelConfig& config);
size_t grouped_pw_ffn_q8_task_flops(const GroupedPwFfnQ8Args& args, const Qs8KernelConfig& config);
void grouped_pw_ffn_q8_run(const GroupedPwFfnQ8Args& args, const Qs8KernelConfig& config, size_t task_begin,
                           size_t task_end);

}  // namespace sqbert

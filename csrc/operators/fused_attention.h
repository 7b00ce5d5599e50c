// Multi-head attention on NCW activations, independent of torch: q, k, v
// and the output are [batch][heads * head_dim][length] with positions
// contiguous; head h owns channels h*d .. h*d+d-1. For each head,
//
//   out[:, i] = sum_j softmax_j(scale * q[:, i] . k[:, j] + mask[i][j]) v[:, j]
//
// laid back exactly as Hugging Face's SqueezeBERT transpose_output does.
// q, k and v are read in place (no transposed copies of the tensors; from
// 256 keys on, or rows 256 floats apart or more, a thread copies one head's
// keys at a time); keys are processed
// in blocks with an online softmax, so no [L, L] scores exist and memory
// stays O(head_dim * (tile + length)) per thread.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../kernels/kernel_config.h"

namespace sqbert {

struct FusedAttentionArgs {
  size_t batch, heads, head_dim, length;
  const float* q;
  size_t q_batch_stride, q_channel_stride;
  const float* k;
  size_t k_batch_stride, k_channel_stride;
  const float* v;
  size_t v_batch_stride, v_channel_stride;
  // Additive mask[b][h][i][j] at mask + b*s[0] + h*s[1] + i*s[2] + j*s[3]
  // (stride 0 along broadcast axes), or null.
  const float* mask;
  size_t mask_stride[4];
  float scale;  // usually 1 / sqrt(head_dim)
  float* out;
  size_t out_batch_stride, out_channel_stride;
};

// A task is one (batch, head, tile of nr queries) against all keys.
size_t fused_attention_task_count(const FusedAttentionArgs& args,
                                  const KernelConfig& config);
size_t fused_attention_task_flops(const FusedAttentionArgs& args,
                                  const KernelConfig& config);

void fused_attention_run(const FusedAttentionArgs& args,
                         const KernelConfig& config, size_t task_begin,
                         size_t task_end);

// Variable-length attention: the sequences of a batch one after another
// along the positions of [heads * head_dim][length] q, k, v and out (a
// batch of 1), sequence s at positions seq_offsets[s] .. seq_offsets[s+1]-1
// (FlashAttention's cu_seqlens). Each query attends to the keys of its own
// sequence only, with no mask. The offsets start at 0, never decrease and
// end at length (empty sequences allowed); the caller checks them.
struct FusedAttentionVarlenArgs {
  size_t sequences, heads, head_dim, length;
  const int64_t* seq_offsets;  // [sequences + 1]
  const float* q;
  size_t q_channel_stride;
  const float* k;
  size_t k_channel_stride;
  const float* v;
  size_t v_channel_stride;
  float scale;  // usually 1 / sqrt(head_dim)
  float* out;
  size_t out_channel_stride;
};

// A task is one (sequence, head, tile of nr queries) against the keys of
// its sequence: tasks in that order, an empty sequence has none. Tasks of
// longer sequences cost more: split the tasks among threads with
// fused_attention_varlen_split, not into equal counts.
size_t fused_attention_varlen_task_count(const FusedAttentionVarlenArgs& args,
                                         const KernelConfig& config);
// The FLOPs of all tasks (4 * head_dim * nr * keys for each).
size_t fused_attention_varlen_flops(const FusedAttentionVarlenArgs& args,
                                    const KernelConfig& config);
// Task bounds of `parts` consecutive ranges of about equal work:
// bounds[0] = 0 <= bounds[1] <= ... <= bounds[parts] = task count.
void fused_attention_varlen_split(const FusedAttentionVarlenArgs& args,
                                  const KernelConfig& config, size_t parts,
                                  size_t* bounds);

void fused_attention_varlen_run(const FusedAttentionVarlenArgs& args,
                                const KernelConfig& config, size_t task_begin,
                                size_t task_end);

}  // namespace sqbert

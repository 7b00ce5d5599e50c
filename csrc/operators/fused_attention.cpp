#include "fused_attention.h"

#include <algorithm>
#include <limits>
#include <vector>

namespace sqbert {
namespace {

size_t query_tiles(const FusedAttentionArgs& args, const KernelConfig& config) {
  return (args.length + config.nr - 1) / config.nr;
}

}  // namespace

size_t fused_attention_task_count(const FusedAttentionArgs& args,
                                  const KernelConfig& config) {
  return args.batch * args.heads * query_tiles(args, config);
}

size_t fused_attention_task_flops(const FusedAttentionArgs& args,
                                  const KernelConfig& config) {
  return 4 * args.head_dim * args.length * config.nr;
}

void fused_attention_run(const FusedAttentionArgs& args,
                         const KernelConfig& config, size_t task_begin,
                         size_t task_end) {
  const size_t nr = config.nr, mr = config.mr, d = args.head_dim;
  // Keys per block: a whole number of GEMM tiles, and small enough that the
  // score block (16 KiB on AVX2) stays in L1 beside the query tile and the
  // context. Up to length 252, one block: no rescaling of the context.
  const size_t key_block = (256 / mr) * mr;
  const size_t tiles = query_tiles(args, config);
  std::vector<float> q_tile(d * nr), scores(key_block * nr), context(d * nr);
  std::vector<float> running_max(nr), running_sum(nr);

  for (size_t task = task_begin; task < task_end; task++) {
    const size_t i0 = (task % tiles) * nr;
    const size_t h = (task / tiles) % args.heads;
    const size_t b = task / (tiles * args.heads);
    const size_t nc = std::min(nr, args.length - i0);
    const float* q = args.q + b * args.q_batch_stride + h * d * args.q_channel_stride;
    const float* k = args.k + b * args.k_batch_stride + h * d * args.k_channel_stride;
    const float* v = args.v + b * args.v_batch_stride + h * d * args.v_channel_stride;

    // The tile's queries, pre-scaled; lanes past nc stay zero.
    std::fill(q_tile.begin(), q_tile.end(), 0.0f);
    for (size_t c = 0; c < d; c++) {
      for (size_t n = 0; n < nc; n++) {
        q_tile[c * nr + n] = q[c * args.q_channel_stride + i0 + n] * args.scale;
      }
    }
    std::fill(context.begin(), context.end(), 0.0f);
    std::fill(scores.begin(), scores.end(), 0.0f);
    std::fill(running_max.begin(), running_max.end(), -std::numeric_limits<float>::infinity());
    std::fill(running_sum.begin(), running_sum.end(), 0.0f);

    for (size_t j0 = 0; j0 < args.length; j0 += key_block) {
      const size_t bk = std::min(key_block, args.length - j0);
      // scores[j][n] = k[:, j0 + j] . q_tile[:, n]: keys read transposed in place.
      for (size_t j = 0; j < bk; j += mr) {
        const F32GemmWeights keys{k + j0 + j, 1, args.k_channel_stride, nullptr};
        config.ukernel(std::min(mr, bk - j), nc, d, keys, q_tile.data(), nr,
                       scores.data() + j * nr, nr, /*accumulate=*/false);
      }
      if (args.mask != nullptr) {
        const float* mask = args.mask + b * args.mask_stride[0] + h * args.mask_stride[1] +
                            j0 * args.mask_stride[3];
        for (size_t n = 0; n < nc; n++) {
          const float* row = mask + (i0 + n) * args.mask_stride[2];
          for (size_t j = 0; j < bk; j++) scores[j * nr + n] += row[j * args.mask_stride[3]];
        }
      }
      config.online_softmax(bk, d, scores.data(), running_max.data(), running_sum.data(),
                            context.data());
      // context[c][n] += sum_j v[c, j0 + j] * p[j][n]: values read in place.
      for (size_t c = 0; c < d; c += mr) {
        const F32GemmWeights values{v + c * args.v_channel_stride + j0, args.v_channel_stride, 1,
                                    nullptr};
        config.ukernel(std::min(mr, d - c), nc, bk, values, scores.data(), nr,
                       context.data() + c * nr, nr, /*accumulate=*/true);
      }
    }

    // A query whose keys were all -inf attends to nothing: 0, not NaN.
    for (size_t n = 0; n < nr; n++) {
      running_sum[n] = running_sum[n] > 0.0f ? 1.0f / running_sum[n] : 0.0f;
    }
    float* out = args.out + b * args.out_batch_stride + h * d * args.out_channel_stride + i0;
    for (size_t c = 0; c < d; c++) {
      for (size_t n = 0; n < nc; n++) out[c * args.out_channel_stride + n] = context[c * nr + n] * running_sum[n];
    }
  }
}

}  // namespace sqbert

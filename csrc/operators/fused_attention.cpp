#include "fused_attention.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace sqbert {
namespace {

size_t query_tiles(const FusedAttentionArgs& args, const KernelConfig& config) {
  return (args.length + config.nr - 1) / config.nr;
}

// Keys per block for n keys: a whole number of GEMM tiles, at most
// max_block so the score block (16 KiB on AVX2) stays in L1 beside the
// query tile and the context, and the blocks of one length equal (512 =
// 174 + 174 + 164, not 252 + 252 + 8). Up to 252 keys, one block: no
// rescaling of the context.
size_t key_block_size(size_t n, size_t mr, size_t max_block) {
  const size_t blocks = (n + max_block - 1) / max_block;
  return ((n + blocks - 1) / blocks + mr - 1) / mr * mr;
}

// A key whose additive mask is at most this is padding: its weight
// exp(mask + score - max) is exactly 0 in float32 (transformers' masks use
// the dtype's minimum, -3.4e38) unless scores differ by 1e30 or more.
constexpr float kPaddingMask = -1e30f;

// The keys a key mask leaves: all up to the last one above kPaddingMask.
// Trailing padding is skipped (the sums it would add are zeros); a row of
// padding only keeps every key, so the softmax treats it as Hugging Face's
// does (uniform weights, not 0 / 0).
size_t unpadded_keys(const float* key_mask, size_t stride, size_t length) {
  for (size_t n = length; n > 0; n--) {
    if (!(key_mask[(n - 1) * stride] <= kPaddingMask)) return n;
  }
  return length;
}

// The softmax sums l into the factors 1 / l that finish the context. A
// query whose keys were all -inf (l = 0) attends to nothing: 0, not NaN.
void invert_sums(float* l, size_t n) {
  for (size_t i = 0; i < n; i++) l[i] = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
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

// From this many keys on, a thread packs each head's keys once, as GEMM
// weight panels (mr keys by d channels), instead of reading them transposed
// in place, where a key tile's d rows lie length * 4 bytes apart and share
// a few L1 sets (at length 512, 2 of 64). The copy is O(length d) against
// the GEMMs' O(length^2 d): C++ A/B at batch 1, 9% less time at 256 and 8%
// at 512, 1.5% more at 128.
constexpr size_t kPackKeysFrom = 256;

// Keys [0, n) of a head (d rows, `stride` floats apart) as panels: panel t
// holds keys t*mr .. t*mr+mr-1 as [d][mr] (stride_m 1, stride_k mr).
void pack_keys(const float* k, size_t stride, size_t d, size_t n, size_t mr, float* packed) {
  for (size_t t = 0; t * mr < n; t++) {
    const size_t rows = std::min(mr, n - t * mr);
    float* dst = packed + t * d * mr;
    for (size_t c = 0; c < d; c++) {
      const float* src = k + c * stride + t * mr;
      for (size_t i = 0; i < rows; i++) dst[c * mr + i] = src[i];
    }
  }
}

// What a thread's next tasks read is fetched into L2 while this task
// computes: the next task's query rows, and a slice of the next head's keys
// and values per query tile of this head (all of them by its last tile),
// a few lines after each GEMM call. It pays when q, k and v come from L3 or
// DRAM: C++ A/B, B8 L128 (9 MiB of q, k, v) 10-11% less time, B8 L512 3%;
// it costs 2-3% while they stay in cache (B1-B4 at L128, 1.2-4.7 MiB), as
// the prefetches compete with the GEMMs' own loads. Hence the threshold.
constexpr size_t kPrefetchFromBytes = size_t{6} << 20;

// The lines of up to three ranges of rows, fetched a few at a time.
class LinePrefetcher {
 public:
  void add(const float* base, size_t stride, size_t rows, size_t row_floats) {
    if (rows == 0 || row_floats == 0) return;
    ranges_[count_++] = Range{base, stride, rows, row_floats};
    lines_ += rows * ((row_floats + 15) / 16);
  }
  size_t lines() const { return lines_; }
  void issue(size_t n) {
    while (n > 0 && current_ < count_) {
      const Range& r = ranges_[current_];
      const float* row = r.base + row_ * r.stride;
      for (; offset_ < r.row_floats && n > 0; offset_ += 16, n--) {  // 64-byte lines
        __builtin_prefetch(row + offset_, 0, 2);
      }
      if (offset_ >= r.row_floats) {
        offset_ = 0;
        if (++row_ == r.rows) row_ = 0, current_++;
      }
    }
  }

 private:
  struct Range {
    const float* base;
    size_t stride, rows, row_floats;
  };
  Range ranges_[3];
  size_t count_ = 0, lines_ = 0, current_ = 0, row_ = 0, offset_ = 0;
};

LinePrefetcher next_tasks_lines(const FusedAttentionArgs& args, size_t nr, size_t tiles, size_t task,
                                size_t task_end) {
  LinePrefetcher lines;
  const size_t d = args.head_dim;
  auto head = [&](const float* base, size_t batch_stride, size_t channel_stride, size_t t) {
    return base + t / (tiles * args.heads) * batch_stride + (t / tiles) % args.heads * d * channel_stride;
  };
  if (task + 1 < task_end) {
    lines.add(head(args.q, args.q_batch_stride, args.q_channel_stride, task + 1) + (task + 1) % tiles * nr,
              args.q_channel_stride, d, nr);
  }
  const size_t tile = task % tiles, next_head = task - tile + tiles;
  if (next_head < task_end) {
    const size_t c0 = tile * d / tiles, c1 = (tile + 1) * d / tiles;
    lines.add(head(args.k, args.k_batch_stride, args.k_channel_stride, next_head) + c0 * args.k_channel_stride,
              args.k_channel_stride, c1 - c0, args.length);
    lines.add(head(args.v, args.v_batch_stride, args.v_channel_stride, next_head) + c0 * args.v_channel_stride,
              args.v_channel_stride, c1 - c0, args.length);
  }
  return lines;
}

void fused_attention_run(const FusedAttentionArgs& args,
                         const KernelConfig& config, size_t task_begin,
                         size_t task_end) {
  const size_t nr = config.nr, mr = config.mr, d = args.head_dim, length = args.length;
  const size_t max_block = (256 / mr) * mr;
  // Sized for any count of keys up to length.
  const size_t block_capacity = std::min(max_block, (length + mr - 1) / mr * mr);
  const size_t tiles = query_tiles(args, config);
  const size_t* ms = args.mask_stride;
  // A mask that is the same for every query ([B, 1, 1, L] padding masks) is
  // the bias of the key rows of the score GEMM; any other mask is added by
  // the softmax kernel, read in place when its keys are contiguous.
  const bool key_mask = args.mask != nullptr && ms[2] == 0;
  const bool query_mask = args.mask != nullptr && ms[2] != 0;
  std::vector<float> q_tile(d * nr), scores(block_capacity * nr), context(d * nr);
  std::vector<float> running_max(nr), running_sum(nr);
  std::vector<float> key_bias(key_mask && ms[3] != 1 ? block_capacity : 0);
  std::vector<float> mask_tile(query_mask ? nr * block_capacity : 0);
  const bool pack = length >= kPackKeysFrom;
  std::vector<float> packed_keys(pack ? (length + mr - 1) / mr * mr * d : 0);
  size_t packed_head = SIZE_MAX;  // b * heads + h of packed_keys
  const bool prefetch = 3 * args.batch * args.heads * d * length * sizeof(float) >= kPrefetchFromBytes;

  for (size_t task = task_begin; task < task_end; task++) {
    const size_t i0 = (task % tiles) * nr;
    const size_t h = (task / tiles) % args.heads;
    const size_t b = task / (tiles * args.heads);
    const size_t nc = std::min(nr, length - i0);
    const float* q = args.q + b * args.q_batch_stride + h * d * args.q_channel_stride;
    const float* k = args.k + b * args.k_batch_stride + h * d * args.k_channel_stride;
    const float* v = args.v + b * args.v_batch_stride + h * d * args.v_channel_stride;
    const float* mask = args.mask == nullptr ? nullptr : args.mask + b * ms[0] + h * ms[1] + i0 * ms[2];
    const size_t keys = key_mask ? unpadded_keys(mask, ms[3], length) : length;
    const size_t key_block = key_block_size(keys, mr, max_block);
    // A thread's tasks are consecutive: a head's query tiles share its pack.
    if (pack && packed_head != b * args.heads + h) {
      pack_keys(k, args.k_channel_stride, d, keys, mr, packed_keys.data());
      packed_head = b * args.heads + h;
    }

    LinePrefetcher ahead = prefetch ? next_tasks_lines(args, nr, tiles, task, task_end) : LinePrefetcher{};
    const size_t calls = (keys + mr - 1) / mr + (d + mr - 1) / mr;  // GEMM calls of one key block
    const size_t per_call = (ahead.lines() + calls - 1) / std::max<size_t>(1, calls);

    // The tile's queries, pre-scaled. Lanes past nc are never read: the
    // kernels compute them from whatever the buffers hold and the caller
    // drops them.
    for (size_t c = 0; c < d; c++) {
      for (size_t n = 0; n < nc; n++) {
        q_tile[c * nr + n] = q[c * args.q_channel_stride + i0 + n] * args.scale;
      }
    }
    std::fill(running_max.begin(), running_max.end(), -std::numeric_limits<float>::infinity());
    std::fill(running_sum.begin(), running_sum.end(), 0.0f);

    // With one key block, the context GEMM writes the output rows itself,
    // divided by the softmax sums as it stores them: their first writes, to
    // lines not yet in cache, then overlap the GEMM's FMAs (B8 L128 4% less
    // time), and no pass over the output remains (B1 L128 2.5% less). Several
    // blocks accumulate in `context`, rescaled by the softmax kernel, and are
    // divided as they are copied out (the GEMM's scaling of the last block
    // cost L512 1.5% there).
    float* out = args.out + b * args.out_batch_stride + h * d * args.out_channel_stride + i0;
    const size_t os = args.out_channel_stride;
    const bool one_block = key_block >= keys;
    float* const ctx = one_block ? out : context.data();
    const size_t ctx_stride = one_block ? os : nr;
    for (size_t j0 = 0; j0 < keys; j0 += key_block) {
      const size_t bk = std::min(key_block, keys - j0);
      const float* bias = nullptr;
      if (key_mask) {
        bias = mask + j0 * ms[3];
        if (ms[3] != 1) {
          for (size_t j = 0; j < bk; j++) key_bias[j] = bias[j * ms[3]];
          bias = key_bias.data();
        }
      }
      // scores[j][n] = k[:, j0 + j] . q_tile[:, n] (+ bias[j]): keys read
      // from their panels, or transposed in place.
      for (size_t j = 0; j < bk; j += mr) {
        const float* b_j = bias ? bias + j : nullptr;
        const F32GemmWeights key_rows = pack ? F32GemmWeights{packed_keys.data() + (j0 + j) * d, 1, mr, b_j}
                                             : F32GemmWeights{k + j0 + j, 1, args.k_channel_stride, b_j};
        config.ukernel(std::min(mr, bk - j), nc, d, key_rows, q_tile.data(), nr,
                       scores.data() + j * nr, nr, /*accumulate=*/false, /*col_scale=*/nullptr);
        ahead.issue(per_call);
      }
      const float* block_mask = nullptr;
      size_t block_mask_stride = 0;
      if (query_mask) {
        block_mask = mask + j0 * ms[3];
        block_mask_stride = ms[2];
        if (ms[3] != 1 || nc < nr) {
          // The kernel reads nr rows of contiguous keys: gather them, padding
          // the rows past the last query with zeros.
          std::fill(mask_tile.begin(), mask_tile.end(), 0.0f);
          for (size_t n = 0; n < nc; n++) {
            for (size_t j = 0; j < bk; j++) {
              mask_tile[n * key_block + j] = block_mask[n * ms[2] + j * ms[3]];
            }
          }
          block_mask = mask_tile.data();
          block_mask_stride = key_block;
        }
      }
      // The first block starts the context (accumulate=false), so it has
      // nothing to rescale.
      const bool first = j0 == 0;
      config.online_softmax(bk, first ? 0 : d, scores.data(), block_mask, block_mask_stride,
                            running_max.data(), running_sum.data(), context.data());
      if (one_block) invert_sums(running_sum.data(), nr);
      // context[c][n] (+)= sum_j v[c, j0 + j] * p[j][n]: values read in place.
      for (size_t c = 0; c < d; c += mr) {
        const F32GemmWeights values{v + c * args.v_channel_stride + j0, args.v_channel_stride, 1,
                                    nullptr};
        config.ukernel(std::min(mr, d - c), nc, bk, values, scores.data(), nr, ctx + c * ctx_stride, ctx_stride,
                       /*accumulate=*/!first, /*col_scale=*/one_block ? running_sum.data() : nullptr);
        ahead.issue(per_call);
      }
    }

    ahead.issue(ahead.lines());
    if (!one_block) {
      invert_sums(running_sum.data(), nr);
      for (size_t c = 0; c < d; c++) {
        for (size_t n = 0; n < nc; n++) out[c * os + n] = context[c * nr + n] * running_sum[n];
      }
    }
  }
}

}  // namespace sqbert

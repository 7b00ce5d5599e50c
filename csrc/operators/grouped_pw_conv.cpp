#include "grouped_pw_conv.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../kernels/f32_gemm_pack.h"
#include "scratch.h"

namespace sqbert {
namespace {

size_t divide_round_up(size_t n, size_t q) { return (n + q - 1) / q; }

template <typename Config>
size_t position_blocks(size_t length, const Config& config) {
  return divide_round_up(length, config.nr);
}

// rows x n floats from src (rows src_stride apart) to dst (rows n_max
// apart). Full tiles copy a constant size, which the compiler inlines: a
// memcpy call per 64-byte row cost more than the copy itself.
void copy_rows(const float* src, size_t src_stride, size_t rows, size_t n, size_t n_max, float* dst) {
  auto copy = [&](auto width) {
    for (size_t j = 0; j < rows; j++) std::memcpy(dst + j * n_max, src + j * src_stride, width * sizeof(float));
  };
  if (n == 32) {
    copy(std::integral_constant<size_t, 32>{});
  } else if (n == 16) {
    copy(std::integral_constant<size_t, 16>{});
  } else if (n == 8) {
    copy(std::integral_constant<size_t, 8>{});
  } else {
    copy(n);
  }
}

// Each block of x, kc input channels x nr positions at a time, is copied to
// a contiguous panel. Read in place, rows length * 4 bytes apart map to a
// few cache sets (at length 512, 2 of the 64 L1 sets), and every one of the
// m / mr weight panels would read them again; the copy pays that once.
// Deeper groups go in slices of at most kMaxDepth channels, the output tile
// accumulating across slices. The panel need not fit L1: read in order, it
// streams from L2, and at k = 768 (3072 -> 768 in 4 groups, SqueezeBERT's
// feed-forward output convolution) one 48 KiB slice ran faster than two
// that fit L1, which store and reload every output tile once more.
constexpr size_t kMaxDepth = 1024;

// From this depth x is read in place where a block's row is two cache lines
// (AVX-512's 32 positions): its panel would not fit L1 either, and the copy
// cost more than the scattered rows. With AVX-512, 3072->768 in 4 groups
// ran 6% faster in place at B1 L128 (1 and 2 threads) and 1-5% at L512, the
// dense 768->768 1-3%; with AVX2's one-line rows in place ran 0-4% slower.
constexpr size_t kInPlaceDepth = 512;

template <typename Config>
bool reads_in_place(size_t depth, const Config& config) {
  return depth >= kInPlaceDepth && config.nr * sizeof(float) >= 128;
}

size_t slice_depth(size_t k) {
  return divide_round_up(k, std::max<size_t>(1, divide_round_up(k, kMaxDepth)));
}

// One task's block: batch b, group g, positions n0 .. n0 + nc.
struct Block {
  size_t b, g, n0, nc;
};

template <typename Config>
Block task_block(size_t task, size_t groups, size_t length, const Config& config) {
  const size_t blocks = position_blocks(length, config);
  const size_t n0 = (task % blocks) * config.nr;
  return Block{task / (blocks * groups), (task / blocks) % groups, n0, std::min(config.nr, length - n0)};
}

// A block's input: `rows` channel rows of nc positions, `stride` floats apart.
struct BlockRows {
  const float* x;
  size_t stride, rows, nc;
};

// Both operators' tasks: (batch, group, block of positions), blocks
// fastest, so consecutive tasks share a group's weights.
template <typename Args, typename Config>
size_t task_count(const Args& args, const Config& config) {
  return args.batch * args.groups * position_blocks(args.length, config);
}

// The x rows block `blk` reads: its group's input channels at its positions.
template <typename Args>
BlockRows block_rows(const Args& args, const Block& blk) {
  return BlockRows{args.x + blk.b * args.x_batch_stride + blk.g * args.group_in * args.x_channel_stride + blk.n0,
                   args.x_channel_stride, args.group_in, blk.nc};
}

// The x rows `task` reads; none past task_end.
template <typename Args, typename Config>
BlockRows task_rows(const Args& args, size_t task, size_t task_end, const Config& config) {
  if (task >= task_end) return BlockRows{nullptr, 0, 0, 0};
  return block_rows(args, task_block(task, args.groups, args.length, config));
}

// Whether gemm_block reads x's rows as they are rather than through a
// panel: they are one (stride nr), or deep (reads_in_place).
bool rows_in_place(const BlockRows& x, const KernelConfig& config) {
  return x.stride == config.nr || reads_in_place(x.rows, config);
}

// The packed weights of output rows m0 .. m0 + mr of group g, from depth k0;
// groups `group_stride` floats apart, or back to back when it is 0.
F32GemmWeights packed_panel(const float* packed, size_t group_stride, size_t g, size_t m, size_t k, size_t m0,
                            size_t k0, const KernelConfig& config) {
  const size_t panel = (1 + k) * config.mr;
  if (group_stride == 0) group_stride = f32_gemm_panel_count(m, config.mr) * panel;
  const float* w = packed + g * group_stride + m0 / config.mr * panel;
  return {w + config.mr * (1 + k0), 1, config.mr, w};
}

// Rows [0, m) of one block of output, y = W x (+ bias, then GELU if asked),
// the weights of rows m0.. from depth k0 given by panel(m0, k0). x goes
// through x_panel in depth slices, or is read in place (rows_in_place).
// `next` is the block the caller runs next (rows = 0 for none): its rows are
// fetched a few per micro-kernel call, so its copy finds them in cache.
template <typename Panel>
void gemm_block(const KernelConfig& config, size_t m, const BlockRows& x, const BlockRows& next, float* y,
                size_t y_stride, bool gelu, float* x_panel, const Panel& panel) {
  const size_t depth = slice_depth(x.rows);
  const size_t calls = std::max<size_t>(1, divide_round_up(m, config.mr));
  const bool in_place = rows_in_place(x, config);
  // Slices until k0 + kc reaches rows; one for rows = 0 (y = bias).
  for (size_t k0 = 0, kc = 0; k0 == 0 || k0 < x.rows; k0 += kc) {
    kc = std::min(depth, x.rows - k0);
    const float* xk = x.x + k0 * x.stride;
    if (!in_place) {
      copy_rows(xk, x.stride, kc, x.nc, config.nr, x_panel);
      xk = x_panel;
    }
    BlockRows ahead = next;
    ahead.rows = slice_depth(next.rows);
    if (k0 + kc < x.rows) {
      ahead = {x.x + (k0 + kc) * x.stride, x.stride, in_place ? 0 : std::min(depth, x.rows - k0 - kc), x.nc};
    }
    const size_t prefetch_rows = divide_round_up(ahead.rows, calls);
    const bool first = k0 == 0, last = k0 + kc >= x.rows;
    for (size_t m0 = 0; m0 < m; m0 += config.mr) {
      const size_t mr = std::min(config.mr, m - m0);
      float* tile = y + m0 * y_stride;
      // The next tile's output rows, so its stores find their lines.
      for (size_t i = m0 + config.mr; i < std::min(m0 + 2 * config.mr, m); i++) {
        __builtin_prefetch(y + i * y_stride, 1);
        __builtin_prefetch(y + i * y_stride + x.nc - 1, 1);
      }
      const size_t r0 = m0 / config.mr * prefetch_rows;
      for (size_t r = r0; r < std::min(r0 + prefetch_rows, ahead.rows); r++) {
        __builtin_prefetch(ahead.x + r * ahead.stride);
        __builtin_prefetch(ahead.x + r * ahead.stride + ahead.nc - 1);
      }
      // The bias starts the sum in the first slice; later ones accumulate.
      config.gemm(mr, x.nc, kc, panel(m0, k0), xk, in_place ? x.stride : config.nr, tile, y_stride,
                  F32GemmEpilogue{/*accumulate=*/!first, /*col_scale=*/nullptr});
      if (gelu && last) config.vgelu(mr, x.nc, tile, y_stride);
    }
    if (last) break;
  }
}

// A quantized block of positions (qs8_gemm.h): what a task's GEMMs read.
class Qu7Block {
 public:
  Qu7Block(const Qs8KernelConfig& config, size_t max_depth)
      : config_(config),
        xq_(thread_scratch<Scratch::kQuantized, uint8_t>(qu7_block_bytes(config.nr, max_depth))),
        scale_(thread_scratch<Scratch::kScales, float>(config.nr)),
        zero_(thread_scratch<Scratch::kZeroPoints, int32_t>(config.nr)) {}

  void quantize(const BlockRows& x) {
    config_.quantize(x.rows, x.nc, config_.nr, x.x, x.stride, xq_, scale_, zero_);
    nc_ = x.nc;
    depth_ = x.rows;
  }

  // Rows [0, m) of y (rows y_stride apart) from the group's packed panels
  // (qs8_panel_bytes each), then GELU if asked.
  void gemm(size_t m, const uint8_t* panels, float* y, size_t y_stride, bool gelu) const {
    const size_t panel_bytes = qs8_panel_bytes(config_.mr, depth_);
    for (size_t m0 = 0; m0 < m; m0 += config_.mr, panels += panel_bytes) {
      const size_t mr = std::min(config_.mr, m - m0);
      float* tile = y + m0 * y_stride;
      config_.gemm(mr, nc_, depth_, panels, xq_, scale_, zero_, tile, y_stride);
      if (gelu) config_.f32->vgelu(mr, nc_, tile, y_stride);
    }
  }

 private:
  const Qs8KernelConfig& config_;
  uint8_t* xq_;
  float* scale_;
  int32_t* zero_;
  size_t nc_ = 0, depth_ = 0;
};

}  // namespace

// A convolution whose x is read in place splits its output channels into
// chunks of about kChunkRows, each chunk of each block a task: SqueezeBERT's
// dense 768->768 convolution (after the attention) had 4 tasks at B1 L128,
// too few for two threads of unequal speed. Without a copy of x a chunk
// costs no more; tasks run block-fastest, so consecutive ones share a
// chunk's weights (590 KB there, in L2).
constexpr size_t kChunkRows = 192;

// One task of the convolution: a block, and output channels m0 .. m0 + m of
// its group.
struct ConvTask {
  Block blk;
  size_t m0, m;
};

class ConvTasks {
 public:
  ConvTasks(const GroupedPwConvArgs& args, const KernelConfig& config)
      : args_(args),
        config_(config),
        blocks_(position_blocks(args.length, config)),
        chunks_(reads_in_place(args.group_in, config) ? std::max<size_t>(1, args.group_out / kChunkRows) : 1),
        chunk_rows_(divide_round_up(divide_round_up(args.group_out, chunks_), config.mr) * config.mr) {}

  size_t count() const { return args_.batch * args_.groups * chunks_ * blocks_; }
  size_t flops() const { return 2 * chunk_rows_ * args_.group_in * config_.nr; }

  ConvTask at(size_t task) const {
    const size_t n0 = (task % blocks_) * config_.nr, rest = task / blocks_;
    const size_t chunk = rest % chunks_, bg = rest / chunks_;
    const size_t m0 = std::min(chunk * chunk_rows_, args_.group_out);
    return ConvTask{Block{bg / args_.groups, bg % args_.groups, n0, std::min(config_.nr, args_.length - n0)}, m0,
                    std::min(chunk_rows_, args_.group_out - m0)};
  }

  // The x rows task `task` reads; none past task_end.
  BlockRows rows(size_t task, size_t task_end) const {
    return task < task_end ? block_rows(args_, at(task).blk) : BlockRows{nullptr, 0, 0, 0};
  }

 private:
  const GroupedPwConvArgs& args_;
  const KernelConfig& config_;
  size_t blocks_, chunks_, chunk_rows_;
};

size_t grouped_pw_conv_task_count(const GroupedPwConvArgs& args,
                                  const KernelConfig& config) {
  return ConvTasks(args, config).count();
}

size_t grouped_pw_conv_task_flops(const GroupedPwConvArgs& args,
                                  const KernelConfig& config) {
  return ConvTasks(args, config).flops();
}

void grouped_pw_conv_run(const GroupedPwConvArgs& args,
                         const KernelConfig& config, size_t task_begin,
                         size_t task_end) {
  grouped_pw_convs_run(&args, 1, config, task_begin, task_end);
}

size_t grouped_pw_convs_task_flops(const GroupedPwConvArgs* convs, size_t count, const KernelConfig& config) {
  return count * ConvTasks(convs[0], config).flops();
}

void grouped_pw_convs_run(const GroupedPwConvArgs* convs, size_t count, const KernelConfig& config,
                          size_t task_begin, size_t task_end) {
  const GroupedPwConvArgs& geometry = convs[0];
  float* x_panel = thread_scratch<Scratch::kXPanel, float>(slice_depth(geometry.group_in) * config.nr);
  const ConvTasks tasks(geometry, config);
  for (size_t task = task_begin; task < task_end; task++) {
    const ConvTask t = tasks.at(task);
    const Block& blk = t.blk;
    BlockRows rows = tasks.rows(task, task_end);
    // Several convolutions copy the block once, up front; one copies it in
    // gemm_block, prefetching as it goes.
    if (count > 1 && !rows_in_place(rows, config) && slice_depth(rows.rows) == rows.rows) {
      copy_rows(rows.x, rows.stride, rows.rows, rows.nc, config.nr, x_panel);
      rows = BlockRows{x_panel, config.nr, rows.rows, rows.nc};
    }
    for (size_t i = 0; i < count; i++) {
      const GroupedPwConvArgs& args = convs[i];
      float* y = args.y + blk.b * args.y_batch_stride + (blk.g * args.group_out + t.m0) * args.y_channel_stride +
                 blk.n0;
      auto panel = [&](size_t m0, size_t k0) -> F32GemmWeights {
        if (args.packed_weight != nullptr) {
          return packed_panel(args.packed_weight, args.packed_group_stride, blk.g, args.group_out, args.group_in,
                              t.m0 + m0, k0, config);
        }
        const size_t c = blk.g * args.group_out + t.m0 + m0;
        return {args.weight + c * args.w_stride_c + k0 * args.w_stride_k, args.w_stride_c, args.w_stride_k,
                args.bias != nullptr ? args.bias + c : nullptr};
      };
      const BlockRows next = i + 1 == count ? tasks.rows(task + 1, task_end) : BlockRows{nullptr, 0, 0, 0};
      gemm_block(config, t.m, rows, next, y, args.y_channel_stride, args.gelu, x_panel, panel);
    }
  }
}

size_t grouped_pw_ffn_task_count(const GroupedPwFfnArgs& args, const KernelConfig& config) {
  return task_count(args, config);
}

size_t grouped_pw_ffn_task_flops(const GroupedPwFfnArgs& args, const KernelConfig& config) {
  return 2 * args.group_hidden * (args.group_in + args.group_out) * config.nr;
}

void grouped_pw_ffn_run(const GroupedPwFfnArgs& args, const KernelConfig& config, size_t task_begin,
                        size_t task_end) {
  float* x_panel = thread_scratch<Scratch::kXPanel, float>(slice_depth(args.group_in) * config.nr);
  // The block's hidden activations, laid out as the second convolution's x
  // panel: group_hidden rows of nr positions (96 KB for SqueezeBERT at nr 32).
  float* hidden = thread_scratch<Scratch::kHidden, float>(std::max<size_t>(1, args.group_hidden) * config.nr);
  for (size_t task = task_begin; task < task_end; task++) {
    const Block blk = task_block(task, args.groups, args.length, config);
    gemm_block(config, args.group_hidden, task_rows(args, task, task_end, config), BlockRows{nullptr, 0, 0, 0},
               hidden, config.nr, args.gelu, x_panel, [&](size_t m0, size_t k0) {
                 return packed_panel(args.packed_w1, args.packed_w1_group_stride, blk.g, args.group_hidden,
                                     args.group_in, m0, k0, config);
               });
    float* y = args.y + blk.b * args.y_batch_stride + blk.g * args.group_out * args.y_channel_stride + blk.n0;
    gemm_block(config, args.group_out, BlockRows{hidden, config.nr, args.group_hidden, blk.nc},
               task_rows(args, task + 1, task_end, config), y,
               args.y_channel_stride, false, x_panel, [&](size_t m0, size_t k0) {
                 return packed_panel(args.packed_w2, args.packed_w2_group_stride, blk.g, args.group_out,
                                     args.group_hidden, m0, k0, config);
               });
  }
}

size_t grouped_pw_conv_q8_task_count(const GroupedPwConvQ8Args& args, const Qs8KernelConfig& config) {
  return task_count(args, config);
}

size_t grouped_pw_conv_q8_task_flops(const GroupedPwConvQ8Args& args, const Qs8KernelConfig& config) {
  return 2 * args.group_out * args.group_in * config.nr;
}

void grouped_pw_conv_q8_run(const GroupedPwConvQ8Args& args, const Qs8KernelConfig& config, size_t task_begin,
                            size_t task_end) {
  grouped_pw_convs_q8_run(&args, 1, config, task_begin, task_end);
}

size_t grouped_pw_convs_q8_task_flops(const GroupedPwConvQ8Args* convs, size_t count,
                                      const Qs8KernelConfig& config) {
  return count * grouped_pw_conv_q8_task_flops(convs[0], config);
}

void grouped_pw_convs_q8_run(const GroupedPwConvQ8Args* convs, size_t count, const Qs8KernelConfig& config,
                             size_t task_begin, size_t task_end) {
  const GroupedPwConvQ8Args& geometry = convs[0];
  Qu7Block block(config, geometry.group_in);
  for (size_t task = task_begin; task < task_end; task++) {
    const Block blk = task_block(task, geometry.groups, geometry.length, config);
    block.quantize(task_rows(geometry, task, task_end, config));
    for (size_t i = 0; i < count; i++) {
      const GroupedPwConvQ8Args& args = convs[i];
      block.gemm(args.group_out, args.packed_weight + blk.g * args.packed_group_stride,
                 args.y + blk.b * args.y_batch_stride + blk.g * args.group_out * args.y_channel_stride + blk.n0,
                 args.y_channel_stride, args.gelu);
    }
  }
}

size_t grouped_pw_ffn_q8_task_count(const GroupedPwFfnQ8Args& args, const Qs8KernelConfig& config) {
  return task_count(args, config);
}

size_t grouped_pw_ffn_q8_task_flops(const GroupedPwFfnQ8Args& args, const Qs8KernelConfig& config) {
  return 2 * args.group_hidden * (args.group_in + args.group_out) * config.nr;
}

void grouped_pw_ffn_q8_run(const GroupedPwFfnQ8Args& args, const Qs8KernelConfig& config, size_t task_begin,
                           size_t task_end) {
  Qu7Block block(config, std::max(args.group_in, args.group_hidden));
  // The block's float hidden activations, group_hidden rows of nr positions.
  float* hidden = thread_scratch<Scratch::kHidden, float>(std::max<size_t>(1, args.group_hidden) * config.nr);
  for (size_t task = task_begin; task < task_end; task++) {
    const Block blk = task_block(task, args.groups, args.length, config);
    block.quantize(task_rows(args, task, task_end, config));
    block.gemm(args.group_hidden, args.packed_w1 + blk.g * args.packed_w1_group_stride, hidden, config.nr,
               args.gelu);
    block.quantize(BlockRows{hidden, config.nr, args.group_hidden, blk.nc});
    block.gemm(args.group_out, args.packed_w2 + blk.g * args.packed_w2_group_stride,
               args.y + blk.b * args.y_batch_stride + blk.g * args.group_out * args.y_channel_stride + blk.n0,
               args.y_channel_stride, false);
  }
}

}  // namespace sqbert

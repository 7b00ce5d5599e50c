#include "grouped_pw_conv.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../kernels/f32_gemm_pack.h"

namespace sqbert {
namespace {

size_t divide_round_up(size_t n, size_t q) { return (n + q - 1) / q; }

size_t position_blocks(const GroupedPwConvArgs& args, const KernelConfig& config) {
  return divide_round_up(args.length, config.nr);
}

// rows x n floats from src (rows src_stride apart) to dst (rows n_max
// apart). Full tiles copy a constant size, which the compiler inlines: a
// memcpy call per 64-byte row cost more than the copy itself.
void copy_rows(const float* src, size_t src_stride, size_t rows, size_t n, size_t n_max, float* dst) {
  auto copy = [&](auto width) {
    for (size_t j = 0; j < rows; j++) std::memcpy(dst + j * n_max, src + j * src_stride, width * sizeof(float));
  };
  if (n == 16) {
    copy(std::integral_constant<size_t, 16>{});
  } else if (n == 8) {
    copy(std::integral_constant<size_t, 8>{});
  } else {
    copy(n);
  }
}

}  // namespace

size_t grouped_pw_conv_task_count(const GroupedPwConvArgs& args,
                                  const KernelConfig& config) {
  return args.batch * args.groups * position_blocks(args, config);
}

size_t grouped_pw_conv_task_flops(const GroupedPwConvArgs& args,
                                  const KernelConfig& config) {
  return 2 * args.group_out * args.group_in * config.nr;
}

void grouped_pw_conv_run(const GroupedPwConvArgs& args,
                         const KernelConfig& config, size_t task_begin,
                         size_t task_end) {
  const size_t blocks = position_blocks(args, config);
  const size_t panels = f32_gemm_panel_count(args.group_out, config.mr);
  const size_t panel_size = (1 + args.group_in) * config.mr;
  // Each task copies its block of x, kc input channels x nr positions at a
  // time, to a contiguous panel. Read in place, rows length * 4 bytes apart
  // map to a few cache sets (at length 512, 2 of the 64 L1 sets), and every
  // one of the m / mr weight panels would read them again; the copy pays
  // that once. Deep groups (3072 -> 768: k = 768) go in slices of at most
  // kMaxDepth channels so the panel stays in L1, the output tile
  // accumulating across slices.
  constexpr size_t kMaxDepth = 384;
  const size_t slices = divide_round_up(args.group_in, kMaxDepth);
  const size_t depth = divide_round_up(args.group_in, std::max<size_t>(1, slices));
  std::vector<float> x_panel(depth * config.nr);
  const size_t calls = std::max<size_t>(1, divide_round_up(args.group_out, config.mr));
  struct Block {
    size_t b, g, n0, nc;
    const float* x;  // first row of the block
  };
  auto block = [&](size_t task) {
    const size_t n0 = (task % blocks) * config.nr, g = (task / blocks) % args.groups;
    const size_t b = task / (blocks * args.groups);
    return Block{b, g, n0, std::min(config.nr, args.length - n0),
                 args.x + b * args.x_batch_stride + g * args.group_in * args.x_channel_stride + n0};
  };
  for (size_t task = task_begin; task < task_end; task++) {
    const Block blk = block(task);
    const size_t g = blk.g, nc = blk.nc;
    const float* x = blk.x;
    float* y = args.y + blk.b * args.y_batch_stride +
               g * args.group_out * args.y_channel_stride + blk.n0;
    // k0 < group_in, or one pass for group_in = 0 (y = bias).
    for (size_t k0 = 0; k0 == 0 || k0 < args.group_in; k0 += depth) {
      const size_t kc = std::min(depth, args.group_in - k0);
      copy_rows(x + k0 * args.x_channel_stride, args.x_channel_stride, kc, nc, config.nr, x_panel.data());
      // The x rows the next slice or task will copy, fetched a few rows per
      // micro-kernel call, so the copy finds them in cache.
      const float* next_x = nullptr;
      size_t next_kc = 0, next_nc = nc;
      if (k0 + kc < args.group_in) {
        next_x = x + (k0 + kc) * args.x_channel_stride;
        next_kc = std::min(depth, args.group_in - k0 - kc);
      } else if (task + 1 < task_end) {
        const Block next = block(task + 1);
        next_x = next.x;
        next_nc = next.nc;
        next_kc = std::min(depth, args.group_in);
      }
      const size_t prefetch_rows = divide_round_up(next_kc, calls);
      const bool first = k0 == 0, last = k0 + kc >= args.group_in;
      for (size_t m0 = 0; m0 < args.group_out; m0 += config.mr) {
        const size_t c = g * args.group_out + m0;
        F32GemmWeights panel;
        if (args.packed_weight != nullptr) {
          const float* w = args.packed_weight + (g * panels + m0 / config.mr) * panel_size;
          panel = {w + config.mr * (1 + k0), 1, config.mr, w};
        } else {
          panel = {args.weight + c * args.w_stride_c + k0 * args.w_stride_k, args.w_stride_c,
                   args.w_stride_k, args.bias != nullptr ? args.bias + c : nullptr};
        }
        // The bias starts the sum in the first slice; later ones accumulate.
        const size_t mr = std::min(config.mr, args.group_out - m0);
        float* tile = y + m0 * args.y_channel_stride;
        // The next tile's output rows, so its stores find their lines.
        for (size_t i = m0 + config.mr; i < std::min(m0 + 2 * config.mr, args.group_out); i++) {
          __builtin_prefetch(y + i * args.y_channel_stride, 1);
          __builtin_prefetch(y + i * args.y_channel_stride + nc - 1, 1);
        }
        const size_t r0 = m0 / config.mr * prefetch_rows;
        for (size_t r = r0; r < std::min(r0 + prefetch_rows, next_kc); r++) {
          __builtin_prefetch(next_x + r * args.x_channel_stride);
          __builtin_prefetch(next_x + r * args.x_channel_stride + next_nc - 1);
        }
        config.ukernel(mr, nc, kc, panel, x_panel.data(), config.nr, tile, args.y_channel_stride,
                       /*accumulate=*/!first);
        if (args.gelu && last) config.vgelu(mr, nc, tile, args.y_channel_stride);
      }
    }
  }
}

}  // namespace sqbert

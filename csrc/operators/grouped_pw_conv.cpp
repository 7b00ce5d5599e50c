#include "grouped_pw_conv.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "../kernels/f32_gemm_pack.h"

namespace sqbert {
namespace {

size_t divide_round_up(size_t n, size_t q) { return (n + q - 1) / q; }

// How the work splits: a task is one block of positions (one tile wide)
// against one block of a group's output channels. Channel blocks hold at most
// ~256 KiB of weights, so the tasks that follow each other, walking the
// positions, keep their weights in a 512 KiB L2 instead of streaming a whole
// group's (590 KiB for SqueezeBERT's 768x192) from L3 for every tile.
struct Split {
  size_t position_blocks, channel_blocks, panels_per_block;
};

Split split(const GroupedPwConvArgs& args, const KernelConfig& config) {
  constexpr size_t kWeightBytesPerBlock = 256 * 1024;
  const size_t panels = f32_gemm_panel_count(args.group_out, config.mr);
  const size_t max_panels = std::max<size_t>(
      1, kWeightBytesPerBlock / (sizeof(float) * config.mr * std::max<size_t>(1, args.group_in)));
  const size_t channel_blocks = std::max<size_t>(1, divide_round_up(panels, max_panels));
  return {divide_round_up(args.length, config.nr), channel_blocks,
          divide_round_up(panels, channel_blocks)};
}

}  // namespace

size_t grouped_pw_conv_task_count(const GroupedPwConvArgs& args,
                                  const KernelConfig& config) {
  const Split s = split(args, config);
  return args.batch * args.groups * s.channel_blocks * s.position_blocks;
}

size_t grouped_pw_conv_task_flops(const GroupedPwConvArgs& args,
                                  const KernelConfig& config) {
  return 2 * split(args, config).panels_per_block * config.mr * args.group_in * config.nr;
}

void grouped_pw_conv_run(const GroupedPwConvArgs& args,
                         const KernelConfig& config, size_t task_begin,
                         size_t task_end) {
  const Split s = split(args, config);
  const size_t panels = f32_gemm_panel_count(args.group_out, config.mr);
  const size_t panel_size = (1 + args.group_in) * config.mr;
  // Each task first copies its k x nr block of x to a contiguous panel. Read
  // in place, rows length * 4 bytes apart map to a few cache sets (at
  // length 512, 2 of the 64 L1 sets), and every one of the m / mr weight
  // panels would read them again; the copy pays that once.
  std::vector<float> x_panel(args.group_in * config.nr);
  for (size_t task = task_begin; task < task_end; task++) {
    const size_t n0 = (task % s.position_blocks) * config.nr;
    const size_t mb = (task / s.position_blocks) % s.channel_blocks;
    const size_t g = (task / (s.position_blocks * s.channel_blocks)) % args.groups;
    const size_t b = task / (s.position_blocks * s.channel_blocks * args.groups);
    const size_t nc = std::min(config.nr, args.length - n0);
    const float* x = args.x + b * args.x_batch_stride +
                     g * args.group_in * args.x_channel_stride + n0;
    for (size_t j = 0; j < args.group_in; j++) {
      std::memcpy(&x_panel[j * config.nr], x + j * args.x_channel_stride, nc * sizeof(float));
    }
    float* y = args.y + b * args.y_batch_stride +
               g * args.group_out * args.y_channel_stride + n0;
    const size_t m_end = std::min(args.group_out, (mb + 1) * s.panels_per_block * config.mr);
    for (size_t m0 = mb * s.panels_per_block * config.mr; m0 < m_end; m0 += config.mr) {
      const size_t c = g * args.group_out + m0;
      F32GemmWeights panel;
      if (args.packed_weight != nullptr) {
        const float* w = args.packed_weight + (g * panels + m0 / config.mr) * panel_size;
        panel = {w + config.mr, 1, config.mr, w};
      } else {
        panel = {args.weight + c * args.w_stride_c, args.w_stride_c, args.w_stride_k,
                 args.bias != nullptr ? args.bias + c : nullptr};
      }
      const size_t mr = std::min(config.mr, args.group_out - m0);
      float* tile = y + m0 * args.y_channel_stride;
      config.ukernel(mr, nc, args.group_in, panel, x_panel.data(), config.nr, tile,
                     args.y_channel_stride, /*accumulate=*/false);
      if (args.gelu) config.vgelu(mr, nc, tile, args.y_channel_stride);
    }
  }
}

}  // namespace sqbert

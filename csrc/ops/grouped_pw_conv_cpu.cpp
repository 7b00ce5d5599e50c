// CPU implementations of sqbert::grouped_pw_conv and its packed-weight form:
// argument checks, weight packing and threading around the torch-free
// operator in csrc/operators.
#include <torch/library.h>

#include <optional>

#include "../kernels/f32_gemm_pack.h"
#include "../operators/grouped_pw_conv.h"
#include "cpu_kernel.h"
#include "op_support.h"

namespace sqbert {
namespace {

// Below this many packed floats, packing is not worth a thread.
constexpr int64_t kMinPackPerThread = 1 << 14;

constexpr const char* kOp = "grouped_pw_conv";

void check_weight(const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                  int64_t groups) {
  TORCH_CHECK(groups > 0, "grouped_pw_conv: expected groups > 0, got ", groups);
  check_float_cpu(weight, kOp, "weight");
  TORCH_CHECK(weight.dim() == 2 || (weight.dim() == 3 && weight.size(2) == 1),
              "grouped_pw_conv: expected weight of shape [out_channels, "
              "in_channels/groups] or [out_channels, in_channels/groups, 1], got ",
              weight.sizes());
  const int64_t out_channels = weight.size(0);
  TORCH_CHECK(out_channels % groups == 0, "grouped_pw_conv: expected out_channels (",
              out_channels, ") divisible by groups (", groups, ")");
  if (bias.has_value()) {
    check_float_cpu(*bias, kOp, "bias");
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == out_channels,
                "grouped_pw_conv: expected bias of shape [", out_channels,
                "], got ", bias->sizes());
  }
}

at::Tensor pack_pw_weight_cpu(const at::Tensor& weight,
                              const std::optional<at::Tensor>& bias,
                              int64_t groups) {
  check_weight(weight, bias, groups);
  const int64_t out_channels = weight.size(0);
  const KernelConfig& config = selected_kernel_config();
  const size_t m = out_channels / groups, k = weight.size(1);
  const int64_t panels = f32_gemm_panel_count(m, config.mr);
  at::Tensor packed = at::empty(
      {groups, panels, static_cast<int64_t>(k + 1), static_cast<int64_t>(config.mr)},
      weight.options());
  const float* w = weight.data_ptr<float>();
  const float* b = bias.has_value() ? bias->data_ptr<float>() : nullptr;
  const size_t b_stride = bias.has_value() ? bias->stride(0) : 0;
  float* out = packed.data_ptr<float>();
  const int64_t panel_size = std::max<int64_t>(1, (k + 1) * config.mr);
  at::parallel_for(0, groups * panels, std::max<int64_t>(1, kMinPackPerThread / panel_size),
                   [&](int64_t begin, int64_t end) {
                     f32_gemm_pack_weights(m, k, config.mr, begin, end, w,
                                           weight.stride(0), weight.stride(1),
                                           b, b_stride, out);
                   });
  return packed;
}

// The fused epilogue: "none" or "gelu" (exact, erf).
bool parse_activation(c10::string_view activation, const char* op = kOp) {
  TORCH_CHECK(activation == "none" || activation == "gelu",
              op, ": expected activation \"none\" or \"gelu\", got \"",
              std::string(activation), "\"");
  return activation == "gelu";
}

// Runs an operator on x with the weights `args` already describes: y
// [batch, out_channels, length] allocated, the geometry both operators
// share (GroupedPwConvArgs, GroupedPwFfnArgs) filled in, the tasks run.
template <typename Args>
at::Tensor run_operator(const at::Tensor& x_in, int64_t groups, int64_t out_channels, Args args,
                        size_t (*task_count)(const Args&, const KernelConfig&),
                        size_t (*task_flops)(const Args&, const KernelConfig&),
                        void (*run)(const Args&, const KernelConfig&, size_t, size_t)) {
  // The kernels read each channel row as contiguous positions; any batch and
  // channel strides are used as they are.
  const at::Tensor x = positions_contiguous(x_in);
  const int64_t batch = x.size(0), length = x.size(2);
  at::Tensor y = at::empty({batch, out_channels, length}, x.options());
  if (y.numel() == 0) return y;

  const KernelConfig& config = selected_kernel_config();
  args.batch = batch;
  args.groups = groups;
  args.group_out = out_channels / groups;
  args.group_in = x.size(1) / groups;
  args.length = length;
  args.x = x.data_ptr<float>();
  args.x_batch_stride = x.stride(0);
  args.x_channel_stride = x.stride(1);
  args.y = y.data_ptr<float>();
  args.y_batch_stride = y.stride(0);
  args.y_channel_stride = y.stride(1);
  run_tasks(task_count(args, config), task_flops(args, config),
            [&](size_t begin, size_t end) { run(args, config, begin, end); });
  return y;
}

at::Tensor run_grouped_pw_conv(const at::Tensor& x, int64_t groups, int64_t out_channels,
                               const GroupedPwConvArgs& args) {
  return run_operator(x, groups, out_channels, args, grouped_pw_conv_task_count, grouped_pw_conv_task_flops,
                      grouped_pw_conv_run);
}

void check_x(const at::Tensor& x, const char* op = kOp) {
  check_float_cpu(x, op, "x");
  TORCH_CHECK(x.dim() == 3, op, ": expected x of shape [batch, in_channels, length], got ", x.sizes());
}

// `packed` (argument `name` of `op`) checked to come from pack_pw_weight
// for the selected kernel and to hold `channels` output rows (the argument
// `channels_name`); made contiguous.
at::Tensor checked_packed(const at::Tensor& packed, const char* op, const char* name, int64_t channels,
                          const char* channels_name, const KernelConfig& config) {
  check_float_cpu(packed, op, name);
  TORCH_CHECK(packed.dim() == 4 && packed.size(3) == static_cast<int64_t>(config.mr),
              op, ": expected ", name, " from pack_pw_weight for the selected CPU kernel (",
              config.isa, ", shape [groups, panels, in_channels/groups + 1, ", config.mr, "]), got shape ",
              packed.sizes());
  const int64_t groups = packed.size(0);
  TORCH_CHECK(channels >= 0 && channels % groups == 0, op, ": expected ", channels_name,
              " divisible by groups (", groups, "), got ", channels, " (", name, " has ", groups, " groups)");
  TORCH_CHECK(packed.size(1) == static_cast<int64_t>(f32_gemm_panel_count(channels / groups, config.mr)),
              op, ": ", name, " has ", packed.size(1), " panels of ", config.mr, " rows, which does not fit ",
              channels_name, " ", channels);
  return packed.contiguous();
}

void check_x_channels(const at::Tensor& x, int64_t groups, int64_t k, const char* op = kOp) {
  TORCH_CHECK(x.size(1) == groups * k, op, ": expected x with ", groups * k, " channels (groups ",
              groups, " x ", k, " per group, from the weight), got ", x.size(1));
}

at::Tensor grouped_pw_conv_packed_cpu(const at::Tensor& x,
                                      const at::Tensor& packed_in,
                                      int64_t out_channels, c10::string_view activation) {
  check_x(x);
  const bool gelu = parse_activation(activation);
  const at::Tensor packed = checked_packed(packed_in, "grouped_pw_conv_packed", "packed_weight", out_channels,
                                           "out_channels", selected_kernel_config());
  const int64_t groups = packed.size(0);
  check_x_channels(x, groups, packed.size(2) - 1);
  GroupedPwConvArgs args{};
  args.packed_weight = packed.data_ptr<float>();
  args.gelu = gelu;
  return run_grouped_pw_conv(x, groups, out_channels, args);
}

at::Tensor grouped_pw_ffn_packed_cpu(const at::Tensor& x_in, const at::Tensor& packed_w1_in,
                                     const at::Tensor& packed_w2_in, int64_t hidden_channels,
                                     int64_t out_channels, c10::string_view activation) {
  constexpr const char* op = "grouped_pw_ffn_packed";
  check_x(x_in, op);
  const bool gelu = parse_activation(activation, op);
  const KernelConfig& config = selected_kernel_config();
  const at::Tensor w1 = checked_packed(packed_w1_in, op, "packed_w1", hidden_channels, "hidden_channels", config);
  const at::Tensor w2 = checked_packed(packed_w2_in, op, "packed_w2", out_channels, "out_channels", config);
  const int64_t groups = w1.size(0);
  TORCH_CHECK(w2.size(0) == groups && w2.size(2) - 1 == hidden_channels / groups, op,
              ": expected packed_w2 with ", groups, " groups of ", hidden_channels / groups,
              " input channels (packed_w1's groups and hidden channels per group), got ", w2.size(0),
              " groups of ", w2.size(2) - 1);
  check_x_channels(x_in, groups, w1.size(2) - 1, op);
  GroupedPwFfnArgs args{};
  args.group_hidden = hidden_channels / groups;
  args.packed_w1 = w1.data_ptr<float>();
  args.packed_w2 = w2.data_ptr<float>();
  args.gelu = gelu;
  return run_operator(x_in, groups, out_channels, args, grouped_pw_ffn_task_count, grouped_pw_ffn_task_flops,
                      grouped_pw_ffn_run);
}

at::Tensor grouped_pw_conv_cpu(const at::Tensor& x, const at::Tensor& weight,
                               const std::optional<at::Tensor>& bias,
                               int64_t groups, c10::string_view activation) {
  check_x(x);
  const bool gelu = parse_activation(activation);
  check_weight(weight, bias, groups);
  TORCH_CHECK(x.size(1) % groups == 0, "grouped_pw_conv: expected in_channels (",
              x.size(1), ") divisible by groups (", groups, ")");
  TORCH_CHECK(weight.size(1) == x.size(1) / groups,
              "grouped_pw_conv: expected weight of shape [out_channels, ",
              x.size(1) / groups, "] or [out_channels, ", x.size(1) / groups,
              ", 1] for x with ", x.size(1), " channels and groups=", groups,
              ", got ", weight.sizes());
  // Weights are read in place: packing them per call would cost more than
  // the in-place reads lose (see README, "Packing").
  const at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();
  GroupedPwConvArgs args{};
  args.weight = weight.data_ptr<float>();
  args.w_stride_c = weight.stride(0);
  args.w_stride_k = weight.stride(1);
  args.bias = b.defined() ? b.data_ptr<float>() : nullptr;
  args.gelu = gelu;
  return run_grouped_pw_conv(x, groups, weight.size(0), args);
}

}  // namespace
}  // namespace sqbert

TORCH_LIBRARY_IMPL(sqbert, CPU, m) {
  m.impl("grouped_pw_conv", &sqbert::grouped_pw_conv_cpu);
  m.impl("pack_pw_weight", &sqbert::pack_pw_weight_cpu);
  m.impl("grouped_pw_conv_packed", &sqbert::grouped_pw_conv_packed_cpu);
  m.impl("grouped_pw_ffn_packed", &sqbert::grouped_pw_ffn_packed_cpu);
}

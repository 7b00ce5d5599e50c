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
bool parse_activation(c10::string_view activation) {
  TORCH_CHECK(activation == "none" || activation == "gelu",
              "grouped_pw_conv: expected activation \"none\" or \"gelu\", got \"",
              std::string(activation), "\"");
  return activation == "gelu";
}

// Runs the operator on x with the weights `args` already describes.
at::Tensor run_grouped_pw_conv(const at::Tensor& x_in, int64_t groups,
                               int64_t out_channels, GroupedPwConvArgs args) {
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
  run_tasks(grouped_pw_conv_task_count(args, config), grouped_pw_conv_task_flops(args, config),
            [&](size_t begin, size_t end) { grouped_pw_conv_run(args, config, begin, end); });
  return y;
}

void check_x(const at::Tensor& x) {
  check_float_cpu(x, kOp, "x");
  TORCH_CHECK(x.dim() == 3, "grouped_pw_conv: expected x of shape [batch, "
              "in_channels, length], got ", x.sizes());
}

at::Tensor grouped_pw_conv_packed_cpu(const at::Tensor& x,
                                      const at::Tensor& packed_in,
                                      int64_t out_channels, c10::string_view activation) {
  check_x(x);
  const bool gelu = parse_activation(activation);
  check_float_cpu(packed_in, kOp, "packed_weight");
  const KernelConfig& config = selected_kernel_config();
  TORCH_CHECK(packed_in.dim() == 4 && packed_in.size(3) == static_cast<int64_t>(config.mr),
              "grouped_pw_conv_packed: expected packed_weight from pack_pw_weight for the "
              "selected CPU kernel (", config.isa, ", shape [groups, panels, "
              "in_channels/groups + 1, ", config.mr, "]), got shape ", packed_in.sizes());
  const int64_t groups = packed_in.size(0), k = packed_in.size(2) - 1;
  TORCH_CHECK(x.size(1) == groups * k, "grouped_pw_conv: expected x with ",
              groups * k, " channels (groups ", groups, " x ", k,
              " per group, from the weight), got ", x.size(1));
  TORCH_CHECK(out_channels >= 0 && out_channels % groups == 0,
              "grouped_pw_conv_packed: expected out_channels divisible by groups (",
              groups, "), got ", out_channels);
  TORCH_CHECK(packed_in.size(1) == static_cast<int64_t>(
                                       f32_gemm_panel_count(out_channels / groups, config.mr)),
              "grouped_pw_conv_packed: packed_weight has ", packed_in.size(1),
              " panels of ", config.mr, " rows, which does not fit out_channels ",
              out_channels);
  const at::Tensor packed = packed_in.contiguous();
  GroupedPwConvArgs args{};
  args.packed_weight = packed.data_ptr<float>();
  args.gelu = gelu;
  return run_grouped_pw_conv(x, groups, out_channels, args);
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
}

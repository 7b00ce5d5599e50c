// CPU implementation of sqbert::add_layernorm: LayerNorm over the channels
// of NCW x (+ residual), around the torch-free operator.
#include <torch/library.h>

#include <optional>

#include "../operators/layernorm_ncw.h"
#include "isa_selection.h"
#include "op_support.h"

namespace sqbert {
namespace {

constexpr const char* kOp = "add_layernorm";

at::Tensor add_layernorm_cpu(const at::Tensor& x_in, const std::optional<at::Tensor>& residual_in,
                             const at::Tensor& weight_in, const at::Tensor& bias_in, double eps) {
  check_float_cpu(x_in, kOp, "x");
  TORCH_CHECK(x_in.dim() == 3, "add_layernorm: expected x of shape [batch, channels, length], got ",
              x_in.sizes());
  const int64_t channels = x_in.size(1);
  check_float_cpu(weight_in, kOp, "weight");
  check_float_cpu(bias_in, kOp, "bias");
  TORCH_CHECK(weight_in.dim() == 1 && weight_in.size(0) == channels,
              "add_layernorm: expected weight of shape [", channels, "], got ", weight_in.sizes());
  TORCH_CHECK(bias_in.dim() == 1 && bias_in.size(0) == channels,
              "add_layernorm: expected bias of shape [", channels, "], got ", bias_in.sizes());
  const at::Tensor x = positions_contiguous(x_in);
  at::Tensor residual;
  if (residual_in.has_value()) {
    check_float_cpu(*residual_in, kOp, "residual");
    TORCH_CHECK(residual_in->sizes() == x_in.sizes(), "add_layernorm: expected residual of shape ",
                x_in.sizes(), ", got ", residual_in->sizes());
    residual = positions_contiguous(*residual_in);
  }
  const at::Tensor weight = weight_in.contiguous(), bias = bias_in.contiguous();
  at::Tensor y = at::empty(x.sizes(), x.options());
  if (y.numel() == 0) return y;

  LayerNormNcwArgs args{};
  args.batch = x.size(0);
  args.channels = channels;
  args.length = x.size(2);
  args.x = x.data_ptr<float>();
  args.x_batch_stride = x.stride(0);
  args.x_channel_stride = x.stride(1);
  if (residual.defined()) {
    args.residual = residual.data_ptr<float>();
    args.r_batch_stride = residual.stride(0);
    args.r_channel_stride = residual.stride(1);
  }
  args.gamma = weight.data_ptr<float>();
  args.beta = bias.data_ptr<float>();
  args.eps = static_cast<float>(eps);
  args.y = y.data_ptr<float>();
  args.y_batch_stride = y.stride(0);
  args.y_channel_stride = y.stride(1);
  const KernelConfig& config = selected_kernel_config();
  // A task normalises a block of positions across every channel: always
  // worth a thread.
  run_tasks(layernorm_ncw_task_count(args), kMinFlopsPerThread,
            [&](size_t begin, size_t end) { layernorm_ncw_run(args, config, begin, end); });
  return y;
}

}  // namespace
}  // namespace sqbert

TORCH_LIBRARY_IMPL(sqbert, CPU, m) {
  m.impl("add_layernorm", &sqbert::add_layernorm_cpu);
}

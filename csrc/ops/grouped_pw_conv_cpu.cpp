// CPU implementations of sqbert::grouped_pw_conv and its packed-weight form:
// argument checks, weight packing and threading around the torch-free
// operator in csrc/operators.
#include <torch/library.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <type_traits>
#include <string>

#include "../kernels/f32_gemm_pack.h"
#include "../kernels/qs8_gemm_pack.h"
#include "../operators/grouped_pw_conv.h"
#include "../operators/packed_weights.h"
#include "isa_selection.h"
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

// An uninitialized packed tensor [groups, row bytes] with `header` at the
// start of every row.
at::Tensor packed_tensor(const PackedWeightsHeader& header, const at::Tensor& weight) {
  const int64_t row_bytes = static_cast<int64_t>(packed_row_bytes(header));
  at::Tensor packed = at::empty({header.groups, row_bytes}, weight.options().dtype(at::kByte));
  uint8_t* bytes = packed.data_ptr<uint8_t>();
  for (uint32_t g = 0; g < header.groups; g++) std::memcpy(bytes + g * row_bytes, &header, sizeof(header));
  return packed;
}

at::Tensor pack_pw_weight_cpu(const at::Tensor& weight, const std::optional<at::Tensor>& bias, int64_t groups,
                              const std::optional<std::string>& isa) {
  check_weight(weight, bias, groups);
  const KernelConfig& config = kernel_config_or_selected(isa, "pack_pw_weight");
  PackedWeightsHeader header;
  std::string error;
  TORCH_CHECK(packed_f32_header(config, groups, weight.size(0), weight.size(1), bias.has_value(), &header, &error),
              "pack_pw_weight: ", error);
  at::Tensor packed = packed_tensor(header, weight);
  uint8_t* bytes = packed.data_ptr<uint8_t>();
  const int64_t row_bytes = packed.size(1);
  const size_t m = weight.size(0) / groups, k = weight.size(1), panels = header.panels;
  const float* w = weight.data_ptr<float>();
  const float* b = bias.has_value() ? bias->data_ptr<float>() : nullptr;
  const size_t b_stride = bias.has_value() ? bias->stride(0) : 0;
  const int64_t panel_size = std::max<int64_t>(1, (k + 1) * config.mr);
  at::parallel_for(0, groups * panels, std::max<int64_t>(1, kMinPackPerThread / panel_size),
                   [&](int64_t begin, int64_t end) {
                     // Panels [begin, end) of all groups', a group's row at a time.
                     for (size_t p = begin; p < static_cast<size_t>(end);) {
                       const size_t g = p / panels, stop = std::min<size_t>(end, (g + 1) * panels);
                       f32_gemm_pack_weights(m, k, config.mr, p - g * panels, stop - g * panels,
                                             w + g * m * weight.stride(0), weight.stride(0), weight.stride(1),
                                             b == nullptr ? nullptr : b + g * m * b_stride, b_stride,
                                             const_cast<float*>(packed_group(bytes, row_bytes, g)));
                       p = stop;
                     }
                   });
  return packed;
}

at::Tensor quantize_pw_weight_cpu(const at::Tensor& weight, const std::optional<at::Tensor>& bias, int64_t groups,
                                  const std::optional<std::string>& isa) {
  constexpr const char* op = "quantize_pw_weight";
  check_weight(weight, bias, groups);
  const float* w = weight.data_ptr<float>();
  for (int64_t c = 0; c < weight.size(0); c++) {
    for (int64_t j = 0; j < weight.size(1); j++) {
      const float v = w[c * weight.stride(0) + j * weight.stride(1)];
      TORCH_CHECK(std::isfinite(v), op, ": expected finite weights (a row's int8 scale comes from its largest ",
                  "magnitude), got ", v, " at weight[", c, "][", j, "]");
    }
  }
  const Qs8KernelConfig& config = qs8_config_or_selected(isa, op);
  PackedWeightsHeader header;
  std::string error;
  TORCH_CHECK(packed_qs8_header(config, groups, weight.size(0), weight.size(1), bias.has_value(), &header, &error),
              op, ": ", error);
  at::Tensor packed = packed_tensor(header, weight);
  uint8_t* bytes = packed.data_ptr<uint8_t>();
  const int64_t row_bytes = packed.size(1);
  const size_t m = weight.size(0) / groups, k = weight.size(1), panels = header.panels;
  const float* b = bias.has_value() ? bias->data_ptr<float>() : nullptr;
  const int64_t panel_size = std::max<int64_t>(1, qs8_panel_bytes(config.mr, k));
  at::parallel_for(0, groups * panels, std::max<int64_t>(1, 4 * kMinPackPerThread / panel_size),
                   [&](int64_t begin, int64_t end) {
                     qs8_gemm_pack_weights(m, k, config.mr, begin, end, w, weight.stride(0),
                                           weight.stride(1), b, b == nullptr ? 0 : bias->stride(0),
                                           bytes + sizeof(PackedWeightsHeader), row_bytes);
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

// The geometry every operator's args share (GroupedPwConvArgs,
// GroupedPwFfnArgs and their int8 forms), from x (positions contiguous) and
// its output y [batch, out_channels, length].
template <typename Args>
void set_geometry(Args& args, const at::Tensor& x, int64_t groups, const at::Tensor& y) {
  args.batch = x.size(0);
  args.groups = groups;
  args.group_out = y.size(1) / groups;
  args.group_in = x.size(1) / groups;
  args.length = x.size(2);
  args.x = x.data_ptr<float>();
  args.x_batch_stride = x.stride(0);
  args.x_channel_stride = x.stride(1);
  args.y = y.data_ptr<float>();
  args.y_batch_stride = y.stride(0);
  args.y_channel_stride = y.stride(1);
}

// Runs an operator on x with the weights `args` already describes: y
// [batch, out_channels, length] allocated, the geometry filled in, the
// tasks run.
template <typename Args, typename Config>
at::Tensor run_operator(const Config& config, const at::Tensor& x_in, int64_t groups, int64_t out_channels,
                        Args args,
                        size_t (*task_count)(const Args&, const Config&),
                        size_t (*task_flops)(const Args&, const Config&),
                        void (*run)(const Args&, const Config&, size_t, size_t)) {
  // The kernels read each channel row as contiguous positions; any batch and
  // channel strides are used as they are.
  const at::Tensor x = positions_contiguous(x_in);
  at::Tensor y = at::empty({x.size(0), out_channels, x.size(2)}, x.options());
  if (y.numel() == 0) return y;
  set_geometry(args, x, groups, y);
  run_tasks(task_count(args, config), task_flops(args, config),
            [&](size_t begin, size_t end) { run(args, config, begin, end); });
  return y;
}

at::Tensor run_grouped_pw_conv(const KernelConfig& config, const at::Tensor& x, int64_t groups,
                               int64_t out_channels, const GroupedPwConvArgs& args) {
  return run_operator(config, x, groups, out_channels, args, grouped_pw_conv_task_count, grouped_pw_conv_task_flops,
                      grouped_pw_conv_run);
}

void check_x(const at::Tensor& x, const char* op = kOp) {
  check_float_cpu(x, op, "x");
  TORCH_CHECK(x.dim() == 3, op, ": expected x of shape [batch, in_channels, length], got ", x.sizes());
}

// A packed tensor (argument `name` of `op`) checked by its header, which
// says which kernel runs it: KernelConfig for float32 weights,
// Qs8KernelConfig for int8.
template <typename Config>
struct CheckedPacked {
  at::Tensor bytes;  // contiguous, float-aligned
  PackedWeightsHeader header;
  const Config* config;

  const uint8_t* group0() const { return bytes.data_ptr<uint8_t>() + sizeof(PackedWeightsHeader); }
  size_t row_bytes() const { return bytes.size(1); }
  int64_t groups() const { return header.groups; }
  int64_t group_in() const { return header.in_channels; }
};

bool read_packed_header(const uint8_t* bytes, uint64_t groups, uint64_t row_bytes, PackedWeightsHeader* header,
                        const KernelConfig** config, std::string* error) {
  return read_packed_f32_header(bytes, groups, row_bytes, header, config, error);
}

bool read_packed_header(const uint8_t* bytes, uint64_t groups, uint64_t row_bytes, PackedWeightsHeader* header,
                        const Qs8KernelConfig** config, std::string* error) {
  return read_packed_qs8_header(bytes, groups, row_bytes, header, config, error);
}

template <typename Config>
CheckedPacked<Config> checked_packed(const at::Tensor& packed_in, const char* op, const char* name) {
  constexpr bool f32 = std::is_same<Config, KernelConfig>::value;
  TORCH_CHECK(packed_in.device().is_cpu(), op, ": expected ", name, " on the CPU, got it on ", packed_in.device());
  TORCH_CHECK(packed_in.scalar_type() == at::kByte && packed_in.dim() == 2, op, ": expected ", name, " from ",
              f32 ? "pack_pw_weight" : "quantize_pw_weight", " (uint8 of shape [groups, bytes per group]), got ",
              c10::getDtypeNames(packed_in.scalar_type()).first, " of shape ", packed_in.sizes());
  // The kernels read the panels as floats and int32s: a strided view, or
  // one at an offset that is not a whole float, is copied.
  const bool aligned =
      packed_in.is_contiguous() && reinterpret_cast<uintptr_t>(packed_in.data_ptr()) % alignof(float) == 0;
  CheckedPacked<Config> packed{aligned ? packed_in : packed_in.clone(at::MemoryFormat::Contiguous), {}, nullptr};
  std::string error;
  TORCH_CHECK(read_packed_header(packed.bytes.template data_ptr<uint8_t>(), packed.bytes.size(0), packed.bytes.size(1),
                                 &packed.header, &packed.config, &error),
              op, ": expected ", name, " to be ", error);
  return packed;
}

// The channel count the caller gives (argument `channels_name`) must be the
// one the weights were packed with.
template <typename Config>
void check_channels(const CheckedPacked<Config>& packed, const char* op, const char* name, int64_t channels,
                    const char* channels_name) {
  TORCH_CHECK(channels == packed.header.out_channels, op, ": expected ", channels_name, " ",
              packed.header.out_channels, " (", name, " holds ", packed.header.out_channels,
              " output channels in ", packed.header.groups, " groups), got ", channels);
}

void check_x_channels(const at::Tensor& x, int64_t groups, int64_t k, const char* op = kOp) {
  TORCH_CHECK(x.size(1) == groups * k, op, ": expected x with ", groups * k, " channels (groups ",
              groups, " x ", k, " per group, from the weight), got ", x.size(1));
}

at::Tensor grouped_pw_conv_packed_cpu(const at::Tensor& x,
                                      const at::Tensor& packed_in,
                                      int64_t out_channels, c10::string_view activation) {
  constexpr const char* op = "grouped_pw_conv_packed";
  check_x(x, op);
  const bool gelu = parse_activation(activation, op);
  const auto packed = checked_packed<KernelConfig>(packed_in, op, "packed_weight");
  check_channels(packed, op, "packed_weight", out_channels, "out_channels");
  check_x_channels(x, packed.groups(), packed.group_in(), op);
  GroupedPwConvArgs args{};
  args.packed_weight = reinterpret_cast<const float*>(packed.group0());
  args.packed_group_stride = packed.row_bytes() / sizeof(float);
  args.gelu = gelu;
  return run_grouped_pw_conv(*packed.config, x, packed.groups(), out_channels, args);
}

// The packed weights of a feed-forward block, checked against each other
// and against the channel counts and x.
template <typename Config>
struct CheckedFfn {
  CheckedPacked<Config> w1, w2;
  int64_t groups;
};

template <typename Config>
CheckedFfn<Config> checked_ffn(const char* op, const at::Tensor& x, const at::Tensor& packed_w1,
                               const at::Tensor& packed_w2, int64_t hidden_channels, int64_t out_channels) {
  CheckedFfn<Config> ffn{checked_packed<Config>(packed_w1, op, "packed_w1"),
                         checked_packed<Config>(packed_w2, op, "packed_w2"), 0};
  check_channels(ffn.w1, op, "packed_w1", hidden_channels, "hidden_channels");
  check_channels(ffn.w2, op, "packed_w2", out_channels, "out_channels");
  ffn.groups = ffn.w1.groups();
  TORCH_CHECK(ffn.w2.groups() == ffn.groups && ffn.w2.group_in() == hidden_channels / ffn.groups, op,
              ": expected packed_w2 with ", ffn.groups, " groups of ", hidden_channels / ffn.groups,
              " input channels (packed_w1's groups and hidden channels per group), got ", ffn.w2.groups(),
              " groups of ", ffn.w2.group_in());
  TORCH_CHECK(ffn.w1.config == ffn.w2.config, op, ": expected packed_w1 and packed_w2 packed for one kernel, got ",
              kernel_name(ffn.w1.config->id), " and ", kernel_name(ffn.w2.config->id));
  check_x_channels(x, ffn.groups, ffn.w1.group_in(), op);
  return ffn;
}

at::Tensor grouped_pw_ffn_packed_cpu(const at::Tensor& x, const at::Tensor& packed_w1, const at::Tensor& packed_w2,
                                     int64_t hidden_channels, int64_t out_channels, c10::string_view activation) {
  constexpr const char* op = "grouped_pw_ffn_packed";
  check_x(x, op);
  const bool gelu = parse_activation(activation, op);
  const auto ffn = checked_ffn<KernelConfig>(op, x, packed_w1, packed_w2, hidden_channels, out_channels);
  GroupedPwFfnArgs args{};
  args.group_hidden = hidden_channels / ffn.groups;
  args.packed_w1 = reinterpret_cast<const float*>(ffn.w1.group0());
  args.packed_w2 = reinterpret_cast<const float*>(ffn.w2.group0());
  args.packed_w1_group_stride = ffn.w1.row_bytes() / sizeof(float);
  args.packed_w2_group_stride = ffn.w2.row_bytes() / sizeof(float);
  args.gelu = gelu;
  return run_operator(*ffn.w1.config, x, ffn.groups, out_channels, args, grouped_pw_ffn_task_count,
                      grouped_pw_ffn_task_flops, grouped_pw_ffn_run);
}

at::Tensor grouped_pw_conv_q8_cpu(const at::Tensor& x, const at::Tensor& packed_in, int64_t out_channels,
                                  c10::string_view activation) {
  constexpr const char* op = "grouped_pw_conv_q8";
  check_x(x, op);
  const bool gelu = parse_activation(activation, op);
  const auto packed = checked_packed<Qs8KernelConfig>(packed_in, op, "packed_weight");
  check_channels(packed, op, "packed_weight", out_channels, "out_channels");
  check_x_channels(x, packed.groups(), packed.group_in(), op);
  GroupedPwConvQ8Args args{};
  args.packed_weight = packed.group0();
  args.packed_group_stride = packed.row_bytes();
  args.gelu = gelu;
  return run_operator(*packed.config, x, packed.groups(), out_channels, args, grouped_pw_conv_q8_task_count,
                      grouped_pw_conv_q8_task_flops, grouped_pw_conv_q8_run);
}

at::Tensor grouped_pw_ffn_q8_cpu(const at::Tensor& x, const at::Tensor& packed_w1, const at::Tensor& packed_w2,
                                 int64_t hidden_channels, int64_t out_channels, c10::string_view activation) {
  constexpr const char* op = "grouped_pw_ffn_q8";
  check_x(x, op);
  const bool gelu = parse_activation(activation, op);
  const auto ffn = checked_ffn<Qs8KernelConfig>(op, x, packed_w1, packed_w2, hidden_channels, out_channels);
  GroupedPwFfnQ8Args args{};
  args.group_hidden = hidden_channels / ffn.groups;
  args.packed_w1 = ffn.w1.group0();
  args.packed_w2 = ffn.w2.group0();
  args.packed_w1_group_stride = ffn.w1.row_bytes();
  args.packed_w2_group_stride = ffn.w2.row_bytes();
  args.gelu = gelu;
  return run_operator(*ffn.w1.config, x, ffn.groups, out_channels, args, grouped_pw_ffn_q8_task_count,
                      grouped_pw_ffn_q8_task_flops, grouped_pw_ffn_q8_run);
}

// Convolutions of one x, each with its own packed weights (float32 or int8
// by Config), as one call: the weights checked against each other (one
// kernel, groups, input and output channels) and against x.
template <typename Config, typename Args>
std::vector<at::Tensor> run_shared_input_convs(
    const char* op, const at::Tensor& x_in, at::TensorList packed_weights, int64_t out_channels,
    void (*set_weights)(Args&, const CheckedPacked<Config>&),
    size_t (*task_count)(const Args&, const Config&),
    size_t (*task_flops)(const Args*, size_t, const Config&),
    void (*run)(const Args*, size_t, const Config&, size_t, size_t)) {
  check_x(x_in, op);
  const size_t count = packed_weights.size();
  TORCH_CHECK(count >= 1 && count <= kMaxSharedInputConvs, op, ": expected 1 to ", kMaxSharedInputConvs,
              " packed weights, got ", count);
  std::vector<CheckedPacked<Config>> packed;
  for (size_t i = 0; i < count; i++) {
    const std::string name = "packed_weights[" + std::to_string(i) + "]";
    packed.push_back(checked_packed<Config>(packed_weights[i], op, name.c_str()));
    check_channels(packed[i], op, name.c_str(), out_channels, "out_channels");
    TORCH_CHECK(packed[i].config == packed[0].config && packed[i].groups() == packed[0].groups() &&
                    packed[i].group_in() == packed[0].group_in(),
                op, ": expected every packed weight packed as packed_weights[0] (", kernel_name(packed[0].config->id),
                ", ", packed[0].groups(), " groups of ", packed[0].group_in(), " input channels), got ", name, " (",
                kernel_name(packed[i].config->id), ", ", packed[i].groups(), " groups of ", packed[i].group_in(), ")");
  }
  check_x_channels(x_in, packed[0].groups(), packed[0].group_in(), op);
  const at::Tensor x = positions_contiguous(x_in);
  std::vector<at::Tensor> ys;
  Args args[kMaxSharedInputConvs] = {};
  for (size_t i = 0; i < count; i++) {
    ys.push_back(at::empty({x.size(0), out_channels, x.size(2)}, x.options()));
    set_geometry(args[i], x, packed[0].groups(), ys[i]);
    set_weights(args[i], packed[i]);
  }
  if (ys[0].numel() == 0) return ys;
  const Config& config = *packed[0].config;
  run_tasks(task_count(args[0], config), task_flops(args, count, config),
            [&](size_t begin, size_t end) { run(args, count, config, begin, end); });
  return ys;
}

std::vector<at::Tensor> grouped_pw_convs_packed_cpu(const at::Tensor& x, at::TensorList packed_weights,
                                                    int64_t out_channels) {
  return run_shared_input_convs<KernelConfig, GroupedPwConvArgs>(
      "grouped_pw_convs_packed", x, packed_weights, out_channels,
      [](GroupedPwConvArgs& args, const CheckedPacked<KernelConfig>& packed) {
        args.packed_weight = reinterpret_cast<const float*>(packed.group0());
        args.packed_group_stride = packed.row_bytes() / sizeof(float);
      },
      grouped_pw_conv_task_count, grouped_pw_convs_task_flops, grouped_pw_convs_run);
}

std::vector<at::Tensor> grouped_pw_convs_q8_cpu(const at::Tensor& x, at::TensorList packed_weights,
                                                int64_t out_channels) {
  return run_shared_input_convs<Qs8KernelConfig, GroupedPwConvQ8Args>(
      "grouped_pw_convs_q8", x, packed_weights, out_channels,
      [](GroupedPwConvQ8Args& args, const CheckedPacked<Qs8KernelConfig>& packed) {
        args.packed_weight = packed.group0();
        args.packed_group_stride = packed.row_bytes();
      },
      grouped_pw_conv_q8_task_count, grouped_pw_convs_q8_task_flops, grouped_pw_convs_q8_run);
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
  return run_grouped_pw_conv(selected_kernel_config(), x, groups, weight.size(0), args);
}

}  // namespace
}  // namespace sqbert

TORCH_LIBRARY_IMPL(sqbert, CPU, m) {
  m.impl("grouped_pw_conv", &sqbert::grouped_pw_conv_cpu);
  m.impl("pack_pw_weight", &sqbert::pack_pw_weight_cpu);
  m.impl("grouped_pw_conv_packed", &sqbert::grouped_pw_conv_packed_cpu);
  m.impl("grouped_pw_ffn_packed", &sqbert::grouped_pw_ffn_packed_cpu);
  m.impl("quantize_pw_weight", &sqbert::quantize_pw_weight_cpu);
  m.impl("grouped_pw_conv_q8", &sqbert::grouped_pw_conv_q8_cpu);
  m.impl("grouped_pw_ffn_q8", &sqbert::grouped_pw_ffn_q8_cpu);
  m.impl("grouped_pw_convs_packed", &sqbert::grouped_pw_convs_packed_cpu);
  m.impl("grouped_pw_convs_q8", &sqbert::grouped_pw_convs_q8_cpu);
}

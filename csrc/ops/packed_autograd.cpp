// The packed and int8 ops' Autograd kernels. Packed weights are bytes laid
// out for a kernel and have no backward: called with grad mode on and an
// input that requires grad, the ops raise rather than return an output whose backward
// leaves x.grad None. Otherwise the call goes on below autograd, in C++ (a
// Python kernel here cost the model a few microseconds a call).
#include <ATen/core/LegacyTypeDispatch.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/GradMode.h>
#include <torch/library.h>

namespace sqbert {
namespace {

struct Input {
  const char* name;
  const at::Tensor& tensor;
};

void check_inference(const char* op, const char* alternative, std::initializer_list<Input> inputs) {
  if (!c10::GradMode::is_enabled()) return;
  for (const Input& input : inputs) {
    TORCH_CHECK(!input.tensor.requires_grad(), op, ": inference only (packed weights have no backward), but ",
                input.name, " requires grad; for training use ", alternative, ", or call ", op,
                " under torch.no_grad() or torch.inference_mode()");
  }
}

// The Autograd kernel of a packed convolution op (x, packed weight,
// out_channels, activation): Op names it and the differentiable alternative.
template <typename Op>
at::Tensor conv_autograd(c10::DispatchKeySet keys, const at::Tensor& x, const at::Tensor& packed,
                         int64_t out_channels, c10::string_view activation) {
  check_inference(Op::kName, Op::kAlternative, {{"x", x}, {"packed_weight", packed}});
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow(Op::kSchema, "")
                             .template typed<at::Tensor(const at::Tensor&, const at::Tensor&, int64_t, c10::string_view)>();
  at::AutoDispatchBelowADInplaceOrView guard;
  return op.redispatch(keys & c10::after_autograd_keyset, x, packed, out_channels, activation);
}

// As conv_autograd, for a feed-forward op (x, two packed weights, hidden
// and output channels, activation).
template <typename Op>
at::Tensor ffn_autograd(c10::DispatchKeySet keys, const at::Tensor& x, const at::Tensor& w1, const at::Tensor& w2,
                        int64_t hidden_channels, int64_t out_channels, c10::string_view activation) {
  check_inference(Op::kName, Op::kAlternative, {{"x", x}, {"packed_w1", w1}, {"packed_w2", w2}});
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow(Op::kSchema, "")
          .template typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t, int64_t,
                                     c10::string_view)>();
  at::AutoDispatchBelowADInplaceOrView guard;
  return op.redispatch(keys & c10::after_autograd_keyset, x, w1, w2, hidden_channels, out_channels, activation);
}

// As conv_autograd, for an op of several convolutions of one x (x, packed
// weights, out_channels).
template <typename Op>
std::vector<at::Tensor> convs_autograd(c10::DispatchKeySet keys, const at::Tensor& x, at::TensorList packed,
                                       int64_t out_channels) {
  check_inference(Op::kName, Op::kAlternative, {{"x", x}});
  for (const at::Tensor& p : packed) check_inference(Op::kName, Op::kAlternative, {{"packed_weights", p}});
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow(Op::kSchema, "")
                             .template typed<std::vector<at::Tensor>(const at::Tensor&, at::TensorList, int64_t)>();
  at::AutoDispatchBelowADInplaceOrView guard;
  return op.redispatch(keys & c10::after_autograd_keyset, x, packed, out_channels);
}

constexpr const char* kConvAlternative =
    "sqbert_kernels.grouped_pw_conv (torch.ops.sqbert.grouped_pw_conv), which is differentiable, on the unpacked "
    "weight and bias";
constexpr const char* kFfnAlternative =
    "two sqbert_kernels.grouped_pw_conv calls (the first with the activation), which are differentiable, on the "
    "unpacked weights and biases";

struct ConvPacked {
  static constexpr const char* kName = "grouped_pw_conv_packed";
  static constexpr const char* kSchema = "sqbert::grouped_pw_conv_packed";
  static constexpr const char* kAlternative = kConvAlternative;
};
struct ConvQ8 {
  static constexpr const char* kName = "grouped_pw_conv_q8";
  static constexpr const char* kSchema = "sqbert::grouped_pw_conv_q8";
  static constexpr const char* kAlternative = kConvAlternative;
};
struct FfnPacked {
  static constexpr const char* kName = "grouped_pw_ffn_packed";
  static constexpr const char* kSchema = "sqbert::grouped_pw_ffn_packed";
  static constexpr const char* kAlternative = kFfnAlternative;
};
struct ConvsPacked {
  static constexpr const char* kName = "grouped_pw_convs_packed";
  static constexpr const char* kSchema = "sqbert::grouped_pw_convs_packed";
  static constexpr const char* kAlternative = kConvAlternative;
};
struct ConvsQ8 {
  static constexpr const char* kName = "grouped_pw_convs_q8";
  static constexpr const char* kSchema = "sqbert::grouped_pw_convs_q8";
  static constexpr const char* kAlternative = kConvAlternative;
};
struct FfnQ8 {
  static constexpr const char* kName = "grouped_pw_ffn_q8";
  static constexpr const char* kSchema = "sqbert::grouped_pw_ffn_q8";
  static constexpr const char* kAlternative = kFfnAlternative;
};

}  // namespace
}  // namespace sqbert

TORCH_LIBRARY_IMPL(sqbert, Autograd, m) {
  m.impl("grouped_pw_conv_packed", &sqbert::conv_autograd<sqbert::ConvPacked>);
  m.impl("grouped_pw_conv_q8", &sqbert::conv_autograd<sqbert::ConvQ8>);
  m.impl("grouped_pw_ffn_packed", &sqbert::ffn_autograd<sqbert::FfnPacked>);
  m.impl("grouped_pw_ffn_q8", &sqbert::ffn_autograd<sqbert::FfnQ8>);
  m.impl("grouped_pw_convs_packed", &sqbert::convs_autograd<sqbert::ConvsPacked>);
  m.impl("grouped_pw_convs_q8", &sqbert::convs_autograd<sqbert::ConvsQ8>);
}

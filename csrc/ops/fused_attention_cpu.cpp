// CPU implementations of sqbert::fused_attention and
// sqbert::fused_attention_varlen: argument checks, mask broadcasting, the
// sequence offsets and threading around the torch-free operator.
#include <torch/library.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <vector>

#include "../operators/fused_attention.h"
#include "isa_selection.h"
#include "op_support.h"

namespace sqbert {
namespace {

constexpr const char* kOp = "fused_attention";

void check_qkv(const at::Tensor& t, const char* name, const at::Tensor& q, const char* op = kOp) {
  check_float_cpu(t, op, name);
  TORCH_CHECK(t.dim() == 3, op, ": expected ", name,
              " of shape [batch, channels, length], got ", t.sizes());
  TORCH_CHECK(t.sizes() == q.sizes(), op, ": expected ", name,
              " of the same shape as q ", q.sizes(), ", got ", t.sizes());
}

// Whether every query row of m ([.., rows, keys], float32, up to 4 dims,
// any strides) equals the first row of its matrix, bit for bit. A memcmp
// per row: at::equal's per-element dispatch cost a noticeable share of the
// op at length 128.
bool query_rows_equal(const at::Tensor& m) {
  if (m.dim() < 2 || m.size(-2) < 2) return false;
  at::Tensor t = m;
  while (t.dim() < 4) t = t.unsqueeze(0);
  const float* p = t.data_ptr<float>();
  const int64_t keys = t.size(3), sk = t.stride(3);
  for (int64_t b = 0; b < t.size(0); b++) {
    for (int64_t h = 0; h < t.size(1); h++) {
      const float* first = p + b * t.stride(0) + h * t.stride(1);
      for (int64_t i = 1; i < t.size(2); i++) {
        const float* row = first + i * t.stride(2);
        if (sk == 1) {
          if (std::memcmp(row, first, keys * sizeof(float)) != 0) return false;
          continue;
        }
        for (int64_t j = 0; j < keys; j++) {
          if (std::memcmp(row + j * sk, first + j * sk, sizeof(float)) != 0) return false;
        }
      }
    }
  }
  return true;
}

at::Tensor fused_attention_cpu(const at::Tensor& q_in, const at::Tensor& k_in,
                               const at::Tensor& v_in, const std::optional<at::Tensor>& mask_in,
                               int64_t num_heads) {
  check_qkv(q_in, "q", q_in);
  check_qkv(k_in, "k", q_in);
  check_qkv(v_in, "v", q_in);
  const int64_t batch = q_in.size(0), channels = q_in.size(1), length = q_in.size(2);
  TORCH_CHECK(num_heads > 0, "fused_attention: expected num_heads > 0, got ", num_heads);
  TORCH_CHECK(channels % num_heads == 0, "fused_attention: expected channels (", channels,
              ") divisible by num_heads (", num_heads, ")");
  const std::vector<int64_t> full{batch, num_heads, length, length};
  at::Tensor mask;
  if (mask_in.has_value()) {
    const at::Tensor& m = *mask_in;
    check_float_cpu(m, kOp, "mask");
    bool fits = m.dim() <= 4;
    for (int64_t i = 1; fits && i <= m.dim(); i++) {
      fits = m.size(-i) == 1 || m.size(-i) == full[4 - i];
    }
    TORCH_CHECK(fits, "fused_attention: expected a mask broadcastable to [batch, num_heads, "
                "length, length] = ", at::IntArrayRef(full), ", got ", m.sizes());
    // A [.., L, L] mask whose query rows are all equal (a padding mask as
    // transformers 5.x passes it) is used as the key mask it is: the score
    // GEMM's bias, which is free, not an add in the softmax kernel.
    // Checking reads the mask once.
    mask = (query_rows_equal(m) ? m.narrow(-2, 0, 1) : m).expand(full);
  }

  const at::Tensor q = positions_contiguous(q_in);
  const at::Tensor k = positions_contiguous(k_in);
  const at::Tensor v = positions_contiguous(v_in);
  at::Tensor out = at::empty({batch, channels, length}, q.options());
  if (out.numel() == 0) return out;

  const KernelConfig& config = selected_kernel_config();
  const int64_t head_dim = channels / num_heads;
  FusedAttentionArgs args{};
  args.batch = batch;
  args.heads = num_heads;
  args.head_dim = head_dim;
  args.length = length;
  args.q = q.data_ptr<float>();
  args.q_batch_stride = q.stride(0);
  args.q_channel_stride = q.stride(1);
  args.k = k.data_ptr<float>();
  args.k_batch_stride = k.stride(0);
  args.k_channel_stride = k.stride(1);
  args.v = v.data_ptr<float>();
  args.v_batch_stride = v.stride(0);
  args.v_channel_stride = v.stride(1);
  if (mask.defined()) {
    args.mask = mask.data_ptr<float>();
    for (int i = 0; i < 4; i++) args.mask_stride[i] = mask.stride(i);
  }
  args.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  args.out = out.data_ptr<float>();
  args.out_batch_stride = out.stride(0);
  args.out_channel_stride = out.stride(1);
  run_tasks(fused_attention_task_count(args, config), fused_attention_task_flops(args, config),
            [&](size_t begin, size_t end) { fused_attention_run(args, config, begin, end); });
  return out;
}

constexpr const char* kVarlenOp = "fused_attention_varlen";

// The offsets as int64, after checking that they split positions
// 0 .. length into consecutive sequences: [sequences + 1] integers from 0
// to length, never decreasing (an empty sequence repeats its start).
at::Tensor checked_offsets(const at::Tensor& offsets, const at::Tensor& q, int64_t length) {
  TORCH_CHECK(offsets.device() == q.device(), kVarlenOp, ": expected seq_offsets on q's device (", q.device(),
              "), got it on ", offsets.device());
  TORCH_CHECK(offsets.scalar_type() == at::kInt || offsets.scalar_type() == at::kLong, kVarlenOp,
              ": expected seq_offsets of dtype int32 or int64, got ",
              c10::getDtypeNames(offsets.scalar_type()).first);
  TORCH_CHECK(offsets.dim() == 1 && offsets.size(0) >= 1, kVarlenOp,
              ": expected seq_offsets of shape [num_sequences + 1], got ", offsets.sizes());
  const at::Tensor o = offsets.to(at::kLong).contiguous();
  const int64_t* p = o.data_ptr<int64_t>();
  const int64_t n = o.size(0);
  for (int64_t i = 0; i < n; i++) {
    TORCH_CHECK(p[i] >= 0 && p[i] <= length, kVarlenOp, ": expected seq_offsets in [0, ", length,
                "] (q's length), got seq_offsets[", i, "] = ", p[i]);
  }
  for (int64_t i = 1; i < n; i++) {
    TORCH_CHECK(p[i] >= p[i - 1], kVarlenOp, ": expected non-decreasing seq_offsets, got seq_offsets[", i,
                "] = ", p[i], " < seq_offsets[", i - 1, "] = ", p[i - 1]);
  }
  TORCH_CHECK(p[0] == 0, kVarlenOp, ": expected seq_offsets[0] == 0 (the first sequence starts at position 0), got ",
              p[0]);
  TORCH_CHECK(p[n - 1] == length, kVarlenOp, ": expected seq_offsets[-1] == q's length (", length,
              "): the sequences cover every position, got ", p[n - 1]);
  return o;
}

at::Tensor fused_attention_varlen_cpu(const at::Tensor& q_in, const at::Tensor& k_in, const at::Tensor& v_in,
                                      const at::Tensor& seq_offsets, int64_t num_heads) {
  check_qkv(q_in, "q", q_in, kVarlenOp);
  check_qkv(k_in, "k", q_in, kVarlenOp);
  check_qkv(v_in, "v", q_in, kVarlenOp);
  TORCH_CHECK(q_in.size(0) == 1, kVarlenOp, ": expected q of shape [1, channels, total_length] (the sequences ",
              "one after another in a batch of 1), got ", q_in.sizes());
  const int64_t channels = q_in.size(1), length = q_in.size(2);
  TORCH_CHECK(num_heads > 0, kVarlenOp, ": expected num_heads > 0, got ", num_heads);
  TORCH_CHECK(channels % num_heads == 0, kVarlenOp, ": expected channels (", channels,
              ") divisible by num_heads (", num_heads, ")");
  const at::Tensor offsets = checked_offsets(seq_offsets, q_in, length);

  const at::Tensor q = positions_contiguous(q_in);
  const at::Tensor k = positions_contiguous(k_in);
  const at::Tensor v = positions_contiguous(v_in);
  at::Tensor out = at::empty({1, channels, length}, q.options());
  if (out.numel() == 0) return out;

  const KernelConfig& config = selected_kernel_config();
  const int64_t head_dim = channels / num_heads;
  FusedAttentionVarlenArgs args{};
  args.sequences = offsets.size(0) - 1;
  args.heads = num_heads;
  args.head_dim = head_dim;
  args.length = length;
  args.seq_offsets = offsets.data_ptr<int64_t>();
  args.q = q.data_ptr<float>();
  args.q_channel_stride = q.stride(1);
  args.k = k.data_ptr<float>();
  args.k_channel_stride = k.stride(1);
  args.v = v.data_ptr<float>();
  args.v_channel_stride = v.stride(1);
  args.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  args.out = out.data_ptr<float>();
  args.out_channel_stride = out.stride(1);
  // The tasks go in parts of about equal work, not of equal task counts (a
  // task of a long sequence attends to more keys), four a thread so that
  // the pool can move parts off a slow thread.
  const size_t tasks = fused_attention_varlen_task_count(args, config);
  const size_t flops = fused_attention_varlen_flops(args, config);
  const size_t parts = std::min({tasks, 4 * static_cast<size_t>(std::max(1, op_threads())),
                                 std::max<size_t>(1, flops / kMinFlopsPerThread)});
  if (parts <= 1) {
    fused_attention_varlen_run(args, config, 0, tasks);
    return out;
  }
  std::vector<size_t> bounds(parts + 1);
  fused_attention_varlen_split(args, config, parts, bounds.data());
  run_tasks(parts, flops / parts, [&](size_t begin, size_t end) {
    fused_attention_varlen_run(args, config, bounds[begin], bounds[end]);
  });
  return out;
}

}  // namespace
}  // namespace sqbert

TORCH_LIBRARY_IMPL(sqbert, CPU, m) {
  m.impl("fused_attention", &sqbert::fused_attention_cpu);
  m.impl("fused_attention_varlen", &sqbert::fused_attention_varlen_cpu);
}

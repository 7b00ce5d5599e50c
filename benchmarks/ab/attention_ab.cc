// Interleaved A/B of fused_attention_run: one revision of csrc/ built in
// namespace sqold (operator_ab.sh compiles it with -Dsqbert=sqold) and
// another in sqbert, linked into one binary and timed in
// alternating order on the same inputs, so both see the same machine.
//   attention_ab BATCH LENGTH [ROUNDS]  (12 heads, C 768, mask of zeros)
#include <cmath>
#include <vector>

#include "ab_harness.h"

#define sqbert sqold
#include "old/csrc/operators/fused_attention.h"
#undef sqbert
#include "operators/fused_attention.h"

namespace {

constexpr size_t kChannels = 768, kHeads = 12;

// One call of either version's operator, in seconds.
template <typename Args, typename Config, typename Count, typename Run>
double time_run(const Config& config, Count count, Run run, size_t batch, size_t length,
                const float* q, const float* k, const float* v, const float* mask, float* out) {
  const size_t cl = kChannels * length;
  Args a{};
  a.batch = batch, a.heads = kHeads, a.head_dim = kChannels / kHeads, a.length = length;
  a.q = q, a.q_batch_stride = cl, a.q_channel_stride = length;
  a.k = k, a.k_batch_stride = cl, a.k_channel_stride = length;
  a.v = v, a.v_batch_stride = cl, a.v_channel_stride = length;
  a.mask = mask, a.mask_stride[0] = length, a.mask_stride[3] = 1;  // [B, 1, 1, L]
  a.scale = 1.0f / std::sqrt(float(kChannels / kHeads));
  a.out = out, a.out_batch_stride = cl, a.out_channel_stride = length;
  return ab::seconds([&] { run(a, config, 0, count(a, config)); });
}

}  // namespace

int main(int argc, char** argv) {
  const ab::Args args = ab::parse_args(argc, argv, 200);
  const size_t batch = args.batch, length = args.length;
  const size_t n = batch * kChannels * length;
  const std::vector<float> q = ab::random_floats(n, 2.0f), k = ab::random_floats(n, 2.0f),
                           v = ab::random_floats(n, 2.0f), mask(batch * length, 0.0f);
  std::vector<float> out_old(n), out_new(n);
  const auto& old_config = *sqold::kernel_config("avx2");
  const auto& new_config = *sqbert::kernel_config("avx2");
  auto run_old = [&] {
    return time_run<sqold::FusedAttentionArgs>(old_config, sqold::fused_attention_task_count,
                                                sqold::fused_attention_run, batch, length, q.data(), k.data(),
                                                v.data(), mask.data(), out_old.data());
  };
  auto run_new = [&] {
    return time_run<sqbert::FusedAttentionArgs>(new_config, sqbert::fused_attention_task_count,
                                                 sqbert::fused_attention_run, batch, length, q.data(), k.data(),
                                                 v.data(), mask.data(), out_new.data());
  };
  const ab::Result r = ab::interleave(args.rounds, run_old, run_new);
  std::printf("B%zu L%zu, %d rounds, outputs differ by at most %g\n", batch, length, args.rounds,
              ab::max_abs_diff(out_old, out_new));
  std::printf("  old median %.1f us\n  new median %.1f us\n  new/old median %.3f\n", r.old_median * 1e6,
              r.new_median * 1e6, r.ratio);
  return 0;
}

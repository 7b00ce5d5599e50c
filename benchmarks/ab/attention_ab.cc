// Interleaved A/B of fused_attention_run: one revision of csrc/ built in
// namespace sqold (operator_ab.sh compiles it with -Dsqbert=sqold) and
// another in sqbert, linked into one binary and timed in
// alternating order on the same inputs, so both see the same machine.
//   attention_ab BATCH LENGTH [ROUNDS]  (12 heads, C 768, mask of zeros)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

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
  const auto start = std::chrono::steady_clock::now();
  run(a, config, 0, count(a, config));
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s BATCH LENGTH [ROUNDS]\n", argv[0]);
    return 2;
  }
  const size_t batch = std::atoi(argv[1]), length = std::atoi(argv[2]);
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 200;
  const size_t n = batch * kChannels * length;
  std::vector<float> q(n), k(n), v(n), mask(batch * length, 0.0f), out_old(n), out_new(n);
  for (auto* t : {&q, &k, &v}) {
    for (float& x : *t) x = std::rand() / float(RAND_MAX) * 4.0f - 2.0f;
  }
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
  run_old();
  run_new();
  double diff = 0;
  for (size_t i = 0; i < n; i++) diff = std::max(diff, double(std::fabs(out_old[i] - out_new[i])));
  std::vector<double> t_old, t_new;
  for (int r = 0; r < rounds; r++) {
    if (r % 2) {
      t_old.push_back(run_old());
      t_new.push_back(run_new());
    } else {
      t_new.push_back(run_new());
      t_old.push_back(run_old());
    }
  }
  std::sort(t_old.begin(), t_old.end());
  std::sort(t_new.begin(), t_new.end());
  std::printf("B%zu L%zu, %d rounds, outputs differ by at most %g\n", batch, length, rounds, diff);
  std::printf("  old median %.1f us\n  new median %.1f us\n", t_old[rounds / 2] * 1e6, t_new[rounds / 2] * 1e6);
  return 0;
}

// Interleaved A/B of the residual + LayerNorm operator (layernorm_ncw_run):
// one revision of csrc/ built in namespace sqold (operator_ab.sh compiles
// it with -Dsqbert=sqold) and another in sqbert, linked into one binary and
// timed in alternating order on the same inputs.
//   layernorm_ab BATCH LENGTH [ROUNDS]  (768 channels, with a residual)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define sqbert sqold
#include "old/csrc/operators/layernorm_ncw.h"
#undef sqbert
#include "operators/layernorm_ncw.h"

namespace {

constexpr size_t kChannels = 768;

// One call of either version's operator, in seconds.
template <typename Args, typename Config, typename Count, typename Run>
double time_run(const Config& config, Count count, Run run, size_t batch, size_t length, const float* x,
                const float* r, const float* gamma, const float* beta, float* y) {
  const size_t cl = kChannels * length;
  Args a{};
  a.batch = batch, a.channels = kChannels, a.length = length;
  a.x = x, a.x_batch_stride = cl, a.x_channel_stride = length;
  a.residual = r, a.r_batch_stride = cl, a.r_channel_stride = length;
  a.gamma = gamma, a.beta = beta, a.eps = 1e-12f;
  a.y = y, a.y_batch_stride = cl, a.y_channel_stride = length;
  const auto start = std::chrono::steady_clock::now();
  run(a, config, 0, count(a));
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
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
  std::vector<float> x(n), r(n), gamma(kChannels), beta(kChannels), y_old(n), y_new(n);
  for (auto* t : {&x, &r, &gamma, &beta}) {
    for (float& v : *t) v = std::rand() / float(RAND_MAX) * 4.0f - 2.0f;
  }
  const auto& old_config = *sqold::kernel_config("avx2");
  const auto& new_config = *sqbert::kernel_config("avx2");
  auto run_old = [&] {
    return time_run<sqold::LayerNormNcwArgs>(old_config, sqold::layernorm_ncw_task_count, sqold::layernorm_ncw_run,
                                             batch, length, x.data(), r.data(), gamma.data(), beta.data(),
                                             y_old.data());
  };
  auto run_new = [&] {
    return time_run<sqbert::LayerNormNcwArgs>(new_config, sqbert::layernorm_ncw_task_count,
                                              sqbert::layernorm_ncw_run, batch, length, x.data(), r.data(),
                                              gamma.data(), beta.data(), y_new.data());
  };
  run_old();
  run_new();
  double diff = 0;
  for (size_t i = 0; i < n; i++) diff = std::max(diff, double(std::fabs(y_old[i] - y_new[i])));
  std::vector<double> t_old, t_new, ratio;
  for (int k = 0; k < rounds; k++) {
    double a, b;
    if (k % 2) {
      a = run_old(), b = run_new();
    } else {
      b = run_new(), a = run_old();
    }
    t_old.push_back(a), t_new.push_back(b), ratio.push_back(b / a);
  }
  std::printf("B%zu L%zu C%zu, %d rounds, outputs differ by at most %g\n", batch, length, kChannels, rounds, diff);
  std::printf("  old median %.1f us\n  new median %.1f us\n  new/old median %.3f\n", median(t_old) * 1e6,
              median(t_new) * 1e6, median(ratio));
  return 0;
}

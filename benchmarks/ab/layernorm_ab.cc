// Interleaved A/B of the residual + LayerNorm operator (layernorm_ncw_run):
// one revision of csrc/ built in namespace sqold (operator_ab.sh compiles
// it with -Dsqbert=sqold) and another in sqbert, linked into one binary and
// timed in alternating order on the same inputs.
//   layernorm_ab BATCH LENGTH [ROUNDS]  (768 channels, with a residual)
#include <vector>

#include "ab_harness.h"

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
  return ab::seconds([&] { run(a, config, 0, count(a)); });
}

}  // namespace

int main(int argc, char** argv) {
  const ab::Args args = ab::parse_args(argc, argv, 200);
  const size_t batch = args.batch, length = args.length;
  const size_t n = batch * kChannels * length;
  const std::vector<float> x = ab::random_floats(n, 2.0f), r = ab::random_floats(n, 2.0f),
                           gamma = ab::random_floats(kChannels, 2.0f), beta = ab::random_floats(kChannels, 2.0f);
  std::vector<float> y_old(n), y_new(n);
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
  const ab::Result res = ab::interleave(args.rounds, run_old, run_new);
  std::printf("B%zu L%zu C%zu, %d rounds, outputs differ by at most %g\n", batch, length, kChannels, args.rounds,
              ab::max_abs_diff(y_old, y_new));
  std::printf("  old median %.1f us\n  new median %.1f us\n  new/old median %.3f\n", res.old_median * 1e6,
              res.new_median * 1e6, res.ratio);
  return 0;
}

// Interleaved A/B of the AVX2 LayerNorm micro-kernel: revision OLD's
// f32_layernorm__avx2 (compiled into namespace sqold) against the working
// tree's (sqbert), built and run by layernorm_ab.sh. SqueezeBERT's shape:
// 768 channels, 128 positions, with the residual, out of place as the
// torch op runs it; the kernel called on blocks of n positions (the
// operator's kLayerNormBlock, and 16 for comparison). Each round times
// both, sweep by sweep in alternating order; prints the median and spread
// of each over the rounds, and new / old; with `raw`, each round's figures.
//   layernorm_ab [ROUNDS [SWEEPS [raw]]]   (30 rounds of 200 sweeps of each)
// Where the two functions land moves their times by up to ~6-10% (the same
// code at two addresses, steady through a process), so layernorm_ab.sh
// links this twice, old first and new first, and runs each round as a
// fresh process of either.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kernels/f32_layernorm.h"
#include "operators/layernorm_ncw.h"

namespace sqold {
void f32_layernorm__avx2(size_t channels, size_t n, const float* x, size_t x_stride,
                         const float* r, size_t r_stride, const float* gamma,
                         const float* beta, float eps, float* y, size_t y_stride,
                         float* scratch);
}

namespace {

constexpr size_t kChannels = 768, kLength = 128;

using Fn = sqbert::f32_layernorm_ukernel_fn;

struct Data {
  std::vector<float> x, r, gamma, beta, y;
};

// One pass over the [768, 128] tensor, `block` positions a call.
void sweep(Fn fn, size_t block, Data& d) {
  float scratch[2 * kLength];
  for (size_t l0 = 0; l0 < kLength; l0 += block) {
    fn(kChannels, std::min(block, kLength - l0), d.x.data() + l0, kLength, d.r.data() + l0, kLength,
       d.gamma.data(), d.beta.data(), 1e-12f, d.y.data() + l0, kLength, scratch);
  }
}

// One sweep's time in microseconds.
double sweep_us(Fn fn, size_t block, Data& d) {
  const auto t0 = std::chrono::steady_clock::now();
  sweep(fn, block, d);
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::micro>(t1 - t0).count();
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * (v.size() - 1);
  const size_t i = static_cast<size_t>(pos);
  return i + 1 < v.size() ? v[i] + (pos - i) * (v[i + 1] - v[i]) : v[i];
}

}  // namespace

int main(int argc, char** argv) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    std::fprintf(stderr, "needs AVX2 and FMA\n");
    return 1;
  }
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 30;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 200;
  const bool raw = argc > 3 && std::string(argv[3]) == "raw";  // one line a round, no summary
  std::mt19937 rng(0);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Data d;
  for (auto* v : {&d.x, &d.r}) {
    v->resize(kChannels * kLength);
    for (float& e : *v) e = 3.0f * normal(rng) + 1.0f;
  }
  d.gamma.resize(kChannels), d.beta.resize(kChannels);
  for (float& e : d.gamma) e = 1.0f + 0.1f * normal(rng);
  for (float& e : d.beta) e = 0.1f * normal(rng);
  d.y.resize(kChannels * kLength);

  // The two agree to float32 rounding.
  sweep(sqold::f32_layernorm__avx2, sqbert::kLayerNormBlock, d);
  const std::vector<float> y_old = d.y;
  sweep(sqbert::f32_layernorm__avx2, sqbert::kLayerNormBlock, d);
  double max_diff = 0;
  for (size_t i = 0; i < d.y.size(); i++) max_diff = std::max(max_diff, double(std::fabs(d.y[i] - y_old[i])));
  if (!raw) {
    std::printf("C=%zu L=%zu residual, eps 1e-12; %d rounds x %d sweeps of each; max |new - old| = %.3g\n",
                kChannels, kLength, rounds, reps, max_diff);
  } else if (max_diff > 1e-4) {
    std::fprintf(stderr, "old and new differ by %.3g\n", max_diff);
    return 1;
  }

  for (size_t block : {sqbert::kLayerNormBlock, size_t(16)}) {
    for (int w = 0; w < 200; w++) sweep(sqold::f32_layernorm__avx2, block, d), sweep(sqbert::f32_layernorm__avx2, block, d);
    // A round: `reps` sweeps of each, alternating one by one (the order
    // flipping each time), so that drift and other load hit both alike; its
    // figure is the median sweep (a preempted sweep does not move it).
    std::vector<double> old_us, new_us, ratio;
    for (int k = 0; k < rounds; k++) {
      std::vector<double> a, b;
      for (int j = 0; j < reps; j++) {
        if (j % 2 == 0) {
          a.push_back(sweep_us(sqold::f32_layernorm__avx2, block, d));
          b.push_back(sweep_us(sqbert::f32_layernorm__avx2, block, d));
        } else {
          b.push_back(sweep_us(sqbert::f32_layernorm__avx2, block, d));
          a.push_back(sweep_us(sqold::f32_layernorm__avx2, block, d));
        }
      }
      old_us.push_back(quantile(a, 0.5)), new_us.push_back(quantile(b, 0.5));
      ratio.push_back(new_us.back() / old_us.back());
      if (raw) std::printf("round n=%zu old %.3f new %.3f\n", block, old_us.back(), new_us.back());
    }
    if (raw) continue;
    std::printf("n=%3zu positions a call (%zu calls a sweep), us per [768,128] sweep, medians of rounds:\n",
                block, (kLength + block - 1) / block);
    for (auto [name, v] : {std::pair<const char*, std::vector<double>*>{"old", &old_us}, {"new", &new_us}})
      std::printf("  %s  median %7.2f  p25 %7.2f  p75 %7.2f  min %7.2f  max %7.2f\n", name,
                  quantile(*v, 0.5), quantile(*v, 0.25), quantile(*v, 0.75), quantile(*v, 0.0),
                  quantile(*v, 1.0));
    std::printf("  new/old: ratio of medians %.4f; per-round ratio median %.4f (p25 %.4f, p75 %.4f)\n",
                quantile(new_us, 0.5) / quantile(old_us, 0.5), quantile(ratio, 0.5),
                quantile(ratio, 0.25), quantile(ratio, 0.75));
  }
  return 0;
}

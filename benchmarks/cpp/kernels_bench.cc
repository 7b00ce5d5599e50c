// Micro-benchmarks of the f32 micro-kernels at SqueezeBERT's shapes, for
// every ISA this build and CPU have (kernel_configs()), one thread:
//   gemm    the GEMM micro-kernel on packed weights: one mr x nr tile over
//           kc = 192 and 768, the same operands each call (in L1 at
//           kc = 192; kc = 768's 66 KB at 6x16 are past a 32 KB L1), and
//           a sweep of a group's 192 output channels x 128 positions in
//           mr x nr tiles, x in nr-wide panels (the grouped convolution's
//           inner GEMM, without its x-panel copies; nr divides 128)
//   softmax the online softmax over 128 keys x nr queries, head depth 64,
//           as the attention calls it (scores restored before each call)
//   vgelu   GELU in place over a 16 x 3072-position tile (restored before
//           each call)
//   layernorm  768 channels x 128 positions with the residual, out of place
//   qs8     for every int8 ISA (qs8_kernel_configs()): the int8 GEMM against
//           its CPU's f32 GEMM (Qs8KernelConfig.f32) on SqueezeBERT's
//           shapes, m output channels x 128 positions x depth k in tiles:
//           192x192 (768->768, 4 groups), 768x192 (768->3072, 4 groups),
//           192x768 (3072->768, 4 groups), 768x768 (dense 768->768); x in
//           nr-wide panels (f32) or quantized blocks (int8), weights packed
//           back to back; their rounds alternate, and int8 / f32 is the
//           median (and range) of each pair's ratio, GMAC/s the medians.
//           Then one int8 tile at kc = 768 (hot, in L1: the kernel's
//           peak; compare the f32 hot tile's GFLOP/s / 2) and the
//           quantizer over k x 128 positions (ns an element).
// Each call timed alone (after its untimed setup; the timer's own cost
// subtracted). A round is ~10 ms of calls; printed: the median over the
// rounds of a round's mean time a call, and the fastest and slowest
// round. GEMM rows also give GFLOP/s and the % of the core's FMA peak, an
// ESTIMATE: 2 FMA a cycle x lanes (16 AVX-512, 8 AVX2, 4 NEON) x 2 flops at the clock
// measured by a chain of dependent adds (/proc/cpuinfo's MHz is often the
// base clock).
// Run it (Release build, not built with the tests):
//   benchmarks/cpp/kernels_bench.sh [ROUNDS [ISA...]]     (21 rounds, every ISA)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/f32_gemm_pack.h"
#include "kernels/kernel_config.h"
#include "kernels/qs8_gemm_pack.h"

namespace {

using namespace sqbert;
using Clock = std::chrono::steady_clock;

// The one GEMM call of the harness (f32_gemm.h): y = W x + bias for one
// tile. When the micro-kernel's signature changes, change this.
void gemm(const KernelConfig& config, size_t mr, size_t nc, size_t kc, const F32GemmWeights& w,
          const float* x, size_t x_stride, float* y, size_t y_stride) {
  config.gemm(mr, nc, kc, w, x, x_stride, y, y_stride, F32GemmEpilogue{});
}

std::vector<float> random_vector(size_t n, float lo = -1.0f, float hi = 1.0f) {
  static std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// What one now() pair costs: subtracted from each timed call.
double timer_overhead() {
  std::vector<double> t(1001);
  for (double& v : t) {
    const auto a = Clock::now();
    v = seconds(a, Clock::now());
  }
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return t[t.size() / 2];
}

struct Stats {
  double median, min, max;  // seconds a call: over the rounds of a round's mean
};

// Times call() after setup() (untimed) in `rounds` rounds of ~10 ms.
Stats measure(int rounds, const std::function<void()>& setup, const std::function<void()>& call) {
  static const double overhead = timer_overhead();
  auto timed = [&](size_t calls) {
    double total = 0;
    for (size_t i = 0; i < calls; i++) {
      setup();
      const auto a = Clock::now();
      call();
      total += seconds(a, Clock::now()) - overhead;
    }
    return total / calls;
  };
  size_t calls = 1;
  while (timed(calls) * calls < 2e-3) calls *= 2;  // warm-up and calibration
  calls = std::max<size_t>(1, size_t(calls * 5));  // ~10 ms
  std::vector<double> t(rounds);
  for (double& v : t) v = timed(calls);
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t.front(), t.back()};
}

void report(const KernelConfig& config, const std::string& what, const Stats& s, double flops = 0,
            double peak = 0) {
  std::printf("%-7s %-38s %9.3f us  [%8.3f .. %8.3f]", config.isa, what.c_str(), s.median * 1e6,
              s.min * 1e6, s.max * 1e6);
  if (flops > 0) {
    const double gflops = flops / s.median * 1e-9;
    std::printf("  %6.1f GFLOP/s", gflops);
    if (peak > 0) std::printf("  %3.0f%% of peak", 100 * gflops / peak);
  }
  std::printf("\n");
}

// The clock /proc/cpuinfo gives (often the base clock, not the boost), in GHz.
double cpuinfo_ghz() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("cpu MHz", 0) == 0) return std::atof(line.substr(line.find(':') + 1).c_str()) / 1e3;
  return 0;
}

// GHz from a chain of dependent adds (one a cycle): the fastest of many
// short runs, which some run through without being preempted on a shared
// machine. Else /proc/cpuinfo's.
double clock_ghz() {
#if defined(__x86_64__) || defined(__aarch64__)
  double best = 0;
  for (int r = 0; r < 300; r++) {
    const size_t iterations = 100'000;  // 0.8 M cycles
    size_t x = 0;
    const auto a = Clock::now();
    for (size_t i = 0; i < iterations; i++) {
#if defined(__x86_64__)
      asm volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
                   "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(x));
#else
      asm volatile("add %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\t"
                   "add %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1" : "+r"(x));
#endif
    }
    best = std::max(best, 8.0 * iterations / seconds(a, Clock::now()) * 1e-9);
  }
  return best;
#else
  return cpuinfo_ghz();
#endif
}

void bench_gemm(const KernelConfig& config, int rounds, double peak) {
  const size_t mr = config.mr, nr = config.nr, m = 192, length = 128;
  for (size_t kc : {size_t(192), size_t(768)}) {
    const std::vector<float> w = random_vector(m * kc), bias = random_vector(m);
    std::vector<float> packed(f32_gemm_packed_size(1, m, kc, mr));
    f32_gemm_pack_weights(m, kc, mr, 0, f32_gemm_panel_count(m, mr), w.data(), kc, 1, bias.data(), 1,
                          packed.data());
    auto panel = [&](size_t p) {
      const float* at = packed.data() + p * (1 + kc) * mr;
      return F32GemmWeights{at + mr, 1, mr, at};
    };
    // x in nr-wide panels ([length / nr][kc][nr]), as the operator copies it.
    const std::vector<float> x = random_vector(kc * length);
    std::vector<float> y(m * length);
    const std::string shape = std::to_string(mr) + "x" + std::to_string(nr);
    report(config, "gemm " + shape + " tile, kc=" + std::to_string(kc) + " (hot)",
           measure(rounds, [] {}, [&] { gemm(config, mr, nr, kc, panel(0), x.data(), nr, y.data(), nr); }),
           2.0 * mr * nr * kc, peak);
    report(config, "gemm 192x128 in " + shape + " tiles, kc=" + std::to_string(kc),
           measure(rounds, [] {},
                   [&] {
                     for (size_t n0 = 0; n0 < length; n0 += nr)
                       for (size_t p = 0; p * mr < m; p++)
                         gemm(config, std::min(mr, m - p * mr), nr, kc, panel(p), x.data() + n0 * kc, nr,
                              y.data() + p * mr * length + n0, length);
                   }),
           2.0 * m * length * kc, peak);
  }
}

void bench_softmax(const KernelConfig& config, int rounds) {
  const size_t nr = config.nr, keys = 128, d = 64;
  const std::vector<float> s0 = random_vector(keys * nr, -8.0f, 8.0f), o0 = random_vector(d * nr);
  std::vector<float> s(s0), o(o0), m(nr), l(nr);
  report(config, "online softmax " + std::to_string(keys) + " keys x " + std::to_string(nr) + ", d=64",
         measure(rounds,
                 [&] {
                   std::copy(s0.begin(), s0.end(), s.begin());
                   std::copy(o0.begin(), o0.end(), o.begin());
                   std::fill(m.begin(), m.end(), 4.0f);
                   std::fill(l.begin(), l.end(), 1.0f);
                 },
                 [&] { config.online_softmax(keys, d, s.data(), nullptr, 0, m.data(), l.data(), o.data()); }));
}

void bench_vgelu(const KernelConfig& config, int rounds) {
  const size_t rows = 16, n = 3072;
  const std::vector<float> x0 = random_vector(rows * n, -4.0f, 4.0f);
  std::vector<float> x(x0);
  report(config, "vgelu 16 x 3072",
         measure(rounds, [&] { std::copy(x0.begin(), x0.end(), x.begin()); },
                 [&] { config.vgelu(rows, n, x.data(), n); }));
}

void bench_layernorm(const KernelConfig& config, int rounds) {
  const size_t channels = 768, n = 128;
  std::vector<float> x = random_vector(channels * n, 2.0f, 6.0f), r = random_vector(channels * n);
  std::vector<float> gamma = random_vector(channels), beta = random_vector(channels);
  std::vector<float> y(channels * n), scratch(2 * n);
  report(config, "layernorm 768 x 128 + residual",
         measure(rounds, [] {},
                 [&] {
                   config.layernorm(channels, n, x.data(), n, r.data(), n, gamma.data(), beta.data(), 1e-12f,
                                    y.data(), n, scratch.data());
                 }));
}

// The f32 and int8 GEMMs over one layer's m x 128 x k, as GMAC/s.
void bench_qs8_gemm(const Qs8KernelConfig& config, int rounds) {
  const KernelConfig& f32 = *config.f32;
  const size_t length = 128;
  const struct {
    size_t m, k;
    const char* what;
  } shapes[] = {{192, 192, "768->768 g4"}, {768, 192, "768->3072 g4"}, {192, 768, "3072->768 g4"},
                {768, 768, "768->768 dense"}};
  for (const auto& shape : shapes) {
    const size_t m = shape.m, k = shape.k;
    const std::vector<float> w = random_vector(m * k), bias = random_vector(m), x = random_vector(k * length);
    const double macs = double(m) * length * k;
    const std::string what = std::to_string(m) + "x128 k=" + std::to_string(k) + " (" + shape.what + ")";

    std::vector<float> packed(f32_gemm_packed_size(1, m, k, f32.mr)), y(m * length);
    f32_gemm_pack_weights(m, k, f32.mr, 0, f32_gemm_panel_count(m, f32.mr), w.data(), k, 1, bias.data(), 1,
                          packed.data());
    auto f32_sweep = [&] {
      for (size_t n0 = 0; n0 < length; n0 += f32.nr)
        for (size_t p = 0; p * f32.mr < m; p++) {
          const float* at = packed.data() + p * (1 + k) * f32.mr;
          gemm(f32, std::min(f32.mr, m - p * f32.mr), f32.nr, k, F32GemmWeights{at + f32.mr, 1, f32.mr, at},
               x.data() + n0 * k, f32.nr, y.data() + p * f32.mr * length + n0, length);
        }
    };

    const size_t mr = config.mr, nr = config.nr, panels = (m + mr - 1) / mr, blocks = length / nr;
    const size_t panel_bytes = qs8_panel_bytes(mr, k), block_bytes = qu7_block_bytes(nr, k);
    std::vector<uint8_t> wq(panels * panel_bytes), xq(blocks * block_bytes);
    qs8_gemm_pack_weights(m, k, mr, 0, panels, w.data(), k, 1, bias.data(), 1, wq.data(), 0);
    std::vector<float> x_scale(length);
    std::vector<int32_t> x_zero(length);
    for (size_t b = 0; b < blocks; b++)
      config.quantize(k, nr, nr, x.data() + b * nr, length, xq.data() + b * block_bytes, x_scale.data() + b * nr,
                      x_zero.data() + b * nr);
    auto int8_sweep = [&] {
      for (size_t b = 0; b < blocks; b++)
        for (size_t p = 0; p < panels; p++)
          config.gemm(std::min(mr, m - p * mr), nr, k, wq.data() + p * panel_bytes, xq.data() + b * block_bytes,
                      x_scale.data() + b * nr, x_zero.data() + b * nr, y.data() + p * mr * length + b * nr, length);
    };
    // Rounds of the two alternate, and int8 / f32 is the median of each
    // pair's: on a shared core, other work slows both alike.
    std::vector<double> tf, tq, ratio;
    for (int r = 0; r < rounds; r++) {
      tf.push_back(measure(1, [] {}, f32_sweep).median);
      tq.push_back(measure(1, [] {}, int8_sweep).median);
      ratio.push_back(tf.back() / tq.back());
    }
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    std::printf("%-7s %-36s f32 %s %5.1f GMAC/s, int8 %zux%zu %5.1f GMAC/s: int8/f32 %.2fx [%.2f .. %.2f]\n",
                config.isa, what.c_str(), f32.isa, macs / median(tf) * 1e-9, mr, nr, macs / median(tq) * 1e-9,
                median(ratio), *std::min_element(ratio.begin(), ratio.end()),
                *std::max_element(ratio.begin(), ratio.end()));
  }
  // One tile, the same operands each call (in L1): the kernel's peak.
  {
    const size_t mr = config.mr, nr = config.nr, k = 768;
    // Header zeros (row sums, scales, biases); any weights and x bytes.
    std::vector<uint8_t> w(qs8_panel_bytes(mr, k)), xq(qu7_block_bytes(nr, k));
    for (size_t i = 12 * mr; i < w.size(); i++) w[i] = uint8_t(i * 37);
    for (size_t i = 0; i < xq.size(); i++) xq[i] = uint8_t(i * 53 % 128);
    std::vector<float> x_scale(nr, 1.0f), y(mr * nr);
    std::vector<int32_t> x_zero(nr, 0);
    const Stats st = measure(rounds, [] {}, [&] {
      config.gemm(mr, nr, k, w.data(), xq.data(), x_scale.data(), x_zero.data(), y.data(), nr);
    });
    std::printf("%-7s int8 gemm %zux%zuc4 tile, kc=768 (hot)    %9.3f us  %6.1f GMAC/s (f32: GFLOP/s / 2)\n",
                config.isa, mr, nr, st.median * 1e6, mr * nr * k / st.median * 1e-9);
  }
  for (size_t k : {size_t(192), size_t(768)}) {
    const std::vector<float> x = random_vector(k * length);
    const size_t nr = config.nr, block_bytes = qu7_block_bytes(nr, k);
    std::vector<uint8_t> xq(length / nr * block_bytes);
    std::vector<float> x_scale(length);
    std::vector<int32_t> x_zero(length);
    const Stats s = measure(rounds, [] {}, [&] {
      for (size_t b = 0; b < length / nr; b++)
        config.quantize(k, nr, nr, x.data() + b * nr, length, xq.data() + b * block_bytes, x_scale.data() + b * nr,
                        x_zero.data() + b * nr);
    });
    std::printf("%-7s quantize %zu x 128 %9.3f us, %.3f ns an element\n", config.isa, k, s.median * 1e6,
                s.median * 1e9 / double(k * length));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 21;
  const double ghz = clock_ghz();
  std::printf("clock ~%.2f GHz (dependent adds; /proc/cpuinfo: %.2f); core FMA peak ESTIMATE: "
              "2 FMA x lanes x 2 flops a cycle (full-width FMA pipes)\n%d rounds; us a call: median "
              "[fastest .. slowest round]\n",
              ghz, cpuinfo_ghz(), rounds);
  for (const KernelConfig& config : kernel_configs()) {
    bool selected = argc <= 2;
    for (int i = 2; i < argc; i++) selected = selected || std::strcmp(argv[i], config.isa) == 0;
    if (!selected) continue;
    const std::string isa = config.isa;
    const int lanes = isa == "avx512f" ? 16 : isa == "avx2" ? 8 : isa == "neon" ? 4 : 1;
    const double peak = 2.0 * lanes * 2.0 * ghz;  // GFLOP/s
    std::printf("%s: core FMA peak ESTIMATE %.1f GFLOP/s (%d lanes)\n", config.isa, peak, lanes);
    bench_gemm(config, rounds, peak);
    bench_softmax(config, rounds);
    bench_vgelu(config, rounds);
    bench_layernorm(config, rounds);
  }
  for (const Qs8KernelConfig& config : qs8_kernel_configs()) {
    bool selected = argc <= 2;
    for (int i = 2; i < argc; i++) selected = selected || std::strcmp(argv[i], config.isa) == 0;
    if (selected) bench_qs8_gemm(config, rounds);
  }
  return 0;
}

// Standalone tests of the f32 GEMM micro-kernels, weight packing and the
// grouped 1x1 convolution operator, against float64 math on the unpacked
// weights. Every kernel this build and CPU have is tested on every mr and nc
// up to its tile, many kc, strided rows, and poisoned outputs: an element the
// kernel should write but does not, or one it should leave but writes, fails.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kernels/f32_gemm_config.h"
#include "kernels/f32_gemm_pack.h"
#include "operators/grouped_pw_conv.h"

namespace {

using namespace sqbert;

int failures = 0;
const float kPoison = 12345.678f;

void fail(const std::string& what) {
  if (++failures <= 20) std::fprintf(stderr, "FAIL: %s\n", what.c_str());
}

std::vector<float> random_vector(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

bool close(float got, double want) {
  return std::fabs(got - want) <= 1e-5 * (1.0 + std::fabs(want));
}

// y[b][c][l] in float64 from unpacked weights [groups*m][k] and bias.
std::vector<double> reference(size_t batch, size_t groups, size_t m, size_t k,
                              size_t length, const std::vector<float>& x,
                              size_t x_batch_stride, size_t x_channel_stride,
                              const std::vector<float>& w, const float* bias) {
  std::vector<double> y(batch * groups * m * length);
  for (size_t b = 0; b < batch; b++)
    for (size_t c = 0; c < groups * m; c++)
      for (size_t l = 0; l < length; l++) {
        double acc = bias ? bias[c] : 0.0;
        for (size_t j = 0; j < k; j++)
          acc += double(w[c * k + j]) *
                 x[b * x_batch_stride + ((c / m) * k + j) * x_channel_stride + l];
        y[(b * groups * m + c) * length + l] = acc;
      }
  return y;
}

// Weights as the kernels meet them: packed panels, rows of a [m, k] matrix
// read in place, and a [k, m] matrix read transposed (attention's keys).
enum class Layout { kPacked, kRows, kColumns };

void test_ukernel(const F32GemmConfig& config, std::mt19937& rng) {
  const size_t kcs[] = {0, 1, 2, 3, 4, 5, 7, 8, 16, 17, 33, 64, 191};
  const Layout layouts[] = {Layout::kPacked, Layout::kRows, Layout::kColumns};
  for (Layout layout : layouts)
  for (int mode = 0; mode < 3; mode++)  // bias, no bias, accumulate
  for (size_t kc : kcs)
    for (size_t mr = 1; mr <= config.mr; mr++)
      for (size_t nc = 1; nc <= config.nr; nc++) {
        const bool accumulate = mode == 2;
        const size_t x_stride = nc + 3, y_stride = nc + 5;
        std::vector<float> w = random_vector(mr * kc, rng);  // [mr][kc]
        std::vector<float> bias = random_vector(mr, rng);
        std::vector<float> storage;
        F32GemmWeights weights{};
        if (layout == Layout::kPacked) {
          storage.resize(f32_gemm_packed_size(1, mr, kc, config.mr));
          f32_gemm_pack_weights(mr, kc, config.mr, 0, 1, w.data(), kc, 1,
                                bias.data(), 1, storage.data());
          weights = {storage.data() + config.mr, 1, config.mr, storage.data()};
        } else if (layout == Layout::kRows) {
          // Row stride kc + 2: the gaps hold poison that must not be read in.
          storage.assign(mr * (kc + 2), kPoison);
          for (size_t i = 0; i < mr; i++)
            for (size_t j = 0; j < kc; j++) storage[i * (kc + 2) + j] = w[i * kc + j];
          weights = {storage.data(), kc + 2, 1, bias.data()};
        } else {
          storage.assign(kc * (mr + 1), kPoison);
          for (size_t i = 0; i < mr; i++)
            for (size_t j = 0; j < kc; j++) storage[j * (mr + 1) + i] = w[i * kc + j];
          weights = {storage.data(), 1, mr + 1, bias.data()};
        }
        const bool use_bias = mode == 0 || layout == Layout::kPacked;
        if (!use_bias) weights.bias = nullptr;
        // One row of slack at the end catches a read past the last row.
        std::vector<float> x = random_vector(kc * x_stride + 1, rng);
        std::vector<float> y((config.mr + 1) * y_stride, kPoison);
        std::vector<float> before = random_vector(mr * nc, rng);
        if (accumulate) {
          for (size_t i = 0; i < mr; i++)
            for (size_t j = 0; j < nc; j++) y[i * y_stride + j] = before[i * nc + j];
        }
        config.ukernel(mr, nc, kc, weights, x.data(), x_stride, y.data(), y_stride,
                       accumulate);
        std::vector<double> want =
            reference(1, 1, mr, kc, nc, x, 0, x_stride, w, use_bias && !accumulate ? bias.data() : nullptr);
        if (accumulate) {
          for (size_t i = 0; i < mr * nc; i++) want[i] += before[i];
        }
        for (size_t i = 0; i < config.mr + 1; i++)
          for (size_t j = 0; j < y_stride; j++) {
            const float got = y[i * y_stride + j];
            const bool inside = i < mr && j < nc;
            if (inside ? !close(got, want[i * nc + j]) : got != kPoison) {
              fail(std::string(config.isa) + " ukernel layout=" +
                   std::to_string(static_cast<int>(layout)) + " mode=" +
                   std::to_string(mode) + " mr=" + std::to_string(mr) +
                   " nc=" + std::to_string(nc) + " kc=" + std::to_string(kc) +
                   " at [" + std::to_string(i) + "][" + std::to_string(j) + "]" +
                   (inside ? " wrong value" : " written outside the tile"));
              return;
            }
          }
      }
}

void test_pack_layout(std::mt19937& rng) {
  // weight stored transposed ([k][groups*m]) to exercise both strides.
  const size_t groups = 3, m = 7, k = 5, mr = 4;
  std::vector<float> wt = random_vector(k * groups * m, rng);
  std::vector<float> bias = random_vector(2 * groups * m, rng);  // stride 2
  std::vector<float> packed(f32_gemm_packed_size(groups, m, k, mr), kPoison);
  const size_t panels = f32_gemm_panel_count(m, mr);
  // Two disjoint ranges, as two threads would pack them.
  f32_gemm_pack_weights(m, k, mr, 0, 2, wt.data(), 1, groups * m, bias.data(), 2, packed.data());
  f32_gemm_pack_weights(m, k, mr, 2, groups * panels, wt.data(), 1, groups * m,
                        bias.data(), 2, packed.data());
  for (size_t g = 0; g < groups; g++)
    for (size_t p = 0; p < panels; p++) {
      const float* panel = packed.data() + (g * panels + p) * (1 + k) * mr;
      for (size_t i = 0; i < mr; i++) {
        const size_t row = p * mr + i, c = g * m + row;
        const float want_bias = row < m ? bias[2 * c] : 0.0f;
        if (panel[i] != want_bias) fail("pack bias g=" + std::to_string(g));
        for (size_t j = 0; j < k; j++) {
          const float want = row < m ? wt[j * groups * m + c] : 0.0f;
          if (panel[(1 + j) * mr + i] != want) fail("pack weight g=" + std::to_string(g));
        }
      }
    }
  std::vector<float> no_bias(f32_gemm_packed_size(1, m, k, mr), kPoison);
  f32_gemm_pack_weights(m, k, mr, 0, panels, wt.data(), 1, m, nullptr, 0, no_bias.data());
  for (size_t p = 0; p < panels; p++)
    for (size_t i = 0; i < mr; i++)
      if (no_bias[p * (1 + k) * mr + i] != 0.0f) fail("pack without bias is not zero");
}

void test_operator(const F32GemmConfig& config, std::mt19937& rng) {
  struct Case { size_t batch, groups, m, k, length; };
  const Case cases[] = {{1, 1, 1, 1, 1},  {2, 4, 7, 5, 17},   {3, 2, 13, 9, 33},
                        {1, 4, 48, 48, 128}, {2, 3, 5, 31, 1}, {1, 1, 0, 4, 3}};
  for (const Case& t : cases) {
    // x with gaps: channel stride length + 2, batch stride one channel more.
    const size_t xcs = t.length + 2, xbs = (t.groups * t.k + 1) * xcs;
    const size_t ycs = t.length + 1, ybs = t.groups * t.m * ycs + 3;
    std::vector<float> x = random_vector(t.batch * xbs, rng);
    std::vector<float> w = random_vector(t.groups * t.m * t.k, rng);
    std::vector<float> bias = random_vector(t.groups * t.m, rng);
    std::vector<float> packed(f32_gemm_packed_size(t.groups, t.m, t.k, config.mr));
    f32_gemm_pack_weights(t.m, t.k, config.mr, 0, t.groups * f32_gemm_panel_count(t.m, config.mr),
                          w.data(), t.k, 1, bias.data(), 1, packed.data());
    std::vector<float> y(t.batch * ybs, kPoison);
    const GroupedPwConvArgs args{t.batch, t.groups, t.m, t.k, t.length, x.data(), xbs, xcs,
                                 packed.data(), y.data(), ybs, ycs};
    // Run the tasks in two uneven ranges, as two threads would.
    const size_t tasks = grouped_pw_conv_task_count(args, config);
    grouped_pw_conv_run(args, config, 0, tasks / 3);
    grouped_pw_conv_run(args, config, tasks / 3, tasks);
    const std::vector<double> want =
        reference(t.batch, t.groups, t.m, t.k, t.length, x, xbs, xcs, w, bias.data());
    for (size_t i = 0; i < y.size(); i++) {
      const size_t b = i / ybs, c = (i % ybs) / ycs, l = (i % ybs) % ycs;
      const bool inside = b < t.batch && c < t.groups * t.m && l < t.length;
      const bool ok = inside ? close(y[i], want[(b * t.groups * t.m + c) * t.length + l])
                             : y[i] == kPoison;
      if (!ok) {
        fail(std::string(config.isa) + " operator batch=" + std::to_string(t.batch) +
             " groups=" + std::to_string(t.groups) + " m=" + std::to_string(t.m) +
             " k=" + std::to_string(t.k) + " length=" + std::to_string(t.length) +
             (inside ? " wrong value" : " written outside the output"));
        break;
      }
    }
  }
}

}  // namespace

int main() {
  std::mt19937 rng(42);
  test_pack_layout(rng);
  for (const F32GemmConfig& config : f32_gemm_configs()) {
    std::printf("testing %s (%zux%zu)\n", config.isa, config.mr, config.nr);
    test_ukernel(config, rng);
    test_operator(config, rng);
  }
  if (failures) {
    std::fprintf(stderr, "%d failures\n", failures);
    return 1;
  }
  std::printf("all kernel tests passed\n");
  return 0;
}

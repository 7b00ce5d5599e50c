// The f32 GEMM micro-kernels (f32_gemm.h) against float64 math, for every
// mr and nc up to the tile, many kc, strided rows, with and without bias,
// accumulating, with col_scale, and poisoned outputs.
// Cases (tester.h): packed_weights, row_weights, column_weights.
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/f32_gemm_pack.h"
#include "tester.h"

namespace {

using namespace sqbert;
using namespace sqbert_test;

// Weights as the kernels meet them: packed panels, rows of a [m, k] matrix
// read in place, and a [k, m] matrix read transposed (attention's keys).
enum class Layout { kPacked, kRows, kColumns };

template <Layout layout>
void test_gemm(const KernelConfig& config, std::mt19937& rng) {
  const size_t kcs[] = {0, 1, 2, 3, 4, 5, 7, 8, 16, 17, 33, 64, 191};
  // bias, no bias, accumulate; then bias and accumulate with col_scale
  for (int mode = 0; mode < 5; mode++)
  for (size_t kc : kcs)
    for (size_t mr = 1; mr <= config.mr; mr++)
      for (size_t nc = 1; nc <= config.nr; nc++) {
        const bool accumulate = mode == 2 || mode == 4;
        // Every operand holds exactly what the kernel may touch, between
        // guard pages: a read or write past either end faults.
        Buffer col_scale = random_vector(mode >= 3 ? nc : 0, rng);
        const size_t x_stride = nc + 3, y_stride = nc + 5;
        Buffer w = random_vector(mr * kc, rng);  // [mr][kc]
        Buffer bias = random_vector(mr, rng);
        Buffer storage;
        F32GemmWeights weights{};
        if (layout == Layout::kPacked) {
          Buffer panel(f32_gemm_packed_size(1, mr, kc, config.mr));
          f32_gemm_pack_weights(mr, kc, config.mr, 0, 1, w.data(), kc, 1,
                                bias.data(), 1, panel.data());
          // The panel up to row mr - 1 of its last k step (bias first): the
          // zero rows of a partial panel past it are not the kernel's to read.
          storage = Buffer(std::vector<float>(panel.begin(), panel.begin() + kc * config.mr + mr));
          weights = {storage.data() + config.mr, 1, config.mr, storage.data()};
        } else if (layout == Layout::kRows) {
          // Row stride kc + 2: the gaps hold poison that must not be read in.
          storage.assign(extent(1, 0, mr, kc + 2, kc), kPoison);
          for (size_t i = 0; i < mr; i++)
            for (size_t j = 0; j < kc; j++) storage[i * (kc + 2) + j] = w[i * kc + j];
          weights = {storage.data(), kc + 2, 1, bias.data()};
        } else {
          storage.assign(extent(1, 0, kc, mr + 1, mr), kPoison);
          for (size_t i = 0; i < mr; i++)
            for (size_t j = 0; j < kc; j++) storage[j * (mr + 1) + i] = w[i * kc + j];
          weights = {storage.data(), 1, mr + 1, bias.data()};
        }
        const bool use_bias = mode == 0 || mode == 3 || layout == Layout::kPacked;
        if (!use_bias) weights.bias = nullptr;
        // The kc x nc block and nothing past it: the guard page catches a
        // read past the last row.
        Buffer x = random_vector(extent(1, 0, kc, x_stride, nc), rng);
        // mr rows of y, the gaps between them poisoned; a write to a row past
        // mr lands on the guard page.
        Buffer y(extent(1, 0, mr, y_stride, nc), kPoison);
        Buffer before = random_vector(mr * nc, rng);
        if (accumulate) {
          for (size_t i = 0; i < mr; i++)
            for (size_t j = 0; j < nc; j++) y[i * y_stride + j] = before[i * nc + j];
        }
        config.gemm(mr, nc, kc, weights, x.data(), x_stride, y.data(), y_stride,
                    F32GemmEpilogue{accumulate, col_scale.empty() ? nullptr : col_scale.data()});
        std::vector<double> want =
            reference(1, 1, mr, kc, nc, x, 0, x_stride, w, use_bias && !accumulate ? bias.data() : nullptr);
        if (accumulate) {
          for (size_t i = 0; i < mr * nc; i++) want[i] += before[i];
        }
        if (!col_scale.empty()) {
          for (size_t i = 0; i < mr * nc; i++) want[i] *= col_scale[i % nc];
        }
        for (size_t i = 0; i < config.mr + 1; i++)
          for (size_t j = 0; j < y_stride && i * y_stride + j < y.size(); j++) {
            const float got = y[i * y_stride + j];
            const bool inside = i < mr && j < nc;
            if (inside ? !close(got, want[i * nc + j]) : got != kPoison) {
              fail(std::string(config.isa) + " gemm mode=" +
                   std::to_string(mode) + " mr=" + std::to_string(mr) +
                   " nc=" + std::to_string(nc) + " kc=" + std::to_string(kc) +
                   " at [" + std::to_string(i) + "][" + std::to_string(j) + "]" +
                   (inside ? " wrong value" : " written outside the tile"));
              return;
            }
          }
      }
}

}  // namespace

int main(int argc, char** argv) {
  return run_cases(argc, argv, {{"packed_weights", test_gemm<Layout::kPacked>},
                                {"row_weights", test_gemm<Layout::kRows>},
                                {"column_weights", test_gemm<Layout::kColumns>}});
}

// Weight packing for the GEMM micro-kernels (f32_gemm_pack.h): the panel
// layout from transposed weights and a strided bias, packed in two disjoint
// ranges, and without bias. No kernel runs: registered with ISA "-".
// Cases (tester.h): layout.
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

void test_pack_layout(const KernelConfig&, std::mt19937& rng) {
  // weight stored transposed ([k][groups*m]) to exercise both strides.
  const size_t groups = 3, m = 7, k = 5, mr = 4;
  Buffer wt = random_vector(k * groups * m, rng);
  Buffer bias = random_vector(2 * groups * m - 1, rng);  // stride 2, up to the last one
  Buffer packed(f32_gemm_packed_size(groups, m, k, mr), kPoison);
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
  Buffer no_bias(f32_gemm_packed_size(1, m, k, mr), kPoison);
  f32_gemm_pack_weights(m, k, mr, 0, panels, wt.data(), 1, m, nullptr, 0, no_bias.data());
  for (size_t p = 0; p < panels; p++)
    for (size_t i = 0; i < mr; i++)
      if (no_bias[p * (1 + k) * mr + i] != 0.0f) fail("pack without bias is not zero");
}

}  // namespace

int main(int argc, char** argv) { return run_cases(argc, argv, {{"layout", test_pack_layout}}); }

// The GELU micro-kernels (f32_vgelu.h) against float64 erf GELU, in place
// over strided rows with poisoned gaps, including +-inf and large |x|.
// Cases (tester.h): rows.
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>


#include "tester.h"

namespace {

using namespace sqbert;
using namespace sqbert_test;

void test_vgelu(const KernelConfig& config, std::mt19937& rng) {
  for (size_t rows = 1; rows <= 3; rows++)
    for (size_t n = 0; n <= 41; n++) {
      const size_t stride = n + 2;  // two poisoned floats between rows, none after the last
      Buffer x = random_vector(extent(1, 0, rows, stride, n), rng);
      for (size_t i = 0; i < x.size(); i++) {
        if (i % stride >= n) x[i] = kPoison;
        else x[i] *= float(i % 7) * 3.0f;  // 0 and |x| up to 18
      }
      if (n > 3) x[3] = -1e4f;
      // torch's gelu: inf at +inf, NaN at -inf.
      if (n > 5) x[4] = std::numeric_limits<float>::infinity(), x[5] = -x[4];
      const Buffer x0 = x;
      config.vgelu(rows, n, x.data(), stride);
      for (size_t i = 0; i < x.size(); i++) {
        const double want = i % stride < n ? 0.5 * x0[i] * (1.0 + std::erf(x0[i] / std::sqrt(2.0))) : kPoison;
        const bool ok = std::isnan(want) ? std::isnan(x[i])
                        : std::isinf(want) ? x[i] == want
                                           : std::fabs(x[i] - want) <= 2e-6 * (1.0 + std::fabs(want));
        if (!ok) {
          fail(std::string(config.isa) + " vgelu rows=" + std::to_string(rows) + " n=" + std::to_string(n) +
               " at " + std::to_string(i));
          return;
        }
      }
    }
}

}  // namespace

int main(int argc, char** argv) { return run_cases(argc, argv, {{"rows", test_vgelu}}); }

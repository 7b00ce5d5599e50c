// The online-softmax micro-kernels (f32_online_softmax.h) against float64: block
// sizes, context depths, masks, and lanes that have seen only -inf.
// Cases (tester.h): blocks.
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

void test_online_softmax(const KernelConfig& config, std::mt19937& rng) {
  const size_t nr = config.nr;
  const float ninf = -std::numeric_limits<float>::infinity();
  const size_t bks[] = {1, 2, 5, 8, 16, 97};
  const size_t ds[] = {0, 1, 7, 64};
  for (bool with_mask : {false, true})
  for (size_t bk : bks)
    for (size_t d : ds) {
      Buffer s = random_vector(bk * nr, rng);
      for (float& x : s) x *= 20.0f;
      Buffer m = random_vector(nr, rng), l = random_vector(nr, rng);
      Buffer o = random_vector(d * nr, rng);
      // mask[n][j] with a gap of 3 floats between rows, none after the last
      // row's bk keys; lane 2 masks key 0.
      const size_t mask_stride = bk + 3;
      Buffer mask = random_vector(extent(1, 0, nr, mask_stride, bk), rng);
      if (nr > 2) mask[2 * mask_stride] = ninf;
      for (size_t n = 0; n < nr; n++) l[n] += 2.0f;
      // Lane 0: nothing seen yet. Lane 1: all -inf so far and in this block.
      m[0] = ninf;
      l[0] = 0.0f;
      if (nr > 1) {
        m[1] = ninf;
        l[1] = 0.0f;
        for (size_t j = 0; j < bk; j++) s[j * nr + 1] = ninf;
        for (size_t c = 0; c < d; c++) o[c * nr + 1] = 0.0f;
      }
      const Buffer s0 = s, m0 = m, l0 = l, o0 = o;
      config.online_softmax(bk, d, s.data(), with_mask ? mask.data() : nullptr, mask_stride,
                            m.data(), l.data(), o.data());
      for (size_t n = 0; n < nr; n++) {
        std::vector<double> x(bk);
        double m_new = m0[n];
        for (size_t j = 0; j < bk; j++) {
          x[j] = double(s0[j * nr + n]) + (with_mask ? mask[n * mask_stride + j] : 0.0f);
          m_new = std::max(m_new, x[j]);
        }
        const double ref = std::isinf(m_new) ? 0.0 : m_new;
        const double alpha = std::exp(double(m0[n]) - ref);
        double sum = 0.0;
        bool ok = float(m_new) == m[n];
        for (size_t j = 0; j < bk; j++) {
          const double p = std::exp(x[j] - ref);
          sum += p;
          ok = ok && close(s[j * nr + n], p);
        }
        ok = ok && close(l[n], l0[n] * alpha + sum);
        for (size_t c = 0; c < d; c++) ok = ok && close(o[c * nr + n], o0[c * nr + n] * alpha);
        if (!ok) {
          fail(std::string(config.isa) + " online_softmax bk=" + std::to_string(bk) +
               " d=" + std::to_string(d) + (with_mask ? " masked" : "") + " lane " +
               std::to_string(n));
          return;
        }
      }
    }
}

}  // namespace

int main(int argc, char** argv) { return run_cases(argc, argv, {{"blocks", test_online_softmax}}); }

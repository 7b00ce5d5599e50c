// LayerNorm over the channels of NCW activations (layernorm_ncw.h and the
// f32_layernorm.h micro-kernels) against float64, with and without the
// residual, in and out of place; and positions whose channels are all equal,
// where the exact result is beta bit for bit.
// Cases (tester.h): random, constant_rows.
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "operators/layernorm_ncw.h"
#include "tester.h"

namespace {

using namespace sqbert;
using namespace sqbert_test;

void test_layernorm(const KernelConfig& config, std::mt19937& rng) {
  // Lengths: one position, vector tails, and three blocks (the last partial).
  for (size_t length : {size_t(1), size_t(7), size_t(45), size_t(300)})
    for (bool with_residual : {true, false})
      for (bool in_place : {false, true}) {
        const size_t batch = 2, channels = 37;
        const size_t xcs = length + 1, xbs = channels * xcs + 2;
        const size_t ycs = in_place ? xcs : length + 3, ybs = in_place ? xbs : channels * ycs;
        // Each operand ends at the last position of its last row.
        const size_t x_size = extent(batch, xbs, channels, xcs, length);
        Buffer x = random_vector(x_size, rng), r = random_vector(x_size, rng);
        for (float& v : x) v = 4.0f + 2.0f * v;  // far from zero mean
        Buffer gamma = random_vector(channels, rng), beta = random_vector(channels, rng);
        Buffer y_out(in_place ? 0 : extent(batch, ybs, channels, ycs, length), kPoison);
        const Buffer x0 = x;
        float* y = in_place ? x.data() : y_out.data();
        const size_t y_size = in_place ? x.size() : y_out.size();
        LayerNormNcwArgs args{batch, channels, length, x.data(), xbs, xcs,
                              with_residual ? r.data() : nullptr, xbs, xcs,
                              gamma.data(), beta.data(), 1e-5f, y, ybs, ycs};
        const size_t tasks = layernorm_ncw_task_count(args);
        layernorm_ncw_run(args, config, 0, 1);
        layernorm_ncw_run(args, config, 1, tasks);
        bool ok = true;
        for (size_t b = 0; b < batch && ok; b++)
          for (size_t l = 0; l < ycs && ok; l++) {
            auto z = [&](size_t c) {
              return x0[b * xbs + c * xcs + l] + (with_residual ? double(r[b * xbs + c * xcs + l]) : 0.0);
            };
            double mean = 0, var = 0;
            for (size_t c = 0; c < channels && l < length; c++) mean += z(c);
            mean /= channels;
            for (size_t c = 0; c < channels && l < length; c++) var += (z(c) - mean) * (z(c) - mean);
            const double rstd = 1.0 / std::sqrt(var / channels + 1e-5);
            for (size_t c = 0; c < channels && ok && b * ybs + c * ycs + l < y_size; c++) {
              const float got = y[b * ybs + c * ycs + l];
              // Past the length: untouched (poison, or x itself in place).
              const float untouched = in_place ? x0[b * xbs + c * xcs + l] : kPoison;
              ok = l < length ? close(got, (z(c) - mean) * rstd * gamma[c] + beta[c]) : got == untouched;
            }
          }
        if (!ok) {
          fail(std::string(config.isa) + " layernorm length=" + std::to_string(length) +
               (with_residual ? " residual" : "") + (in_place ? " in place" : ""));
        }
      }
}

// Positions where every channel of z = x + r is the same value: the exact
// LayerNorm there is beta, bit for bit (the deviation is exactly 0), at any
// eps, whatever the value; a float32 mean that misses it by one rounding
// gives +-gamma instead (d / sqrt(d^2 + eps) = +-1 when d^2 >> eps). Random
// positions in between are held to float64 as in test_layernorm.
void test_layernorm_constant_rows(const KernelConfig& config, std::mt19937& rng) {
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_int_distribution<int> eighths(-64, 64);
  const float values[] = {0.0f, 1.0f, -3.7f, 1e4f, 123.456f};
  for (size_t length : {size_t(1), size_t(7), size_t(45), size_t(300)})
    for (size_t channels : {size_t(768), size_t(37)})
      for (bool with_residual : {true, false})
        for (float eps : {1e-12f, 1e-5f}) {
          const size_t batch = 2;
          const size_t xcs = length + 1, xbs = channels * xcs + 2;
          const size_t ycs = length + 3, ybs = channels * ycs;
          std::vector<float> x(batch * xbs), r(batch * xbs), gamma(channels), beta(channels);
          for (float& v : x) v = 4.0f + 2.0f * unit(rng);  // far from zero mean
          for (float& v : r) v = unit(rng);
          for (float& v : gamma) v = unit(rng);
          for (float& v : beta) v = unit(rng);
          // Every third position is constant (position 0, vector tails and
          // whole steps among them), its kind cycling through the values and
          // a residual that makes x + r constant while x alone is not.
          auto constant = [](size_t l) { return l % 3 == 0; };
          for (size_t b = 0; b < batch; b++)
            for (size_t l = 0; l < length; l++) {
              if (!constant(l)) continue;
              const size_t kind = (l / 3 + b) % 6;
              for (size_t c = 0; c < channels; c++) {
                float& xv = x[b * xbs + c * xcs + l];
                float& rv = r[b * xbs + c * xcs + l];
                if (kind < 5) {
                  xv = values[kind];
                  rv = 0.5f;  // z = fl(v + 0.5), the same at every channel
                } else if (with_residual) {
                  xv = 0.125f * eighths(rng);  // x + r = 2.75 exactly
                  rv = 2.75f - xv;
                } else {
                  xv = 2.75f;
                }
              }
            }
          std::vector<float> y(batch * ybs, kPoison);
          LayerNormNcwArgs args{batch, channels, length, x.data(), xbs, xcs,
                                with_residual ? r.data() : nullptr, xbs, xcs,
                                gamma.data(), beta.data(), eps, y.data(), ybs, ycs};
          layernorm_ncw_run(args, config, 0, layernorm_ncw_task_count(args));
          size_t wrong_constant = 0, wrong_random = 0, first_bad = size_t(-1);
          for (size_t b = 0; b < batch; b++)
            for (size_t l = 0; l < ycs; l++) {
              auto z = [&](size_t c) {
                return x[b * xbs + c * xcs + l] + (with_residual ? double(r[b * xbs + c * xcs + l]) : 0.0);
              };
              double mean = 0, var = 0;
              for (size_t c = 0; c < channels && l < length; c++) mean += z(c);
              mean /= channels;
              for (size_t c = 0; c < channels && l < length; c++) var += (z(c) - mean) * (z(c) - mean);
              const double rstd = 1.0 / std::sqrt(var / channels + double(eps));
              bool ok = true;
              for (size_t c = 0; c < channels; c++) {
                const float got = y[b * ybs + c * ycs + l];
                if (l >= length) {
                  ok = ok && got == kPoison;
                } else if (constant(l)) {
                  // Bit for bit: the same value and sign (beta is never 0 here).
                  ok = ok && got == beta[c] && std::signbit(got) == std::signbit(beta[c]);
                } else {
                  ok = ok && close(got, (z(c) - mean) * rstd * gamma[c] + beta[c]);
                }
              }
              if (!ok) {
                (l < length && constant(l) ? wrong_constant : wrong_random)++;
                if (first_bad == size_t(-1)) first_bad = l;
              }
            }
          if (wrong_constant + wrong_random) {
            fail(std::string(config.isa) + " layernorm constant rows length=" + std::to_string(length) +
                 " channels=" + std::to_string(channels) + (with_residual ? " residual" : "") +
                 (eps < 1e-6f ? " eps=1e-12: " : " eps=1e-5: ") + std::to_string(wrong_constant) +
                 " constant positions not beta, " + std::to_string(wrong_random) +
                 " other positions wrong, first at l=" + std::to_string(first_bad));
          }
        }
}

}  // namespace

int main(int argc, char** argv) {
  return run_cases(argc, argv, {{"random", test_layernorm}, {"constant_rows", test_layernorm_constant_rows}});
}

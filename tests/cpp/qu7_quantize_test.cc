// The activation quantizers (qs8_gemm.h, f32_qu7_quantize_ukernel_fn)
// against the scalar reference, byte for byte and bit for bit, for every nc
// up to the ISA's nr, many kc, strided rows and inputs that probe every
// rule: zeros, one sign, constants, NaN, infinities, a span past float's
// range, denormals, exact ties, -0.0. Plus the scheme itself in float64.
// Cases (tester.h): matches_scalar, scheme.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "tester.h"

namespace {

using namespace sqbert;
using namespace sqbert_test;

constexpr size_t kKcs[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 192, 768};

enum Input {
  kRandom, kZero, kPositive, kNegative, kConstantRows, kConstantPositions, kNaN, kPosInf, kNegInf,
  kHuge, kDenormal, kTies, kNegZero, kInputs
};

// x[k][n] at k * x_stride + n; the gaps between rows hold NaN, which a
// kernel reading past nc would carry into its min and max.
Buffer make_input(Input input, size_t kc, size_t nc, size_t x_stride, std::mt19937& rng) {
  const float inf = std::numeric_limits<float>::infinity();
  Buffer x(extent(1, 0, kc, x_stride, nc), std::numeric_limits<float>::quiet_NaN());
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::uniform_int_distribution<int> pick(0, 127);
  std::vector<float> position_offset(nc), row_value(kc);
  for (float& v : position_offset) v = 2 * u(rng);
  for (float& v : row_value) v = u(rng);
  const size_t special = nc ? rng() % nc : 0, special_k = kc ? rng() % kc : 0;
  for (size_t k = 0; k < kc; k++)
    for (size_t n = 0; n < nc; n++) {
      float& v = x[k * x_stride + n];
      const float r = u(rng);
      switch (input) {
        case kRandom: v = r * (1 + n) + position_offset[n]; break;
        case kZero: v = 0.0f; break;
        case kPositive: v = std::fabs(r) + 0.25f; break;
        case kNegative: v = -std::fabs(r) - 0.25f; break;
        case kConstantRows: v = row_value[k]; break;
        case kConstantPositions: v = position_offset[n]; break;
        case kNaN: case kPosInf: case kNegInf: case kHuge: v = r; break;
        case kDenormal:  // the range a denormal: 127 / range is inf
          v = (n % 2 ? std::fabs(r) : r) * 1e-39f;
          break;
        case kTies: {
          // Range 127 * 2^e with its ends at -63.5 and 63.5 (times 2^e):
          // inv = 2^-e, so x * inv is exactly an integer + 0.5, as is -lo.
          const float h = std::ldexp(1.0f, static_cast<int>(n % 5) - 2);
          v = (k == 0 ? -63.5f : k == 1 ? 63.5f : static_cast<float>(pick(rng) - 64) + 0.5f) * h;
          break;
        }
        case kNegZero: v = k % 3 == 0 ? -0.0f : (n % 2 ? std::fabs(r) : -0.0f); break;
        case kInputs: break;
      }
    }
  if (kc == 0 || nc == 0) return x;
  float& s = x[special_k * x_stride + special];
  if (input == kNaN) s = std::numeric_limits<float>::quiet_NaN();
  if (input == kPosInf) s = inf;
  if (input == kNegInf) s = -inf;
  if (input == kHuge) {
    s = 3e38f;
    x[(kc - 1 - special_k) * x_stride + special] = kc > 1 ? -3e38f : s;
  }
  return x;
}

struct Quantized {
  GuardedBuffer<uint8_t> xq;
  Buffer x_scale;
  GuardedBuffer<int32_t> x_zero;
};

// Outputs poisoned: every byte of them is the kernel's to write.
Quantized quantize(f32_qu7_quantize_ukernel_fn fn, size_t kc, size_t nc, size_t nr, const Buffer& x,
                   size_t x_stride) {
  Quantized q{GuardedBuffer<uint8_t>(qu7_block_bytes(nr, kc), 0xA5), Buffer(nr, kPoison),
              GuardedBuffer<int32_t>(nr, -12345)};
  fn(kc, nc, nr, x.data(), x_stride, q.xq.data(), q.x_scale.data(), q.x_zero.data());
  return q;
}

std::string where(Input input, size_t kc, size_t nc) {
  return "input=" + std::to_string(input) + " kc=" + std::to_string(kc) + " nc=" + std::to_string(nc);
}

void test_matches_scalar(const Qs8KernelConfig& config, std::mt19937& rng) {
  const size_t nr = config.nr;
  for (int input = 0; input < kInputs; input++)
    for (size_t kc : kKcs)
      for (size_t nc = 1; nc <= nr; nc++) {
        const size_t x_stride = nc + 1 + nc % 3;
        const Buffer x = make_input(Input(input), kc, nc, x_stride, rng);
        const Quantized got = quantize(config.quantize, kc, nc, nr, x, x_stride);
        const Quantized want = quantize(f32_qu7_quantize__scalar, kc, nc, nr, x, x_stride);
        const std::string at = std::string(config.isa) + " " + where(Input(input), kc, nc);
        for (size_t i = 0; i < want.xq.size(); i++)
          if (got.xq[i] != want.xq[i]) {
            fail(at + " xq byte " + std::to_string(i) + ": " + std::to_string(got.xq[i]) + " want " +
                 std::to_string(want.xq[i]));
            break;
          }
        for (size_t n = 0; n < nr; n++) {
          if (std::memcmp(&got.x_scale[n], &want.x_scale[n], sizeof(float)) != 0) {
            fail(at + " x_scale[" + std::to_string(n) + "] " + std::to_string(got.x_scale[n]) + " want " +
                 std::to_string(want.x_scale[n]));
          }
          if (got.x_zero[n] != want.x_zero[n]) {
            fail(at + " x_zero[" + std::to_string(n) + "] " + std::to_string(got.x_zero[n]) + " want " +
                 std::to_string(want.x_zero[n]));
          }
        }
      }
}

// The header's formulas in float64, where rounding cannot make a
// difference: the scale, the dequantization error, the zero point's
// exactness for 0, and the non-finite rule.
void test_scheme(const Qs8KernelConfig& config, std::mt19937& rng) {
  const size_t nr = config.nr;
  for (Input input : {kRandom, kZero, kPositive, kNegative, kConstantRows, kConstantPositions, kNaN, kPosInf,
                      kNegInf, kHuge, kTies, kNegZero})
    for (size_t kc : kKcs)
      for (size_t nc = 1; nc <= nr; nc++) {
        const size_t x_stride = nc + 2;
        const Buffer x = make_input(input, kc, nc, x_stride, rng);
        const Quantized q = quantize(config.quantize, kc, nc, nr, x, x_stride);
        const std::string at = std::string(config.isa) + " " + where(input, kc, nc);
        for (size_t n = 0; n < nc; n++) {
          double lo = 0, hi = 0;
          bool finite = true;
          for (size_t k = 0; k < kc; k++) {
            const double v = x[k * x_stride + n];
            finite = finite && std::isfinite(v);
            lo = std::min(lo, v);
            hi = std::max(hi, v);
          }
          finite = finite && hi - lo <= std::numeric_limits<float>::max();
          const float s = q.x_scale[n];
          const int32_t z = q.x_zero[n];
          auto xq = [&](size_t k) { return q.xq[(k / kQs8Kr * nr + n) * kQs8Kr + k % kQs8Kr]; };
          if (!finite) {
            bool zeros = z == 0;
            for (size_t k = 0; k < kc; k++) zeros = zeros && xq(k) == 0;
            if (!std::isnan(s) || !zeros) fail(at + " position " + std::to_string(n) + " not finite: want NaN, 0, 0");
            continue;
          }
          const double range = hi - lo;
          if (std::fabs(s - range / 127) > 1e-6 * range / 127 || z < 0 || z > 127) {
            fail(at + " position " + std::to_string(n) + " scale " + std::to_string(s) + " zero " +
                 std::to_string(z));
            continue;
          }
          for (size_t k = 0; k < kc; k++) {
            const double v = x[k * x_stride + n], dq = (double(xq(k)) - z) * s;
            // Half a step, plus float32 rounding of inv and the products.
            const bool ok = xq(k) <= 127 && std::fabs(dq - v) <= 0.5 * s + 1e-5 * (std::fabs(v) + range) &&
                            (v != 0 || xq(k) == z);
            if (!ok) {
              fail(at + " position " + std::to_string(n) + " k=" + std::to_string(k) + ": x " + std::to_string(v) +
                   " dequantized " + std::to_string(dq));
              break;
            }
          }
        }
      }
}

}  // namespace

int main(int argc, char** argv) {
  return run_cases(argc, argv, {{"matches_scalar", test_matches_scalar}, {"scheme", test_scheme}});
}

// The int8 GEMM micro-kernels (qs8_gemm.h) for every mr and nc up to the
// tile and many kc: bit for bit against the contract computed here from the
// packed operands (exact integer sums, then the float epilogue with
// std::fma), exactly float(acc) under an identity epilogue, outputs outside
// the tile left alone, and within the quantization error of float64 math
// on the unquantized inputs.
// Cases (tester.h): random, extremes.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/qs8_gemm_pack.h"
#include "tester.h"

namespace {

using namespace sqbert;
using namespace sqbert_test;

using Bytes = GuardedBuffer<uint8_t>;

constexpr size_t kKcs[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 64, 191, 192, 768};

// One GEMM call's operands, each exactly as large as the contract says.
struct Operands {
  Bytes panel;  // qs8_panel_bytes(MR, kc)
  Bytes x;      // qu7_block_bytes(NR, kc)
  Buffer x_scale;
  GuardedBuffer<int32_t> x_zero;
};

// The panel's header and quantized weights, by the documented layout.
struct Panel {
  size_t mr;
  const uint8_t* p;
  int32_t row_sum(size_t i) const { return load<int32_t>(i * 4); }
  float scale(size_t i) const { return load<float>(4 * mr + i * 4); }
  float bias(size_t i) const { return load<float>(8 * mr + i * 4); }
  int8_t w(size_t i, size_t k) const { return load<int8_t>(12 * mr + (k / kQs8Kr * mr + i) * kQs8Kr + k % kQs8Kr); }
  template <typename T>
  T load(size_t offset) const {
    T v;
    std::memcpy(&v, p + offset, sizeof(T));
    return v;
  }
};

uint8_t block_x(const Bytes& x, size_t nr, size_t k, size_t n) { return x[(k / kQs8Kr * nr + n) * kQs8Kr + k % kQs8Kr]; }

// Runs the kernel on poisoned outputs (row stride past nc) and checks the
// contract's bits, the identity epilogue's exact sums and the poison
// outside the tile. Returns y [mr][nc] for further checks.
std::vector<float> run_and_check(const Qs8KernelConfig& config, size_t mr, size_t nc, size_t kc,
                                 const Operands& op, const std::string& at) {
  const size_t y_stride = nc + 3, kq = (kc + kQs8Kr - 1) / kQs8Kr;
  const Panel panel{config.mr, op.panel.data()};
  // Exact sums over the padded depth, in 64 bits.
  std::vector<int64_t> acc(mr * nc);
  for (size_t i = 0; i < mr; i++) {
    int64_t row_sum = 0;
    for (size_t k = 0; k < kq * kQs8Kr; k++) row_sum += panel.w(i, k);
    if (row_sum != panel.row_sum(i)) fail(at + " packed row_sum wrong (packing)");
    for (size_t n = 0; n < nc; n++)
      for (size_t k = 0; k < kq * kQs8Kr; k++) acc[i * nc + n] += int64_t{panel.w(i, k)} * block_x(op.x, config.nr, k, n);
  }
  // The same operands with scale 1, bias 0, x_scale 1 and x_zero 0.
  Bytes identity_panel(op.panel.size());
  std::memcpy(identity_panel.data(), op.panel.data(), op.panel.size());
  for (size_t i = 0; i < config.mr; i++) {
    const float one = 1.0f, zero = 0.0f;
    std::memcpy(identity_panel.data() + 4 * config.mr + 4 * i, &one, 4);
    std::memcpy(identity_panel.data() + 8 * config.mr + 4 * i, &zero, 4);
  }
  const Buffer ones(config.nr, 1.0f);
  const GuardedBuffer<int32_t> zeros(config.nr, 0);

  std::vector<float> result(mr * nc);
  bool failed = false;
  for (bool identity : {false, true}) {
    Buffer y(extent(1, 0, mr, y_stride, nc), kPoison);
    config.gemm(mr, nc, kc, identity ? identity_panel.data() : op.panel.data(), op.x.data(),
                identity ? ones.data() : op.x_scale.data(), identity ? zeros.data() : op.x_zero.data(), y.data(),
                y_stride);
    for (size_t i = 0; i < mr; i++)
      for (size_t j = 0; j < y_stride && i * y_stride + j < y.size(); j++) {
        const float got = y[i * y_stride + j];
        float want = kPoison;
        if (j < nc) {
          const int64_t a = acc[i * nc + j];
          want = identity ? static_cast<float>(a)
                          : std::fma(static_cast<float>(a - int64_t{op.x_zero[j]} * panel.row_sum(i)),
                                     panel.scale(i) * op.x_scale[j], panel.bias(i));
        }
        if (std::memcmp(&got, &want, sizeof(float)) != 0 && !failed) {
          fail(at + (identity ? " identity epilogue" : "") + " at [" + std::to_string(i) + "][" + std::to_string(j) +
               "]: " + std::to_string(got) + " want " + std::to_string(want) +
               (j < nc ? "" : " (written outside the tile)"));
          failed = true;  // the first of a call
        }
        if (!identity && j < nc) result[i * nc + j] = got;
      }
  }
  return result;
}

std::string where(const Qs8KernelConfig& config, size_t mr, size_t nc, size_t kc) {
  return std::string(config.isa) + " mr=" + std::to_string(mr) + " nc=" + std::to_string(nc) +
         " kc=" + std::to_string(kc);
}

// Random weights with rows of each kind (random, all zero, one large value,
// negative extremes that quantize to -127 and 127) and random activations
// quantized by the ISA's own quantizer; plus float64 math on the
// unquantized inputs within the quantization error.
void test_random(const Qs8KernelConfig& config, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (size_t kc : kKcs)
    for (size_t mr = 1; mr <= config.mr; mr++)
      for (size_t nc = 1; nc <= config.nr; nc++) {
        const std::string at = where(config, mr, nc, kc);
        Buffer w(mr * kc), bias(mr);
        for (size_t i = 0; i < mr; i++) {
          bias[i] = u(rng);
          const size_t kind = (i + nc + kc) % 4, big = kc ? rng() % kc : 0;
          for (size_t k = 0; k < kc; k++) {
            float& v = w[i * kc + k];
            v = kind == 0 ? u(rng) : kind == 1 ? 0.0f : kind == 2 ? (k == big ? -50.0f : 0.01f * u(rng))
                : (k % 2 ? 3.0f : -3.0f) * (k % 3 ? 1.0f : 0.5f);
          }
        }
        Operands op{Bytes(qs8_panel_bytes(config.mr, kc)), Bytes(qu7_block_bytes(config.nr, kc)),
                    Buffer(config.nr), GuardedBuffer<int32_t>(config.nr)};
        qs8_gemm_pack_weights(mr, kc, config.mr, 0, 1, w.data(), kc, 1, bias.data(), 1, op.panel.data(), 0);
        // Positions of different spans and offsets: zero points all over.
        const size_t x_stride = nc + 2;
        Buffer x(extent(1, 0, kc, x_stride, nc));
        for (size_t k = 0; k < kc; k++)
          for (size_t n = 0; n < nc; n++) x[k * x_stride + n] = u(rng) * (1 + n) + 0.5f * (n % 5) - 1.0f;
        config.quantize(kc, nc, config.nr, x.data(), x_stride, op.x.data(), op.x_scale.data(), op.x_zero.data());

        const std::vector<float> y = run_and_check(config, mr, nc, kc, op, at);
        const Panel panel{config.mr, op.panel.data()};
        for (size_t i = 0; i < mr; i++)
          for (size_t n = 0; n < nc; n++) {
            // w = (wq + ew) sw with |ew| <= 1/2, x = (xq - z + ex) sx with
            // |ex| <= 1/2 (the zero point's rounding cancels): the error is
            // at most sum |w| sx / 2 + |x| sw / 2 + sw sx / 4, plus float32
            // rounding.
            const double sw = panel.scale(i), sx = op.x_scale[n];
            double want = bias[i], bound = 0, magnitude = std::fabs(bias[i]);
            for (size_t k = 0; k < kc; k++) {
              const double wk = w[i * kc + k], xk = x[k * x_stride + n];
              want += wk * xk;
              bound += std::fabs(wk) * sx * 0.5 + std::fabs(xk) * sw * 0.5 + sw * sx * 0.25;
              magnitude += std::fabs(wk * xk);
            }
            if (!(std::fabs(y[i * nc + n] - want) <= 1.001 * bound + 1e-5 * magnitude + 1e-6)) {
              fail(at + " end to end at [" + std::to_string(i) + "][" + std::to_string(n) + "]: " +
                   std::to_string(y[i * nc + n]) + " want " + std::to_string(want) + " +- " + std::to_string(bound));
              return;
            }
          }
      }
}

// The largest sums: xq = 127 everywhere (nc positions) against weights of
// all 127, all -127 and alternating signs, with random zero points, scales
// and biases.
void test_extremes(const Qs8KernelConfig& config, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(0.01f, 2.0f);
  for (size_t kc : kKcs)
    for (size_t mr = 1; mr <= config.mr; mr++)
      for (size_t nc = 1; nc <= config.nr; nc++) {
        Buffer w(mr * kc), bias(mr);
        for (size_t i = 0; i < mr; i++) {
          bias[i] = u(rng) - 1.0f;
          const float s = u(rng);
          for (size_t k = 0; k < kc; k++) w[i * kc + k] = (i % 3 == 0 ? s : i % 3 == 1 ? -s : (k % 2 ? s : -s));
        }
        Operands op{Bytes(qs8_panel_bytes(config.mr, kc)), Bytes(qu7_block_bytes(config.nr, kc), 0),
                    Buffer(config.nr, 0.0f), GuardedBuffer<int32_t>(config.nr, 0)};
        qs8_gemm_pack_weights(mr, kc, config.mr, 0, 1, w.data(), kc, 1, bias.data(), 1, op.panel.data(), 0);
        for (size_t k = 0; k < kc; k++)
          for (size_t n = 0; n < nc; n++) op.x[(k / kQs8Kr * config.nr + n) * kQs8Kr + k % kQs8Kr] = 127;
        for (size_t n = 0; n < nc; n++) {
          op.x_scale[n] = u(rng);
          op.x_zero[n] = static_cast<int32_t>(rng() % 128);
        }
        run_and_check(config, mr, nc, kc, op, where(config, mr, nc, kc));
      }
}

}  // namespace

int main(int argc, char** argv) {
  return run_cases(argc, argv, {{"random", test_random}, {"extremes", test_extremes}});
}

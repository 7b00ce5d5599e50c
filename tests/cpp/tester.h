// The shared pieces of the C++ kernel tests (in the spirit of XNNPACK's
// GemmMicrokernelTester): guarded operands, poison, float64 comparison,
// strided extents, the float64 reference of a grouped 1x1 convolution, and
// failure reporting; plus run_cases(), the main of every *_test.cc.
//
// Each test executable holds the cases of one kernel kind and runs them for
// one ISA in one guard mode:
//
//   gemm_test avx2 tail [CASE...]    every case (or the named ones)
//   gemm_test --list                 the case names
//
// CMakeLists.txt registers one ctest per (kind, ISA, guard mode), named
// kind.isa.mode (gemm.avx2.tail). Every case runs, failed or not, and
// reports each failure (the first 20 of a process in full); the process
// fails if any did. A guard page's segfault ends the process: its output
// (ctest --output-on-failure) then ends with the case's name. An ISA this
// build has but the CPU lacks exits 77, which ctest counts as skipped.
//
// Operands hold exactly what the kernels may touch, between guard pages
// (guarded_buffer.h): flush against the leading one in mode head and the
// trailing one in mode tail, so an access past either end segfaults. Both
// modes run every case on the same data (the generator is seeded per case).
#pragma once

#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "guarded_buffer.h"
#include "kernels/kernel_config.h"

namespace sqbert_test {

// Kernel operands: guard pages flush against one end (guarded_buffer.h).
using Buffer = GuardedBuffer<float>;

// What outputs hold before a kernel runs: anything the kernel should write
// but does not, or should leave but writes, shows.
constexpr float kPoison = 12345.678f;

// Reports a failure of the current case (prefixed with the guard mode).
void fail(const std::string& what);

inline Buffer random_vector(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Buffer v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// float32 against float64; `depth` (the length of the dot products) widens
// the bound for long sums, whose rounding error grows with them.
inline bool close(float got, double want, size_t depth = 0) {
  const double scale = depth > 200 ? depth / 200.0 : 1.0;
  return std::fabs(got - want) <= 1e-5 * scale * (1.0 + std::fabs(want));
}

// Floats from the first element of `outer` blocks (outer_stride apart) of
// `rows` rows (row_stride apart) of n to the last: what a strided operand
// takes when nothing past its last element is allocated. 0 when empty.
inline size_t extent(size_t outer, size_t outer_stride, size_t rows, size_t row_stride, size_t n) {
  if (outer == 0 || rows == 0 || n == 0) return 0;
  return (outer - 1) * outer_stride + (rows - 1) * row_stride + n;
}

// y[b][c][l] in float64 from unpacked weights [groups*m][k] and bias.
template <typename X, typename W>
std::vector<double> reference(size_t batch, size_t groups, size_t m, size_t k,
                              size_t length, const X& x,
                              size_t x_batch_stride, size_t x_channel_stride,
                              const W& w, const float* bias) {
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

// One named case: runs the kernel kind's checks with one ISA's kernels.
struct Case {
  const char* name;
  void (*run)(const sqbert::KernelConfig& config, std::mt19937& rng);
};

// A case of the int8 kernels (ISA names: Qs8KernelConfig.isa).
struct Qs8Case {
  const char* name;
  void (*run)(const sqbert::Qs8KernelConfig& config, std::mt19937& rng);
};

// The main of a test executable (usage above). ISA "-" is for cases that
// use no kernel (weight packing): they get the scalar config.
int run_cases(int argc, char** argv, std::initializer_list<Case> cases);
int run_cases(int argc, char** argv, std::initializer_list<Qs8Case> cases);

}  // namespace sqbert_test

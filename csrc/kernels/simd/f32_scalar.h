// The f32 SIMD layer of the scalar reference: one float a "vector", so the
// algorithm templates compile to plain C++. The names and their meaning are
// those of f32_avx2.h. fmadd fuses only where the target has a fused
// multiply-add instruction (kFma): elsewhere std::fma is a slow library
// call, and the algorithms take the unfused route they have for that.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sqbert {
namespace {

struct F32Scalar {
  using V = float;
  using M = bool;
  using Tail = size_t;  // never used: a width of 1 has no tail
  static constexpr size_t kWidth = 1;
#if defined(__FP_FAST_FMAF)
  static constexpr bool kFma = true;
#else
  static constexpr bool kFma = false;
#endif

  static inline V load(const float* p) { return *p; }
  static inline void store(float* p, V v) { *p = v; }
  static inline Tail tail(size_t count) { return count; }
  static inline V load_tail(const float* p, Tail) { return *p; }
  static inline void store_tail(float* p, Tail, V v) { *p = v; }
  static inline V set1(float a) { return a; }
  static inline V zero() { return 0.0f; }

  static inline V add(V a, V b) { return a + b; }
  static inline V sub(V a, V b) { return a - b; }
  static inline V mul(V a, V b) { return a * b; }
  static inline V fmadd(V a, V b, V c) {
#if defined(__FP_FAST_FMAF)
    return __builtin_fmaf(a, b, c);
#else
    return a * b + c;
#endif
  }
  static inline V div(V a, V b) { return a / b; }
  static inline V sqrt(V a) { return std::sqrt(a); }
  // maxps's rule: b where either is NaN.
  static inline V max(V a, V b) { return a > b ? a : b; }
  static inline V max_nonnan(V a, V b) { return a > b ? a : b; }
  static inline V min(V a, V b) { return a < b ? a : b; }
  static inline V abs(V a) { return std::fabs(a); }

  static inline M eq(V a, V b) { return a == b; }
  static inline V select(M m, V t, V f) { return m ? t : f; }
  static inline V select_sign(V x, V neg, V pos) { return std::signbit(x) ? neg : pos; }
  static inline V shl23(V v) {
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    bits <<= 23;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }

  static inline void add_transposed(size_t bk, float* s, size_t s_stride, const float* a,
                                    size_t) {
    for (size_t j = 0; j < bk; j++) s[j * s_stride] += a[j];
  }
};

}  // namespace
}  // namespace sqbert

// The LayerNorm over channels (f32_layernorm.h: the shifted mean) over a
// SIMD layer S (simd/f32_*.h), written once for every ISA: positions as
// vector lanes, S::kWidth a step along each row segment, the
// tail through the layer's partial loads and stores. Include it after the
// layer's header, inside the file's ISA region; instantiate
// f32_layernorm<S> in the ISA's kernel file.
#pragma once

#include <cstddef>

namespace sqbert {
namespace {

template <class S>
struct LayerNormSteps {
  using V = typename S::V;
  using Tail = typename S::Tail;

  // f(i, tail, is_tail) for each step of kWidth positions of [0, n); tail
  // has the lanes < n in the last, partial step.
  template <typename F>
  static inline void for_steps(size_t n, F f) {
    constexpr size_t W = S::kWidth;
    size_t i = 0;
    for (; i + W <= n; i += W) f(i, Tail{}, false);
    if (i < n) f(i, S::tail(n - i), true);
  }
  static inline V load(const float* p, Tail t, bool tail) {
    return tail ? S::load_tail(p, t) : S::load(p);
  }
  static inline void store(float* p, Tail t, bool tail, V v) {
    if (tail) {
      S::store_tail(p, t, v);
    } else {
      S::store(p, v);
    }
  }
};

template <class S>
inline void f32_layernorm(size_t channels, size_t n, const float* x, size_t x_stride,
                          const float* r, size_t r_stride, const float* gamma, const float* beta,
                          float eps, float* y, size_t y_stride, float* scratch) {
  using V = typename S::V;
  using Tail = typename S::Tail;
  using L = LayerNormSteps<S>;
  if (channels == 0) return;
  float* mean = scratch;      // the sums of z - z0, then the means
  float* rstd = scratch + n;  // z0 (row 0 of z) until the means are in
  // z = x + r into y, and the sums of z - z0 (the shift: f32_layernorm.h).
  // z0 is kept in scratch: read back from y's row 0, among the stores to
  // y's other rows, it was slower. One row a sweep: two (the sums loaded
  // and stored once for both) ran faster on data in cache but slower where
  // the operator's inputs come from memory, as in the model.
  L::for_steps(n, [&](size_t i, Tail m, bool tail) {
    V z = L::load(x + i, m, tail);
    if (r != nullptr) z = S::add(z, L::load(r + i, m, tail));
    L::store(y + i, m, tail, z);
    L::store(rstd + i, m, tail, z);
    L::store(mean + i, m, tail, S::zero());
  });
  for (size_t c = 1; c < channels; c++) {
    const float* xc = x + c * x_stride;
    const float* rc = r != nullptr ? r + c * r_stride : nullptr;
    float* yc = y + c * y_stride;
    L::for_steps(n, [&](size_t i, Tail m, bool tail) {
      V z = L::load(xc + i, m, tail);
      if (r != nullptr) z = S::add(z, L::load(rc + i, m, tail));
      L::store(yc + i, m, tail, z);
      const V dz = S::sub(z, L::load(rstd + i, m, tail));
      L::store(mean + i, m, tail, S::add(L::load(mean + i, m, tail), dz));
    });
  }
  const V inv_c = S::set1(1.0f / static_cast<float>(channels));
  L::for_steps(n, [&](size_t i, Tail m, bool tail) {
    L::store(mean + i, m, tail, S::fmadd(L::load(mean + i, m, tail), inv_c, L::load(rstd + i, m, tail)));
    L::store(rstd + i, m, tail, S::zero());
  });
  // The sums of squared deviations.
  for (size_t c = 0; c < channels; c++) {
    const float* yc = y + c * y_stride;
    L::for_steps(n, [&](size_t i, Tail m, bool tail) {
      const V d = S::sub(L::load(yc + i, m, tail), L::load(mean + i, m, tail));
      L::store(rstd + i, m, tail, S::fmadd(d, d, L::load(rstd + i, m, tail)));
    });
  }
  // Exact 1 / sqrt, not an rsqrt estimate's 8-12 bits: outputs are held to
  // 1e-4 of float64.
  const V e = S::set1(eps), one = S::set1(1.0f);
  L::for_steps(n, [&](size_t i, Tail m, bool tail) {
    const V var = S::fmadd(L::load(rstd + i, m, tail), inv_c, e);
    L::store(rstd + i, m, tail, S::div(one, S::sqrt(var)));
  });
  for (size_t c = 0; c < channels; c++) {
    float* yc = y + c * y_stride;
    const V g = S::set1(gamma[c]), b = S::set1(beta[c]);
    L::for_steps(n, [&](size_t i, Tail m, bool tail) {
      const V d = S::sub(L::load(yc + i, m, tail), L::load(mean + i, m, tail));
      L::store(yc + i, m, tail, S::fmadd(d, S::mul(L::load(rstd + i, m, tail), g), b));
    });
  }
}

}  // namespace
}  // namespace sqbert

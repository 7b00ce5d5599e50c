// The exact GELU (f32_vgelu.h) over a SIMD layer S (simd/f32_*.h), written
// once for every ISA. Include it after the layer's header, inside the
// file's ISA region; instantiate f32_vgelu<S> in the ISA's kernel file.
#pragma once

#include <cstddef>

namespace sqbert {
namespace {

template <class S>
inline typename S::V f32_gelu(typename S::V x) {
  using V = typename S::V;
  // erf(|z|) = 1 - r, r = (1 + a1|z| + ... + a6|z|^6)^-16, z = x / sqrt(2)
  // (Abramowitz & Stegun 7.1.28); gelu = x (1 + sign(x) erf|z|) / 2 =
  // x - x r / 2 for x >= 0, x r / 2 below. Not x (1 + erf z) / 2: in the
  // left tail 1 + erf z cancels, and x r / 2 keeps r's precision (errors
  // against float64: tests/cpp/vgelu_test.cc). The polynomial goes by
  // Estrin's scheme: a short dependency chain, as the kernel runs on tiles
  // of 12 vectors. Past |z| ~ 1e3 the power overflows to inf and r to
  // exactly 0.
  const V t = S::abs(S::mul(x, S::set1(0.70710678f)));
  const V t2 = S::mul(t, t), t4 = S::mul(t2, t2);
  const V q0 = S::fmadd(S::set1(0.0705230784f), t, S::set1(1.0f));
  const V q1 = S::fmadd(S::set1(0.0092705272f), t, S::set1(0.0422820123f));
  V q2 = S::fmadd(S::set1(0.0002765672f), t, S::set1(0.0001520143f));
  q2 = S::fmadd(S::set1(0.0000430638f), t2, q2);
  V p = S::fmadd(q2, t4, S::fmadd(q1, t2, q0));
  p = S::mul(p, p);
  p = S::mul(p, p);
  p = S::mul(p, p);
  p = S::mul(p, p);
  const V half_xr = S::div(S::mul(x, S::set1(0.5f)), p);
  // At x = +inf, half_xr is inf / inf = NaN: max_nonnan(NaN, 0) = 0 keeps
  // gelu(inf) = inf; -inf gives NaN, as torch's gelu does.
  const V positive = S::sub(x, S::max_nonnan(half_xr, S::zero()));
  return S::select_sign(x, half_xr, positive);
}

// x = gelu(x) over `rows` rows of n floats, row r at x + r * stride.
template <class S>
inline void f32_vgelu(size_t rows, size_t n, float* x, size_t stride) {
  constexpr size_t W = S::kWidth;
  const size_t full = n / W * W;
  const typename S::Tail tail = S::tail(n - full);
  for (size_t r = 0; r < rows; r++, x += stride) {
    for (size_t i = 0; i < full; i += W) S::store(x + i, f32_gelu<S>(S::load(x + i)));
    if (full < n) S::store_tail(x + full, tail, f32_gelu<S>(S::load_tail(x + full, tail)));
  }
}

}  // namespace
}  // namespace sqbert

// exp over a SIMD layer S (simd/f32_*.h), written once for every ISA.
// Include it after the layer's header, inside the file's ISA region.
#pragma once

namespace sqbert {
namespace {

// exp(x) in float32 for x <= 0, what the softmax exponentiates (s - max):
// 2^n * p(t) with x = n ln2 + t (XNNPACK's rr1-p5 scheme; relative error
// under 4e-7). n comes from adding a magic bias, whose low mantissa bits
// then hold n + 127, shifted straight into the exponent field: no rounding
// or conversion instructions. x is first raised to -88 (x = -inf included):
// from -87.7 down n = -127 makes that field, and the result, exactly 0. A
// NaN x stays NaN (max returns its second operand then). 8 FMA-pipe
// operations a vector; the two-part ln2 of rr2 and a compare for the
// underflow made 10, and a slower softmax. Without a
// fused multiply-add (S::kFma false: the scalar reference on baseline x86)
// n ln2 is rounded before the subtraction, so ln2 goes in two parts there.
template <class S>
inline typename S::V f32_vexp(typename S::V x) {
  using V = typename S::V;
  const V magic_bias = S::set1(0x1.8000FEp23f);
  x = S::max(S::set1(-88.0f), x);
  V n = S::fmadd(x, S::set1(0x1.715476p+0f), magic_bias);
  const V scale = S::shl23(n);
  n = S::sub(n, magic_bias);
  V t;
  if constexpr (S::kFma) {
    // One-part ln2: its rounding error, |n| * 1.4e-9, is within the bound.
    t = S::fmadd(n, S::set1(-0x1.62E430p-1f), x);
  } else {
    t = S::fmadd(n, S::set1(-0x1.62E400p-1f), x);  // n * ln2_hi is exact
    t = S::fmadd(n, S::set1(-0x1.7F7D1Cp-20f), t);
  }
  V p = S::fmadd(S::set1(0x1.0F9F9Cp-7f), t, S::set1(0x1.573A1Ap-5f));
  p = S::fmadd(p, t, S::set1(0x1.555A80p-3f));
  p = S::fmadd(p, t, S::set1(0x1.FFFDC6p-2f));
  p = S::fmadd(p, t, S::set1(0x1.FFFFF6p-1f));
  return S::fmadd(S::mul(t, scale), p, scale);
}

}  // namespace
}  // namespace sqbert

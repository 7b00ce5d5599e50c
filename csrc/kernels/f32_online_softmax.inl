// The online softmax (f32_online_softmax.h) over a SIMD layer S (simd/f32_*.h),
// written once for every ISA. Include it after the layer's header, inside
// the file's ISA region; instantiate f32_online_softmax<NR, S> in the
// ISA's kernel file.
#pragma once

#include <cstddef>

#include "f32_vexp.inl"

namespace sqbert {
namespace {

// NR query lanes, S::kWidth at a time; rows of s and o are NR floats apart.
template <size_t NR, class S>
inline void f32_online_softmax(size_t bk, size_t d, float* s, const float* mask,
                               size_t mask_stride, float* m, float* l, float* o) {
  using V = typename S::V;
  constexpr size_t W = S::kWidth;
  static_assert(NR % W == 0, "NR must be a multiple of the vector width");
  for (size_t h = 0; h < NR; h += W) {
    // s[j][h + i] += mask[h + i][j]: the mask's [query][key] rows turned
    // into the scores' [key][query] rows (in registers where S can).
    if (mask != nullptr) S::add_transposed(bk, s + h, NR, mask + h * mask_stride, mask_stride);
    const V m_old = S::load(m + h);
    V m_new = m_old;
    for (size_t j = 0; j < bk; j++) m_new = S::max(m_new, S::load(s + j * NR + h));
    // While every score is -inf, exponentiate against 0: exp(-inf) = 0.
    const V ref = S::select(S::eq(m_new, S::set1(-__builtin_inff())), S::zero(), m_new);
    const V alpha = f32_vexp<S>(S::sub(m_old, ref));
    V sum = S::zero();
    for (size_t j = 0; j < bk; j++) {
      const V p = f32_vexp<S>(S::sub(S::load(s + j * NR + h), ref));
      S::store(s + j * NR + h, p);
      sum = S::add(sum, p);
    }
    S::store(l + h, S::fmadd(S::load(l + h), alpha, sum));
    for (size_t c = 0; c < d; c++) S::store(o + c * NR + h, S::mul(S::load(o + c * NR + h), alpha));
    S::store(m + h, m_new);
  }
}

}  // namespace
}  // namespace sqbert

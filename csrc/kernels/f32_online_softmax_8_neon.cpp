// ARM NEON (AArch64) online softmax over 8 query lanes (two q registers).
// The algorithm: f32_online_softmax.inl.
#if defined(__aarch64__)

#include "f32_online_softmax.h"
#include "simd/f32_neon.h"
#include "f32_online_softmax.inl"

namespace sqbert {

void f32_online_softmax_8__neon(size_t bk, size_t d, float* s, const float* mask,
                                size_t mask_stride, float* m, float* l, float* o) {
  f32_online_softmax<8, F32Neon>(bk, d, s, mask, mask_stride, m, l, o);
}

}  // namespace sqbert

#endif

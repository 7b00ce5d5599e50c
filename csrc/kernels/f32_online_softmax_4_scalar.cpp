// The scalar reference online softmax over 4 query lanes: the algorithm of
// f32_online_softmax.inl, one lane at a time.
#include "f32_online_softmax.h"
#include "simd/f32_scalar.h"
#include "f32_online_softmax.inl"

namespace sqbert {

void f32_online_softmax_4__scalar(size_t bk, size_t d, float* s, const float* mask,
                                  size_t mask_stride, float* m, float* l, float* o) {
  f32_online_softmax<4, F32Scalar>(bk, d, s, mask, mask_stride, m, l, o);
}

}  // namespace sqbert

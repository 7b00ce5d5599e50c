// x86 AVX2+FMA online softmax over 16 query lanes (two ymm per row). The
// algorithm: f32_online_softmax.inl.
#if defined(__x86_64__)

#include <immintrin.h>

#include "f32_online_softmax.h"
#include "isa_target.h"

SQBERT_ISA_BEGIN_AVX2

#include "simd/f32_avx2.h"
#include "f32_online_softmax.inl"

namespace sqbert {

void f32_online_softmax_16__avx2(size_t bk, size_t d, float* s, const float* mask,
                                 size_t mask_stride, float* m, float* l, float* o) {
  f32_online_softmax<16, F32Avx2>(bk, d, s, mask, mask_stride, m, l, o);
}

}  // namespace sqbert

SQBERT_ISA_END

#endif

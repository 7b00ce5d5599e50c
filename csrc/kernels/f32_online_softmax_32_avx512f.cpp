// x86 AVX-512F online softmax over 32 query lanes (two zmm per row). The
// algorithm: f32_online_softmax.inl.
#if defined(__x86_64__)

#include <immintrin.h>

#include "f32_online_softmax.h"
#include "isa_target.h"

SQBERT_ISA_BEGIN_AVX512F

#include "simd/f32_avx512.h"
#include "f32_online_softmax.inl"

namespace sqbert {

void f32_online_softmax_32__avx512f(size_t bk, size_t d, float* s, const float* mask,
                                 size_t mask_stride, float* m, float* l, float* o) {
  f32_online_softmax<32, F32Avx512>(bk, d, s, mask, mask_stride, m, l, o);
}

}  // namespace sqbert

SQBERT_ISA_END

#endif

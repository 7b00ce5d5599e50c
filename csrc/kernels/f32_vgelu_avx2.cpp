// x86 AVX2+FMA exact GELU, 8 floats a step; the tail through masked loads.
// The algorithm: f32_vgelu.inl.
#if defined(__x86_64__)

#include <immintrin.h>

#include "f32_vgelu.h"
#include "isa_target.h"

SQBERT_ISA_BEGIN_AVX2

#include "simd/f32_avx2.h"
#include "f32_vgelu.inl"

namespace sqbert {

void f32_vgelu__avx2(size_t rows, size_t n, float* x, size_t stride) {
  f32_vgelu<F32Avx2>(rows, n, x, stride);
}

}  // namespace sqbert

SQBERT_ISA_END

#endif

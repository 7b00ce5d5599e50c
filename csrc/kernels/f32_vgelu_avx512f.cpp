// x86 AVX-512F exact GELU, 16 floats a step; the tail through masked loads.
// The algorithm: f32_vgelu.inl.
#if defined(__x86_64__)

#include <immintrin.h>

#include "f32_vgelu.h"
#include "isa_target.h"

SQBERT_ISA_BEGIN_AVX512F

#include "simd/f32_avx512.h"
#include "f32_vgelu.inl"

namespace sqbert {

void f32_vgelu__avx512f(size_t rows, size_t n, float* x, size_t stride) {
  f32_vgelu<F32Avx512>(rows, n, x, stride);
}

}  // namespace sqbert

SQBERT_ISA_END

#endif

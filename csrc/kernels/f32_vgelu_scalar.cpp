// The scalar reference exact GELU: the algorithm of f32_vgelu.inl, one
// float at a time.
#include "f32_vgelu.h"
#include "simd/f32_scalar.h"
#include "f32_vgelu.inl"

namespace sqbert {

void f32_vgelu__scalar(size_t rows, size_t n, float* x, size_t stride) {
  f32_vgelu<F32Scalar>(rows, n, x, stride);
}

}  // namespace sqbert

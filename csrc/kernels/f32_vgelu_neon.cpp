// ARM NEON (AArch64) exact GELU, 4 floats a step; the tail lane by lane.
// The algorithm: f32_vgelu.inl.
#if defined(__aarch64__)

#include "f32_vgelu.h"
#include "simd/f32_neon.h"
#include "f32_vgelu.inl"

namespace sqbert {

void f32_vgelu__neon(size_t rows, size_t n, float* x, size_t stride) {
  f32_vgelu<F32Neon>(rows, n, x, stride);
}

}  // namespace sqbert

#endif

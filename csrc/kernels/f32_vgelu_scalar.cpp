#include <cmath>

#include "f32_vgelu.h"

namespace sqbert {

void f32_vgelu__scalar(size_t rows, size_t n, float* x, size_t stride) {
  for (size_t r = 0; r < rows; r++, x += stride) {
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678f));
  }
}

}  // namespace sqbert

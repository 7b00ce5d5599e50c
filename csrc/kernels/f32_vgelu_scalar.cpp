#include <cmath>

#include "f32_vgelu.h"

namespace sqbert {

void f32_vgelu__scalar(size_t n, float* x) {
  for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678f));
}

}  // namespace sqbert

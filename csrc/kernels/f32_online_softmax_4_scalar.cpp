#include <cmath>
#include <limits>

#include "f32_softmax.h"

namespace sqbert {

void f32_online_softmax_4__scalar(size_t bk, size_t d, float* s, const float* mask,
                                  size_t mask_stride, float* m, float* l, float* o) {
  constexpr size_t NR = 4;
  for (size_t n = 0; n < NR; n++) {
    if (mask != nullptr) {
      for (size_t j = 0; j < bk; j++) s[j * NR + n] += mask[n * mask_stride + j];
    }
    float m_new = m[n];
    for (size_t j = 0; j < bk; j++) m_new = s[j * NR + n] > m_new ? s[j * NR + n] : m_new;
    // While every score is -inf, exponentiate against 0: exp(-inf) = 0.
    const float ref = m_new == -std::numeric_limits<float>::infinity() ? 0.0f : m_new;
    const float alpha = std::exp(m[n] - ref);
    float sum = 0.0f;
    for (size_t j = 0; j < bk; j++) {
      s[j * NR + n] = std::exp(s[j * NR + n] - ref);
      sum += s[j * NR + n];
    }
    l[n] = l[n] * alpha + sum;
    for (size_t c = 0; c < d; c++) o[c * NR + n] *= alpha;
    m[n] = m_new;
  }
}

}  // namespace sqbert

// x86 AVX2+FMA LayerNorm over channels: 8 positions a step along each row
// segment, the tail through masked loads.
#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#include <cstdint>

#include "f32_layernorm.h"
#include "isa_target.h"

SQBERT_ISA_BEGIN_AVX2

namespace sqbert {
namespace {

// f(i, mask) for each step of 8 positions of [0, n); mask has the lanes < n.
template <typename F>
inline void for_steps(size_t n, F f) {
  size_t i = 0;
  const __m256i all = _mm256_set1_epi32(-1);
  for (; i + 8 <= n; i += 8) f(i, all, false);
  if (i < n) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    f(i, _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(n - i)), lane), true);
  }
}

inline __m256 load(const float* p, __m256i mask, bool tail) {
  return tail ? _mm256_maskload_ps(p, mask) : _mm256_loadu_ps(p);
}

inline void store(float* p, __m256i mask, bool tail, __m256 v) {
  if (tail) {
    _mm256_maskstore_ps(p, mask, v);
  } else {
    _mm256_storeu_ps(p, v);
  }
}

}  // namespace

void f32_layernorm__avx2(size_t channels, size_t n, const float* x, size_t x_stride,
                         const float* r, size_t r_stride, const float* gamma,
                         const float* beta, float eps, float* y, size_t y_stride,
                         float* scratch) {
  if (channels == 0) return;
  float* mean = scratch;      // the sums of z - z0, then the means
  float* rstd = scratch + n;  // z0 (row 0 of z) until the means are in
  // z = x + r into y, and the sums of z - z0 (the shift: f32_layernorm.h).
  // z0 is kept in scratch: read back from y's row 0, among the stores to
  // y's other rows, it measured 12% slower at 16 positions a call. Rows
  // 1.. go two a sweep, which loads and stores the sums once for both and
  // pays for z0 (C768 L128: the kernel 5-10% faster than with one row a
  // sweep and no shift; benchmarks/cpp/layernorm_ab.sh).
  for_steps(n, [&](size_t i, __m256i m, bool tail) {
    __m256 z = load(x + i, m, tail);
    if (r != nullptr) z = _mm256_add_ps(z, load(r + i, m, tail));
    store(y + i, m, tail, z);
    store(rstd + i, m, tail, z);
    store(mean + i, m, tail, _mm256_setzero_ps());
  });
  size_t c = 1;
  for (; c + 2 <= channels; c += 2) {
    const float* xa = x + c * x_stride;
    const float* xb = xa + x_stride;
    const float* ra = r != nullptr ? r + c * r_stride : nullptr;
    const float* rb = r != nullptr ? ra + r_stride : nullptr;
    float* ya = y + c * y_stride;
    float* yb = ya + y_stride;
    for_steps(n, [&](size_t i, __m256i m, bool tail) {
      __m256 za = load(xa + i, m, tail), zb = load(xb + i, m, tail);
      if (r != nullptr) {
        za = _mm256_add_ps(za, load(ra + i, m, tail));
        zb = _mm256_add_ps(zb, load(rb + i, m, tail));
      }
      store(ya + i, m, tail, za);
      store(yb + i, m, tail, zb);
      const __m256 z0 = load(rstd + i, m, tail);
      const __m256 dz = _mm256_add_ps(_mm256_sub_ps(za, z0), _mm256_sub_ps(zb, z0));
      store(mean + i, m, tail, _mm256_add_ps(load(mean + i, m, tail), dz));
    });
  }
  for (; c < channels; c++) {
    const float* xc = x + c * x_stride;
    const float* rc = r != nullptr ? r + c * r_stride : nullptr;
    float* yc = y + c * y_stride;
    for_steps(n, [&](size_t i, __m256i m, bool tail) {
      __m256 z = load(xc + i, m, tail);
      if (r != nullptr) z = _mm256_add_ps(z, load(rc + i, m, tail));
      store(yc + i, m, tail, z);
      const __m256 dz = _mm256_sub_ps(z, load(rstd + i, m, tail));
      store(mean + i, m, tail, _mm256_add_ps(load(mean + i, m, tail), dz));
    });
  }
  const __m256 inv_c = _mm256_set1_ps(1.0f / static_cast<float>(channels));
  for_steps(n, [&](size_t i, __m256i m, bool tail) {
    store(mean + i, m, tail, _mm256_fmadd_ps(load(mean + i, m, tail), inv_c, load(rstd + i, m, tail)));
    store(rstd + i, m, tail, _mm256_setzero_ps());
  });
  // The sums of squared deviations, two rows a sweep too.
  for (c = 0; c + 2 <= channels; c += 2) {
    const float* ya = y + c * y_stride;
    const float* yb = ya + y_stride;
    for_steps(n, [&](size_t i, __m256i m, bool tail) {
      const __m256 mu = load(mean + i, m, tail);
      const __m256 da = _mm256_sub_ps(load(ya + i, m, tail), mu);
      const __m256 db = _mm256_sub_ps(load(yb + i, m, tail), mu);
      store(rstd + i, m, tail, _mm256_fmadd_ps(db, db, _mm256_fmadd_ps(da, da, load(rstd + i, m, tail))));
    });
  }
  for (; c < channels; c++) {
    const float* yc = y + c * y_stride;
    for_steps(n, [&](size_t i, __m256i m, bool tail) {
      const __m256 d = _mm256_sub_ps(load(yc + i, m, tail), load(mean + i, m, tail));
      store(rstd + i, m, tail, _mm256_fmadd_ps(d, d, load(rstd + i, m, tail)));
    });
  }
  // Exact 1 / sqrt, not rsqrt's 12 bits: outputs are held to 1e-4 of float64.
  const __m256 e = _mm256_set1_ps(eps), one = _mm256_set1_ps(1.0f);
  for_steps(n, [&](size_t i, __m256i m, bool tail) {
    const __m256 var = _mm256_fmadd_ps(load(rstd + i, m, tail), inv_c, e);
    store(rstd + i, m, tail, _mm256_div_ps(one, _mm256_sqrt_ps(var)));
  });
  for (size_t c = 0; c < channels; c++) {
    float* yc = y + c * y_stride;
    const __m256 g = _mm256_broadcast_ss(gamma + c), b = _mm256_broadcast_ss(beta + c);
    for_steps(n, [&](size_t i, __m256i m, bool tail) {
      const __m256 d = _mm256_sub_ps(load(yc + i, m, tail), load(mean + i, m, tail));
      store(yc + i, m, tail, _mm256_fmadd_ps(d, _mm256_mul_ps(load(rstd + i, m, tail), g), b));
    });
  }
}

}  // namespace sqbert

SQBERT_ISA_END

#endif

// The f32 online-softmax micro-kernel contract (FlashAttention's update),
// shared by every ISA. NR query positions are lanes; one call folds a block
// of bk keys into the running state of those queries:
//
//   s[j][n]  (j < bk)  scaled scores in, exp(s + mask - m_new) out
//   mask[n][j]         optional additive mask, row n at mask + n * mask_stride
//                      (keys contiguous, as attention masks are stored; all
//                      NR rows are read), added to s first
//   m[n]               running max, m_new = max(m, max_j s[j][n])
//   l[n]               running sum, l = l * alpha + sum_j exp(s - m_new)
//   o[c][n]  (c < d)   running unnormalised context, o *= alpha
//
// with alpha = exp(m - m_new) and rows of s and o NR floats apart. A lane
// whose scores so far are all -inf keeps m = -inf, l = 0 and o = 0, so a
// fully masked query never turns into NaN. All NR lanes are computed; the
// caller ignores lanes past its queries.
#pragma once

#include <cstddef>

namespace sqbert {

using f32_softmax_ukernel_fn = void (*)(size_t bk, size_t d, float* s, const float* mask,
                                        size_t mask_stride, float* m, float* l, float* o);

void f32_online_softmax_4__scalar(size_t bk, size_t d, float* s, const float* mask,
                                  size_t mask_stride, float* m, float* l, float* o);

#if defined(__x86_64__)
void f32_online_softmax_16__avx2(size_t bk, size_t d, float* s, const float* mask,
                                 size_t mask_stride, float* m, float* l, float* o);
void f32_online_softmax_32__avx512f(size_t bk, size_t d, float* s, const float* mask,
                                    size_t mask_stride, float* m, float* l, float* o);
#endif

#if defined(__aarch64__)
void f32_online_softmax_8__neon(size_t bk, size_t d, float* s, const float* mask,
                                size_t mask_stride, float* m, float* l, float* o);
#endif

}  // namespace sqbert

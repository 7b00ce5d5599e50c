// Weight packing for the f32 GEMM micro-kernels (layout in f32_gemm.h).
#pragma once

#include <cstddef>

namespace sqbert {

// Floats in the packed form of `groups` groups of m x k weights for a
// kernel with `mr` rows: groups * ceil(m / mr) panels of (1 + k) * mr.
size_t f32_gemm_packed_size(size_t groups, size_t m, size_t k, size_t mr);

// Panels in the packed form of one group.
size_t f32_gemm_panel_count(size_t m, size_t mr);

// Packs panels [panel_begin, panel_end) of all groups' panels (group-major;
// disjoint ranges can be packed in parallel) into `packed`, which holds all
// of them. weight[c][j] for output channel c and input j < k sits at
// weight + c * w_stride_c + j * w_stride_k (an nn.Conv1d weight
// [Cout, Cin/groups, 1] as it is). bias[c] at bias + c * b_stride, or none
// when bias is null. Rows past m in a group's last panel are zero.
void f32_gemm_pack_weights(size_t m, size_t k, size_t mr, size_t panel_begin,
                           size_t panel_end, const float* weight,
                           size_t w_stride_c, size_t w_stride_k,
                           const float* bias, size_t b_stride, float* packed);

}  // namespace sqbert

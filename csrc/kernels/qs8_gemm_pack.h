// Weight quantization and packing for the int8 GEMM micro-kernels (scheme
// and layout in qs8_gemm.h).
#pragma once

#include <cstddef>

namespace sqbert {

// Quantizes and packs panels [panel_begin, panel_end) of all groups' panels
// (group-major, ceil(m / mr) a group; disjoint ranges can be packed in
// parallel) into `packed`, whose panels are `group_stride` bytes from one
// group to the next (0: back to back). weight[c][j] for output channel c and
// input j < k sits at weight + c * w_stride_c + j * w_stride_k; bias[c] at
// bias + c * b_stride, or none when bias is null. The weights must be finite.
void qs8_gemm_pack_weights(size_t m, size_t k, size_t mr, size_t panel_begin, size_t panel_end,
                           const float* weight, size_t w_stride_c, size_t w_stride_k, const float* bias,
                           size_t b_stride, void* packed, size_t group_stride);

}  // namespace sqbert

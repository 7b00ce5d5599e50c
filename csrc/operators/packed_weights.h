// The self-describing packed-weight format of the grouped 1x1 convolutions,
// independent of torch.
//
// A packed tensor is bytes [groups, row_bytes]: row g holds the 64-byte
// header below, then group g's weights in the layout of the kernel the
// header names (f32: f32_gemm_pack.h's panels, bias included; qs8:
// qs8_gemm.h's panels, with row sums, scales and bias). Every row
// starts with the same header, so a row's stride is its size and the
// tensor's first dimension is the group count (the fake implementations and
// FLOP formulas read it from the shape). The ops run a packed tensor on the
// kernel it was packed for, whatever set_cpu_isa selects later, and refuse
// one whose header does not describe exactly the bytes it comes with.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "../kernels/kernel_config.h"

namespace sqbert {

constexpr uint32_t kPackedMagic = 0x50425153;  // "SQBP" in little-endian bytes
constexpr uint32_t kPackedFormatVersion = 1;

enum class PackedDtype : uint32_t { kF32 = 1, kQS8 = 2 };

// qs8 headers' reserved words: depth values per packed group, and how the
// activations are quantized (the only scheme: qs8_gemm.h's 7-bit per
// position), so a future scheme's weights are refused, not misread.
enum Qs8Reserved { kQs8ReservedKr = 0, kQs8ReservedScheme = 1 };
constexpr uint32_t kQs8SchemeQu7PerPosition = 1;

struct PackedWeightsHeader {
  uint32_t magic;
  uint32_t version;
  uint32_t header_bytes;
  PackedDtype dtype;
  KernelId kernel;
  uint32_t mr;            // rows per panel
  uint32_t groups;
  uint32_t out_channels;  // all groups'
  uint32_t in_channels;   // per group: the GEMM's depth k
  uint32_t panels;        // per group
  uint32_t has_bias;
  uint32_t reserved[4];   // 0 for f32; qs8: Qs8Reserved
  uint32_t checksum;  // FNV-1a of the fields above: a corrupted header is refused
};
static_assert(sizeof(PackedWeightsHeader) == 64, "the header is one cache line");

// The header of f32 weights for `config`: groups x (out_channels / groups)
// x in_channels. Returns false (and says why in `error`) when a size does
// not fit the format's 32-bit fields.
bool packed_f32_header(const KernelConfig& config, uint64_t groups, uint64_t out_channels,
                       uint64_t in_channels, bool has_bias, PackedWeightsHeader* header,
                       std::string* error);

// As packed_f32_header, for int8 weights quantized for `config`.
bool packed_qs8_header(const Qs8KernelConfig& config, uint64_t groups, uint64_t out_channels,
                       uint64_t in_channels, bool has_bias, PackedWeightsHeader* header,
                       std::string* error);

// Bytes of one group's row: the header and the group's panels.
uint64_t packed_row_bytes(const PackedWeightsHeader& header);

// Checks `bytes` [groups x row_bytes] to be f32 packed weights this build
// and CPU can run, returning their header and kernel; otherwise false, with
// what was expected and what was found in `error`.
bool read_packed_f32_header(const uint8_t* bytes, uint64_t groups, uint64_t row_bytes,
                            PackedWeightsHeader* header, const KernelConfig** config,
                            std::string* error);

// As read_packed_f32_header, for int8 packed weights.
bool read_packed_qs8_header(const uint8_t* bytes, uint64_t groups, uint64_t row_bytes,
                            PackedWeightsHeader* header, const Qs8KernelConfig** config,
                            std::string* error);

// Group g's panels in a packed tensor at `bytes` with rows `row_bytes` apart.
inline const float* packed_group(const uint8_t* bytes, size_t row_bytes, size_t g) {
  return reinterpret_cast<const float*>(bytes + g * row_bytes + sizeof(PackedWeightsHeader));
}

}  // namespace sqbert

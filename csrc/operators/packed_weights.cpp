#include "packed_weights.h"

#include <cstring>
#include <limits>

#include "../kernels/f32_gemm_pack.h"

namespace sqbert {
namespace {

uint32_t checksum(const PackedWeightsHeader& header) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(&header);
  uint32_t hash = 2166136261u;
  for (size_t i = 0; i < offsetof(PackedWeightsHeader, checksum); i++) hash = (hash ^ bytes[i]) * 16777619u;
  return hash;
}

constexpr uint64_t kMaxField = std::numeric_limits<uint32_t>::max();

}  // namespace

uint64_t packed_f32_row_bytes(const PackedWeightsHeader& header) {
  // Fields are 32-bit: (k + 1) * panels * mr * 4 + 64 fits 64 bits.
  return sizeof(PackedWeightsHeader) +
         (uint64_t{header.in_channels} + 1) * header.panels * header.mr * sizeof(float);
}

bool packed_f32_header(const KernelConfig& config, uint64_t groups, uint64_t out_channels,
                       uint64_t in_channels, bool has_bias, PackedWeightsHeader* header,
                       std::string* error) {
  if (groups == 0 || groups > kMaxField || out_channels > kMaxField || in_channels >= kMaxField) {
    *error = "sizes past the packed format's 32-bit fields (groups " + std::to_string(groups) +
             ", out_channels " + std::to_string(out_channels) + ", in_channels per group " +
             std::to_string(in_channels) + ")";
    return false;
  }
  std::memset(header, 0, sizeof(*header));
  header->magic = kPackedMagic;
  header->version = kPackedFormatVersion;
  header->header_bytes = sizeof(PackedWeightsHeader);
  header->dtype = PackedDtype::kF32;
  header->kernel = config.id;
  header->mr = static_cast<uint32_t>(config.mr);
  header->groups = static_cast<uint32_t>(groups);
  header->out_channels = static_cast<uint32_t>(out_channels);
  header->in_channels = static_cast<uint32_t>(in_channels);
  header->panels = static_cast<uint32_t>(f32_gemm_panel_count(out_channels / groups, config.mr));
  header->has_bias = has_bias;
  header->checksum = checksum(*header);
  return true;
}

bool read_packed_f32_header(const uint8_t* bytes, uint64_t groups, uint64_t row_bytes,
                            PackedWeightsHeader* header, const KernelConfig** config,
                            std::string* error) {
  auto fail = [&](const std::string& why) {
    *error = why;
    return false;
  };
  if (groups == 0 || row_bytes < sizeof(PackedWeightsHeader)) {
    return fail("a tensor of shape [groups, 64 + bytes per group] with a packed-weight header, got one of [" +
                std::to_string(groups) + ", " + std::to_string(row_bytes) + "] bytes");
  }
  std::memcpy(header, bytes, sizeof(*header));
  if (header->magic != kPackedMagic) return fail("packed weights from pack_pw_weight, got bytes without its header");
  if (header->version != kPackedFormatVersion || header->header_bytes != sizeof(PackedWeightsHeader)) {
    return fail("packed-weight format version " + std::to_string(kPackedFormatVersion) + ", got version " +
                std::to_string(header->version) + " (pack the weights again with this build)");
  }
  if (header->checksum != checksum(*header)) return fail("packed weights, got a corrupted header (checksum mismatch)");
  if (header->dtype != PackedDtype::kF32) {
    return fail("float32 packed weights, got data type " + std::to_string(static_cast<uint32_t>(header->dtype)));
  }
  *config = kernel_config(header->kernel);
  if (*config == nullptr) {
    return fail("weights packed for a kernel this build and CPU have, got weights packed for " +
                std::string(kernel_name(header->kernel)) + " (pack them again here)");
  }
  if (header->mr != (*config)->mr || header->groups != groups ||
      header->out_channels % header->groups != 0 ||
      header->panels != f32_gemm_panel_count(header->out_channels / header->groups, header->mr)) {
    return fail("a consistent packed-weight header, got one of " + std::to_string(header->groups) + " groups, " +
                std::to_string(header->out_channels) + " output channels in " + std::to_string(header->panels) +
                " panels of " + std::to_string(header->mr) + " rows for the " + (*config)->isa + " kernel (" +
                std::to_string((*config)->mr) + " rows) on " + std::to_string(groups) + " rows of bytes");
  }
  if (packed_f32_row_bytes(*header) != row_bytes) {
    return fail(std::to_string(packed_f32_row_bytes(*header)) + " bytes per group for " +
                std::to_string(header->out_channels / header->groups) + " x " + std::to_string(header->in_channels) +
                " weights per group, got " + std::to_string(row_bytes) + " (truncated or padded)");
  }
  for (uint64_t g = 1; g < groups; g++) {
    if (std::memcmp(bytes + g * row_bytes, bytes, sizeof(PackedWeightsHeader)) != 0) {
      return fail("the same header at the start of every group's row, got a different one in row " +
                  std::to_string(g));
    }
  }
  return true;
}

}  // namespace sqbert

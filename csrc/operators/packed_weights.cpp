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

const char* dtype_name(PackedDtype dtype) {
  switch (dtype) {
    case PackedDtype::kF32: return "float32 packed weights (from pack_pw_weight)";
    case PackedDtype::kQS8: return "int8 packed weights (from quantize_pw_weight)";
  }
  return "packed weights of an unknown data type";
}

uint32_t panel_count(uint64_t m, uint64_t mr) { return static_cast<uint32_t>((m + mr - 1) / mr); }

// The header fields both data types share; checksum last.
bool fill_header(PackedDtype dtype, KernelId kernel, size_t mr, uint64_t groups, uint64_t out_channels,
                 uint64_t in_channels, bool has_bias, PackedWeightsHeader* header, std::string* error) {
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
  header->dtype = dtype;
  header->kernel = kernel;
  header->mr = static_cast<uint32_t>(mr);
  header->groups = static_cast<uint32_t>(groups);
  header->out_channels = static_cast<uint32_t>(out_channels);
  header->in_channels = static_cast<uint32_t>(in_channels);
  header->panels = panel_count(out_channels / groups, mr);
  header->has_bias = has_bias;
  if (dtype == PackedDtype::kQS8) {
    header->reserved[kQs8ReservedKr] = kQs8Kr;
    header->reserved[kQs8ReservedScheme] = kQs8SchemeQu7PerPosition;
  }
  header->checksum = checksum(*header);
  return true;
}

// Checks what does not depend on the kernel: shape, magic, version,
// checksum, data type, the reserved words.
bool read_header(const uint8_t* bytes, uint64_t groups, uint64_t row_bytes, PackedDtype dtype,
                 PackedWeightsHeader* header, std::string* error) {
  auto fail = [&](const std::string& why) {
    *error = why;
    return false;
  };
  if (groups == 0 || row_bytes < sizeof(PackedWeightsHeader)) {
    return fail("a tensor of shape [groups, 64 + bytes per group] with a packed-weight header, got one of [" +
                std::to_string(groups) + ", " + std::to_string(row_bytes) + "] bytes");
  }
  std::memcpy(header, bytes, sizeof(*header));
  if (header->magic != kPackedMagic) return fail("packed weights, got bytes without a packed-weight header");
  if (header->version != kPackedFormatVersion || header->header_bytes != sizeof(PackedWeightsHeader)) {
    return fail("packed-weight format version " + std::to_string(kPackedFormatVersion) + ", got version " +
                std::to_string(header->version) + " (pack the weights again with this build)");
  }
  if (header->checksum != checksum(*header)) return fail("packed weights, got a corrupted header (checksum mismatch)");
  if (header->dtype != dtype) {
    return fail(std::string(dtype_name(dtype)) + ", got " + dtype_name(header->dtype) + " (data type " +
                std::to_string(static_cast<uint32_t>(header->dtype)) + ")");
  }
  const bool qs8 = dtype == PackedDtype::kQS8;
  const uint32_t want_kr = qs8 ? kQs8Kr : 0, want_scheme = qs8 ? kQs8SchemeQu7PerPosition : 0;
  if (header->reserved[kQs8ReservedKr] != want_kr || header->reserved[kQs8ReservedScheme] != want_scheme ||
      header->reserved[2] != 0 || header->reserved[3] != 0) {
    return fail(std::string(dtype_name(dtype)) + " in the quantization scheme of this build, got reserved words " +
                std::to_string(header->reserved[0]) + ", " + std::to_string(header->reserved[1]) + ", " +
                std::to_string(header->reserved[2]) + ", " + std::to_string(header->reserved[3]));
  }
  return true;
}

// Checks the sizes against the kernel (`isa`, `mr` rows) and the tensor.
bool check_geometry(const uint8_t* bytes, uint64_t groups, uint64_t row_bytes, const PackedWeightsHeader& header,
                    const char* isa, size_t mr, std::string* error) {
  auto fail = [&](const std::string& why) {
    *error = why;
    return false;
  };
  if (header.mr != mr || header.groups != groups || header.out_channels % header.groups != 0 ||
      header.panels != panel_count(header.out_channels / header.groups, header.mr)) {
    return fail("a consistent packed-weight header, got one of " + std::to_string(header.groups) + " groups, " +
                std::to_string(header.out_channels) + " output channels in " + std::to_string(header.panels) +
                " panels of " + std::to_string(header.mr) + " rows for the " + isa + " kernel (" +
                std::to_string(mr) + " rows) on " + std::to_string(groups) + " rows of bytes");
  }
  if (packed_row_bytes(header) != row_bytes) {
    return fail(std::to_string(packed_row_bytes(header)) + " bytes per group for " +
                std::to_string(header.out_channels / header.groups) + " x " + std::to_string(header.in_channels) +
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

std::string missing_kernel(const PackedWeightsHeader& header) {
  return "weights packed for a kernel this build and CPU have, got weights packed for " +
         std::string(kernel_name(header.kernel)) + " (pack them again here)";
}

}  // namespace

uint64_t packed_row_bytes(const PackedWeightsHeader& header) {
  // Fields are 32-bit: the products below fit 64 bits.
  const uint64_t k = header.in_channels, panels = header.panels, mr = header.mr;
  const uint64_t panel = header.dtype == PackedDtype::kQS8 ? qs8_panel_bytes(mr, k) : (k + 1) * mr * sizeof(float);
  return sizeof(PackedWeightsHeader) + panels * panel;
}

bool packed_f32_header(const KernelConfig& config, uint64_t groups, uint64_t out_channels,
                       uint64_t in_channels, bool has_bias, PackedWeightsHeader* header,
                       std::string* error) {
  return fill_header(PackedDtype::kF32, config.id, config.mr, groups, out_channels, in_channels, has_bias, header,
                     error);
}

bool packed_qs8_header(const Qs8KernelConfig& config, uint64_t groups, uint64_t out_channels,
                       uint64_t in_channels, bool has_bias, PackedWeightsHeader* header,
                       std::string* error) {
  return fill_header(PackedDtype::kQS8, config.id, config.mr, groups, out_channels, in_channels, has_bias, header,
                     error);
}

bool read_packed_f32_header(const uint8_t* bytes, uint64_t groups, uint64_t row_bytes,
                            PackedWeightsHeader* header, const KernelConfig** config,
                            std::string* error) {
  if (!read_header(bytes, groups, row_bytes, PackedDtype::kF32, header, error)) return false;
  *config = kernel_config(header->kernel);
  if (*config == nullptr) {
    *error = missing_kernel(*header);
    return false;
  }
  return check_geometry(bytes, groups, row_bytes, *header, (*config)->isa, (*config)->mr, error);
}

bool read_packed_qs8_header(const uint8_t* bytes, uint64_t groups, uint64_t row_bytes,
                            PackedWeightsHeader* header, const Qs8KernelConfig** config,
                            std::string* error) {
  if (!read_header(bytes, groups, row_bytes, PackedDtype::kQS8, header, error)) return false;
  *config = qs8_kernel_config(header->kernel);
  if (*config == nullptr) {
    *error = missing_kernel(*header);
    return false;
  }
  return check_geometry(bytes, groups, row_bytes, *header, (*config)->isa, (*config)->mr, error);
}

}  // namespace sqbert

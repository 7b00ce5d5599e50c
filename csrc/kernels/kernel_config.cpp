#include "kernel_config.h"

namespace sqbert {
namespace {

std::vector<KernelConfig> detect() {
  std::vector<KernelConfig> configs;
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    configs.push_back({"avx2", KernelId::kAvx2, f32_gemm_6x16__avx2, 6, 16, f32_online_softmax_16__avx2,
                       f32_vgelu__avx2, f32_layernorm__avx2});
  }
#endif
#if defined(__aarch64__)
  configs.push_back({"neon", KernelId::kNeon, f32_gemm_8x8__neon, 8, 8, f32_online_softmax_8__neon, f32_vgelu__neon,
                     f32_layernorm__neon});
#endif
  configs.push_back({"scalar", KernelId::kScalar, f32_gemm_4x4__scalar, 4, 4, f32_online_softmax_4__scalar,
                     f32_vgelu__scalar, f32_layernorm__scalar});
  return configs;
}

}  // namespace

const std::vector<KernelConfig>& kernel_configs() {
  static const std::vector<KernelConfig> configs = detect();
  return configs;
}

const KernelConfig* kernel_config(const std::string& isa) {
  for (const KernelConfig& config : kernel_configs()) {
    if (isa == config.isa) return &config;
  }
  return nullptr;
}

const KernelConfig* kernel_config(KernelId id) {
  for (const KernelConfig& config : kernel_configs()) {
    if (id == config.id) return &config;
  }
  return nullptr;
}

const char* kernel_name(KernelId id) {
  switch (id) {
    case KernelId::kScalar: return "the scalar kernel (4x4)";
    case KernelId::kAvx2: return "the avx2 kernel (6x16)";
    case KernelId::kNeon: return "the neon kernel (8x8)";
  }
  return "an unknown kernel";
}

}  // namespace sqbert

#include "f32_gemm_config.h"

namespace sqbert {
namespace {

std::vector<F32GemmConfig> detect() {
  std::vector<F32GemmConfig> configs;
#if defined(__x86_64__) || defined(_M_X64)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    configs.push_back({"avx2", f32_gemm_6x16__avx2, 6, 16});
  }
#endif
#if defined(__aarch64__)
  configs.push_back({"neon", f32_gemm_8x8__neon, 8, 8});
#endif
  configs.push_back({"scalar", f32_gemm_4x4__scalar, 4, 4});
  return configs;
}

}  // namespace

const std::vector<F32GemmConfig>& f32_gemm_configs() {
  static const std::vector<F32GemmConfig> configs = detect();
  return configs;
}

const F32GemmConfig* f32_gemm_config(const std::string& isa) {
  for (const F32GemmConfig& config : f32_gemm_configs()) {
    if (isa == config.isa) return &config;
  }
  return nullptr;
}

}  // namespace sqbert

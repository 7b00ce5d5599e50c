#include "kernel_config.h"

#if defined(__aarch64__)
#include <sys/auxv.h>  // getauxval, AT_HWCAP, HWCAP_ASIMDDP
#endif

namespace sqbert {
namespace {

std::vector<KernelConfig> detect() {
  std::vector<KernelConfig> configs;
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    // __builtin_cpu_supports checks that the OS saves the zmm state too.
    if (__builtin_cpu_supports("avx512f")) {
      configs.push_back({"avx512f", KernelId::kAvx512, f32_gemm_8x32__avx512f, 8, 32,
                         f32_online_softmax_32__avx512f, f32_vgelu__avx512f, f32_layernorm__avx512f});
    }
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

std::vector<Qs8KernelConfig> detect_qs8() {
  std::vector<Qs8KernelConfig> configs;
#if defined(__x86_64__)
  // x86 int8 kernels, fastest first.
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    // __builtin_cpu_supports checks that the OS saves the zmm state too.
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vnni")) {
      configs.push_back({"avx512vnni", KernelId::kQs8Avx512Vnni, qs8_gemm_12x32c4__avx512vnni, 12, 32,
                         f32_qu7_quantize__avx2, kernel_config(KernelId::kAvx512)});
    }
    if (__builtin_cpu_supports("avxvnni")) {
      configs.push_back({"avxvnni", KernelId::kQs8AvxVnni, qs8_gemm_6x16c4__avxvnni, 6, 16,
                         f32_qu7_quantize__avx2, kernel_config(KernelId::kAvx2)});
    }
    configs.push_back({"avx2", KernelId::kQs8Avx2, qs8_gemm_4x16c4__avx2, 4, 16, f32_qu7_quantize__avx2,
                       kernel_config(KernelId::kAvx2)});
  }
#endif
#if defined(__aarch64__)
  // aarch64 int8 kernels, fastest first. Both tiles are 8 positions wide, so
  // one quantized block serves either.
  if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) {
    configs.push_back({"neondot", KernelId::kQs8NeonDot, qs8_gemm_8x8c4__neondot, 8, 8, f32_qu7_quantize__neon,
                       kernel_config(KernelId::kNeon)});
  }
  configs.push_back({"neon", KernelId::kQs8Neon, qs8_gemm_4x8c4__neon, 4, 8, f32_qu7_quantize__neon,
                     kernel_config(KernelId::kNeon)});
#endif
  configs.push_back({"scalar", KernelId::kQs8Scalar, qs8_gemm_4x4c4__scalar, 4, 4, f32_qu7_quantize__scalar,
                     kernel_config(KernelId::kScalar)});
  return configs;
}

// The config of `configs` named `isa`, or null.
template <class Config>
const Config* find(const std::vector<Config>& configs, const std::string& isa) {
  for (const Config& config : configs) {
    if (isa == config.isa) return &config;
  }
  return nullptr;
}

// The config of `configs` with `id`, or null.
template <class Config>
const Config* find(const std::vector<Config>& configs, KernelId id) {
  for (const Config& config : configs) {
    if (id == config.id) return &config;
  }
  return nullptr;
}

}  // namespace

const std::vector<KernelConfig>& kernel_configs() {
  static const std::vector<KernelConfig> configs = detect();
  return configs;
}

const KernelConfig* kernel_config(const std::string& isa) { return find(kernel_configs(), isa); }

const KernelConfig* kernel_config(KernelId id) { return find(kernel_configs(), id); }

const std::vector<Qs8KernelConfig>& qs8_kernel_configs() {
  static const std::vector<Qs8KernelConfig> configs = detect_qs8();
  return configs;
}

const Qs8KernelConfig* qs8_kernel_config(const std::string& isa) { return find(qs8_kernel_configs(), isa); }

const Qs8KernelConfig* qs8_kernel_config(KernelId id) { return find(qs8_kernel_configs(), id); }

const char* kernel_name(KernelId id) {
  switch (id) {
    case KernelId::kScalar: return "the scalar kernel (4x4)";
    case KernelId::kAvx2: return "the avx2 kernel (6x16)";
    case KernelId::kAvx512: return "the avx512f kernel (8x32)";
    case KernelId::kNeon: return "the neon kernel (8x8)";
    case KernelId::kQs8Scalar: return "the int8 scalar kernel (4x4c4)";
    case KernelId::kQs8Avx2: return "the int8 avx2 kernel (4x16c4)";
    case KernelId::kQs8AvxVnni: return "the int8 avxvnni kernel (6x16c4)";
    case KernelId::kQs8Avx512Vnni: return "the int8 avx512vnni kernel (12x32c4)";
    case KernelId::kQs8Neon: return "the int8 neon kernel (4x8c4, ARMv8.0)";
    case KernelId::kQs8NeonDot: return "the int8 neondot kernel (8x8c4, ARMv8.2 sdot)";
  }
  return "an unknown kernel";
}

}  // namespace sqbert

#include "isa_selection.h"

#include <c10/util/Exception.h>
#include <c10/util/StringUtil.h>

#include <atomic>

namespace sqbert {
namespace {

std::atomic<const KernelConfig*>& selected() {
  static std::atomic<const KernelConfig*> config{&kernel_configs().front()};
  return config;
}

}  // namespace

const KernelConfig& selected_kernel_config() { return *selected().load(); }

// Raises unless dtype is "float32" or "int8".
void check_dtype(const std::string& dtype, const char* op) {
  TORCH_CHECK(dtype == "float32" || dtype == "int8", op, ": expected dtype \"float32\" or \"int8\", got \"",
              dtype, "\"");
}

std::vector<std::string> cpu_isas(const std::string& dtype) {
  check_dtype(dtype, "cpu_isas");
  std::vector<std::string> isas;
  if (dtype == "int8") {
    for (const Qs8KernelConfig& config : qs8_kernel_configs()) isas.push_back(config.isa);
  } else {
    for (const KernelConfig& config : kernel_configs()) isas.push_back(config.isa);
  }
  return isas;
}

std::string cpu_isa(const std::string& dtype) {
  check_dtype(dtype, "cpu_isa");
  return dtype == "int8" ? qs8_config_or_selected(std::nullopt, "cpu_isa").isa : selected_kernel_config().isa;
}

const Qs8KernelConfig& qs8_config_or_selected(const std::optional<std::string>& isa, const char* op) {
  if (isa.has_value()) {
    const Qs8KernelConfig* config = qs8_kernel_config(*isa);
    TORCH_CHECK(config != nullptr, op, ": expected one of the int8 kernels this build and CPU have (",
                c10::Join(", ", cpu_isas("int8")), "), got '", *isa, "'");
    return *config;
  }
  const KernelConfig* f32 = &selected_kernel_config();
  for (const Qs8KernelConfig& config : qs8_kernel_configs()) {
    if (config.f32 == f32) return config;
  }
  return qs8_kernel_configs().back();
}

const KernelConfig& kernel_config_or_selected(const std::optional<std::string>& isa, const char* op) {
  if (!isa.has_value()) return selected_kernel_config();
  const KernelConfig* config = kernel_config(*isa);
  TORCH_CHECK(config != nullptr, op, ": expected one of the ISAs this build and CPU support (",
              c10::Join(", ", cpu_isas()), "), got '", *isa, "'");
  return *config;
}

std::vector<int64_t> cpu_gemm_tile(const std::optional<std::string>& isa, const std::string& dtype) {
  check_dtype(dtype, "cpu_gemm_tile");
  if (dtype == "int8") {
    const Qs8KernelConfig& config = qs8_config_or_selected(isa, "cpu_gemm_tile");
    return {static_cast<int64_t>(config.mr), static_cast<int64_t>(config.nr)};
  }
  const KernelConfig& config = kernel_config_or_selected(isa, "cpu_gemm_tile");
  return {static_cast<int64_t>(config.mr), static_cast<int64_t>(config.nr)};
}

std::string set_cpu_isa(const std::string& isa) {
  return selected().exchange(&kernel_config_or_selected(isa, "set_cpu_isa"))->isa;
}

}  // namespace sqbert

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

std::vector<std::string> cpu_isas() {
  std::vector<std::string> isas;
  for (const KernelConfig& config : kernel_configs()) isas.push_back(config.isa);
  return isas;
}

std::string cpu_isa() { return selected_kernel_config().isa; }

const KernelConfig& kernel_config_or_selected(const std::optional<std::string>& isa, const char* op) {
  if (!isa.has_value()) return selected_kernel_config();
  const KernelConfig* config = kernel_config(*isa);
  TORCH_CHECK(config != nullptr, op, ": expected one of the ISAs this build and CPU support (",
              c10::Join(", ", cpu_isas()), "), got '", *isa, "'");
  return *config;
}

std::vector<int64_t> cpu_gemm_tile(const std::optional<std::string>& isa) {
  const KernelConfig& config = kernel_config_or_selected(isa, "cpu_gemm_tile");
  return {static_cast<int64_t>(config.mr), static_cast<int64_t>(config.nr)};
}

std::string set_cpu_isa(const std::string& isa) {
  return selected().exchange(&kernel_config_or_selected(isa, "set_cpu_isa"))->isa;
}

}  // namespace sqbert

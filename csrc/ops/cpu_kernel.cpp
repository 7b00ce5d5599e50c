#include "cpu_kernel.h"

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

std::vector<int64_t> cpu_gemm_tile() {
  const KernelConfig& config = selected_kernel_config();
  return {static_cast<int64_t>(config.mr), static_cast<int64_t>(config.nr)};
}

std::string set_cpu_isa(const std::string& isa) {
  const KernelConfig* config = kernel_config(isa);
  if (config == nullptr) {
    TORCH_CHECK(false, "set_cpu_isa: expected one of the ISAs this build and CPU support (",
                c10::Join(", ", cpu_isas()), "), got '", isa, "'");
  }
  return selected().exchange(config)->isa;
}

}  // namespace sqbert

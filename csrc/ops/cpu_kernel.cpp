#include "cpu_kernel.h"

#include <c10/util/Exception.h>

#include <atomic>

namespace sqbert {
namespace {

std::atomic<const F32GemmConfig*>& selected() {
  static std::atomic<const F32GemmConfig*> config{&f32_gemm_configs().front()};
  return config;
}

}  // namespace

const F32GemmConfig& selected_gemm_config() { return *selected().load(); }

std::string cpu_isa() { return selected_gemm_config().isa; }

std::vector<int64_t> cpu_gemm_tile() {
  const F32GemmConfig& config = selected_gemm_config();
  return {static_cast<int64_t>(config.mr), static_cast<int64_t>(config.nr)};
}

std::string set_cpu_isa(const std::string& isa) {
  const F32GemmConfig* config = f32_gemm_config(isa);
  if (config == nullptr) {
    std::string available;
    for (const F32GemmConfig& c : f32_gemm_configs()) {
      available += available.empty() ? "" : ", ";
      available += c.isa;
    }
    TORCH_CHECK(false, "set_cpu_isa: expected one of the ISAs this build and CPU support (",
                available, "), got '", isa, "'");
  }
  return selected().exchange(config)->isa;
}

}  // namespace sqbert

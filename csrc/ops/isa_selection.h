// ISA selection: the CPU micro-kernel set the ops use, the best one this CPU
// supports unless set_cpu_isa picked another (to compare backends or run the
// reference).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../kernels/kernel_config.h"

namespace sqbert {

const KernelConfig& selected_kernel_config();

// The config of `isa`, or the selected one when none is given; raises
// (naming `op`) when this build or CPU has no kernel for it.
const KernelConfig& kernel_config_or_selected(const std::optional<std::string>& isa, const char* op);

// The ISAs this build and CPU have kernels for, fastest first.
std::vector<std::string> cpu_isas();
// The selected ISA: "avx2", "neon" or "scalar".
std::string cpu_isa();
// The tile of `isa`'s kernel, or of the selected one: {mr, nr}.
std::vector<int64_t> cpu_gemm_tile(const std::optional<std::string>& isa);
// Selects `isa` for later calls and returns the previous one; raises when
// this build or CPU has no kernel for it.
std::string set_cpu_isa(const std::string& isa);

}  // namespace sqbert

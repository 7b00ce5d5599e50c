// The CPU micro-kernel the ops use: the best one this CPU supports unless
// set_cpu_isa picked another (to compare backends or run the reference).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../kernels/kernel_config.h"

namespace sqbert {

const KernelConfig& selected_kernel_config();

// The ISAs this build and CPU have kernels for, fastest first.
std::vector<std::string> cpu_isas();
// The selected ISA: "avx2", "neon" or "scalar".
std::string cpu_isa();
// The selected kernel's tile: {mr, nr}.
std::vector<int64_t> cpu_gemm_tile();
// Selects `isa` for later calls and returns the previous one; raises when
// this build or CPU has no kernel for it.
std::string set_cpu_isa(const std::string& isa);

}  // namespace sqbert

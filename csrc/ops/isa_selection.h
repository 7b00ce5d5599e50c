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

// The ISAs this build and CPU have kernels for, fastest first: the float
// kernel sets ("float32") or the int8 kernels ("int8", Qs8KernelConfig).
std::vector<std::string> cpu_isas(const std::string& dtype = "float32");
// The int8 kernels of `isa` (a name from cpu_isas("int8")), or, when none
// is given, the fastest ones beside the selected float kernels (whose GELU
// finishes their tiles); raises (naming `op`) for a name this build or CPU
// lacks.
const Qs8KernelConfig& qs8_config_or_selected(const std::optional<std::string>& isa, const char* op);

// The selected float ISA ("avx2", "neon" or "scalar"), or for "int8" the
// int8 kernels the int8 ops pack for by default.
std::string cpu_isa(const std::string& dtype = "float32");
// The tile of `isa`'s kernel (float32 or int8), or of the selected one:
// {mr, nr}.
std::vector<int64_t> cpu_gemm_tile(const std::optional<std::string>& isa, const std::string& dtype = "float32");
// Selects `isa` for later calls and returns the previous one; raises when
// this build or CPU has no kernel for it.
std::string set_cpu_isa(const std::string& isa);

}  // namespace sqbert

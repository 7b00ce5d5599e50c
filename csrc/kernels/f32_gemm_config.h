// Which f32 GEMM micro-kernel runs: every kernel this build has, and the
// best one the CPU supports, chosen at run time.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "f32_gemm.h"

namespace sqbert {

struct F32GemmConfig {
  const char* isa;  // "avx2", "neon" or "scalar"
  f32_gemm_ukernel_fn ukernel;
  size_t mr;  // output channels per tile
  size_t nr;  // sequence positions per tile
};

// The kernels this build has that this CPU can run, fastest first; the
// scalar reference is always last.
const std::vector<F32GemmConfig>& f32_gemm_configs();

// The config for `isa`, or null when this build or CPU lacks it.
const F32GemmConfig* f32_gemm_config(const std::string& isa);

}  // namespace sqbert

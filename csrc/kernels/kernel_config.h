// Which micro-kernels run: every ISA's set this build has, and the best one
// the CPU supports, chosen at run time. The kernels of one set share the
// tile width nr, so attention can pass GEMM tiles to the softmax.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "f32_gemm.h"
#include "f32_layernorm.h"
#include "f32_online_softmax.h"
#include "f32_vgelu.h"

namespace sqbert {

// Names a kernel set in packed-weight headers: values are never reused.
enum class KernelId : uint32_t { kScalar = 1, kAvx2 = 2, kNeon = 3 };

struct KernelConfig {
  const char* isa;  // "avx2", "neon" or "scalar"
  KernelId id;
  f32_gemm_ukernel_fn gemm;
  size_t mr;  // output channels per tile
  size_t nr;  // sequence positions per tile
  f32_softmax_ukernel_fn online_softmax;  // over nr lanes
  f32_vgelu_ukernel_fn vgelu;
  f32_layernorm_ukernel_fn layernorm;
};

// The kernels this build has that this CPU can run, fastest first; the
// scalar reference is always last.
const std::vector<KernelConfig>& kernel_configs();

// The config for `isa`, or null when this build or CPU lacks it.
const KernelConfig* kernel_config(const std::string& isa);
const KernelConfig* kernel_config(KernelId id);

// "the avx2 kernel (6x16)" for any id, built here or not.
const char* kernel_name(KernelId id);

}  // namespace sqbert

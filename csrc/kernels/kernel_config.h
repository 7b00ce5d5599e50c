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
#include "qs8_gemm.h"

namespace sqbert {

// Names a kernel set in packed-weight headers: values are never reused.
enum class KernelId : uint32_t {
  kScalar = 1,
  kAvx2 = 2,
  kNeon = 3,
  kAvx512 = 4,
  // int8 kernels (Qs8KernelConfig)
  kQs8Scalar = 16,
  kQs8Avx2 = 17,
  kQs8AvxVnni = 18,
  kQs8Neon = 19,     // ARMv8.0: smull/smlal/sadalp
  kQs8NeonDot = 20,  // ARMv8.2 dot product: sdot
  kQs8Avx512Vnni = 21,
};

struct KernelConfig {
  const char* isa;  // "avx512f", "avx2", "neon" or "scalar"
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

// The int8 kernels (qs8_gemm.h) of one ISA. `f32` is the float set of the
// same CPU: its GELU finishes a tile.
struct Qs8KernelConfig {
  const char* isa;  // "avx512vnni", "avxvnni", "avx2", "neondot", "neon" or "scalar"
  KernelId id;
  qs8_gemm_ukernel_fn gemm;
  size_t mr;  // output channels per tile
  size_t nr;  // sequence positions per tile (and per quantized block)
  f32_qu7_quantize_ukernel_fn quantize;
  const KernelConfig* f32;
};

// As kernel_configs(), for the int8 kernels: fastest first, scalar last.
const std::vector<Qs8KernelConfig>& qs8_kernel_configs();
const Qs8KernelConfig* qs8_kernel_config(const std::string& isa);
const Qs8KernelConfig* qs8_kernel_config(KernelId id);

// "the avx2 kernel (6x16)" for any id, built here or not.
const char* kernel_name(KernelId id);

}  // namespace sqbert

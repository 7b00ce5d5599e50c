// The sqbert op schemas, defined once. Kernels register per backend with
// TORCH_LIBRARY_IMPL; fake (meta) and autograd registrations live in
// sqbert_kernels/ops.py.
#include <Python.h>
#include <torch/library.h>

#include "isa_selection.h"
#include "threading.h"

extern "C" {
// Lets `import sqbert_kernels._C` load this library (and so run the
// registrations below) like any Python extension.
PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module_def);
}
}

TORCH_LIBRARY(sqbert, m) {
  m.def("grouped_pw_conv(Tensor x, Tensor weight, Tensor? bias, int groups, str activation=\"none\") -> Tensor");
  m.def("pack_pw_weight(Tensor weight, Tensor? bias, int groups, str? isa=None) -> Tensor");
  m.def("grouped_pw_conv_packed(Tensor x, Tensor packed_weight, int out_channels, str activation=\"none\") -> Tensor");
  m.def("grouped_pw_ffn_packed(Tensor x, Tensor packed_w1, Tensor packed_w2, int hidden_channels, int out_channels, str activation=\"none\") -> Tensor");
  m.def("quantize_pw_weight(Tensor weight, Tensor? bias, int groups, str? isa=None) -> Tensor");
  m.def("grouped_pw_conv_q8(Tensor x, Tensor packed_weight, int out_channels, str activation=\"none\") -> Tensor");
  m.def("grouped_pw_ffn_q8(Tensor x, Tensor packed_w1, Tensor packed_w2, int hidden_channels, int out_channels, str activation=\"none\") -> Tensor");
  // Up to three convolutions of one x (attention's query, key and value) in
  // one call, each block of x copied or quantized once.
  m.def("grouped_pw_convs_packed(Tensor x, Tensor[] packed_weights, int out_channels) -> Tensor[]");
  m.def("grouped_pw_convs_q8(Tensor x, Tensor[] packed_weights, int out_channels) -> Tensor[]");
  m.def("add_layernorm(Tensor x, Tensor? residual, Tensor weight, Tensor bias, float eps) -> Tensor");
  m.def("fused_attention(Tensor q, Tensor k, Tensor v, Tensor? mask, int num_heads) -> Tensor");
  m.def("fused_attention_varlen(Tensor q, Tensor k, Tensor v, Tensor seq_offsets, int num_heads) -> Tensor");
  // Its backward (stock PyTorch per sequence, sqbert_kernels/ops.py): an op
  // of its own, so that torch.compile traces it without the offsets' values.
  m.def("fused_attention_varlen_backward(Tensor grad, Tensor q, Tensor k, Tensor v, Tensor seq_offsets, "
        "int num_heads) -> (Tensor, Tensor, Tensor)");
  m.def("cpu_isas(str dtype=\"float32\") -> str[]", &sqbert::cpu_isas);
  m.def("cpu_isa(str dtype=\"float32\") -> str", &sqbert::cpu_isa);
  m.def("cpu_gemm_tile(str? isa=None, str dtype=\"float32\") -> int[]", &sqbert::cpu_gemm_tile);
  m.def("set_cpu_isa(str isa) -> str", &sqbert::set_cpu_isa);
  m.def("cpu_threading() -> str", &sqbert::cpu_threading);
  m.def("set_cpu_threading(str runtime) -> str", &sqbert::set_cpu_threading);
  m.def("_set_slow_thread(int thread, float factor) -> ()", &sqbert::set_slow_thread_op);
  m.def("_thread_pool_stats(bool reset=False) -> int[]", &sqbert::thread_pool_stats_op);
  m.def("_set_op_threads(int threads, int torch_threads) -> int", &sqbert::set_op_threads);
  m.def("_release_openmp_threads() -> ()", &sqbert::release_openmp_threads);
}

// What the CPU op implementations share: input checks, the NCW view the
// operators read, and running an operator's tasks on the package's thread
// pool (or torch's, threading.h).
#pragma once

// Light headers, not <ATen/ATen.h> (every operator's declaration): the
// Tensor class and the few functions the ops call keep the glue's compile
// time a fraction of the whole extension's.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/core/ScalarType.h>

#include <algorithm>
#include <cstddef>

#include "../operators/thread_pool.h"
#include "threading.h"

namespace sqbert {

// Below this many FLOPs a chunk of an op's work is not worth a thread.
constexpr size_t kMinFlopsPerThread = 1 << 20;

// Raises unless t is a float32 CPU tensor, naming the op and the argument.
inline void check_float_cpu(const at::Tensor& t, const char* op, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), op, ": expected ", name, " on the CPU, got it on ", t.device());
  TORCH_CHECK(t.scalar_type() == at::kFloat, op, ": expected ", name, " of dtype float32, got ",
              c10::getDtypeNames(t.scalar_type()).first);
}

// t [batch, channels, length] with contiguous positions, as the operators
// read it: any batch and channel strides are kept, other layouts copied.
inline at::Tensor positions_contiguous(const at::Tensor& t) {
  return t.stride(2) == 1 ? t : t.contiguous();
}

// Runs tasks [0, tasks), task_flops FLOPs each, on op_threads() threads
// (fewer when the work is small: each gets kMinFlopsPerThread at least; one
// inside another parallel region). By default on the package's pool, which
// hands out the tasks dynamically (thread_pool.h); with
// set_cpu_threading("openmp") on at::parallel_for's static split.
template <typename Run>
void run_tasks(size_t tasks, size_t task_flops, const Run& run) {
  const int64_t grain = std::max<size_t>(1, kMinFlopsPerThread / std::max<size_t>(1, task_flops));
  if (threading_is_openmp()) {
    at::parallel_for(0, tasks, grain, [&](int64_t begin, int64_t end) {
      const int thread = at::get_thread_num();
      if (slow_factor(thread) > 1) {  // the simulated little core, as on the pool
        auto body = [&](size_t b, size_t e) { run(b, e); };
        run_slowed(
            thread, [](void* ctx, size_t b, size_t e) { (*static_cast<decltype(body)*>(ctx))(b, e); }, &body,
            begin, end);
      } else {
        run(begin, end);
      }
    });
    return;
  }
  const size_t wanted = (tasks + grain - 1) / grain;
  const int threads = at::in_parallel_region() ? 1 : static_cast<int>(std::min<size_t>(op_threads(), wanted));
  parallel_run(tasks, threads, run);
}

}  // namespace sqbert

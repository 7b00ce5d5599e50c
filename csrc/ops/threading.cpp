#include "threading.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "../operators/thread_pool.h"

namespace sqbert {
namespace {

// The pool unless SQBERT_THREADS=openmp: as fast as at::parallel_for on an
// idle machine, and where a neighbour or a slow core holds a thread up,
// twice as fast (benchmarks/RESULTS.md).
std::atomic<bool> g_openmp{[] {
  const char* s = std::getenv("SQBERT_THREADS");
  return s != nullptr && std::strcmp(s, "openmp") == 0;
}()};

thread_local int t_op_threads = 0;

// MKL's per-thread thread count (MKL_Set_Num_Threads_Local, the C entry:
// the lowercase names are Fortran's, by pointer), where torch has MKL
// (x86), or null. MKL threads its vector math on OpenMP at a count of its
// own, which omp_set_num_threads leaves alone: the pooler's tanh ([1, 768]
// at B1) ran on two threads, and that OpenMP thread then spun milliseconds
// on the core the pool's worker needed in the next forward (back to back,
// the model at two threads took 27 ms on the pool against 21 on OpenMP).
using MklSetNumThreadsLocal = int (*)(int);
MklSetNumThreadsLocal mkl_set_num_threads_local() {
  static const auto fn =
      reinterpret_cast<MklSetNumThreadsLocal>(dlsym(RTLD_DEFAULT, "MKL_Set_Num_Threads_Local"));
  return fn;
}

}  // namespace

int op_threads() { return t_op_threads > 0 ? t_op_threads : at::get_num_threads(); }

int64_t set_op_threads(int64_t threads, int64_t torch_threads) {
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  TORCH_CHECK(threads >= 0 && threads <= kMax, "_set_op_threads: expected a thread count in [0, ", kMax,
              "] (0: torch's), got ", threads);
  TORCH_CHECK(torch_threads >= 1 && torch_threads <= kMax, "_set_op_threads: expected torch_threads in [1, ", kMax,
              "], got ", torch_threads);
  const int previous = t_op_threads;
  t_op_threads = static_cast<int>(threads);
#if defined(_OPENMP)
  omp_set_num_threads(static_cast<int>(torch_threads));
#endif
  if (torch_threads == 1) {
    release_openmp_threads();
    if (!threading_is_openmp()) thread_pool_prewake(static_cast<int>(threads));
  }
  // One thread here, or back to MKL's process-wide count (0), which
  // torch.set_num_threads sets.
  if (MklSetNumThreadsLocal mkl = mkl_set_num_threads_local()) mkl(torch_threads == 1 ? 1 : 0);
  return previous;
}

void release_openmp_threads() {
#if defined(_OPENMP)
  // Not from inside a parallel region (where it would fail anyway).
  if (!omp_in_parallel()) omp_pause_resource_all(omp_pause_soft);
#endif
}

bool threading_is_openmp() { return g_openmp.load(std::memory_order_relaxed); }

std::string cpu_threading() { return threading_is_openmp() ? "openmp" : "pool"; }

std::string set_cpu_threading(const std::string& runtime) {
  TORCH_CHECK(runtime == "pool" || runtime == "openmp",
              "set_cpu_threading: expected \"pool\" or \"openmp\", got \"", runtime, "\"");
  return g_openmp.exchange(runtime == "openmp") ? "openmp" : "pool";
}

void set_slow_thread_op(int64_t thread, double factor) { set_slow_thread(static_cast<int>(thread), factor); }

std::vector<int64_t> thread_pool_stats_op(bool reset) {
  const ThreadPoolStats s = thread_pool_stats(reset);
  return {static_cast<int64_t>(s.calls), static_cast<int64_t>(s.waited_calls), static_cast<int64_t>(s.wait_ns),
          static_cast<int64_t>(s.worker_tasks), static_cast<int64_t>(s.tasks),
          static_cast<int64_t>(s.shared_cpu),   static_cast<int64_t>(s.caller_slept)};
}

}  // namespace sqbert

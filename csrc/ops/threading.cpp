#include "threading.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "../operators/thread_pool.h"

namespace sqbert {
namespace {

// OpenMP unless SQBERT_THREADS=pool: on an idle machine at::parallel_for's
// threads, spinning between calls, are hot for the next op (benchmarks/
// RESULTS.md: the model at two threads 1-4% slower on the pool when idle,
// twice as fast beside a busy neighbour).
std::atomic<bool> g_openmp{[] {
  const char* s = std::getenv("SQBERT_THREADS");
  return s == nullptr || std::strcmp(s, "pool") != 0;
}()};

thread_local int t_op_threads = 0;

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
  return previous;
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
          static_cast<int64_t>(s.worker_tasks), static_cast<int64_t>(s.tasks)};
}

}  // namespace sqbert

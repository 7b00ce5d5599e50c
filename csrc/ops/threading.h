// Which runtime runs the ops' tasks: torch's at::parallel_for (OpenMP's
// static split, the default) or the package's own pool
// (operators/thread_pool.h), for machines shared with busy processes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sqbert {

// True when the tasks run on at::parallel_for: the default, unless
// set_cpu_threading("pool") or SQBERT_THREADS=pool at load time.
bool threading_is_openmp();

// "pool" or "openmp": selects the runtime for later calls, returns the
// previous one.
std::string set_cpu_threading(const std::string& runtime);
std::string cpu_threading();

// The simulated little core (thread_pool.h's set_slow_thread), for tests
// and benchmarks: thread `thread` runs `factor` times slower.
void set_slow_thread_op(int64_t thread, double factor);

// thread_pool_stats: {calls, waited calls, wait ns, worker tasks, tasks}.
std::vector<int64_t> thread_pool_stats_op(bool reset);

}  // namespace sqbert

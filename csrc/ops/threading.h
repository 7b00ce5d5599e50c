// Which runtime runs the ops' tasks: the package's own pool
// (operators/thread_pool.h, the default) or torch's at::parallel_for
// (OpenMP's static split).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sqbert {

// True when the tasks run on at::parallel_for: after
// set_cpu_threading("openmp"), or with SQBERT_THREADS=openmp at load time.
bool threading_is_openmp();

// "pool" or "openmp": selects the runtime for later calls, returns the
// previous one.
std::string set_cpu_threading(const std::string& runtime);
std::string cpu_threading();

// The threads the package's ops use on the calling thread: torch's count
// (at::get_num_threads()), unless a scope (set_op_threads) holds torch's own
// ops on this thread at one thread while the pool keeps the count it had.
int op_threads();
// Sets this thread's op thread count (0: follow torch's) and its OpenMP
// thread count (what at::get_num_threads() and torch's own ops use on this
// thread, and only here: torch.set_num_threads would also change torch's
// process-wide default, which a thread starting meanwhile would take), with
// MKL's for this thread at 1 when torch_threads is 1 and at MKL's
// process-wide count otherwise, and returns the previous op thread count.
// With torch_threads 1 it also releases OpenMP's threads
// (release_openmp_threads) and, on the pool, wakes the pool's workers for
// the calls to come (thread_pool_prewake).
int64_t set_op_threads(int64_t threads, int64_t torch_threads);

// Ends the calling thread's OpenMP team, if it has one; torch's next
// parallel region on this thread starts it again (about 25 us). Its threads
// spin for milliseconds after each region, on the cores the pool's workers
// need: the model at two threads took 27-28 ms right after any torch op at
// two threads (a 512x512 matmul will do), 21.5 after a sleep. Entering a
// scope (set_op_threads with torch_threads 1) calls it.
void release_openmp_threads();

// The simulated little core (thread_pool.h's set_slow_thread), for tests
// and benchmarks: thread `thread` runs `factor` times slower.
void set_slow_thread_op(int64_t thread, double factor);

// thread_pool_stats: {calls, waited calls, wait ns, worker tasks, tasks,
// shared-CPU starts, caller sleeps}.
std::vector<int64_t> thread_pool_stats_op(bool reset);

}  // namespace sqbert

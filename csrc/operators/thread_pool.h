// A small thread pool for the operators' tasks, independent of torch, that
// tolerates a slow or busy core.
//
// parallel_run(tasks, threads, fn) runs fn on the tasks [0, tasks), one at
// a time, on the calling thread and up to threads - 1 pool workers. Each
// thread starts with the contiguous share a static split would give it
// (consecutive tasks share weights in cache) and claims its tasks from the
// front of that share; a thread whose share is empty steals single tasks
// from the end of another's, as pthreadpool does. So a thread that runs fast
// takes over the work of one that runs slowly (a little core, or a core
// another process holds); the caller works too, and the call returns as
// soon as every task has *finished*: it never waits for a worker that has
// not claimed anything (one still asleep, or not yet scheduled), only for a
// task a worker claimed and still runs.
//
// Idle workers spin a while (kSpinMicroseconds, SQBERT_POOL_SPIN_US) for the
// next call, then sleep on a condition variable: no core is held while no
// call runs. A caller wakes sleeping workers off its own CPU (Linux would
// often put them on it), or ahead of its call (thread_pool_prewake). The
// caller waiting for the last claimed ranges spins as long, then sleeps
// too, which frees its core for the worker it waits on.
//
// Safe for concurrent callers: one call at a time owns the pool, and a call
// that finds it owned (another caller's, or a nested call from inside a
// task) runs its tasks on its own thread. An exception thrown by fn is
// caught on the thread that ran it and rethrown to the caller after every
// claimed task has finished (the other tasks still run).
#pragma once

#include <cstddef>

namespace sqbert {

// fn(ctx, begin, end) runs tasks [begin, end).
using TaskRangeFn = void (*)(void* ctx, size_t begin, size_t end);

void parallel_run(size_t tasks, int threads, TaskRangeFn fn, void* ctx);

template <typename F>
void parallel_run(size_t tasks, int threads, const F& f) {
  parallel_run(
      tasks, threads, [](void* ctx, size_t begin, size_t end) { (*static_cast<const F*>(ctx))(begin, end); },
      const_cast<void*>(static_cast<const void*>(&f)));
}

// Wakes the workers a call of `threads` threads would use, if they sleep,
// so that they spin for the call about to come instead of waking for it
// (50-300 us on these virtual CPUs): a model calls it before the torch ops
// its forward starts with.
void thread_pool_prewake(int threads);

// True on a pool worker while it runs tasks, and on a caller inside
// parallel_run: a call from there runs inline.
bool in_parallel_run();

// Test and benchmark knob, a simulated little core: thread `thread` (0: the
// caller, 1..: the workers, or the OpenMP thread number when the ops run on
// at::parallel_for) spin-waits (factor - 1) times the time of each range it
// runs, after running it, so it runs `factor` times slower. factor <= 1 or
// thread < 0 turns it off. Read at load time from SQBERT_SLOW_THREAD
// ("thread:factor", e.g. "1:2"). Not for production use.
void set_slow_thread(int thread, double factor);
// The factor thread `thread` runs at (1 when not slowed).
double slow_factor(int thread);
// Runs fn(ctx, begin, end) on thread `thread` with the knob applied.
void run_slowed(int thread, TaskRangeFn fn, void* ctx, size_t begin, size_t end);

// Counters since the last reset, for the benchmarks: pool calls; calls
// whose caller had to wait for a range a worker claimed (after it had no
// more to claim); the time those waits took; the tasks the workers (not the
// caller) ran; all tasks; the times a worker took up a job on the CPU its
// caller ran on at the start; the waits in which the caller, done
// spinning, slept.
struct ThreadPoolStats {
  unsigned long long calls, waited_calls, wait_ns, worker_tasks, tasks, shared_cpu, caller_slept;
};
ThreadPoolStats thread_pool_stats(bool reset);

}  // namespace sqbert

// The operators' thread pool (csrc/operators/thread_pool.h), without torch:
// every task runs exactly once for any thread count, with a slowed thread,
// from concurrent callers and nested calls; an exception in a task reaches
// the caller after the claimed ranges finish; workers woken after an idle
// stretch run off the caller's CPU and keep the CPUs they started with.
#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

#include <atomic>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>
#include <vector>

#include "operators/thread_pool.h"

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "FAILED: %s\n", what);
    failures++;
  }
}

// Runs `tasks` tasks on `threads` threads; true when each ran once.
bool each_once(size_t tasks, int threads) {
  std::vector<std::atomic<int>> runs(tasks);
  sqbert::parallel_run(tasks, threads, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; i++) runs[i]++;
  });
  for (auto& r : runs) {
    if (r.load() != 1) return false;
  }
  return true;
}

}  // namespace

int main() {
  for (int threads : {1, 2, 3, 8}) {
    for (size_t tasks : {1, 2, 3, 31, 32, 1000}) {
      for (int rep = 0; rep < 20; rep++) check(each_once(tasks, threads), "each task once");
    }
  }
  sqbert::set_slow_thread(1, 3.0);
  for (int rep = 0; rep < 50; rep++) check(each_once(64, 2), "each task once, thread 1 slowed");
  sqbert::set_slow_thread(1, 1.0);

  // Concurrent callers: one owns the pool, the others run inline.
  {
    std::atomic<bool> ok{true};
    std::vector<std::thread> callers;
    for (int c = 0; c < 4; c++) {
      callers.emplace_back([&] {
        for (int rep = 0; rep < 200; rep++) {
          if (!each_once(97, 3)) ok = false;
        }
      });
    }
    for (auto& t : callers) t.join();
    check(ok.load(), "concurrent callers");
  }

  // Nested: a task's own parallel_run runs inline, on its thread.
  {
    std::vector<std::atomic<int>> runs(16 * 16);
    std::atomic<bool> inner_in_run{true};
    sqbert::parallel_run(16, 2, [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; i++) {
        sqbert::parallel_run(16, 2, [&](size_t b, size_t e) {
          if (!sqbert::in_parallel_run()) inner_in_run = false;
          for (size_t j = b; j < e; j++) runs[i * 16 + j]++;
        });
      }
    });
    bool once = true;
    for (auto& r : runs) once = once && r.load() == 1;
    check(once && inner_in_run.load(), "nested calls");
    check(!sqbert::in_parallel_run(), "in_parallel_run false after the call");
  }

  // An exception from any task reaches the caller; every other task still runs.
  for (int rep = 0; rep < 50; rep++) {
    std::vector<std::atomic<int>> runs(64);
    bool caught = false;
    try {
      sqbert::parallel_run(64, 2, [&](size_t begin, size_t end) {
        for (size_t i = begin; i < end; i++) {
          runs[i]++;
          if (i == 40) throw std::runtime_error("task 40");
        }
      });
    } catch (const std::runtime_error&) {
      caught = true;
    }
    check(caught, "exception rethrown to the caller");
    check(each_once(64, 2), "the pool works after an exception");
  }

#if defined(__linux__)
  // A worker asleep (past its spin) is woken off the caller's CPU: the
  // caller narrows its affinity for the wake-up, and the worker restores it.
  cpu_set_t process;
  pthread_getaffinity_np(pthread_self(), sizeof process, &process);
  if (CPU_COUNT(&process) >= 2) {
    for (int rep = 0; rep < 10; rep++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      const pthread_t caller = pthread_self();
      std::atomic<int> worker_tasks{0}, on_caller_cpu{0}, narrowed{0};
      const int caller_cpu = sched_getcpu();
      sqbert::parallel_run(64, 2, [&](size_t, size_t) {
        if (pthread_equal(pthread_self(), caller)) {
          std::this_thread::sleep_for(std::chrono::microseconds(200));  // leave the worker tasks
          return;
        }
        worker_tasks++;
        if (sched_getcpu() == caller_cpu) on_caller_cpu++;
        cpu_set_t mine;
        pthread_getaffinity_np(pthread_self(), sizeof mine, &mine);
        if (!CPU_EQUAL(&mine, &process)) narrowed++;
      });
      check(worker_tasks.load() > 0, "a woken worker takes tasks");
      check(on_caller_cpu.load() == 0, "a woken worker runs off the caller's CPU");
      check(narrowed.load() == 0, "a woken worker runs with the CPUs it started with");
    }
  }
#endif

  // A worker woken ahead of a call (prewake) runs it, also after it went
  // back to sleep; and a prewake while another caller owns the pool is
  // nothing.
  for (int rep = 0; rep < 10; rep++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(rep % 2 ? 20 : 1));
    sqbert::thread_pool_prewake(2);
    if (rep >= 5) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    check(each_once(64, 2), "each task once after a prewake");
  }
  {
    std::atomic<bool> stop{false};
    std::thread other([&] {
      while (!stop.load()) sqbert::thread_pool_prewake(3);
    });
    for (int rep = 0; rep < 200; rep++) check(each_once(97, 3), "each task once beside prewakes");
    stop = true;
    other.join();
  }

  if (failures == 0) std::printf("thread_pool: all passed\n");
  return failures == 0 ? 0 : 1;
}

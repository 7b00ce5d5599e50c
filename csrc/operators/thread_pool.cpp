#include "thread_pool.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace sqbert {
namespace {

using Clock = std::chrono::steady_clock;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

double env_double(const char* name, double fallback) {
  const char* s = std::getenv(name);
  if (s == nullptr || *s == '\0') return fallback;
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  return end == s ? fallback : v;
}

// How long an idle worker, or a caller waiting for a claimed task, spins
// before it sleeps. Long enough to carry a worker from one op of a model to
// the next (the Python between two ops, 10-40 us here, plus the caller's
// last task; a sleeping worker wakes 50-300 us late on these virtual CPUs):
// at 50 us the model at two threads ran 5% slower than at 300 us, and
// 2000 us gave no more when idle but took the core from a busy neighbour
// (benchmarks/RESULTS.md).
constexpr double kSpinMicroseconds = 300;

// How long a worker woken ahead of a job (thread_pool_prewake) spins for it:
// past the torch ops a model's forward starts with (its embeddings, about
// 0.4 ms at B1 L128).
constexpr auto kPrewakeSpin = std::chrono::microseconds(1000);

struct Settings {
  Clock::duration spin;
  Settings()
      : spin(std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double, std::micro>(env_double("SQBERT_POOL_SPIN_US", kSpinMicroseconds)))) {}
};
const Settings& settings() {
  static const Settings s;
  return s;
}

// The simulated little core (set_slow_thread).
std::atomic<int> g_slow_thread{-1};
std::atomic<double> g_slow_factor{1.0};
struct SlowThreadFromEnv {
  SlowThreadFromEnv() {
    const char* s = std::getenv("SQBERT_SLOW_THREAD");
    if (s == nullptr) return;
    char* end = nullptr;
    const long thread = std::strtol(s, &end, 10);
    if (end == s || *end != ':') return;
    set_slow_thread(static_cast<int>(thread), std::strtod(end + 1, nullptr));
  }
} g_slow_thread_from_env;

thread_local bool t_in_run = false;

// The CPU this thread runs on, or -1 where that is unknown.
int current_cpu() {
#if defined(__linux__)
  return sched_getcpu();
#else
  return -1;
#endif
}

std::atomic<unsigned long long> s_calls{0}, s_waited{0}, s_wait_ns{0}, s_worker_tasks{0}, s_tasks{0}, s_shared_cpu{0},
    s_caller_slept{0};

// Claims pack a job's generation (high 32 bits) with a task index or count
// (low 32 bits), so a worker late for one job can never claim from the next.
constexpr uint64_t kLow = 0xffffffffu;
inline uint64_t tag(uint32_t gen, uint64_t low) { return (static_cast<uint64_t>(gen) << 32) | low; }
// A share of tasks [first, end), both below 2^32, in one word.
inline uint64_t range(uint64_t first, uint64_t end) { return (first << 32) | end; }

// Threads of one call at most (more are capped).
constexpr int kMaxThreads = 64;

class Pool {
 public:
  // Wakes the workers a job of `threads` threads would use, off this
  // thread's CPU, to spin for the job about to come; nothing when another
  // call owns the pool.
  void prewake(int threads) {
    if (busy_.exchange(true, std::memory_order_acquire)) return;
    const size_t before = workers_.size();
    threads = start_workers(threads);
    wake_workers(threads, workers_.size() > before);
    busy_.store(false, std::memory_order_release);
  }

  // Runs the job; false (nothing run) when another call owns the pool.
  bool run(size_t tasks, int threads, TaskRangeFn fn, void* ctx) {
    if (busy_.exchange(true, std::memory_order_acquire)) return false;
    const size_t before = workers_.size();
    threads = start_workers(threads);
    const bool started = workers_.size() > before;
    const uint32_t gen = gen_.load(std::memory_order_relaxed) + 1;
    caller_cpu_.store(current_cpu(), std::memory_order_relaxed);
    fn_.store(fn, std::memory_order_relaxed);
    ctx_.store(ctx, std::memory_order_relaxed);
    threads_.store(threads, std::memory_order_relaxed);
    finished_.store(0, std::memory_order_relaxed);
    error_ = nullptr;
    job_tasks_.store(tag(gen, tasks), std::memory_order_release);
    // Thread t starts with the t-th contiguous share, as a static split
    // gives it (its tasks share weights in cache); the slots of workers
    // this job does not use are empty. Stored after the fields above and
    // with release: a worker still in claim() for the last job whose CAS
    // takes a task from these shares reads this job's fields (claim).
    for (int t = 0; t < kMaxThreads; t++) {
      const uint64_t begin = tasks * std::min(t, threads) / threads, end = tasks * std::min(t + 1, threads) / threads;
      ranges_[t].v.store(range(begin, end), std::memory_order_release);
    }
    gen_.store(gen, std::memory_order_seq_cst);
    wake_workers(threads, started);

    work(gen, 0);

    // Every range is claimed: wait for the claimed ones still running.
    if (finished_.load(std::memory_order_acquire) != tasks) {
      const Clock::time_point start = Clock::now();
      const Clock::time_point spin_until = start + settings().spin;
      while (finished_.load(std::memory_order_acquire) != tasks && Clock::now() < spin_until) cpu_relax();
      if (finished_.load(std::memory_order_acquire) != tasks) {
        std::unique_lock<std::mutex> lock(mutex_);
        s_caller_slept.fetch_add(1, std::memory_order_relaxed);
        caller_waiting_.store(true, std::memory_order_seq_cst);
        done_cv_.wait(lock, [&] { return finished_.load(std::memory_order_seq_cst) == tasks; });
        caller_waiting_.store(false, std::memory_order_relaxed);
      }
      s_waited.fetch_add(1, std::memory_order_relaxed);
      s_wait_ns.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count(),
                          std::memory_order_relaxed);
    }
    s_calls.fetch_add(1, std::memory_order_relaxed);
    s_tasks.fetch_add(tasks, std::memory_order_relaxed);
    std::exception_ptr error = error_;
    error_ = nullptr;
    busy_.store(false, std::memory_order_release);
    if (error) std::rethrow_exception(error);
    return true;
  }

 private:
  // Starts the workers `threads` threads need (the owner's only); the
  // threads there are (at most kMaxThreads), when no more can start.
  int start_workers(int threads) {
    threads = std::min(threads, kMaxThreads);
    try {
      while (static_cast<int>(workers_.size()) < threads - 1) {
        const int id = static_cast<int>(workers_.size()) + 1;
#if defined(__linux__)
        if (pthread_getaffinity_np(pthread_self(), sizeof(cpu_set_t), &allowed_[id]) != 0) CPU_ZERO(&allowed_[id]);
#endif
        workers_.emplace_back([this, id] { worker_main(id); });
        handles_[id] = workers_.back().native_handle();
        workers_.back().detach();
      }
    } catch (...) {  // no more threads: run on those there are
      return static_cast<int>(workers_.size()) + 1;
    }
    return threads;
  }

  // Claims a task of job `gen` for thread `thread` into [begin, end): the
  // first of its own share, or, once that is empty, the last of another
  // thread's (stealing from the end keeps the owner's tasks contiguous);
  // false when every share is empty (or the job is over). The task may be
  // the next job's, when that job began since the check below (its shares
  // are where the last job's, all claimed, were): its count is `total`, and
  // the caller's run() published its fields before the shares, so the
  // claimant runs it as that job's.
  bool claim(uint32_t gen, int thread, size_t* begin, size_t* end, size_t* total) {
    if (job_tasks_.load(std::memory_order_acquire) >> 32 != gen) return false;
    const int threads = threads_.load(std::memory_order_relaxed);
    for (int i = 0; i < threads; i++) {
      const int victim = (thread + i) % threads;
      std::atomic<uint64_t>& slot = ranges_[victim].v;
      uint64_t r = slot.load(std::memory_order_relaxed);
      for (;;) {
        const uint64_t first = r >> 32, last = r & kLow;
        if (first >= last) break;
        const bool own = victim == thread;
        const uint64_t next = own ? range(first + 1, last) : range(first, last - 1);
        if (slot.compare_exchange_weak(r, next, std::memory_order_acq_rel, std::memory_order_relaxed)) {
          *begin = own ? first : last - 1;
          *end = *begin + 1;
          *total = job_tasks_.load(std::memory_order_acquire) & kLow;
          return true;
        }
      }
    }
    return false;
  }

  // Runs tasks of job `gen` until none is left. Once a task is claimed the
  // job cannot end before it finishes, so its fields are this job's.
  void work(uint32_t gen, int thread) {
    size_t begin, end, tasks;
    while (claim(gen, thread, &begin, &end, &tasks)) {
      t_in_run = true;
      try {
        run_slowed(thread, fn_.load(std::memory_order_relaxed), ctx_.load(std::memory_order_relaxed), begin, end);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      t_in_run = thread == 0;
      if (thread != 0) s_worker_tasks.fetch_add(end - begin, std::memory_order_relaxed);
      if (finished_.fetch_add(end - begin, std::memory_order_seq_cst) + (end - begin) == tasks &&
          thread != 0 && caller_waiting_.load(std::memory_order_seq_cst)) {
        { std::lock_guard<std::mutex> lock(mutex_); }
        done_cv_.notify_one();
      }
    }
  }

  // Wakes the sleeping workers of `threads` threads (for a job, or ahead of
  // one: pokes_) and steers them, and any just started, off this thread's
  // CPU (steer_workers). The owner's only.
  void wake_workers(int threads, bool started) {
    const bool asleep = sleepers_.load(std::memory_order_seq_cst) > 0;
    if (asleep || started) steer_workers(threads);
    if (!asleep) return;
    pokes_.fetch_add(1, std::memory_order_seq_cst);
    { std::lock_guard<std::mutex> lock(mutex_); }
    work_cv_.notify_all();
  }

  // Linux may wake a sleeping worker on the CPU of the caller that wakes it
  // (and starts a new one there), busy with the caller, while another CPU
  // idles (on these 2-CPU VMs in about half the wake-ups after an idle
  // stretch). The two then shared one core for milliseconds, the balancer
  // leaving a thread that ran in the last half millisecond where it is:
  // calls took 1.0-2.8x their one-thread time (benchmarks/RESULTS.md). So
  // before waking the workers, the caller narrows their affinity to the CPUs
  // other than its own; each worker, once running elsewhere, restores its
  // own (set_affinity moves a thread only when its CPU falls outside the
  // new mask).
  void steer_workers(int threads) {
#if defined(__linux__)
    const int cpu = current_cpu();
    if (cpu < 0 || cpu >= CPU_SETSIZE) return;
    for (int id = 1; id < threads; id++) {
      cpu_set_t others = allowed_[id];
      CPU_CLR(cpu, &others);
      if (CPU_COUNT(&others) == 0) continue;
      if (pthread_setaffinity_np(handles_[id], sizeof others, &others) == 0) {
        steered_[id].v.store(true, std::memory_order_release);
      }
    }
#else
    (void)threads;
#endif
  }

  void worker_main(int id) {
    uint32_t seen = gen_.load(std::memory_order_acquire);
    uint32_t poked = pokes_.load(std::memory_order_acquire);
    Clock::duration spin = settings().spin;
    for (;;) {
      // The next job: spin a while, then sleep.
      const Clock::time_point spin_until = Clock::now() + spin;
      spin = settings().spin;
      while (gen_.load(std::memory_order_acquire) == seen && Clock::now() < spin_until) {
        for (int i = 0; i < 16; i++) cpu_relax();
      }
      if (gen_.load(std::memory_order_acquire) == seen) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        work_cv_.wait(lock, [&] {
          return gen_.load(std::memory_order_seq_cst) != seen || pokes_.load(std::memory_order_seq_cst) != poked;
        });
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
        poked = pokes_.load(std::memory_order_acquire);
      }
#if defined(__linux__)
      if (steered_[id].v.exchange(false, std::memory_order_acquire)) {
        pthread_setaffinity_np(pthread_self(), sizeof(cpu_set_t), &allowed_[id]);
      }
#endif
      if (gen_.load(std::memory_order_acquire) == seen) {  // woken ahead of a job (prewake)
        spin = std::chrono::duration_cast<Clock::duration>(kPrewakeSpin);
        continue;
      }
      seen = gen_.load(std::memory_order_acquire);
      if (id < threads_.load(std::memory_order_relaxed)) {
        if (current_cpu() == caller_cpu_.load(std::memory_order_relaxed)) {
          s_shared_cpu.fetch_add(1, std::memory_order_relaxed);
        }
        work(seen, id);
      }
    }
  }

  std::atomic<bool> busy_{false};
  std::vector<std::thread> workers_;  // the owner's only
  // Worker id's thread (id >= 1), the CPUs it may run on as it started,
  // and whether the owner has narrowed them (steer_workers).
  pthread_t handles_[kMaxThreads] = {};
#if defined(__linux__)
  cpu_set_t allowed_[kMaxThreads];
#endif
  struct alignas(64) Flag {
    std::atomic<bool> v{false};
  };
  Flag steered_[kMaxThreads];
  std::atomic<uint32_t> gen_{0};
  std::atomic<uint64_t> job_tasks_{0};  // tag(gen, tasks)
  struct alignas(64) Slot {
    std::atomic<uint64_t> v{0};  // range(first, end) of a thread's unclaimed share
  };
  Slot ranges_[kMaxThreads];
  std::atomic<uint64_t> finished_{0};   // tasks finished in the current job
  std::atomic<TaskRangeFn> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<int> threads_{1};
  std::atomic<int> sleepers_{0};
  std::atomic<uint32_t> pokes_{0};  // wake-ups of sleeping workers
  std::atomic<int> caller_cpu_{-1};  // the current job's caller's CPU
  std::atomic<bool> caller_waiting_{false};
  std::exception_ptr error_;  // under mutex_ while the job runs
  std::mutex mutex_;
  std::condition_variable work_cv_, done_cv_;
};

// Never destroyed (workers may sleep in it at exit); replaced in a forked
// child, which has none of the parent's workers.
std::atomic<Pool*> g_pool{nullptr};
std::once_flag g_atfork_once;

Pool& pool() {
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p != nullptr) return *p;
  std::call_once(g_atfork_once, [] {
    pthread_atfork(nullptr, nullptr, [] { g_pool.store(new Pool, std::memory_order_release); });
  });
  Pool* fresh = new Pool;
  if (g_pool.compare_exchange_strong(p, fresh, std::memory_order_acq_rel)) return *fresh;
  delete fresh;
  return *p;
}

}  // namespace

void parallel_run(size_t tasks, int threads, TaskRangeFn fn, void* ctx) {
  if (tasks == 0) return;
  threads = static_cast<int>(std::min<size_t>(std::max(threads, 1), tasks));
  if (threads > 1 && tasks <= kLow && !t_in_run) {
    struct Guard {
      Guard() { t_in_run = true; }
      ~Guard() { t_in_run = false; }
    };
    Guard guard;
    if (pool().run(tasks, threads, fn, ctx)) return;
  }
  fn(ctx, 0, tasks);
}

void thread_pool_prewake(int threads) {
  if (threads > 1 && !t_in_run) pool().prewake(threads);
}

bool in_parallel_run() { return t_in_run; }

void set_slow_thread(int thread, double factor) {
  g_slow_factor.store(factor, std::memory_order_relaxed);
  g_slow_thread.store(factor > 1 ? thread : -1, std::memory_order_relaxed);
}

double slow_factor(int thread) {
  return thread >= 0 && thread == g_slow_thread.load(std::memory_order_relaxed)
             ? g_slow_factor.load(std::memory_order_relaxed)
             : 1.0;
}

void run_slowed(int thread, TaskRangeFn fn, void* ctx, size_t begin, size_t end) {
  const double factor = slow_factor(thread);
  if (factor <= 1) {
    fn(ctx, begin, end);
    return;
  }
  const Clock::time_point start = Clock::now();
  fn(ctx, begin, end);
  const Clock::time_point until = start + std::chrono::duration_cast<Clock::duration>((Clock::now() - start) * factor);
  while (Clock::now() < until) cpu_relax();
}

ThreadPoolStats thread_pool_stats(bool reset) {
  auto get = [&](std::atomic<unsigned long long>& c) { return reset ? c.exchange(0) : c.load(); };
  return ThreadPoolStats{get(s_calls), get(s_waited),     get(s_wait_ns),     get(s_worker_tasks),
                         get(s_tasks), get(s_shared_cpu), get(s_caller_slept)};
}

}  // namespace sqbert

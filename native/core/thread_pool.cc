#include "thread_pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SPARQ_PAUSE() _mm_pause()
#else
#define SPARQ_PAUSE() std::this_thread::yield()
#endif

namespace sparq {
namespace {

thread_local bool tls_in_pool_task = false;

// How long an idle worker (or the caller waiting for workers) spins before it
// sleeps on a condition variable: back-to-back kernels then skip the futex
// wake-up (tens of microseconds) without burning a core when idle.
constexpr auto kSpin = std::chrono::microseconds(100);

// Spins until pred() holds or kSpin has passed; returns pred().
template <typename Pred>
bool spin_until(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0;; ++i) {
    if (pred()) return true;
    SPARQ_PAUSE();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > deadline) return pred();
  }
}

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads) { start(n_threads); }
  ~ThreadPool() { stop(); }

  int size() const { return size_.load(std::memory_order_relaxed); }

  void resize(int n_threads) {
    std::lock_guard<std::mutex> run(run_mu_);  // waits for running work
    stop();
    start(n_threads);
  }

  void run(size_t n_tasks, const std::function<void(size_t)>& fn) {
    if (n_tasks == 0) return;
    std::unique_lock<std::mutex> run(run_mu_, std::try_to_lock);
    if (!run.owns_lock() || tls_in_pool_task || workers_.empty() || n_tasks == 1) {
      run_inline(n_tasks, fn);
      return;
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      fn_ = &fn;
      n_tasks_ = n_tasks;
      next_.store(0, std::memory_order_relaxed);
      pending_workers_.store(workers_.size(), std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    work(fn, n_tasks);
    if (!spin_until([&] { return pending_workers_.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock<std::mutex> lk(mu_);
      done_.wait(lk, [&] { return pending_workers_.load(std::memory_order_acquire) == 0; });
    }
  }

 private:
  static void run_inline(size_t n_tasks, const std::function<void(size_t)>& fn) {
    const bool was = tls_in_pool_task;
    tls_in_pool_task = true;
    for (size_t i = 0; i < n_tasks; ++i) fn(i);
    tls_in_pool_task = was;
  }

  void work(const std::function<void(size_t)>& fn, size_t n_tasks) {
    const bool was = tls_in_pool_task;
    tls_in_pool_task = true;
    for (;;) {
      const size_t i = next_.fetch_add(1, std::memory_order_relaxed);
      if (i >= n_tasks) break;
      fn(i);
    }
    tls_in_pool_task = was;
  }

  void worker_loop(uint64_t seen) {
    for (;;) {
      auto ready = [&] {
        return quit_.load(std::memory_order_acquire) ||
               generation_.load(std::memory_order_acquire) != seen;
      };
      if (!spin_until(ready)) {
        std::unique_lock<std::mutex> lk(mu_);
        wake_.wait(lk, ready);
      }
      if (quit_.load(std::memory_order_acquire)) return;
      // fn_ and n_tasks_ were written before generation_'s release: no lock
      // (the caller may still hold mu_ here; waiting for it could put the
      // worker to sleep on the mutex).
      seen = generation_.load(std::memory_order_acquire);
      const std::function<void(size_t)>* fn = fn_;
      const size_t n_tasks = n_tasks_;
      work(*fn, n_tasks);
      if (pending_workers_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lk(mu_);  // pairs with the caller's wait
        done_.notify_one();
      }
    }
  }

  void start(int n_threads) {
    std::lock_guard<std::mutex> lk(mu_);
    quit_.store(false);
    const uint64_t now = generation_.load();  // new workers wait for the next run
    for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, now] { worker_loop(now); });
    size_.store(n_threads, std::memory_order_relaxed);
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      quit_.store(true, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::mutex run_mu_;  // one parallel_for (or resize) at a time
  std::mutex mu_;      // condition variables wait on it; fn_ and n_tasks_ are written under it
                       // and published by generation_ (a worker reads them after it)
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(size_t)>* fn_ = nullptr;
  size_t n_tasks_ = 0;
  std::atomic<uint64_t> generation_{0};  // bumped once per run
  std::atomic<size_t> pending_workers_{0};
  std::atomic<size_t> next_{0};           // next task index to claim
  std::atomic<bool> quit_{false};
  std::atomic<int> size_{1};  // readable without waiting for running work
};

ThreadPool& pool() {
  // Leaked on purpose: joining threads from a static destructor at process exit
  // can deadlock; the OS reclaims them.
  static ThreadPool* p = new ThreadPool(available_cores());
  return *p;
}

}  // namespace

int available_cores() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

void parallel_for(size_t n_tasks, const std::function<void(size_t)>& fn) { pool().run(n_tasks, fn); }

int num_threads() { return pool().size(); }

void set_num_threads(int n) { pool().resize(n < 1 ? 1 : n); }

}  // namespace sparq

#include "thread_pool.h"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif

namespace sparq {
namespace {

thread_local bool tls_in_pool_task = false;

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads) { start(n_threads); }
  ~ThreadPool() { stop(); }

  int size() {
    std::lock_guard<std::mutex> run(run_mu_);
    return static_cast<int>(workers_.size()) + 1;
  }

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
      pending_workers_ = workers_.size();
      ++generation_;
    }
    wake_.notify_all();
    work(fn, n_tasks);
    std::unique_lock<std::mutex> lk(mu_);
    done_.wait(lk, [&] { return pending_workers_ == 0; });
    fn_ = nullptr;
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
      const std::function<void(size_t)>* fn;
      size_t n_tasks;
      {
        std::unique_lock<std::mutex> lk(mu_);
        wake_.wait(lk, [&] { return quit_ || generation_ != seen; });
        if (quit_) return;
        seen = generation_;
        fn = fn_;
        n_tasks = n_tasks_;
      }
      work(*fn, n_tasks);
      {
        std::lock_guard<std::mutex> lk(mu_);
        if (--pending_workers_ == 0) done_.notify_one();
      }
    }
  }

  void start(int n_threads) {
    std::lock_guard<std::mutex> lk(mu_);
    quit_ = false;
    const uint64_t now = generation_;  // new workers wait for the next run
    for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, now] { worker_loop(now); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      quit_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::mutex run_mu_;  // one parallel_for (or resize) at a time
  std::mutex mu_;      // guards the fields below
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(size_t)>* fn_ = nullptr;
  size_t n_tasks_ = 0;
  size_t pending_workers_ = 0;
  uint64_t generation_ = 0;
  bool quit_ = false;
  std::atomic<size_t> next_{0};
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

// Large working memory (large_buffer.h). Blocks of kHugePageBytes and more
// are recycled: a freed block is kept, its pages handed back to the kernel
// lazily (MADV_FREE: reclaimed only under memory pressure, otherwise still
// mapped), and the next allocation of the same size (in whole 2 MiB pages)
// takes it. A fresh block costs a page fault and the zeroing of every page
// on first touch: for exact 1-D k-means of 16.7M float32 values (about
// 1.1 GiB of working arrays) that was 0.15 to 1.9 s of system time a call
// here, calls after the first included (bench/kmeans-time.js). Kept blocks
// are released kRecycleSeconds after they were freed (by a thread that runs
// only while blocks are kept, waking at the oldest block's expiry), and the
// oldest ones first whenever more than kRecycleBytes are kept.
#include "large_buffer.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define SPARQ_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define SPARQ_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define SPARQ_POISON(p, n) ((void)(p), (void)(n))
#define SPARQ_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace sparq {
namespace {

constexpr size_t kRecycleBytes = size_t{2} << 30;
constexpr auto kRecycleSeconds = std::chrono::seconds(10);
using Clock = std::chrono::steady_clock;

struct Kept {
  void* p;
  size_t bytes;
  Clock::time_point freed;
};

struct Recycler {
  std::mutex mu;
  std::condition_variable expire;  // never notified: the trimmer only times out
  std::vector<Kept> kept;  // oldest first
  size_t kept_bytes = 0;
  bool trimmer = false;
};

// Never destroyed: the trimmer thread may still wait on it at exit.
Recycler& recycler() {
  static Recycler* r = new Recycler;
  return *r;
}

size_t whole_pages(size_t bytes) { return (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes; }

void release(void* p, size_t bytes) {
  SPARQ_UNPOISON(p, bytes);
  ::operator delete(p, std::align_val_t{kHugePageBytes});
}

// Releases the kept blocks freed before `before` and the oldest while more
// than kRecycleBytes are kept. r.mu held.
void release_expired(Recycler& r, Clock::time_point before) {
  size_t n = 0;
  for (; n < r.kept.size() && (r.kept[n].freed < before || r.kept_bytes > kRecycleBytes); ++n) {
    r.kept_bytes -= r.kept[n].bytes;
    release(r.kept[n].p, r.kept[n].bytes);
  }
  r.kept.erase(r.kept.begin(), r.kept.begin() + static_cast<std::ptrdiff_t>(n));
}

void trim_loop() {
  Recycler& r = recycler();
  std::unique_lock<std::mutex> lk(r.mu);
  while (!r.kept.empty()) {
    r.expire.wait_until(lk, r.kept.front().freed + kRecycleSeconds);
    release_expired(r, Clock::now() - kRecycleSeconds);
  }
  r.trimmer = false;
}

}  // namespace

void* large_alloc(size_t bytes) {
  if (bytes < kHugePageBytes) return ::operator new(bytes, std::align_val_t{64});
  bytes = whole_pages(bytes);
  Recycler& r = recycler();
  {
    // A kept block of the same size, the most recently freed.
    std::lock_guard<std::mutex> lk(r.mu);
    for (size_t i = r.kept.size(); i-- > 0;)
      if (r.kept[i].bytes == bytes) {
        void* p = r.kept[i].p;
        r.kept.erase(r.kept.begin() + static_cast<std::ptrdiff_t>(i));
        r.kept_bytes -= bytes;
        SPARQ_UNPOISON(p, bytes);
        return p;
      }
  }
  void* p = ::operator new(bytes, std::align_val_t{kHugePageBytes});
#ifdef MADV_HUGEPAGE
  madvise(p, bytes, MADV_HUGEPAGE);  // a hint: failure is harmless
#endif
  return p;
}

void large_free(void* p, size_t bytes) noexcept {
  if (p == nullptr) return;
  if (bytes < kHugePageBytes) {
    ::operator delete(p, std::align_val_t{64});
    return;
  }
  bytes = whole_pages(bytes);
  if (bytes > kRecycleBytes) {  // never kept: keeping it would first push out every kept block
    release(p, bytes);
    return;
  }
#ifdef MADV_FREE
  madvise(p, bytes, MADV_FREE);
#endif
  SPARQ_POISON(p, bytes);
  Recycler& r = recycler();
  std::lock_guard<std::mutex> lk(r.mu);
  try {
    if (!r.trimmer) {
      std::thread(trim_loop).detach();  // waits for the lock; exits if nothing is kept
      r.trimmer = true;
    }
    r.kept.push_back(Kept{p, bytes, Clock::now()});
  } catch (...) {  // no thread or no memory for the bookkeeping
    release(p, bytes);
    return;
  }
  r.kept_bytes += bytes;
  release_expired(r, Clock::now() - kRecycleSeconds);
}

}  // namespace sparq

// Large working memory: 64-byte aligned (whole cache lines per SIMD load),
// uninitialised, and from 2 MiB up aligned to 2 MiB with transparent huge
// pages requested. The first touch of fresh memory costs a page fault per
// 4 KiB page otherwise; at hundreds of MiB (exact k-means of 16M values)
// those faults were most of the time on a virtual machine, several
// microseconds each. Blocks of 2 MiB and more are also recycled
// (large_buffer.cc): a freed one is kept up to 10 s for the next allocation
// of its size, so back-to-back calls skip the kernel's page faults and
// zeroing.
#pragma once
#include <cstddef>
#include <new>
#include <vector>

namespace sparq {

constexpr size_t kHugePageBytes = size_t{2} << 20;

// Memory for `bytes` (> 0): 64-byte aligned, from kHugePageBytes up aligned
// to kHugePageBytes. Throws std::bad_alloc.
void* large_alloc(size_t bytes);
// Frees a block of large_alloc (the same `bytes`); null is ignored.
void large_free(void* p, size_t bytes) noexcept;

// Allocator for std::vector: large_alloc, and resize() default-initialises
// (no zero fill) trivial elements, so the threads that write them first
// touch the pages.
template <typename T>
struct LargeAllocator {
  using value_type = T;
  LargeAllocator() = default;
  template <typename U>
  LargeAllocator(const LargeAllocator<U>&) noexcept {}
  static size_t bytes(size_t n) { return (n * sizeof(T) + 63) / 64 * 64; }
  T* allocate(size_t n) { return static_cast<T*>(large_alloc(bytes(n))); }
  void deallocate(T* p, size_t n) noexcept { large_free(p, bytes(n)); }
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(static_cast<Args&&>(args)...);
  }
  template <typename U>
  bool operator==(const LargeAllocator<U>&) const noexcept { return true; }
  template <typename U>
  bool operator!=(const LargeAllocator<U>&) const noexcept { return false; }
};

template <typename T>
using LargeVector = std::vector<T, LargeAllocator<T>>;

// A fixed-size uninitialised array with room for one extra SIMD vector past
// its end (masked or overlapping loads may touch it).
template <typename T>
struct LargeArray {
  T* p = nullptr;
  size_t bytes = 0;
  explicit LargeArray(size_t n) : bytes((n + 64 / sizeof(T)) * sizeof(T)) { p = static_cast<T*>(large_alloc(bytes)); }
  ~LargeArray() { large_free(p, bytes); }
  LargeArray(const LargeArray&) = delete;
  LargeArray& operator=(const LargeArray&) = delete;
};

}  // namespace sparq

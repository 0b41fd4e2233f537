#include "convert.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels.h"
#include "thread_pool.h"

namespace sparq {
namespace {

constexpr size_t kChunk = 1 << 16;  // elements per task

template <typename Src, typename Dst, typename Kernel>
void run_chunked(const Src* src, Dst* dst, size_t n, Kernel kernel) {
  parallel_for((n + kChunk - 1) / kChunk, [&](size_t t) {
    const size_t i = t * kChunk;
    kernel(src + i, dst + i, std::min(kChunk, n - i));
  });
}

}  // namespace

void convert_f32_to_half(const float* src, uint16_t* dst, size_t n, HalfType type) {
  const KernelTable& k = kernels();
  run_chunked(src, dst, n, type == HalfType::kF16 ? k.f32_to_f16 : k.f32_to_bf16);
}

void convert_half_to_f32(const uint16_t* src, float* dst, size_t n, HalfType type) {
  const KernelTable& k = kernels();
  run_chunked(src, dst, n, type == HalfType::kF16 ? k.f16_to_f32 : k.bf16_to_f32);
}

size_t first_non_finite(const float* x, size_t n) {
  // Blocks of 64 tested with a branch-free (vectorisable) OR of exponent
  // checks; the block that fails is then searched.
  constexpr size_t kBlock = 64;
  for (size_t b = 0; b < n; b += kBlock) {
    const size_t e = std::min(n, b + kBlock);
    uint32_t bad = 0;
    for (size_t i = b; i < e; ++i) {
      uint32_t u;
      std::memcpy(&u, x + i, 4);
      bad |= static_cast<uint32_t>((u & 0x7F800000u) == 0x7F800000u);
    }
    if (bad == 0) continue;
    for (size_t i = b; i < e; ++i)
      if (!std::isfinite(x[i])) return i;
  }
  return n;
}

}  // namespace sparq

// AVX-512 dense linear: f32 weights, and f16 / bf16 weights widened to f32
// in registers (exact), on the shared tile driver (tiles_avx512.h).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "../../target.h"
#include "dense.h"
#include "tiles_avx512.h"
#include "widen.h"

namespace sparq {
namespace {

using avx512::k_steps;
using avx512::kLanes;
using avx512::BF16;
using avx512::F16;
using avx512::F32;

// Row-major [M, K] weights of element type T, widened by Widen.
template <typename T, typename Widen>
struct DenseWeights {
  using Row = const T*;
  const T* base;
  size_t K;
  Row row(size_t m) const { return base + m * K; }
  SPARQ_TARGET_AVX512 __m512 load(Row r, size_t k) const { return Widen::full(r + k); }
  SPARQ_TARGET_AVX512 __m512 load(Row r, size_t k, __mmask16 m) const { return Widen::masked(r + k, m); }
};

}  // namespace

// Activations in groups (GroupPlan of each kLinearChunkRows chunk); within a
// group of r rows, K step s holds rows 0..r-1's 16 floats one after another,
// zero-padded past K. The group starting at row n starts at float
// n * k_steps(K) * 16.
void linear_pack_x_avx512(const float* x, size_t N, size_t K, float* xp) {
  const size_t steps = k_steps(K);
  for (size_t c0 = 0; c0 < N; c0 += kLinearChunkRows) {
    const avx512::GroupPlan plan(std::min(kLinearChunkRows, N - c0));
    for (size_t g = 0, n0 = c0; g < plan.count; n0 += plan.size(g), ++g) {
      const size_t r = plan.size(g);
      float* group = xp + n0 * steps * kLanes;
      for (size_t s = 0; s < steps; ++s) {
        const size_t k = s * kLanes, len = std::min(kLanes, K - k);
        for (size_t j = 0; j < r; ++j) {
          float* dst = group + (s * r + j) * kLanes;
          std::memcpy(dst, x + (n0 + j) * K + k, len * sizeof(float));
          std::fill(dst + len, dst + kLanes, 0.0f);
        }
      }
    }
  }
}

SPARQ_TARGET_AVX512 void linear_dense_f32_avx512(const float* xp, size_t, const void* w, size_t K,
                                                 const float* bias, float* y, size_t ldy,
                                                 size_t n0, size_t n1, size_t m0, size_t m1) {
  const DenseWeights<float, F32> wt{static_cast<const float*>(w), K};
  avx512::linear(xp, wt, K, bias, y, ldy, n0, n1, m0, m1);
}

SPARQ_TARGET_AVX512 void linear_dense_f16_avx512(const float* xp, size_t, const void* w, size_t K,
                                                 const float* bias, float* y, size_t ldy,
                                                 size_t n0, size_t n1, size_t m0, size_t m1) {
  const DenseWeights<uint16_t, F16> wt{static_cast<const uint16_t*>(w), K};
  avx512::linear(xp, wt, K, bias, y, ldy, n0, n1, m0, m1);
}

SPARQ_TARGET_AVX512 void linear_dense_bf16_avx512(const float* xp, size_t, const void* w,
                                                  size_t K, const float* bias, float* y,
                                                  size_t ldy, size_t n0, size_t n1, size_t m0,
                                                  size_t m1) {
  const DenseWeights<uint16_t, BF16> wt{static_cast<const uint16_t*>(w), K};
  avx512::linear(xp, wt, K, bias, y, ldy, n0, n1, m0, m1);
}

}  // namespace sparq

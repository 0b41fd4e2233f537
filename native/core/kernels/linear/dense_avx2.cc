// AVX2 + FMA + F16C dense linear: f32 weights, and f16 / bf16 weights widened
// to f32 in registers, on the shared AVX2 tile driver (tiles_avx2.h).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "../../target.h"
#include "dense.h"
#include "tiles_avx2.h"
#include "widen.h"

namespace sparq {
namespace {

using avx2::BF16;
using avx2::F16;
using avx2::F32;

// Row-major [M, K] weights of element type T, widened by Widen.
template <typename T, typename Widen>
struct DenseWeights {
  using Row = const T*;
  const T* base;
  size_t K;
  Row row(size_t m) const { return base + m * K; }
  SPARQ_TARGET_AVX2 __m256 load(Row r, size_t k) const { return Widen::load(r + k); }
  SPARQ_TARGET_AVX2 __m256 load_tail(Row r, size_t k, size_t n) const {
    T buf[8] = {};
    std::memcpy(buf, r + k, n * sizeof(T));
    return Widen::load(buf);
  }
};

}  // namespace

SPARQ_TARGET_AVX2 void linear_dense_f32_avx2(const float* x, size_t ldx, const void* w, size_t K,
                                             const float* bias, float* y, size_t ldy, size_t n0,
                                             size_t n1, size_t m0, size_t m1) {
  const DenseWeights<float, F32> wt{static_cast<const float*>(w), K};
  avx2::linear(x, ldx, wt, K, bias, y, ldy, n0, n1, m0, m1);
}

SPARQ_TARGET_AVX2 void linear_dense_f16_avx2(const float* x, size_t ldx, const void* w, size_t K,
                                             const float* bias, float* y, size_t ldy, size_t n0,
                                             size_t n1, size_t m0, size_t m1) {
  const DenseWeights<uint16_t, F16> wt{static_cast<const uint16_t*>(w), K};
  avx2::linear(x, ldx, wt, K, bias, y, ldy, n0, n1, m0, m1);
}

SPARQ_TARGET_AVX2 void linear_dense_bf16_avx2(const float* x, size_t ldx, const void* w, size_t K,
                                              const float* bias, float* y, size_t ldy, size_t n0,
                                              size_t n1, size_t m0, size_t m1) {
  const DenseWeights<uint16_t, BF16> wt{static_cast<const uint16_t*>(w), K};
  avx2::linear(x, ldx, wt, K, bias, y, ldy, n0, n1, m0, m1);
}

}  // namespace sparq

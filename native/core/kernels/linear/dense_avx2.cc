// AVX2 + FMA + F16C dense linear: the AVX-512 kernel's structure with 8 lanes
// and 16 registers (tiles up to 4 weight rows x 3 activation rows). The K tail
// is loaded through zero-padded copies.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "../../target.h"
#include "dense.h"

namespace sparq {
namespace {

struct F32Weights {
  using T = float;
  SPARQ_TARGET_AVX2 static __m256 load(const float* p) { return _mm256_loadu_ps(p); }
};

struct F16Weights {
  using T = uint16_t;
  SPARQ_TARGET_AVX2 static __m256 load(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
};

struct BF16Weights {
  using T = uint16_t;
  SPARQ_TARGET_AVX2 static __m256 load(const uint16_t* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
};

// Loads n < 8 elements, zero-filling the rest of the vector.
template <typename W>
SPARQ_TARGET_AVX2 __m256 load_tail(const typename W::T* p, size_t n) {
  typename W::T buf[8] = {};
  std::memcpy(buf, p, n * sizeof(typename W::T));
  return W::load(buf);
}

SPARQ_TARGET_AVX2 inline float reduce_add(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

template <typename W, int MR, int NR>
SPARQ_TARGET_AVX2 void tile(const float* x, size_t ldx, const typename W::T* const* w_rows,
                            size_t K, float* out) {
  __m256 acc[MR][NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_setzero_ps();
  size_t k = 0;
  for (; k + 8 <= K; k += 8) {
    __m256 xv[NR];
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) xv[j] = _mm256_loadu_ps(x + j * ldx + k);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m256 wv = W::load(w_rows[i] + k);
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_fmadd_ps(wv, xv[j], acc[i][j]);
    }
  }
  if (k < K) {
    __m256 xv[NR];
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) xv[j] = load_tail<F32Weights>(x + j * ldx + k, K - k);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m256 wv = load_tail<W>(w_rows[i] + k, K - k);
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_fmadd_ps(wv, xv[j], acc[i][j]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) out[i * NR + j] = reduce_add(acc[i][j]);
}

template <typename W, int MR, int NR>
SPARQ_TARGET_AVX2 void rows(const float* x, size_t ldx, const typename W::T* w, size_t K,
                            const float* bias, float* y, size_t ldy, size_t n, size_t m0,
                            size_t m1) {
  for (size_t m = m0; m < m1; m += MR) {
    const typename W::T* w_rows[MR];
    for (int i = 0; i < MR; ++i) w_rows[i] = w + std::min(m + i, m1 - 1) * K;
    float out[MR * NR];
    tile<W, MR, NR>(x + n * ldx, ldx, w_rows, K, out);
    const size_t mr = std::min<size_t>(MR, m1 - m);
    for (int j = 0; j < NR; ++j) {
      float* yr = y + (n + j) * ldy + m;
      for (size_t i = 0; i < mr; ++i) yr[i] = bias ? out[i * NR + j] + bias[m + i] : out[i * NR + j];
    }
  }
}

template <typename W>
SPARQ_TARGET_AVX2 void linear(const float* x, size_t ldx, const void* w, size_t K,
                              const float* bias, float* y, size_t ldy, size_t n0, size_t n1,
                              size_t m0, size_t m1) {
  const typename W::T* wt = static_cast<const typename W::T*>(w);
  for (size_t n = n0; n < n1;) {
    const size_t left = n1 - n;
    switch (left >= 3 ? 3 : left) {
      case 3: rows<W, 4, 3>(x, ldx, wt, K, bias, y, ldy, n, m0, m1); n += 3; break;
      case 2: rows<W, 4, 2>(x, ldx, wt, K, bias, y, ldy, n, m0, m1); n += 2; break;
      default: rows<W, 8, 1>(x, ldx, wt, K, bias, y, ldy, n, m0, m1); n += 1; break;
    }
  }
}

}  // namespace

SPARQ_TARGET_AVX2 void linear_dense_f32_avx2(const float* x, size_t ldx, const void* w, size_t K,
                                             const float* bias, float* y, size_t ldy, size_t n0,
                                             size_t n1, size_t m0, size_t m1) {
  linear<F32Weights>(x, ldx, w, K, bias, y, ldy, n0, n1, m0, m1);
}

SPARQ_TARGET_AVX2 void linear_dense_f16_avx2(const float* x, size_t ldx, const void* w, size_t K,
                                             const float* bias, float* y, size_t ldy, size_t n0,
                                             size_t n1, size_t m0, size_t m1) {
  linear<F16Weights>(x, ldx, w, K, bias, y, ldy, n0, n1, m0, m1);
}

SPARQ_TARGET_AVX2 void linear_dense_bf16_avx2(const float* x, size_t ldx, const void* w, size_t K,
                                              const float* bias, float* y, size_t ldy, size_t n0,
                                              size_t n1, size_t m0, size_t m1) {
  linear<BF16Weights>(x, ldx, w, K, bias, y, ldy, n0, n1, m0, m1);
}

}  // namespace sparq

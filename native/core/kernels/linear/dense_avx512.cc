// AVX-512 dense linear. Dot-product form on the checkpoint layout (w is [M, K]
// row-major): a tile of MR weight rows x NR activation rows keeps MR*NR
// 16-lane accumulators in registers; each weight vector loaded (and widened
// from f16/bf16) feeds NR FMAs. The K tail uses masked loads (zeros), and each
// accumulator is reduced the same way whatever the tile shape, so an output
// never depends on how rows were blocked or split over threads.
// Weight rows stream from memory in long sequential runs (what the hardware
// prefetchers want); blocking K to keep activations in L1 was measured slower.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "../../target.h"
#include "dense.h"

namespace sparq {
namespace {

struct F32Weights {
  using T = float;
  SPARQ_TARGET_AVX512 static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
  SPARQ_TARGET_AVX512 static __m512 load(const float* p, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, p);
  }
};

struct F16Weights {
  using T = uint16_t;
  SPARQ_TARGET_AVX512 static __m512 load(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  SPARQ_TARGET_AVX512 static __m512 load(const uint16_t* p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
  }
};

struct BF16Weights {
  using T = uint16_t;
  SPARQ_TARGET_AVX512 static __m512 widen(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  SPARQ_TARGET_AVX512 static __m512 load(const uint16_t* p) {
    return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  SPARQ_TARGET_AVX512 static __m512 load(const uint16_t* p, __mmask16 m) {
    return widen(_mm256_maskz_loadu_epi16(m, p));
  }
};

// Horizontal sum in a fixed order (256-bit halves, 128-bit lanes, pairs).
SPARQ_TARGET_AVX512 inline float reduce_add(__m512 v) {
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  v = _mm512_add_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm512_cvtss_f32(v);
}

// out[i * NR + j] = dot(w_rows[i], x + j * ldx) over K.
template <typename W, int MR, int NR>
SPARQ_TARGET_AVX512 void tile(const float* x, size_t ldx, const typename W::T* const* w_rows,
                              size_t K, float* out) {
  __m512 acc[MR][NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_ps();
  size_t k = 0;
  for (; k + 16 <= K; k += 16) {
    __m512 xv[NR];
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) xv[j] = _mm512_loadu_ps(x + j * ldx + k);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 wv = W::load(w_rows[i] + k);
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_fmadd_ps(wv, xv[j], acc[i][j]);
    }
  }
  if (k < K) {
    const __mmask16 m = static_cast<__mmask16>((1u << (K - k)) - 1u);
    __m512 xv[NR];
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) xv[j] = _mm512_maskz_loadu_ps(m, x + j * ldx + k);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 wv = W::load(w_rows[i] + k, m);
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_fmadd_ps(wv, xv[j], acc[i][j]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) out[i * NR + j] = reduce_add(acc[i][j]);
}

// y[n + j, m + i] = out(i, j) (+ bias) for the mr valid rows of one tile.
template <typename W, int MR, int NR>
SPARQ_TARGET_AVX512 void tile_to_y(const float* x, size_t ldx, const typename W::T* const* w_rows,
                                   size_t K, const float* bias, float* y, size_t ldy, size_t n,
                                   size_t m, size_t mr) {
  float out[MR * NR];
  tile<W, MR, NR>(x + n * ldx, ldx, w_rows, K, out);
  for (int j = 0; j < NR; ++j) {
    float* yr = y + (n + j) * ldy + m;
    for (size_t i = 0; i < mr; ++i) yr[i] = bias ? out[i * NR + j] + bias[m + i] : out[i * NR + j];
  }
}

// Weight rows [m, m + MR) of [m0, m1); past m1 the last row is repeated and
// its results dropped.
template <typename W, int MR>
SPARQ_TARGET_AVX512 void weight_rows(const typename W::T* w, size_t K, size_t m, size_t m1,
                                     const typename W::T** w_rows) {
  for (int i = 0; i < MR; ++i) w_rows[i] = w + std::min(m + i, m1 - 1) * K;
}

// Activation rows [n, n + NR) against weight rows [m0, m1), MR at a time.
template <typename W, int MR, int NR>
SPARQ_TARGET_AVX512 void rows(const float* x, size_t ldx, const typename W::T* w, size_t K,
                              const float* bias, float* y, size_t ldy, size_t n, size_t m0,
                              size_t m1) {
  for (size_t m = m0; m < m1; m += MR) {
    const typename W::T* w_rows[MR];
    weight_rows<W, MR>(w, K, m, m1, w_rows);
    tile_to_y<W, MR, NR>(x, ldx, w_rows, K, bias, y, ldy, n, m, std::min<size_t>(MR, m1 - m));
  }
}

// Weight tiles outer, activation tiles inner: each 4-row weight tile is read
// from memory once and reused (from L1/L2) by every activation tile.
template <typename W>
SPARQ_TARGET_AVX512 void linear_m_outer(const float* x, size_t ldx, const typename W::T* w,
                                        size_t K, const float* bias, float* y, size_t ldy,
                                        size_t n0, size_t n1, size_t m0, size_t m1) {
  for (size_t m = m0; m < m1; m += 4) {
    const typename W::T* w_rows[4];
    weight_rows<W, 4>(w, K, m, m1, w_rows);
    const size_t mr = std::min<size_t>(4, m1 - m);
    for (size_t n = n0; n < n1;) {
      const size_t left = n1 - n;
      switch (left >= 6 ? 6 : left) {
        case 6: tile_to_y<W, 4, 6>(x, ldx, w_rows, K, bias, y, ldy, n, m, mr); n += 6; break;
        case 5: tile_to_y<W, 4, 5>(x, ldx, w_rows, K, bias, y, ldy, n, m, mr); n += 5; break;
        case 4: tile_to_y<W, 4, 4>(x, ldx, w_rows, K, bias, y, ldy, n, m, mr); n += 4; break;
        case 3: tile_to_y<W, 4, 3>(x, ldx, w_rows, K, bias, y, ldy, n, m, mr); n += 3; break;
        case 2: tile_to_y<W, 4, 2>(x, ldx, w_rows, K, bias, y, ldy, n, m, mr); n += 2; break;
        default: tile_to_y<W, 4, 1>(x, ldx, w_rows, K, bias, y, ldy, n, m, mr); n += 1; break;
      }
    }
  }
}

// Up to two activation rows (GEMV-like, memory-bound): 8 weight rows per
// tile; otherwise weight tiles outer, activation tiles inner.
template <typename W>
SPARQ_TARGET_AVX512 void linear(const float* x, size_t ldx, const void* w, size_t K,
                                const float* bias, float* y, size_t ldy, size_t n0, size_t n1,
                                size_t m0, size_t m1) {
  const typename W::T* wt = static_cast<const typename W::T*>(w);
  if (n1 - n0 > 2) {
    linear_m_outer<W>(x, ldx, wt, K, bias, y, ldy, n0, n1, m0, m1);
  } else if (n1 - n0 == 2) {
    rows<W, 8, 2>(x, ldx, wt, K, bias, y, ldy, n0, m0, m1);
  } else if (n1 - n0 == 1) {
    rows<W, 8, 1>(x, ldx, wt, K, bias, y, ldy, n0, m0, m1);
  }
}

}  // namespace

SPARQ_TARGET_AVX512 void linear_dense_f32_avx512(const float* x, size_t ldx, const void* w,
                                                 size_t K, const float* bias, float* y,
                                                 size_t ldy, size_t n0, size_t n1, size_t m0,
                                                 size_t m1) {
  linear<F32Weights>(x, ldx, w, K, bias, y, ldy, n0, n1, m0, m1);
}

SPARQ_TARGET_AVX512 void linear_dense_f16_avx512(const float* x, size_t ldx, const void* w,
                                                 size_t K, const float* bias, float* y,
                                                 size_t ldy, size_t n0, size_t n1, size_t m0,
                                                 size_t m1) {
  linear<F16Weights>(x, ldx, w, K, bias, y, ldy, n0, n1, m0, m1);
}

SPARQ_TARGET_AVX512 void linear_dense_bf16_avx512(const float* x, size_t ldx, const void* w,
                                                  size_t K, const float* bias, float* y,
                                                  size_t ldy, size_t n0, size_t n1, size_t m0,
                                                  size_t m1) {
  linear<BF16Weights>(x, ldx, w, K, bias, y, ldy, n0, n1, m0, m1);
}

}  // namespace sparq

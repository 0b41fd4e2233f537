// AVX2 + FMA linear driver templates shared by every weight format: register
// tiles in dot-product form (8 lanes, 16 registers: up to 4 weight rows x 3
// activation rows). A format supplies a weights policy W:
//   using Row = ...;                                   // what one weight row needs
//   Row row(size_t m) const;                           // row m
//   __m256 load(Row&, size_t k) const;                 // 8 weights from k, as f32
//   __m256 load_tail(Row&, size_t k, size_t n) const;  // n < 8 weights, zeros after
// called in K order on the tile's own copy of each Row (a sparse policy
// advances a cursor in it).
// Activations are read as is ([N, K] with row stride ldx). As on AVX-512, each
// accumulator sees the same FMAs in the same order whatever the tile shape.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "../../large_buffer.h"
#include "../../target.h"
#include "tile_store.h"

namespace sparq {
namespace avx2 {

// Loads n < 8 floats, zero-filling the rest of the vector.
SPARQ_TARGET_AVX2 inline __m256 load_f32_tail(const float* p, size_t n) {
  float buf[8] = {};
  std::memcpy(buf, p, n * sizeof(float));
  return _mm256_loadu_ps(buf);
}

SPARQ_TARGET_AVX2 inline float reduce_add(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

template <typename W, int MR, int NR>
SPARQ_TARGET_AVX2 void tile(const float* x, size_t ldx, const W& w, const typename W::Row* w_rows,
                            size_t K, float* out) {
  typename W::Row rows[MR];  // a policy may advance its rows as k grows (sparse cursors)
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) rows[i] = w_rows[i];
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
      const __m256 wv = w.load(rows[i], k);
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_fmadd_ps(wv, xv[j], acc[i][j]);
    }
  }
  if (k < K) {
    __m256 xv[NR];
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) xv[j] = load_f32_tail(x + j * ldx + k, K - k);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m256 wv = w.load_tail(rows[i], k, K - k);
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_fmadd_ps(wv, xv[j], acc[i][j]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) out[i * NR + j] = reduce_add(acc[i][j]);
}

// Activation rows [n, n + NR) against weight rows [m0, m1), MR at a time. Past
// m1 the last row is repeated and its results dropped.
template <typename W, int MR, int NR>
SPARQ_TARGET_AVX2 void rows(const float* x, size_t ldx, const W& w, size_t K, const float* bias,
                            float* y, size_t ldy, size_t n, size_t m0, size_t m1) {
  for (size_t m = m0; m < m1; m += MR) {
    typename W::Row w_rows[MR];
    for (int i = 0; i < MR; ++i) w_rows[i] = w.row(std::min(m + i, m1 - 1));
    float out[MR * NR];
    tile<W, MR, NR>(x + n * ldx, ldx, w, w_rows, K, out);
    const size_t mr = std::min<size_t>(MR, m1 - m);
    store_tile(out, NR, mr, bias, y, ldy, n, m);
  }
}

template <typename W>
SPARQ_TARGET_AVX2 void linear(const float* x, size_t ldx, const W& w, size_t K, const float* bias,
                              float* y, size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1) {
  for (size_t n = n0; n < n1;) {
    const size_t left = n1 - n;
    switch (left >= 3 ? 3 : left) {
      case 3: rows<W, 4, 3>(x, ldx, w, K, bias, y, ldy, n, m0, m1); n += 3; break;
      case 2: rows<W, 4, 2>(x, ldx, w, K, bias, y, ldy, n, m0, m1); n += 2; break;
      default: rows<W, 8, 1>(x, ldx, w, K, bias, y, ldy, n, m0, m1); n += 1; break;
    }
  }
}

// Float32 weight rows in a scratch buffer: row m at (m - first) * stride,
// 32-byte aligned and zero-padded to whole vectors.
struct ScratchRows {
  using Row = const float*;
  const float* base;
  size_t first, stride;
  Row row(size_t m) const { return base + (m - first) * stride; }
  SPARQ_TARGET_AVX2 __m256 load(Row r, size_t k) const { return _mm256_load_ps(r + k); }
  SPARQ_TARGET_AVX2 __m256 load_tail(Row r, size_t k, size_t) const { return _mm256_load_ps(r + k); }
};

// As linear, but with at least min_rows activation rows, each block of 4
// weight rows is decoded once into a scratch buffer (L2 at K = 4096) and every
// activation row multiplies that, instead of decoding it again for each group
// of 3. The decoded values and the FMAs are the same either way, so the
// results are bit-identical.
template <typename W>
SPARQ_TARGET_AVX2 void linear_decoded_once(const float* x, size_t ldx, const W& w, size_t K, const float* bias,
                                           float* y, size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1,
                                           size_t min_rows) {
  if (n1 - n0 < std::max<size_t>(min_rows, 4)) {
    linear(x, ldx, w, K, bias, y, ldy, n0, n1, m0, m1);
    return;
  }
  const size_t stride = (K + 7) / 8 * 8;
  LargeVector<float> scratch(4 * stride);
  for (size_t m = m0; m < m1; m += 4) {
    const size_t rows = std::min<size_t>(4, m1 - m);
    for (size_t i = 0; i < rows; ++i) {
      typename W::Row r = w.row(m + i);
      float* dst = scratch.data() + i * stride;
      size_t k = 0;
      for (; k + 8 <= K; k += 8) _mm256_store_ps(dst + k, w.load(r, k));
      if (k < K) _mm256_store_ps(dst + k, w.load_tail(r, k, K - k));
    }
    linear(x, ldx, ScratchRows{scratch.data(), m, stride}, K, bias, y, ldy, n0, n1, m, m + rows);
  }
}

}  // namespace avx2
}  // namespace sparq

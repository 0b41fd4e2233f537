// AVX2 sparse linear on the ell format (sparse.h): each group of 16 weight
// rows runs as two halves of 8 lanes (lane l: row 16 g + 8 h + l), one
// accumulator per half and activation row, one gather of x at the entries'
// columns and one FMA per 8 entries. Up to 4 activation rows share the load
// and widening of an entry vector. Lane l's FMAs run in the same order
// whatever the tile, so results are bit-identical for any N and threads.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "../../target.h"
#include "sparse.h"
#include "tile_store.h"
#include "widen.h"

namespace sparq {
namespace {

constexpr size_t kHalf = 8;

// Activation rows [n, n + NR) of x (padded to whole panels, row stride ldx)
// by the 8-row halves of groups [m0 / 16, ceil(m1 / 16)).
template <typename Widen, int NR>
SPARQ_TARGET_AVX2 void ell_gather(const float* x, size_t ldx, const SparseWeights& w, size_t K,
                                  const float* bias, float* y, size_t ldy, size_t n, size_t m0,
                                  size_t m1) {
  const size_t panels = ell_panels(K);
  const auto* values = static_cast<const typename Widen::T*>(w.values);
  const __m256i low7 = _mm256_set1_epi32(0x7F);
  for (size_t m = m0; m < m1; m += kHalf) {
    const size_t g = m / kEllRows, h = m % kEllRows;  // h: 0 or 8
    const uint32_t* offsets = w.offsets + g * panels;
    __m256 acc[NR];
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) acc[j] = _mm256_setzero_ps();
    for (size_t p = 0; p < panels; ++p) {
      const float* xp = x + n * ldx + p * kEllPanel;
      for (size_t v = offsets[p]; v < offsets[p + 1]; ++v) {
        const size_t e = v * kEllRows + h;
        const __m256i id = _mm256_and_si256(
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w.panel_cols + e))), low7);
        const __m256 wv = Widen::load(values + e);
#pragma GCC unroll 4
        for (int j = 0; j < NR; ++j)
          acc[j] = _mm256_fmadd_ps(wv, _mm256_i32gather_ps(xp + j * ldx, id, 4), acc[j]);
      }
    }
    alignas(32) float out[NR][kHalf];
    for (int j = 0; j < NR; ++j) _mm256_store_ps(out[j], acc[j]);
    store_outputs(&out[0][0], kHalf, 1, NR, std::min(kHalf, m1 - m), bias, y, ldy, n, m);
  }
}

template <typename Widen>
SPARQ_TARGET_AVX2 void ell(const float* x, size_t ldx, const SparseWeights& w, size_t K, const float* bias,
                           float* y, size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1) {
  size_t n = n0;
  for (; n + 4 <= n1; n += 4) ell_gather<Widen, 4>(x, ldx, w, K, bias, y, ldy, n, m0, m1);
  switch (n1 - n) {
    case 3: ell_gather<Widen, 3>(x, ldx, w, K, bias, y, ldy, n, m0, m1); break;
    case 2: ell_gather<Widen, 2>(x, ldx, w, K, bias, y, ldy, n, m0, m1); break;
    case 1: ell_gather<Widen, 1>(x, ldx, w, K, bias, y, ldy, n, m0, m1); break;
    default: break;
  }
}

}  // namespace

SPARQ_TARGET_AVX2 void linear_ell_avx2(const float* x, size_t ldx, const float*, const SparseWeights& w,
                                       size_t K, const float* bias, float* y, size_t ldy, size_t n0,
                                       size_t n1, size_t m0, size_t m1) {
  switch (w.value_type) {
    case WeightType::kF32: ell<avx2::F32>(x, ldx, w, K, bias, y, ldy, n0, n1, m0, m1); break;
    case WeightType::kF16: ell<avx2::F16>(x, ldx, w, K, bias, y, ldy, n0, n1, m0, m1); break;
    case WeightType::kBF16: ell<avx2::BF16>(x, ldx, w, K, bias, y, ldy, n0, n1, m0, m1); break;
    case WeightType::kI8: ell<avx2::I8>(x, ldx, w, K, bias, y, ldy, n0, n1, m0, m1); break;
    case WeightType::kLut4: break;  // not an ell value type (the addon rejects it)
  }
}

}  // namespace sparq

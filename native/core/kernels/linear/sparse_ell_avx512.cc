// AVX-512 sparse linear on the ell format (sparse.h): lane l of every vector
// is weight row 16 g + l of the group, so a group's 16 outputs accumulate in
// one register, one FMA per entry vector, and no reduction is needed.
// - Up to kEllPermuteRows activation rows: a panel's 128 activations of each
//   row stay in 8 registers and the entries' columns select from them
//   (VPERMT2PS over pairs of registers, then two blends on column bits 5 and
//   6; bit 7, padding, is ignored): no gather, no expansion, work per stored
//   entry (padding included).
// - More rows: an outer product on transposed activations (16 rows per
//   register, or 8 for at most 8), one FMA per entry per lane.
// Both paths run lane l's FMAs in the same order (panels, then entries), so
// an output is bit-identical whichever computes it (any N, any threads).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "../../target.h"
#include "outer_avx512.h"
#include "sparse.h"
#include "tile_store.h"
#include "tiles_avx512.h"
#include "widen.h"

namespace sparq {
namespace {

using avx512::kLanes;
using avx512::Ymm;
using avx512::Zmm;
// Each entry vector prefetches the values and columns this many vectors
// ahead: at N = 1 from DRAM 1.20-1.29x at 80-90% sparsity, 1.15x from cache
// (node bench/ab.js --a <build without> --weights ell --n 1 --sparsity S
// --cache cold|hot; 64 to 256 measured within a few percent of each other).
constexpr size_t kPrefetchVectors = 128;
static_assert(kEllRows == kLanes && kEllPanel == 8 * kLanes, "one lane per row, 8 registers per panel");

// Weight rows of group g below m1 (its valid lanes).
inline size_t group_rows(size_t g, size_t m1) { return std::min(kLanes, m1 - g * kLanes); }

// x[c & 127] of a panel held in xr[0..7], for the 16 columns in id.
SPARQ_TARGET_AVX512 inline __m512 select(const __m512 (&xr)[8], __m512i id, __mmask16 bit5, __mmask16 bit6) {
  const __m512 a = _mm512_mask_blend_ps(bit5, _mm512_permutex2var_ps(xr[0], id, xr[1]), _mm512_permutex2var_ps(xr[2], id, xr[3]));
  const __m512 b = _mm512_mask_blend_ps(bit5, _mm512_permutex2var_ps(xr[4], id, xr[5]), _mm512_permutex2var_ps(xr[6], id, xr[7]));
  return _mm512_mask_blend_ps(bit6, a, b);
}

// NR activation rows [n, n + NR) of x (padded, row stride ldx) by groups
// [m0 / 16, ceil(m1 / 16)).
template <typename Widen, int NR>
SPARQ_TARGET_AVX512 void ell_permute(const float* x, size_t ldx, const SparseWeights& w, size_t K,
                                     const float* bias, float* y, size_t ldy, size_t n, size_t m0,
                                     size_t m1) {
  const size_t panels = ell_panels(K);
  const auto* values = static_cast<const typename Widen::T*>(w.values);
  const __m512i bit5 = _mm512_set1_epi32(32), bit6 = _mm512_set1_epi32(64);
  for (size_t g = m0 / kLanes; g * kLanes < m1; ++g) {
    const uint32_t* offsets = w.offsets + g * panels;
    __m512 acc[NR];
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) acc[j] = _mm512_setzero_ps();
    for (size_t p = 0; p < panels; ++p) {
      __m512 xr[NR][8];
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j)
#pragma GCC unroll 8
        for (int q = 0; q < 8; ++q) xr[j][q] = _mm512_loadu_ps(x + (n + j) * ldx + p * kEllPanel + q * kLanes);
      for (size_t v = offsets[p]; v < offsets[p + 1]; ++v) {
        const __m512i id = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.panel_cols + v * kLanes)));
        const __mmask16 b5 = _mm512_test_epi32_mask(id, bit5), b6 = _mm512_test_epi32_mask(id, bit6);
        const __m512 wv = Widen::full(values + v * kLanes);
        _mm_prefetch(reinterpret_cast<const char*>(values + (v + kPrefetchVectors) * kLanes), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(w.panel_cols + (v + kPrefetchVectors) * kLanes), _MM_HINT_T0);
#pragma GCC unroll 4
        for (int j = 0; j < NR; ++j) acc[j] = _mm512_fmadd_ps(wv, select(xr[j], id, b5, b6), acc[j]);
      }
    }
    alignas(64) float out[NR][kLanes];
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) _mm512_store_ps(out[j], acc[j]);
    store_outputs(&out[0][0], kLanes, 1, NR, group_rows(g, m1), bias, y, ldy, n, g * kLanes);
  }
}

// A group's entries in one panel, staged for ell_outer: values widened to
// float32 and columns turned into byte offsets into the packed activations.
// A panel holds at most kEllPanel vectors (a row has at most 128 columns in
// it; the addon rejects offsets that say otherwise).
struct EllStage {
  alignas(64) float values[kEllPanel * kLanes];
  alignas(64) uint16_t offsets[kEllPanel * kLanes];
};

template <typename Widen>
SPARQ_TARGET_AVX512 void ell_stage(const typename Widen::T* values, const uint8_t* cols, size_t v0, size_t v1,
                                   EllStage& s) {
  static_assert(kLanes * sizeof(float) == 64, "a packed column is 64 bytes");
  const __m512i col_mask = _mm512_set1_epi32(kEllPanel - 1);
  for (size_t v = v0; v < v1; ++v) {
    _mm_prefetch(reinterpret_cast<const char*>(values + (v + kPrefetchVectors) * kLanes), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(cols + (v + kPrefetchVectors) * kLanes), _MM_HINT_T0);
    _mm512_store_ps(s.values + (v - v0) * kLanes, Widen::full(values + v * kLanes));
    const __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(cols + v * kLanes)));
    // column c of the panel is kLanes floats at byte c * 64
    _mm256_store_si256(reinterpret_cast<__m256i*>(s.offsets + (v - v0) * kLanes),
                       _mm512_cvtepi32_epi16(_mm512_slli_epi32(_mm512_and_si512(c, col_mask), 6)));
  }
}

// Up to Vec::kRows activation rows [n, n + rows) packed transposed at xg
// (16 floats per column of the padded x). Each panel's entries are staged
// (ell_stage) one panel ahead of the FMAs, so that an entry costs a quarter
// of an offset load, an activation load and an FMA with the value broadcast
// from memory, and no load waits on a store still in flight.
template <typename Widen, typename Vec>
SPARQ_TARGET_AVX512 void ell_outer(const float* xg, const SparseWeights& w, size_t K, const float* bias,
                                   float* y, size_t ldy, size_t n, size_t rows, size_t m0, size_t m1) {
  using V = typename Vec::V;
  const size_t panels = ell_panels(K);
  const auto* values = static_cast<const typename Widen::T*>(w.values);
  EllStage stage[2];  // 24 KiB
  for (size_t g = m0 / kLanes; g * kLanes < m1; ++g) {
    const uint32_t* offsets = w.offsets + g * panels;
    V acc[kLanes];  // acc[l]: row 16 g + l, one activation row per lane
#pragma GCC unroll 16
    for (size_t l = 0; l < kLanes; ++l) acc[l] = Vec::zero();
    ell_stage<Widen>(values, w.panel_cols, offsets[0], offsets[1], stage[0]);
    for (size_t p = 0; p < panels; ++p) {
      if (p + 1 < panels) ell_stage<Widen>(values, w.panel_cols, offsets[p + 1], offsets[p + 2], stage[(p + 1) & 1]);
      const EllStage& s = stage[p & 1];
      const char* xp = reinterpret_cast<const char*>(xg + p * kEllPanel * kLanes);
      const size_t entries = (offsets[p + 1] - offsets[p]) * kLanes;
      for (size_t e = 0; e < entries; e += kLanes) {
#pragma GCC unroll 4
        for (size_t q = 0; q < kLanes; q += 4) {
          uint64_t four;  // the offsets of lanes q .. q + 3, one load for four entries
          std::memcpy(&four, s.offsets + e + q, 8);
#pragma GCC unroll 4
          for (size_t i = 0; i < 4; ++i) {
            const size_t off = (four >> (16 * i)) & 0xffff;
            acc[q + i] = Vec::fma(Vec::load(reinterpret_cast<const float*>(xp + off)), Vec::set1(s.values[e + q + i]), acc[q + i]);
          }
        }
      }
    }
    alignas(64) float lanes[kLanes][kLanes];  // lanes[l][j]: weight row 16 g + l, activation row n + j
#pragma GCC unroll 16
    for (size_t l = 0; l < kLanes; ++l) Vec::store(lanes[l], acc[l]);
    store_outputs(&lanes[0][0], 1, kLanes, rows, group_rows(g, m1), bias, y, ldy, n, g * kLanes);
  }
}

template <typename Widen>
SPARQ_TARGET_AVX512 void ell(const float* x, size_t ldx, const float* xp, const SparseWeights& w, size_t K,
                             const float* bias, float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                             size_t m1) {
  if (n1 - n0 > kEllPermuteRows) {
    for (size_t n = n0; n < n1; n += kLanes) {
      const size_t rows = std::min(kLanes, n1 - n);
      if (rows <= Ymm::kRows) ell_outer<Widen, Ymm>(xp + n * ldx, w, K, bias, y, ldy, n, rows, m0, m1);
      else ell_outer<Widen, Zmm>(xp + n * ldx, w, K, bias, y, ldy, n, rows, m0, m1);
    }
    return;
  }
  size_t n = n0;
  for (; n + 2 <= n1; n += 2) ell_permute<Widen, 2>(x, ldx, w, K, bias, y, ldy, n, m0, m1);
  if (n < n1) ell_permute<Widen, 1>(x, ldx, w, K, bias, y, ldy, n, m0, m1);
}

}  // namespace

SPARQ_TARGET_AVX512 void linear_ell_avx512(const float* x, size_t ldx, const float* xp, const SparseWeights& w,
                                           size_t K, const float* bias, float* y, size_t ldy, size_t n0,
                                           size_t n1, size_t m0, size_t m1) {
  switch (w.value_type) {
    case WeightType::kF32: ell<avx512::F32>(x, ldx, xp, w, K, bias, y, ldy, n0, n1, m0, m1); break;
    case WeightType::kF16: ell<avx512::F16>(x, ldx, xp, w, K, bias, y, ldy, n0, n1, m0, m1); break;
    case WeightType::kBF16: ell<avx512::BF16>(x, ldx, xp, w, K, bias, y, ldy, n0, n1, m0, m1); break;
    case WeightType::kI8: ell<avx512::I8>(x, ldx, xp, w, K, bias, y, ldy, n0, n1, m0, m1); break;
    case WeightType::kLut4: break;  // not an ell value type (the addon rejects it)
  }
}

}  // namespace sparq

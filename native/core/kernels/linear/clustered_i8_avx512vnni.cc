// AVX-512 VNNI linear on 4-bit clustered weights with int8 activations
// (clustered.h). A step is one 64-byte load of a row's 4-bit plane (128
// weights): two ANDs and a shift split the nibbles, two VPSHUFBs look the
// entries' int8 codes (plus 128, as unsigned bytes) up in the row's book,
// held in every 128-bit lane of one register, and two VPDPBUSDs multiply them
// with the activation codes (ClusteredActStep's layout matches the plane),
// started from the lanes' -128 * activation sums. Then one FMA of the lanes,
// converted to float, by their groups' activation scales. The book's scale
// multiplies each reduced output.
//
// Every output runs the same instruction sequence whatever the tile shape, N
// or thread split, so results are bit-identical across them.
#include <immintrin.h>

#include <algorithm>

#include "../../target.h"
#include "clustered.h"
#include "tile_store.h"
#include "tiles_avx512.h"

namespace sparq {
namespace {

// From N = 2 each step also prefetches into L2 the line that the row this
// many rows below reads at the same step (two tiles ahead), as the quantized
// kernel does (quant_i8_avx512vnni.cc). At N = 8 from DRAM 1.12x against
// N = 1 tiles only (node bench/ab.js --weights clustered4 --activations int8
// --n 8 --cache cold); N = 32 and hot unchanged. N = 1 walks rows in stripes
// without it.
constexpr size_t kPrefetchRows = 8;

template <int MR, int NR>
SPARQ_TARGET_AVX512VNNI void tile(const ClusteredActStep* x, const ClusteredWeights& w,
                                  const ClusteredI8Books& books, size_t steps, size_t row_bytes,
                                  const float* bias, float* y, size_t ldy, size_t n, size_t m,
                                  size_t m1, size_t stride = 1, bool prefetch = true) {
  const uint8_t* rows[MR];
  __m512i table[MR];
  float scale[MR];
  for (int i = 0; i < MR; ++i) {
    const size_t r = std::min(m + i * stride, m1 - 1), book = r / w.rows_per_book;
    rows[i] = w.indices + r * row_bytes;
    table[i] = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(books.tables + 16 * book)));
    scale[i] = books.scales[book];
  }
  const ClusteredActStep* act[NR];
  for (int j = 0; j < NR; ++j) act[j] = x + (n + j) * steps;
  __m512 acc[MR][NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_ps();
  const __m512i nib = _mm512_set1_epi8(0x0F);
  for (size_t t = 0; t < steps; ++t) {
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const uint8_t* p = rows[i] + 64 * t;
      if (prefetch) _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchRows * row_bytes), _MM_HINT_T1);
      const __m512i b = _mm512_loadu_si512(p);
      const __m512i lo = _mm512_shuffle_epi8(table[i], _mm512_and_si512(b, nib));
      const __m512i hi = _mm512_shuffle_epi8(table[i], _mm512_and_si512(_mm512_srli_epi16(b, 4), nib));
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) {
        const ClusteredActStep& a = act[j][t];
        __m512i dot = _mm512_dpbusd_epi32(_mm512_load_si512(a.neg_sum), lo, _mm512_load_si512(a.q));
        dot = _mm512_dpbusd_epi32(dot, hi, _mm512_load_si512(a.q + 64));
        acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_load_ps(a.scale), acc[i][j]);
      }
    }
  }
  float out[MR * NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) out[i * NR + j] = scale[i] * avx512::reduce_add(acc[i][j]);
  store_tile_strided(out, NR, MR, stride, m1, bias, y, ldy, n, m);
}

}  // namespace

// Rows r = 2 h + u of a step (indices 16 r + l in lane l): 128-bit lane g of
// a register is group g, so the group maxima are two in-lane shuffles away.
// The codes of rows 2 h (u = 0) go to bytes 4 l + h, of rows 2 h + 1 to
// 64 + 4 l + h: a byte and a word interleave of four 16-byte rows.
SPARQ_TARGET_AVX512VNNI void clustered_i8_pack_row_avx512vnni(const float* x, size_t K, ClusteredActStep* out) {
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  constexpr int kNearest = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  for (size_t t = 0; t < clustered_i8_steps(K); ++t) {
    ClusteredActStep& a = out[t];
    const size_t k0 = 128 * t;
    __m512 v[8];
    __m512 amax = _mm512_setzero_ps();
    for (int r = 0; r < 8; ++r) {
      const size_t k = k0 + 16 * r, left = k < K ? K - k : 0;
      const __mmask16 in = left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
      v[r] = _mm512_maskz_loadu_ps(in, x + std::min(k, K));
      amax = _mm512_max_ps(amax, _mm512_abs_ps(v[r]));
    }
    amax = _mm512_max_ps(amax, _mm512_permute_ps(amax, _MM_SHUFFLE(2, 3, 0, 1)));
    amax = _mm512_max_ps(amax, _mm512_permute_ps(amax, _MM_SHUFFLE(1, 0, 3, 2)));
    const __m512 d = _mm512_div_ps(amax, _mm512_set1_ps(127.0f));
    const __mmask16 nonzero = _mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_NEQ_OQ);
    _mm512_store_ps(a.scale, d);
    __m128i b[8];
    __m512i sum = _mm512_setzero_si512();
    for (int r = 0; r < 8; ++r) {
      __m512i q = _mm512_maskz_cvt_roundps_epi32(nonzero, _mm512_div_ps(v[r], d), kNearest);
      q = _mm512_min_epi32(_mm512_max_epi32(q, lo), hi);
      sum = _mm512_add_epi32(sum, q);
      b[r] = _mm512_cvtepi32_epi8(q);
    }
    _mm512_store_si512(a.neg_sum, _mm512_mullo_epi32(sum, _mm512_set1_epi32(-128)));
    __m128i* dst = reinterpret_cast<__m128i*>(a.q);
    for (int u = 0; u < 2; ++u) {
      const __m128i e0 = _mm_unpacklo_epi8(b[u], b[2 + u]), e1 = _mm_unpacklo_epi8(b[4 + u], b[6 + u]);
      const __m128i f0 = _mm_unpackhi_epi8(b[u], b[2 + u]), f1 = _mm_unpackhi_epi8(b[4 + u], b[6 + u]);
      _mm_store_si128(dst + 4 * u, _mm_unpacklo_epi16(e0, e1));
      _mm_store_si128(dst + 4 * u + 1, _mm_unpackhi_epi16(e0, e1));
      _mm_store_si128(dst + 4 * u + 2, _mm_unpacklo_epi16(f0, f1));
      _mm_store_si128(dst + 4 * u + 3, _mm_unpackhi_epi16(f0, f1));
    }
  }
}

SPARQ_TARGET_AVX512VNNI void linear_clustered_i8_avx512vnni(const ClusteredActStep* x, const ClusteredWeights& w,
                                                            const ClusteredI8Books& books, size_t K,
                                                            const float* bias, float* y, size_t ldy, size_t n0,
                                                            size_t n1, size_t m0, size_t m1) {
  const size_t steps = clustered_i8_steps(K), row_bytes = clustered_row_bytes(K, w.dim, w.bits);
  if (n1 - n0 == 1) {
    // The rows in 8 stripes, a tile taking the next row of each: long
    // sequential streams for the hardware prefetchers, as
    // quant_i8_avx512vnni.cc does at N = 1.
    const size_t stride = (m1 - m0 + 7) / 8;
    for (size_t j = 0; j < stride; ++j) tile<8, 1>(x, w, books, steps, row_bytes, bias, y, ldy, n0, m0 + j, m1, stride, false);
    return;
  }
  for (size_t m = m0; m < m1; m += 4) {
    for (size_t n = n0; n < n1;) {
      switch (std::min<size_t>(4, n1 - n)) {
        case 4: tile<4, 4>(x, w, books, steps, row_bytes, bias, y, ldy, n, m, m1); n += 4; break;
        case 3: tile<4, 3>(x, w, books, steps, row_bytes, bias, y, ldy, n, m, m1); n += 3; break;
        case 2: tile<4, 2>(x, w, books, steps, row_bytes, bias, y, ldy, n, m, m1); n += 2; break;
        default: tile<4, 1>(x, w, books, steps, row_bytes, bias, y, ldy, n, m, m1); n += 1; break;
      }
    }
  }
}

}  // namespace sparq

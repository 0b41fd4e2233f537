// AVX2 linear on 4-bit clustered weights with int8 activations (clustered.h),
// for CPUs without VNNI. A step is the row's 64-byte 4-bit plane in two
// halves of 8 lanes: nibbles split with ANDs and a shift, the entries' int8
// codes looked up with VPSHUFB in the row's book (in both 128-bit lanes),
// then signed products by VPMADDUBSW on |code| and the activation codes
// negated where the code is negative (pairs stay within int16: 2 * 127 * 127),
// VPMADDWD to the lanes' 4-product sums, and one FMA a half by the groups'
// activation scales. The book's scale multiplies each reduced output.
// Several activation rows share each lookup (tiles of 2 x 3 from N = 2).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "../../target.h"
#include "clustered.h"
#include "tile_store.h"
#include "tiles_avx2.h"

namespace sparq {
namespace {

// Tiles of MR weight rows by NR activation rows, one accumulator each: a
// row's codes are looked up once per step and multiply every activation row
// of the tile. Each accumulator sees, step by step, half 0 then half 1, so an
// output is the same whatever the tile shape, N or thread split.
template <int MR, int NR>
SPARQ_TARGET_AVX2 void tile(const ClusteredActStep* x, const ClusteredWeights& w, const ClusteredI8Books& books,
                            size_t steps, size_t row_bytes, const float* bias, float* y, size_t ldy, size_t n,
                            size_t m, size_t m1) {
  const uint8_t* rows[MR];
  __m256i table[MR];
  float scale[MR];
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int i = 0; i < MR; ++i) {
    const size_t r = std::min(m + i, m1 - 1), book = r / w.rows_per_book;
    rows[i] = w.indices + r * row_bytes;
    // The book's codes as signed bytes (stored plus 128).
    table[i] = _mm256_xor_si256(
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(books.tables + 16 * book))), flip);
    scale[i] = books.scales[book];
  }
  const ClusteredActStep* act[NR];
  for (int j = 0; j < NR; ++j) act[j] = x + (n + j) * steps;
  __m256 acc[MR][NR];
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_setzero_ps();
  const __m256i nib = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  for (size_t t = 0; t < steps; ++t) {
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[i] + 64 * t + 32 * h));
        const __m256i lo = _mm256_shuffle_epi8(table[i], _mm256_and_si256(b, nib));
        const __m256i hi = _mm256_shuffle_epi8(table[i], _mm256_and_si256(_mm256_srli_epi16(b, 4), nib));
        const __m256i alo = _mm256_abs_epi8(lo), ahi = _mm256_abs_epi8(hi);
#pragma GCC unroll 4
        for (int j = 0; j < NR; ++j) {
          const ClusteredActStep& a = act[j][t];
          const __m256i xlo = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.q + 32 * h));
          const __m256i xhi = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.q + 64 + 32 * h));
          const __m256i plo = _mm256_maddubs_epi16(alo, _mm256_sign_epi8(xlo, lo));
          const __m256i phi = _mm256_maddubs_epi16(ahi, _mm256_sign_epi8(xhi, hi));
          const __m256i dot = _mm256_add_epi32(_mm256_madd_epi16(plo, ones), _mm256_madd_epi16(phi, ones));
          acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_load_ps(a.scale + 8 * h), acc[i][j]);
        }
      }
  }
  float out[MR * NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) out[i * NR + j] = scale[i] * avx2::reduce_add(acc[i][j]);
  store_tile(out, NR, std::min<size_t>(MR, m1 - m), bias, y, ldy, n, m);
}

}  // namespace

// Codes in index order first (lanes of 16 consecutive indices, 128-bit lane
// of each half a group), then moved to ClusteredActStep's byte layout.
SPARQ_TARGET_AVX2 void clustered_i8_pack_row_avx2(const float* x, size_t K, ClusteredActStep* out) {
  const __m256 sign = _mm256_set1_ps(-0.0f), zero = _mm256_setzero_ps();
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  for (size_t t = 0; t < clustered_i8_steps(K); ++t) {
    ClusteredActStep& a = out[t];
    const size_t k0 = 128 * t, n = std::min<size_t>(128, K - k0);
    alignas(32) float v[128];
    std::memcpy(v, x + k0, n * sizeof(float));
    std::memset(v + n, 0, (128 - n) * sizeof(float));
    __m256 m[2] = {zero, zero};
    for (int r = 0; r < 8; ++r)
      for (int half = 0; half < 2; ++half) m[half] = _mm256_max_ps(m[half], _mm256_andnot_ps(sign, _mm256_load_ps(v + 16 * r + 8 * half)));
    __m256 d[2];
    __m256i nonzero[2], sum[2];
    for (int half = 0; half < 2; ++half) {
      m[half] = _mm256_max_ps(m[half], _mm256_permute_ps(m[half], _MM_SHUFFLE(2, 3, 0, 1)));
      m[half] = _mm256_max_ps(m[half], _mm256_permute_ps(m[half], _MM_SHUFFLE(1, 0, 3, 2)));
      d[half] = _mm256_div_ps(m[half], _mm256_set1_ps(127.0f));
      nonzero[half] = _mm256_castps_si256(_mm256_cmp_ps(d[half], zero, _CMP_NEQ_OQ));
      _mm256_store_ps(a.scale + 8 * half, d[half]);
      sum[half] = _mm256_setzero_si256();
    }
    alignas(32) int32_t q[128];
    for (int r = 0; r < 8; ++r)
      for (int half = 0; half < 2; ++half) {
        const __m256 ratio = _mm256_round_ps(_mm256_div_ps(_mm256_load_ps(v + 16 * r + 8 * half), d[half]),
                                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256i c = _mm256_and_si256(_mm256_cvttps_epi32(ratio), nonzero[half]);
        c = _mm256_min_epi32(_mm256_max_epi32(c, lo), hi);
        sum[half] = _mm256_add_epi32(sum[half], c);
        _mm256_store_si256(reinterpret_cast<__m256i*>(q + 16 * r + 8 * half), c);
      }
    for (int half = 0; half < 2; ++half)
      _mm256_store_si256(reinterpret_cast<__m256i*>(a.neg_sum + 8 * half), _mm256_mullo_epi32(sum[half], _mm256_set1_epi32(-128)));
    for (int r = 0; r < 8; ++r)  // index 16 r + l, r = 2 h + u: byte 64 u + 4 l + h
      for (int l = 0; l < 16; ++l) a.q[64 * (r & 1) + 4 * l + (r >> 1)] = static_cast<int8_t>(q[16 * r + l]);
  }
}

SPARQ_TARGET_AVX2 void linear_clustered_i8_avx2(const ClusteredActStep* x, const ClusteredWeights& w,
                                                const ClusteredI8Books& books, size_t K, const float* bias,
                                                float* y, size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1) {
  const size_t steps = clustered_i8_steps(K), row_bytes = clustered_row_bytes(K, w.dim, w.bits);
  if (n1 - n0 == 1) {
    for (size_t m = m0; m < m1; m += 4) tile<4, 1>(x, w, books, steps, row_bytes, bias, y, ldy, n0, m, m1);
    return;
  }
  for (size_t m = m0; m < m1; m += 2)
    for (size_t n = n0; n < n1;) {
      switch (std::min<size_t>(3, n1 - n)) {
        case 3: tile<2, 3>(x, w, books, steps, row_bytes, bias, y, ldy, n, m, m1); n += 3; break;
        case 2: tile<2, 2>(x, w, books, steps, row_bytes, bias, y, ldy, n, m, m1); n += 2; break;
        default: tile<2, 1>(x, w, books, steps, row_bytes, bias, y, ldy, n, m, m1); n += 1; break;
      }
    }
}

}  // namespace sparq

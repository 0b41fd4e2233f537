// AVX2 linear on 4-bit clustered weights with int8 activations (clustered.h),
// for CPUs without VNNI. A step is the row's 64-byte 4-bit plane in two
// halves of 8 lanes: nibbles split with ANDs and a shift, the entries' int8
// codes looked up with VPSHUFB in the row's book (in both 128-bit lanes),
// then signed products by VPMADDUBSW on |code| and the activation codes
// negated where the code is negative (pairs stay within int16: 2 * 127 * 127),
// VPMADDWD to the lanes' 4-product sums, and one FMA a half by the groups'
// activation scales. The book's scale multiplies each reduced output.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "../../target.h"
#include "clustered.h"
#include "tile_store.h"
#include "tiles_avx2.h"

namespace sparq {
namespace {

// Weight rows per tile (one activation row): 2 accumulators each.
constexpr int kRows = 4;

SPARQ_TARGET_AVX2 void tile(const ClusteredActStep* x, const ClusteredWeights& w, const ClusteredI8Books& books,
                            size_t steps, size_t row_bytes, const float* bias, float* y, size_t ldy, size_t n,
                            size_t m, size_t m1) {
  const uint8_t* rows[kRows];
  __m256i table[kRows];
  float scale[kRows];
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int i = 0; i < kRows; ++i) {
    const size_t r = std::min(m + i, m1 - 1), book = r / w.rows_per_book;
    rows[i] = w.indices + r * row_bytes;
    // The book's codes as signed bytes (stored plus 128).
    table[i] = _mm256_xor_si256(
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(books.tables + 16 * book))), flip);
    scale[i] = books.scales[book];
  }
  const ClusteredActStep* act = x + n * steps;
  __m256 acc[kRows][2];
  for (int i = 0; i < kRows; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  const __m256i nib = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  for (size_t t = 0; t < steps; ++t) {
    const ClusteredActStep& a = act[t];
#pragma GCC unroll 4
    for (int i = 0; i < kRows; ++i)
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[i] + 64 * t + 32 * h));
        const __m256i lo = _mm256_shuffle_epi8(table[i], _mm256_and_si256(b, nib));
        const __m256i hi = _mm256_shuffle_epi8(table[i], _mm256_and_si256(_mm256_srli_epi16(b, 4), nib));
        const __m256i xlo = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.q + 32 * h));
        const __m256i xhi = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.q + 64 + 32 * h));
        const __m256i plo = _mm256_maddubs_epi16(_mm256_abs_epi8(lo), _mm256_sign_epi8(xlo, lo));
        const __m256i phi = _mm256_maddubs_epi16(_mm256_abs_epi8(hi), _mm256_sign_epi8(xhi, hi));
        const __m256i dot = _mm256_add_epi32(_mm256_madd_epi16(plo, ones), _mm256_madd_epi16(phi, ones));
        acc[i][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_load_ps(a.scale + 8 * h), acc[i][h]);
      }
  }
  float out[kRows];
  for (int i = 0; i < kRows; ++i) out[i] = scale[i] * avx2::reduce_add(_mm256_add_ps(acc[i][0], acc[i][1]));
  store_tile(out, 1, std::min<size_t>(kRows, m1 - m), bias, y, ldy, n, m);
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
  for (size_t m = m0; m < m1; m += kRows)
    for (size_t n = n0; n < n1; ++n) tile(x, w, books, steps, row_bytes, bias, y, ldy, n, m, m1);
}

}  // namespace sparq

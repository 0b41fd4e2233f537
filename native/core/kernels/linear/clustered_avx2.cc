// AVX2 linear on clustered weights: 8 packed indices decode with shifts and
// masks (clustered.h planes), then the codebook lookup: up to 8 entries in one
// register (VPERMPS), up to 16 as two 8-entry permutes blended on index bit 3,
// larger books gathered from an L1-resident f32 copy. Vector entries (dim
// 2/4/8) repeat each index over dim lanes. Then the shared AVX2 tile driver.
#include <immintrin.h>

#include <cstring>
#include <type_traits>
#include <vector>

#include "../../target.h"
#include "clustered.h"
#include "tiles_avx2.h"

namespace sparq {
namespace {

// Per-lane right shifts that bring index t of the quarter block q (indices
// 8q .. 8q + 7 of a 32-block) to bit 0 of lane t in a 2-bit plane
// (clustered.h, with l = 8 (q % 2) + t and h = q / 2): word t % 2 at
// 4 (l / 2) + 2h.
alignas(32) constexpr int32_t kShift2[4][8] = {{0, 0, 4, 4, 8, 8, 12, 12},
                                               {16, 16, 20, 20, 24, 24, 28, 28},
                                               {2, 2, 6, 6, 10, 10, 14, 14},
                                               {18, 18, 22, 22, 26, 26, 30, 30}};

// Right shift of every lane by 4 g (a 4-bit plane word's nibble g).
alignas(32) constexpr int32_t kNibbleShift[8][8] = {
    {0, 0, 0, 0, 0, 0, 0, 0},         {4, 4, 4, 4, 4, 4, 4, 4},         {8, 8, 8, 8, 8, 8, 8, 8},
    {12, 12, 12, 12, 12, 12, 12, 12}, {16, 16, 16, 16, 16, 16, 16, 16}, {20, 20, 20, 20, 20, 20, 20, 20},
    {24, 24, 24, 24, 24, 24, 24, 24}, {28, 28, 28, 28, 28, 28, 28, 28}};

// The 2-bit plane of a 32-block at b, quarter q, in the low 2 bits of the
// lanes (bits above: garbage).
SPARQ_TARGET_AVX2 inline __m256i plane2(const uint8_t* b, unsigned q) {
  uint64_t u;
  std::memcpy(&u, b, 8);
  return _mm256_srlv_epi32(_mm256_set1_epi64x(static_cast<long long>(u)),
                           _mm256_load_si256(reinterpret_cast<const __m256i*>(kShift2[q])));
}

// Adds bit `shift` to the lanes of quarter q whose bit in the 1-bit plane at b
// (a 32-block) is set.
SPARQ_TARGET_AVX2 inline __m256i plane1(__m256i v, const uint8_t* b, unsigned q, int shift) {
  const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256i sel = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(b[q]), bit), bit);
  return _mm256_or_si256(v, _mm256_and_si256(sel, _mm256_set1_epi32(1 << shift)));
}

// Indices p .. p + 7 of a packed row (p a multiple of 8). Unless Clean, the
// bits above the top plane's are garbage (the permutes read only the low 3
// bits, the blend bit 3, and the codebooks repeat to fill them).
template <unsigned Bits, bool Clean>
SPARQ_TARGET_AVX2 inline __m256i decode8(const uint8_t* row, size_t p) {
  const unsigned q = static_cast<unsigned>(p >> 3) & 3u;  // quarter of the 32-block
  __m256i v;
  if (Bits == 8) {
    v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + (p >> 5) * 32 + 8 * q)));
  } else if (Bits >= 4) {  // a superblock of 128: words 8 (q % 2) .. + 7 of the 4-bit plane
    const uint8_t* s = row + (p >> 7) * Bits * 16;
    const unsigned g = static_cast<unsigned>(p >> 4) & 7u, q32 = static_cast<unsigned>(p >> 5) & 3u;
    v = _mm256_srlv_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 32 * (q & 1u))),
                          _mm256_load_si256(reinterpret_cast<const __m256i*>(kNibbleShift[g])));
    if (Bits > 4) v = _mm256_and_si256(v, _mm256_set1_epi32(0xF));
    const uint8_t* b = s + 64;
    if (Bits & 2) {
      __m256i t = plane2(b + 8 * q32, q);
      if (Bits & 1) t = _mm256_and_si256(t, _mm256_set1_epi32(3));  // else the garbage lands above bit 5 (cleaned)
      v = _mm256_or_si256(v, _mm256_slli_epi32(t, 4));
      b += 32;
    }
    if (Bits & 1) v = plane1(v, b + 4 * q32, q, Bits & 2 ? 6 : 4);
  } else {  // a block of 32
    const uint8_t* b = row + (p >> 5) * Bits * 4;
    v = _mm256_setzero_si256();
    if (Bits & 2) {
      v = plane2(b, q);
      if (Bits & 1) v = _mm256_and_si256(v, _mm256_set1_epi32(3));
      b += 8;
    }
    if (Bits & 1) v = plane1(v, b, q, Bits & 2 ? 2 : 0);
  }
  if (Clean && Bits != 8) v = _mm256_and_si256(v, _mm256_set1_epi32((1 << Bits) - 1));
  return v;
}

template <unsigned Bits, size_t Dim>
struct Format {
  static constexpr size_t kEntries = (size_t{1} << Bits) * Dim;
  static constexpr size_t kStride = kEntries <= 8 ? 8 : kEntries <= 16 ? 16 : kEntries;
};

template <unsigned Bits, size_t Dim>
struct ClusterPolicy {
  using F = Format<Bits, Dim>;
  static constexpr bool kClean = F::kEntries > 16;  // gathers need exact indices
  struct Row {
    const uint8_t* idx;
    const float* book;
  };
  const uint8_t* indices;
  const float* books;
  size_t row_bytes, rows_per_book, book0;

  Row row(size_t m) const { return {indices + m * row_bytes, books + (m / rows_per_book - book0) * F::kStride}; }

  SPARQ_TARGET_AVX2 __m256 lookup(__m256i idx, const float* book) const {
    if (F::kEntries <= 8) return _mm256_permutevar8x32_ps(_mm256_loadu_ps(book), idx);
    if (F::kEntries <= 16) {
      const __m256 lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(book), idx);
      const __m256 hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(book + 8), idx);
      return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
    }
    return _mm256_i32gather_ps(book, idx, 4);
  }

  SPARQ_TARGET_AVX2 __m256 load(const Row& r, size_t k) const {
    if (Dim == 1) return lookup(decode8<Bits, kClean>(r.idx, k), r.book);
    const size_t p0 = k / Dim, p8 = p0 & ~size_t{7};
    const __m256i i8 = decode8<Bits, kClean>(r.idx, p8);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i sel = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(p0 - p8)),
                                         _mm256_srli_epi32(lane, __builtin_ctzll(Dim)));
    const __m256i idx = _mm256_add_epi32(_mm256_slli_epi32(_mm256_permutevar8x32_epi32(i8, sel), __builtin_ctzll(Dim)),
                                         _mm256_and_si256(lane, _mm256_set1_epi32(static_cast<int>(Dim - 1))));
    return lookup(idx, r.book);
  }

  SPARQ_TARGET_AVX2 __m256 load_tail(const Row& r, size_t k, size_t n) const {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), lane));
    return _mm256_and_ps(load(r, k), keep);
  }
};

template <unsigned Bits, size_t Dim>
SPARQ_TARGET_AVX2 void run(const float* x, size_t ldx, const ClusteredWeights& w, size_t K,
                           const float* bias, float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                           size_t m1) {
  thread_local std::vector<float> scratch;
  ClusterPolicy<Bits, Dim> p;
  p.indices = w.indices;
  p.row_bytes = clustered_row_bytes(K, w.dim, w.bits);
  p.rows_per_book = w.rows_per_book;
  p.book0 = m0 / w.rows_per_book;
  p.books = clustered_books_f32(w, m0, m1, Format<Bits, Dim>::kStride, scratch);
  // Decoding once pays from N = 4 where a lookup is two permutes and a blend
  // (16 entries) or a gather, from N = 9 where it is one permute: with
  // SPARQ_ISA=avx2, node bench/ab.js --weights clustered4 --n 8 / 32 --cache
  // cold: 1.11x / 2.09x; clustered2: 0.86x at N = 8, 1.13x at N = 32.
  constexpr size_t kMinRows = Format<Bits, Dim>::kEntries > 8 ? 4 : 9;
  avx2::linear_decoded_once(x, ldx, p, K, bias, y, ldy, n0, n1, m0, m1, kMinRows);
}

}  // namespace

SPARQ_TARGET_AVX2 void linear_clustered_avx2(const float* x, size_t ldx, const ClusteredWeights& w,
                                             size_t K, const float* bias, float* y, size_t ldy,
                                             size_t n0, size_t n1, size_t m0, size_t m1) {
  visit_clustered_format(w, [&](auto bits, auto dim) {
    run<decltype(bits)::value, decltype(dim)::value>(x, ldx, w, K, bias, y, ldy, n0, n1, m0, m1);
  });
}

}  // namespace sparq

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

// Indices p .. p + 7 of a packed row (p a multiple of 8).
template <unsigned Bits>
SPARQ_TARGET_AVX2 inline __m256i decode8(const uint8_t* row, size_t p) {
  const uint8_t* b = row + (p >> 5) * Bits * 4;
  const unsigned j0 = static_cast<unsigned>(p & 31);
  if (Bits == 8) return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + j0)));
  __m256i v = _mm256_setzero_si256();
  int shift = 0;
  if (Bits >= 4) {
    __m128i x = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + (j0 & 15)));
    if (j0 & 16) x = _mm_srli_epi16(x, 4);
    v = _mm256_cvtepu8_epi32(_mm_and_si128(x, _mm_set1_epi8(0x0F)));
    shift = 4;
    b += 16;
  }
  if (Bits & 2) {
    __m128i x = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b));
    x = _mm_srl_epi16(x, _mm_cvtsi32_si128(static_cast<int>(2 * (j0 >> 3))));
    const __m256i t = _mm256_cvtepu8_epi32(_mm_and_si128(x, _mm_set1_epi8(0x03)));
    v = shift ? _mm256_or_si256(v, _mm256_slli_epi32(t, shift)) : t;
    shift += 2;
    b += 8;
  }
  if (Bits & 1) {
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i sel = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(b[j0 >> 3]), bit), bit);
    v = _mm256_or_si256(v, _mm256_and_si256(sel, _mm256_set1_epi32(1 << shift)));
  }
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
    if (Dim == 1) return lookup(decode8<Bits>(r.idx, k), r.book);
    const size_t p0 = k / Dim, p8 = p0 & ~size_t{7};
    const __m256i i8 = decode8<Bits>(r.idx, p8);
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
  avx2::linear(x, ldx, p, K, bias, y, ldy, n0, n1, m0, m1);
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

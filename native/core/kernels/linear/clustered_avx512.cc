// AVX-512 linear on clustered weights: 16 packed indices decode with shifts
// and masks (clustered.h planes) into one register of 32-bit lanes, then the
// codebook lookup: up to 16 entries live in one register (VPERMPS), up to 32
// in two (VPERMT2PS), larger books are gathered from an L1-resident f32 copy.
// Vector entries (dim 2/4/8) repeat each index over dim lanes. Then the
// shared tile driver (tiles_avx512.h).
#include <immintrin.h>

#include <cstring>
#include <type_traits>
#include <vector>

#include "../../target.h"
#include "clustered.h"
#include "tiles_avx512.h"

namespace sparq {
namespace {

// Indices p .. p + 15 of a packed row (p a multiple of 16).
template <unsigned Bits>
SPARQ_TARGET_AVX512 inline __m512i decode16(const uint8_t* row, size_t p) {
  const uint8_t* b = row + (p >> 5) * Bits * 4;
  const unsigned h = static_cast<unsigned>(p >> 4) & 1u;
  if (Bits == 8) return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + h * 16)));
  __m512i v = _mm512_setzero_si512();
  unsigned shift = 0;
  if (Bits >= 4) {
    __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b));
    if (h) x = _mm_srli_epi16(x, 4);
    v = _mm512_cvtepu8_epi32(_mm_and_si128(x, _mm_set1_epi8(0x0F)));
    shift = 4;
    b += 16;
  }
  if (Bits & 2) {
    uint64_t u;
    std::memcpy(&u, b, 8);
    u >>= 4 * h;
    const uint64_t lo = u & 0x0303030303030303ull, hi = (u >> 2) & 0x0303030303030303ull;
    const __m512i t = _mm512_cvtepu8_epi32(_mm_set_epi64x(static_cast<long long>(hi), static_cast<long long>(lo)));
    v = shift ? _mm512_or_si512(v, _mm512_slli_epi32(t, shift)) : t;
    shift += 2;
    b += 8;
  }
  if (Bits & 1) {
    uint32_t word;
    std::memcpy(&word, b, 4);
    const __mmask16 m = static_cast<__mmask16>(word >> (16 * h));
    v = _mm512_mask_or_epi32(v, m, v, _mm512_set1_epi32(1 << shift));
  }
  return v;
}

template <unsigned Bits, size_t Dim>
struct Format {
  static constexpr size_t kEntries = (size_t{1} << Bits) * Dim;
  static constexpr size_t kStride = kEntries <= 16 ? 16 : kEntries <= 32 ? 32 : kEntries;
};

template <unsigned Bits, size_t Dim>
struct ClusterPolicy {
  using F = Format<Bits, Dim>;
  struct Row {
    const uint8_t* idx;
    const float* book;
  };
  const uint8_t* indices;
  const float* books;  // f32 codebooks from row m0's book, F::kStride apart
  size_t row_bytes, rows_per_book, book0;

  Row row(size_t m) const { return {indices + m * row_bytes, books + (m / rows_per_book - book0) * F::kStride}; }

  SPARQ_TARGET_AVX512 __m512 lookup(__m512i idx, const float* book) const {
    if (F::kEntries <= 16) return _mm512_permutexvar_ps(idx, _mm512_loadu_ps(book));
    if (F::kEntries <= 32) return _mm512_permutex2var_ps(_mm512_loadu_ps(book), idx, _mm512_loadu_ps(book + 16));
    return _mm512_i32gather_ps(idx, book, 4);
  }

  SPARQ_TARGET_AVX512 __m512 load(const Row& r, size_t k) const {
    if (Dim == 1) return lookup(decode16<Bits>(r.idx, k), r.book);
    const size_t p0 = k / Dim, p16 = p0 & ~size_t{15};
    const __m512i i16 = decode16<Bits>(r.idx, p16);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i sel = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(p0 - p16)),
                                         _mm512_srli_epi32(lane, __builtin_ctzll(Dim)));
    const __m512i idx = _mm512_add_epi32(_mm512_slli_epi32(_mm512_permutexvar_epi32(sel, i16), __builtin_ctzll(Dim)),
                                         _mm512_and_si512(lane, _mm512_set1_epi32(static_cast<int>(Dim - 1))));
    return lookup(idx, r.book);
  }
  // Rows hold whole blocks of 32 (zero-padded) indices, so the tail decodes
  // in bounds; lanes past K are zeroed.
  SPARQ_TARGET_AVX512 __m512 load(const Row& r, size_t k, __mmask16 m) const {
    return _mm512_maskz_mov_ps(m, load(r, k));
  }
};

template <unsigned Bits, size_t Dim>
SPARQ_TARGET_AVX512 void run(const float* xp, const ClusteredWeights& w, size_t K, const float* bias,
                             float* y, size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1) {
  thread_local std::vector<float> scratch;
  ClusterPolicy<Bits, Dim> p;
  p.indices = w.indices;
  p.row_bytes = clustered_row_bytes(K, w.dim, w.bits);
  p.rows_per_book = w.rows_per_book;
  p.book0 = m0 / w.rows_per_book;
  p.books = clustered_books_f32(w, m0, m1, Format<Bits, Dim>::kStride, scratch);
  avx512::linear(xp, p, K, bias, y, ldy, n0, n1, m0, m1);
}

}  // namespace

SPARQ_TARGET_AVX512 void linear_clustered_avx512(const float* xp, size_t, const ClusteredWeights& w,
                                                 size_t K, const float* bias, float* y, size_t ldy,
                                                 size_t n0, size_t n1, size_t m0, size_t m1) {
  visit_clustered_format(w, [&](auto bits, auto dim) {
    run<decltype(bits)::value, decltype(dim)::value>(xp, w, K, bias, y, ldy, n0, n1, m0, m1);
  });
}

}  // namespace sparq

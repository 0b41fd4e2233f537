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

// Per-lane right shifts that bring index l of half block h to bit 0 of
// lane l in a 2-bit plane (clustered.h): word l % 2 at 4 (l / 2) + 2h.
alignas(64) constexpr int32_t kShift2[2][16] = {
    {0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20, 24, 24, 28, 28},
    {2, 2, 6, 6, 10, 10, 14, 14, 18, 18, 22, 22, 26, 26, 30, 30}};

// Right shift of every lane by 4 g (a 4-bit plane word's nibble g).
alignas(64) constexpr int32_t kNibbleShift[8][16] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},         {4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4},
    {8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8},         {12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12},
    {16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16}, {20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20},
    {24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24}, {28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28}};

// The 2-bit plane of a 32-block at b, indices 16h .. 16h + 15, in the low 2
// bits of the lanes (bits above: garbage).
SPARQ_TARGET_AVX512 inline __m512i plane2(const uint8_t* b, unsigned h) {
  uint64_t u;
  std::memcpy(&u, b, 8);
  return _mm512_srlv_epi32(_mm512_set1_epi64(static_cast<long long>(u)), _mm512_load_si512(kShift2[h]));
}

// Adds bit `shift` to the lanes whose bit in the 1-bit plane word at b (a
// 32-block) is set, for indices 16h .. 16h + 15.
SPARQ_TARGET_AVX512 inline __m512i plane1(__m512i v, const uint8_t* b, unsigned h, unsigned shift) {
  uint32_t word;
  std::memcpy(&word, b, 4);
  const __mmask16 m = static_cast<__mmask16>(word >> (16 * h));
  return _mm512_mask_or_epi32(v, m, v, _mm512_set1_epi32(static_cast<int>(1u << shift)));
}

// Indices p .. p + 15 of a packed row (p a multiple of 16) in 32-bit lanes.
// Unless Clean, the bits above the top plane's are garbage (the permutes
// read only the low 4 or 5 bits, and the codebooks repeat to fill them).
template <unsigned Bits, bool Clean>
SPARQ_TARGET_AVX512 inline __m512i decode16(const uint8_t* row, size_t p) {
  const unsigned h = static_cast<unsigned>(p >> 4) & 1u;
  __m512i v;
  if (Bits == 8) {
    v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + (p >> 5) * 32 + h * 16)));
  } else if (Bits >= 4) {  // a superblock of 128
    const uint8_t* s = row + (p >> 7) * Bits * 16;
    const unsigned g = static_cast<unsigned>(p >> 4) & 7u, q = static_cast<unsigned>(p >> 5) & 3u;
    v = _mm512_srlv_epi32(_mm512_loadu_si512(s), _mm512_load_si512(kNibbleShift[g]));
    if (Bits > 4) v = _mm512_and_si512(v, _mm512_set1_epi32(0xF));
    const uint8_t* b = s + 64;
    if (Bits & 2) {
      __m512i t = plane2(b + 8 * q, h);
      if (Bits & 1) t = _mm512_and_si512(t, _mm512_set1_epi32(3));  // else the garbage lands above bit 5 (cleaned)
      v = _mm512_or_si512(v, _mm512_slli_epi32(t, 4));
      b += 32;
    }
    if (Bits & 1) v = plane1(v, b + 4 * q, h, Bits & 2 ? 6 : 4);
  } else {  // a block of 32
    const uint8_t* b = row + (p >> 5) * Bits * 4;
    v = _mm512_setzero_si512();
    if (Bits & 2) {
      v = plane2(b, h);
      if (Bits & 1) v = _mm512_and_si512(v, _mm512_set1_epi32(3));
      b += 8;
    }
    if (Bits & 1) v = plane1(v, b, h, Bits & 2 ? 2 : 0);
  }
  if (Clean && Bits != 8) v = _mm512_and_si512(v, _mm512_set1_epi32((1 << Bits) - 1));
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
  static constexpr bool kClean = F::kEntries > 32;  // gathers need exact indices
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
    if (Dim == 1) return lookup(decode16<Bits, kClean>(r.idx, k), r.book);
    const size_t p0 = k / Dim, p16 = p0 & ~size_t{15};
    const __m512i i16 = decode16<Bits, kClean>(r.idx, p16);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i sel = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(p0 - p16)),
                                         _mm512_srli_epi32(lane, __builtin_ctzll(Dim)));
    const __m512i idx = _mm512_add_epi32(_mm512_slli_epi32(_mm512_permutexvar_epi32(sel, i16), __builtin_ctzll(Dim)),
                                         _mm512_and_si512(lane, _mm512_set1_epi32(static_cast<int>(Dim - 1))));
    return lookup(idx, r.book);
  }
  // Rows hold whole (super)blocks of (zero-padded) indices, so the tail decodes
  // in bounds; lanes past K are zeroed.
  SPARQ_TARGET_AVX512 __m512 load(const Row& r, size_t k, __mmask16 m) const {
    return _mm512_maskz_mov_ps(m, load(r, k));
  }
};

// Codebook entries [16h, 16h + 16) of `book` (E entries) as f32 in one
// register, repeated to fill it when E < 16.
template <size_t E>
SPARQ_TARGET_AVX512 inline __m512 book_register(const void* codebook, ScaleType t, size_t book, size_t h) {
  constexpr __mmask16 kMask = E >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << E) - 1u);
  __m512 v;
  if (t == ScaleType::kF16) {
    const uint16_t* p = static_cast<const uint16_t*>(codebook) + book * E + 16 * h;
    v = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(kMask, p));
  } else {
    v = _mm512_maskz_loadu_ps(kMask, static_cast<const float*>(codebook) + book * E + 16 * h);
  }
  if (E < 16) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    v = _mm512_permutexvar_ps(_mm512_and_si512(lane, _mm512_set1_epi32(static_cast<int>(E - 1))), v);
  }
  return v;
}

// One or two activation rows, scalar entries with at most 32 per codebook:
// MR rows at once (each codebook converted once per tile and held in
// registers). 4-bit with one activation row: whole superblocks of 128 per
// step, each row's 64 index bytes loaded once and shifted per 16. Otherwise
// whole 32-index blocks per step, then a last half block and the K tail. Every
// accumulator sees the FMAs in k order and is reduced like avx512::tile's,
// so results match the generic driver bit for bit.
template <unsigned Bits, int MR, int NR>
SPARQ_TARGET_AVX512 void narrow_tile(const float* xg, const ClusteredWeights& w, const uint8_t* const* idx,
                                     const size_t* books, size_t K, size_t row_bytes, float* out) {
  constexpr size_t E = size_t{1} << Bits;
  constexpr bool kTwo = E > 16;
  __m512 lo[MR], hi[MR], acc[MR][NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    lo[i] = book_register<E>(w.codebook, w.codebook_type, books[i], 0);
    hi[i] = kTwo ? book_register<E>(w.codebook, w.codebook_type, books[i], 1) : lo[i];
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_ps();
  }
  const auto lookup = [&](__m512i v, int i) SPARQ_TARGET_AVX512 {
    return kTwo ? _mm512_permutex2var_ps(lo[i], v, hi[i]) : _mm512_permutexvar_ps(v, lo[i]);
  };
  constexpr size_t kStep = avx512::kLanes * NR;  // packed floats per 16 k
  size_t k0 = 0;                                  // k done by the whole-block loops
  if constexpr (Bits == 4 && NR == 1) {
    // One activation row, 4-bit: a 64-byte load per superblock of 128 and a
    // shift per 16 (the indices of every row stay in registers).
    const size_t supers = K / 128;
    for (size_t sb = 0; sb < supers; ++sb) {
      const float* xs = xg + 8 * sb * kStep;
      __m512i v[MR];
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        v[i] = _mm512_loadu_si512(idx[i] + sb * 64);
        // Into L2, the line the next tile's row reads at this step (see kPrefetchRows).
        _mm_prefetch(reinterpret_cast<const char*>(idx[i] + sb * 64 + MR * row_bytes), _MM_HINT_T1);
      }
#pragma GCC unroll 8
      for (int g = 0; g < 8; ++g) {
        const __m512 xv = _mm512_loadu_ps(xs + g * kStep);
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i) {
          const __m512i vi = g == 0 ? v[i] : _mm512_srli_epi32(v[i], static_cast<unsigned>(4 * g));
          acc[i][0] = _mm512_fmadd_ps(lookup(vi, i), xv, acc[i][0]);
        }
      }
    }
    k0 = 128 * supers;
  }
  const size_t blocks = (K - k0) / 32;
  for (size_t blk = k0 / 32; blk < k0 / 32 + blocks; ++blk) {
    const float* xs = xg + 2 * blk * kStep;
    __m512 x0[NR], x1[NR];
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      x0[j] = _mm512_loadu_ps(xs + j * avx512::kLanes);
      x1[j] = _mm512_loadu_ps(xs + kStep + j * avx512::kLanes);
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 w0 = lookup(decode16<Bits, false>(idx[i], 32 * blk), i);
      const __m512 w1 = lookup(decode16<Bits, false>(idx[i], 32 * blk + 16), i);
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) {
        acc[i][j] = _mm512_fmadd_ps(w0, x0[j], acc[i][j]);
        acc[i][j] = _mm512_fmadd_ps(w1, x1[j], acc[i][j]);
      }
    }
  }
  // Rows hold whole (super)blocks of (zero-padded) indices, so the tail decodes
  // in bounds; lanes past K are zeroed.
  for (size_t k = k0 + 32 * blocks; k < K; k += avx512::kLanes) {
    const float* xs = xg + k / avx512::kLanes * kStep;
    const __mmask16 m = K - k >= avx512::kLanes ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (K - k)) - 1u);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 wv = _mm512_maskz_mov_ps(m, lookup(decode16<Bits, false>(idx[i], k), i));
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xs + j * avx512::kLanes), acc[i][j]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) out[i * NR + j] = avx512::reduce_add(acc[i][j]);
}

template <unsigned Bits, int NR>
SPARQ_TARGET_AVX512 void narrow(const float* xg, const ClusteredWeights& w, size_t K, const float* bias,
                                float* y, size_t ldy, size_t n, size_t m0, size_t m1) {
  constexpr int MR = 8;
  const size_t row_bytes = clustered_row_bytes(K, 1, Bits);
  for (size_t m = m0; m < m1; m += MR) {
    const uint8_t* idx[MR];
    size_t books[MR];
    for (int i = 0; i < MR; ++i) {
      const size_t r = std::min(m + i, m1 - 1);  // past m1: the last row again, results dropped
      idx[i] = w.indices + r * row_bytes;
      books[i] = r / w.rows_per_book;
    }
    float out[MR * NR];
    narrow_tile<Bits, MR, NR>(xg, w, idx, books, K, row_bytes, out);
    store_tile(out, NR, std::min<size_t>(MR, m1 - m), bias, y, ldy, n, m);
  }
}

template <unsigned Bits, size_t Dim>
SPARQ_TARGET_AVX512 void run(const float* xp, const ClusteredWeights& w, size_t K, const float* bias,
                             float* y, size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1) {
  if constexpr (Dim == 1 && Bits <= 5) {
    const float* xg = xp + n0 * avx512::k_steps(K) * avx512::kLanes;
    if (n1 - n0 == 1) return narrow<Bits, 1>(xg, w, K, bias, y, ldy, n0, m0, m1);
    if (n1 - n0 == 2) return narrow<Bits, 2>(xg, w, K, bias, y, ldy, n0, m0, m1);
  }
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

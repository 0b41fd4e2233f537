// AVX2 sparse linear.
// - bitmap and N:M: each 8-element half tile is expanded into a dense
//   register with a permute from a 256-entry table (AVX2 has no expand
//   instruction), then the shared dense tile driver (tiles_avx2.h) multiplies.
// - csr: 8 entries per gather of x at the column indices, per activation row.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "../../target.h"
#include "sparse.h"
#include "tile_store.h"
#include "tiles_avx2.h"
#include "widen.h"

namespace sparq {
namespace {

// For each 8-bit mask: lane j takes packed value popcount(mask & ((1 << j) - 1))
// when bit j is set, and -1 (lane zeroed) when it is clear.
struct ExpandTable {
  alignas(32) int32_t index[256][8];
  ExpandTable() {
    for (int mask = 0; mask < 256; ++mask) {
      int next = 0;
      for (int j = 0; j < 8; ++j) index[mask][j] = (mask >> j) & 1 ? next++ : -1;
    }
  }
};
const ExpandTable kExpand;

// The 8 packed values v spread to the lanes of `mask`, zeros elsewhere.
SPARQ_TARGET_AVX2 inline __m256 expand(unsigned mask, __m256 v) {
  const __m256i idx = _mm256_load_si256(reinterpret_cast<const __m256i*>(kExpand.index[mask]));
  const __m256 spread = _mm256_permutevar8x32_ps(v, idx);
  return _mm256_and_ps(spread, _mm256_castsi256_ps(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(-1))));
}

// The stored values of weight row m as float32: Plain for values stored as
// float32 / float16 / bfloat16 / int8 (Widen), Lut4 for 4-bit indices into
// the row's table. load(i): values i .. i + 7 (the arrays are padded).
template <typename Widen>
struct Plain {
  using T = typename Widen::T;
  const T* v;
  static Plain of(const SparseWeights& w, size_t) { return {static_cast<const T*>(w.values)}; }
  SPARQ_TARGET_AVX2 __m256 load(size_t i) const { return Widen::load(v + i); }
};

struct Lut4 {
  const uint8_t* v;
  const float* lut;  // 16 weights
  static Lut4 of(const SparseWeights& w, size_t m) { return {static_cast<const uint8_t*>(w.values), w.lut + 16 * m}; }
  // Two 8-entry permutes, chosen per lane by bit 3 of the index.
  SPARQ_TARGET_AVX2 __m256 load(size_t i) const {
    const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
    const __m256i idx = _mm256_srlv_epi32(
        _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(load_nibbles16(v, i)))), shifts);
    const __m256 lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(lut), idx);
    const __m256 hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(lut + 8), idx);
    return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
  }
};

template <typename Values>
struct BitmapWeights {
  struct Row {
    const uint16_t* masks;
    Values values;
    size_t at;
  };
  const SparseWeights* w;
  size_t tiles;

  Row row(size_t m) const { return {w->masks + m * tiles, Values::of(*w, m), w->offsets[m]}; }
  SPARQ_TARGET_AVX2 __m256 load(Row& r, size_t k) const {
    const unsigned mask = (r.masks[k / kBitmapTile] >> (k % kBitmapTile)) & 0xFFu;
    const __m256 v = r.values.load(r.at);  // reads past the row: values are padded
    r.at += _mm_popcnt_u32(mask);
    return expand(mask, v);
  }
  // Mask bits past K are clear.
  SPARQ_TARGET_AVX2 __m256 load_tail(Row& r, size_t k, size_t) const { return load(r, k); }
};

template <typename Values>
struct NmWeights {
  struct Row {
    const uint8_t* codes;
    Values values;
    size_t at;
  };
  const SparseWeights* w;
  size_t code_stride, row_values;
  uint32_t code_bits;

  Row row(size_t m) const { return {w->codes + m * code_stride, Values::of(*w, m), m * row_values}; }
  // Elements [k, k + 8), k a multiple of 8 and of the group.
  SPARQ_TARGET_AVX2 __m256 load_tail(const Row& r, size_t k, size_t n) const {
    const uint32_t group = w->group, groups = 8 / group;
    const size_t g0 = k / group, bit = g0 * code_bits;
    uint32_t raw;
    std::memcpy(&raw, r.codes + bit / 8, 4);  // codes are padded
    raw >>= bit % 8;
    const uint32_t code_mask = (1u << code_bits) - 1u;
    unsigned mask = 0;
    for (uint32_t i = 0; i < groups; ++i)
      mask |= static_cast<unsigned>(w->nm_masks[(raw >> (i * code_bits)) & code_mask]) << (i * group);
    mask &= (1u << n) - 1u;
    return expand(mask, r.values.load(r.at + g0 * w->n));
  }
  SPARQ_TARGET_AVX2 __m256 load(const Row& r, size_t k) const { return load_tail(r, k, 8); }
};

template <typename Values, int R>
SPARQ_TARGET_AVX2 void csr_gather(const float* x, size_t ldx, const SparseWeights& w, size_t K,
                                  const float* bias, float* y, size_t ldy, size_t n, size_t m0,
                                  size_t m1) {
  const size_t blocks = csr_blocks(K);
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (size_t m = m0; m < m1; ++m) {
    const Values values = Values::of(w, m);
    __m256 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
    for (size_t b = 0; b < blocks; ++b) {
      const size_t o1 = w.offsets[m * blocks + b + 1];
      const __m256i base = _mm256_set1_epi32(static_cast<int>(b * kCsrBlock));
      const __m256i last = _mm256_set1_epi32(static_cast<int>(K - 1));
      for (size_t i = w.offsets[m * blocks + b]; i < o1; i += 8) {
        const int left = static_cast<int>(std::min<size_t>(8, o1 - i));
        const __m256 valid = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(left), iota));
        const __m256i idx = _mm256_min_epu32(_mm256_add_epi32(  // clamped: never read past x
            _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.cols + i))), base), last);
        const __m256 wv = _mm256_and_ps(values.load(i), valid);
        for (int r = 0; r < R; ++r) {
          const __m256 xv = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), x + (n + r) * ldx, idx, valid, 4);
          acc[r] = _mm256_fmadd_ps(wv, xv, acc[r]);
        }
      }
    }
    float out[R];
    for (int r = 0; r < R; ++r) out[r] = avx2::reduce_add(acc[r]);
    store_tile(out, R, 1, bias, y, ldy, n, m);
  }
}

// Calls f(Values{}) for the value type of w.
template <typename F>
SPARQ_TARGET_AVX2 void with_values(const SparseWeights& w, F&& f) {
  switch (w.value_type) {
    case WeightType::kF16: f(Plain<avx2::F16>{}); break;
    case WeightType::kBF16: f(Plain<avx2::BF16>{}); break;
    case WeightType::kF32: f(Plain<avx2::F32>{}); break;
    case WeightType::kI8: f(Plain<avx2::I8>{}); break;
    case WeightType::kLut4: f(Lut4{}); break;
  }
}

}  // namespace

// From this many activation rows bitmap and N:M rows are expanded once per
// block of 4 for all of them (avx2::linear_decoded_once). SPARQ_ISA=avx2 node
// bench/ab.js --weights bitmap --sparsity 0.5 --cache cold: N = 4 0.96x,
// N = 8 1.18x, N = 32 1.70x; at 80% N = 8 1.23x; bitmap-int4 N = 8 1.56x.
constexpr size_t kDecodeOnceRows = 8;

SPARQ_TARGET_AVX2 void linear_bitmap_avx2(const float* x, size_t ldx, const float*,
                                          const SparseWeights& w, size_t K, const float* bias,
                                          float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                                          size_t m1) {
  with_values(w, [&](auto values) {
    const BitmapWeights<decltype(values)> p{&w, bitmap_tiles(K)};
    avx2::linear_decoded_once(x, ldx, p, K, bias, y, ldy, n0, n1, m0, m1, kDecodeOnceRows);
  });
}

SPARQ_TARGET_AVX2 void linear_nm_avx2(const float* x, size_t ldx, const float*,
                                      const SparseWeights& w, size_t K, const float* bias,
                                      float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                                      size_t m1) {
  with_values(w, [&](auto values) {
    const NmWeights<decltype(values)> p{&w, nm_code_stride(K, w.n, w.group), K / w.group * w.n,
                                       w.n * nm_index_bits(w.group)};
    avx2::linear_decoded_once(x, ldx, p, K, bias, y, ldy, n0, n1, m0, m1, kDecodeOnceRows);
  });
}

SPARQ_TARGET_AVX2 void linear_csr_avx2(const float* x, size_t ldx, const float*,
                                       const SparseWeights& w, size_t K, const float* bias,
                                       float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                                       size_t m1) {
  with_values(w, [&](auto values) {
    using Values = decltype(values);
    for (size_t n = n0; n < n1;) {
      switch (std::min<size_t>(3, n1 - n)) {
        case 3: csr_gather<Values, 3>(x, ldx, w, K, bias, y, ldy, n, m0, m1); n += 3; break;
        case 2: csr_gather<Values, 2>(x, ldx, w, K, bias, y, ldy, n, m0, m1); n += 2; break;
        default: csr_gather<Values, 1>(x, ldx, w, K, bias, y, ldy, n, m0, m1); n += 1; break;
      }
    }
  });
}

}  // namespace sparq

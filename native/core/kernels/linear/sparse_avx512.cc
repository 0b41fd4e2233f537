// AVX-512 sparse linear.
// - bitmap and N:M: each 16-element tile of a weight row is expanded into a
//   dense register (VEXPANDPS puts the tile's packed values in the lanes its
//   mask selects, zeros elsewhere), then the shared dense tile driver
//   (tiles_avx512.h) multiplies it: load as sparse, compute as dense. For
//   more activation rows than one register tile, each tile of 4 weight rows
//   is expanded once into a 64-byte aligned scratch (64 KB at K = 4096: L2)
//   while the next tile's rows are prefetched, and every activation group
//   multiplies the scratch. On the Turin-like test VM the expansion is about
//   half the time at N = 8 (measured by skipping it), yet VEXPANDPS is not
//   what bounds it: a masked move in its place gained 1.07x at N = 1, and a
//   permute from a lookup table ran slower (bench/ab.js against builds of
//   those variants).
// - csr: work proportional to the stored values. Up to kCsrGatherRows
//   activation rows gather x at the column indices (16 entries per gather);
//   more rows run an outer product on transposed activations (one FMA updates
//   16 activation rows per entry; 8 on 256-bit vectors for groups of <= 8).
//   Value and column streams are prefetched 1 KB ahead (rows are short
//   streams; the hardware prefetchers restart at every 4 KB page).
// Both CSR paths give entry i of a block lane (i - block start) mod 16 with
// one accumulator per lane and reduce the lanes in reduce_add's order, so an
// output is bit-identical whichever path computes it (any N, any threads).
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

// Software prefetch distance of the CSR value and column streams.
constexpr size_t kPrefetchBytes = 1024;

// The stored values of weight row m as float32: Plain for values stored as
// float32 / float16 / bfloat16 / int8 (Widen), Lut4 for 4-bit indices into
// the row's table. full(i): values i .. i + 15 (the arrays are padded);
// broadcast(i) / broadcast8(i): value i in every lane of a zmm / ymm.
template <typename Widen>
struct Plain {
  using T = typename Widen::T;
  const T* v;
  static Plain of(const SparseWeights& w, size_t) { return {static_cast<const T*>(w.values)}; }
  SPARQ_TARGET_AVX512 __m512 full(size_t i) const { return Widen::full(v + i); }
  SPARQ_TARGET_AVX512 __m512 broadcast(size_t i) const { return Widen::broadcast(v + i); }
  SPARQ_TARGET_AVX512 __m256 broadcast8(size_t i) const { return Widen::broadcast8(v + i); }
  const void* address(size_t i) const { return v + i; }
};

struct Lut4 {
  const uint8_t* v;
  const float* lut;  // 16 weights
  static Lut4 of(const SparseWeights& w, size_t m) { return {static_cast<const uint8_t*>(w.values), w.lut + 16 * m}; }
  // Index j of the 16 from nibble i in lane j: each half of the 64 bits in 8
  // lanes, shifted by 4 j (VPERMPS reads the low 4 bits of each lane).
  SPARQ_TARGET_AVX512 __m512 full(size_t i) const {
    const __m512i halves = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m512i shifts = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
    const __m128i bits = _mm_cvtsi64_si128(static_cast<long long>(load_nibbles16(v, i)));
    const __m512i idx = _mm512_srlv_epi32(_mm512_permutexvar_epi32(halves, _mm512_castsi128_si512(bits)), shifts);
    return _mm512_permutexvar_ps(idx, _mm512_loadu_ps(lut));
  }
  SPARQ_TARGET_AVX512 __m512 broadcast(size_t i) const { return _mm512_set1_ps(lut[nibble_at(v, i)]); }
  SPARQ_TARGET_AVX512 __m256 broadcast8(size_t i) const { return _mm256_set1_ps(lut[nibble_at(v, i)]); }
  const void* address(size_t i) const { return v + i / 2; }
};

// Bitmap rows: a cursor into the row's packed values advances by each tile's
// population count (the driver reads a row's tiles in K order).
template <typename Values>
struct BitmapWeights {
  struct Row {
    const uint16_t* masks;
    Values values;
    size_t at, m;
  };
  const SparseWeights* w;
  size_t tiles, m_end;  // m_end: the end of the block of rows

  Row row(size_t m) const { return {w->masks + m * tiles, Values::of(*w, m), w->offsets[m], m}; }
  // Prefetches (into L2) the mask and value lines that the row `rows` below r
  // reads at k. Its value cursor is not known yet: it is estimated as its
  // start plus r's progress.
  SPARQ_ALWAYS_INLINE void prefetch_below(const Row& r, size_t k, size_t rows) const {
    const size_t below = std::min(r.m + rows, m_end);
    const size_t at = w->offsets[below] + (r.at - w->offsets[r.m]);
    _mm_prefetch(static_cast<const char*>(r.values.address(at)), _MM_HINT_T1);
    _mm_prefetch(reinterpret_cast<const char*>(r.masks + rows * tiles + k / kBitmapTile), _MM_HINT_T1);
  }
  SPARQ_TARGET_AVX512 __m512 load(Row& r, size_t k) const {
    const unsigned mask = r.masks[k / kBitmapTile];
    const __m512 v = r.values.full(r.at);  // reads past the row: values are padded
    r.at += _mm_popcnt_u32(mask);
    return _mm512_maskz_expand_ps(static_cast<__mmask16>(mask), v);
  }
  // Mask bits past K are clear, so the tail needs nothing more.
  SPARQ_TARGET_AVX512 __m512 load(Row& r, size_t k, __mmask16) const { return load(r, k); }
};

// N:M rows: a tile of 16 elements holds 16 / group codes and 16 n / group
// values at a fixed place, so nothing carries from tile to tile.
template <typename Values>
struct NmWeights {
  struct Row {
    const uint8_t* codes;
    Values values;
    size_t at;
  };
  const SparseWeights* w;
  size_t code_stride, row_values;
  uint32_t code_bits, tile_values;

  Row row(size_t m) const { return {w->codes + m * code_stride, Values::of(*w, m), m * row_values}; }
  // Prefetches (into L2) the code and value lines that the row `rows` below
  // r reads at k.
  SPARQ_ALWAYS_INLINE void prefetch_below(const Row& r, size_t k, size_t rows) const {
    const size_t t = k / kLanes;
    _mm_prefetch(static_cast<const char*>(r.values.address(r.at + rows * row_values + t * tile_values)), _MM_HINT_T1);
    _mm_prefetch(reinterpret_cast<const char*>(r.codes + rows * code_stride + t * (16 / w->group) * code_bits / 8), _MM_HINT_T1);
  }
  SPARQ_TARGET_AVX512 unsigned mask(const Row& r, size_t t) const {
    const uint32_t group = w->group, per_tile = 16 / group;
    const size_t bit = t * per_tile * code_bits;
    uint32_t raw;
    std::memcpy(&raw, r.codes + bit / 8, 4);  // at most 24 + 7 bits; codes are padded
    raw >>= bit % 8;
    const uint32_t code_mask = (1u << code_bits) - 1u;
    unsigned m = 0;
    for (uint32_t i = 0; i < per_tile; ++i)
      m |= static_cast<unsigned>(w->nm_masks[(raw >> (i * code_bits)) & code_mask]) << (i * group);
    return m;
  }
  SPARQ_TARGET_AVX512 __m512 load(const Row& r, size_t k, __mmask16 valid = 0xFFFF) const {
    const size_t t = k / kLanes;
    const __m512 v = r.values.full(r.at + t * tile_values);
    return _mm512_maskz_expand_ps(static_cast<__mmask16>(mask(r, t) & valid), v);
  }
};

template <typename Values>
SPARQ_TARGET_AVX512 void bitmap(const float* xp, const SparseWeights& w, size_t K,
                                const float* bias, float* y, size_t ldy, size_t n0, size_t n1,
                                size_t m0, size_t m1) {
  const BitmapWeights<Values> p{&w, bitmap_tiles(K), m1};
  avx512::linear_decoded_once(xp, p, K, bias, y, ldy, n0, n1, m0, m1, avx512::kGroup + 1);
}

template <typename Values>
SPARQ_TARGET_AVX512 void nm(const float* xp, const SparseWeights& w, size_t K, const float* bias,
                            float* y, size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1) {
  const size_t groups = K / w.group;
  const NmWeights<Values> p{&w, nm_code_stride(K, w.n, w.group), groups * w.n,
                           w.n * nm_index_bits(w.group), 16 * w.n / w.group};
  avx512::linear_decoded_once(xp, p, K, bias, y, ldy, n0, n1, m0, m1, avx512::kGroup + 1);
}

// CSR, R <= kCsrGatherRows activation rows from x as is.
template <typename Values, int R>
SPARQ_TARGET_AVX512 void csr_gather(const float* x, size_t ldx, const SparseWeights& w, size_t K,
                                    const float* bias, float* y, size_t ldy, size_t n, size_t m0,
                                    size_t m1) {
  const size_t blocks = csr_blocks(K);
  for (size_t m = m0; m < m1; ++m) {
    const Values values = Values::of(w, m);
    __m512 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    for (size_t b = 0; b < blocks; ++b) {
      const size_t o1 = w.offsets[m * blocks + b + 1];
      const __m512i base = _mm512_set1_epi32(static_cast<int>(b * kCsrBlock));
      const __m512i last = _mm512_set1_epi32(static_cast<int>(K - 1));
      for (size_t i = w.offsets[m * blocks + b]; i < o1; i += kLanes) {
        _mm_prefetch(reinterpret_cast<const char*>(w.cols + i) + kPrefetchBytes, _MM_HINT_T0);
        _mm_prefetch(static_cast<const char*>(values.address(i)) + kPrefetchBytes, _MM_HINT_T0);
        const __mmask16 valid =
            o1 - i >= kLanes ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (o1 - i)) - 1u);
        const __m512i idx = _mm512_min_epu32(_mm512_add_epi32(  // clamped: never read past x
            _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.cols + i))), base), last);
        const __m512 wv = values.full(i);
        for (int r = 0; r < R; ++r) {
          const __m512 xv = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), valid, idx, x + (n + r) * ldx, 4);
          acc[r] = _mm512_mask3_fmadd_ps(wv, xv, acc[r], valid);
        }
      }
    }
    float out[R];
    for (int r = 0; r < R; ++r) out[r] = avx512::reduce_add(acc[r]);
    store_tile(out, R, 1, bias, y, ldy, n, m);
  }
}

// CSR, up to Vec::kRows activation rows [n, n + rows) packed transposed at xg.
template <typename Values, typename Vec>
SPARQ_TARGET_AVX512 void csr_outer(const float* xg, const SparseWeights& w, size_t K,
                                   const float* bias, float* y, size_t ldy, size_t n,
                                   size_t rows, size_t m0, size_t m1) {
  using V = typename Vec::V;
  const size_t blocks = csr_blocks(K);
  for (size_t m = m0; m < m1; ++m) {
    const Values values = Values::of(w, m);
    V acc[kLanes];  // acc[l]: entries l, l + 16, ... of each block, as in csr_gather's lanes
#pragma GCC unroll 16
    for (size_t l = 0; l < kLanes; ++l) acc[l] = Vec::zero();
    for (size_t b = 0; b < blocks; ++b) {
      const size_t o0 = w.offsets[m * blocks + b], o1 = w.offsets[m * blocks + b + 1];
      const float* xb = xg + b * kCsrBlock * kLanes;
      const size_t last = std::min(kCsrBlock, K - b * kCsrBlock) - 1;  // clamp: never read past x
      // Entry e into lane l's accumulator.
      const auto term = [&](size_t e, size_t l) SPARQ_TARGET_AVX512 {
        acc[l] = Vec::fma(Vec::broadcast(values, e),
                          Vec::load(xb + std::min<size_t>(w.cols[e], last) * kLanes), acc[l]);
      };
      size_t i = o0;
      for (; i + kLanes <= o1; i += kLanes) {
        _mm_prefetch(reinterpret_cast<const char*>(w.cols + i) + kPrefetchBytes, _MM_HINT_T0);
        _mm_prefetch(static_cast<const char*>(values.address(i)) + kPrefetchBytes, _MM_HINT_T0);
#pragma GCC unroll 16
        for (size_t l = 0; l < kLanes; ++l) term(i + l, l);
      }
#pragma GCC unroll 16
      for (size_t l = 0; l < kLanes; ++l)  // constant l: the accumulators stay in registers
        if (i + l < o1) term(i + l, l);
    }
    // The lanes' tree of reduce_add: l + (l + 8), then + 4, + 2, + 1.
#pragma GCC unroll 8
    for (size_t l = 0; l < 8; ++l) acc[l] = Vec::add(acc[l], acc[l + 8]);
#pragma GCC unroll 4
    for (size_t l = 0; l < 4; ++l) acc[l] = Vec::add(acc[l], acc[l + 4]);
    acc[0] = Vec::add(acc[0], acc[2]);
    acc[1] = Vec::add(acc[1], acc[3]);
    float out[kLanes];
    Vec::store(out, Vec::add(acc[0], acc[1]));
    for (size_t j = 0; j < rows; ++j)
      y[(n + j) * ldy + m] = bias != nullptr ? out[j] + bias[m] : out[j];
  }
}

template <typename Values>
SPARQ_TARGET_AVX512 void csr(const float* x, size_t ldx, const float* xp, const SparseWeights& w,
                             size_t K, const float* bias, float* y, size_t ldy, size_t n0,
                             size_t n1, size_t m0, size_t m1) {
  const size_t rows = n1 - n0;
  if (rows > kCsrGatherRows) {
    for (size_t n = n0; n < n1; n += kLanes) {
      const size_t group = std::min(kLanes, n1 - n);
      if (group <= Ymm::kRows) csr_outer<Values, Ymm>(xp + n * K, w, K, bias, y, ldy, n, group, m0, m1);
      else csr_outer<Values, Zmm>(xp + n * K, w, K, bias, y, ldy, n, group, m0, m1);
    }
    return;
  }
  switch (rows) {
    case 3: csr_gather<Values, 3>(x, ldx, w, K, bias, y, ldy, n0, m0, m1); break;
    case 2: csr_gather<Values, 2>(x, ldx, w, K, bias, y, ldy, n0, m0, m1); break;
    case 1: csr_gather<Values, 1>(x, ldx, w, K, bias, y, ldy, n0, m0, m1); break;
    default: break;
  }
}

// Calls f(Values{}) for the value type of w.
template <typename F>
SPARQ_TARGET_AVX512 void with_values(const SparseWeights& w, F&& f) {
  switch (w.value_type) {
    case WeightType::kF16: f(Plain<avx512::F16>{}); break;
    case WeightType::kBF16: f(Plain<avx512::BF16>{}); break;
    case WeightType::kF32: f(Plain<avx512::F32>{}); break;
    case WeightType::kI8: f(Plain<avx512::I8>{}); break;
    case WeightType::kLut4: f(Lut4{}); break;
  }
}

}  // namespace

void linear_pack_xt_avx512(const float* x, size_t N, size_t K, float* xt) {
  for (size_t n0 = 0; n0 < N; n0 += kLanes) {
    const size_t rows = std::min(kLanes, N - n0);
    float* g = xt + n0 * K;
    for (size_t k = 0; k < K; ++k) {
      for (size_t j = 0; j < rows; ++j) g[k * kLanes + j] = x[(n0 + j) * K + k];
      for (size_t j = rows; j < kLanes; ++j) g[k * kLanes + j] = 0.0f;
    }
  }
}

SPARQ_TARGET_AVX512 void linear_bitmap_avx512(const float*, size_t, const float* xp,
                                              const SparseWeights& w, size_t K, const float* bias,
                                              float* y, size_t ldy, size_t n0, size_t n1,
                                              size_t m0, size_t m1) {
  with_values(w, [&](auto values) {
    bitmap<decltype(values)>(xp, w, K, bias, y, ldy, n0, n1, m0, m1);
  });
}

SPARQ_TARGET_AVX512 void linear_nm_avx512(const float*, size_t, const float* xp,
                                          const SparseWeights& w, size_t K, const float* bias,
                                          float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                                          size_t m1) {
  with_values(w, [&](auto values) { nm<decltype(values)>(xp, w, K, bias, y, ldy, n0, n1, m0, m1); });
}

SPARQ_TARGET_AVX512 void linear_csr_avx512(const float* x, size_t ldx, const float* xp,
                                           const SparseWeights& w, size_t K, const float* bias,
                                           float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                                           size_t m1) {
  with_values(w, [&](auto values) {
    csr<decltype(values)>(x, ldx, xp, w, K, bias, y, ldy, n0, n1, m0, m1);
  });
}

}  // namespace sparq

// AVX-512 linear driver templates shared by every weight format: register
// tiles in dot-product form, packed activations, weight tiles outer. A format
// supplies a weights policy W:
//   using Row = ...;                        // what one weight row needs
//   Row row(size_t m) const;                // row m
//   __m512 load(Row&, size_t k) const;             // 16 weights from k, as f32
//   __m512 load(Row&, size_t k, __mmask16) const;  // the K tail, zeros past K
// A tile calls load for each of its rows with k = 0, 16, 32, ... in order, on
// its own copy of the Row, so a policy may advance a cursor in it (sparse
// formats) or take it by const reference (the others).
// and gets y = x . w^T for one block of the driver (see kernels.h).
//
// Each accumulator sees the same FMAs in the same order and is reduced the same
// way whatever the tile shape, so an output never depends on how rows were
// blocked or split over threads. Weight rows stream in long sequential runs
// (what the hardware prefetchers want). Activations are packed once per call
// (linear_pack_x_avx512) so that a tile's NR activation vectors for one K step
// are adjacent: one stream instead of NR (NR separate rows left the kernel
// waiting on L2).
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../kernels.h"
#include "../../large_buffer.h"
#include "../../quant.h"
#include "../../target.h"
#include "tile_store.h"

namespace sparq {
namespace avx512 {

constexpr size_t kLanes = 16;
constexpr size_t kGroup = 6;  // most activation rows per packed group = the widest tile

inline size_t k_steps(size_t K) { return (K + kLanes - 1) / kLanes; }

// A chunk of c activation rows splits into ceil(c / kGroup) groups of
// near-equal size (8 -> 4 + 4, 32 -> 6 + 6 + 5 + 5 + 5 + 5): narrow tiles
// reuse each weight load less.
struct GroupPlan {
  size_t count, base, extra;
  explicit GroupPlan(size_t c)
      : count((c + kGroup - 1) / kGroup), base(count ? c / count : 0), extra(count ? c % count : 0) {}
  size_t size(size_t g) const { return base + (g < extra ? 1 : 0); }
};

// Per-group scales (or mins) of weight rows [m0, m1) as float32: a view of
// f32 storage, or f16 converted into `scratch` once per block, so a kernel
// then broadcasts each with one load.
SPARQ_TARGET_AVX512 inline const float* scale_rows(const void* p, ScaleType t, size_t groups,
                                                   size_t m0, size_t m1,
                                                   std::vector<float>& scratch) {
  if (t == ScaleType::kF32) return static_cast<const float*>(p) + m0 * groups;
  const size_t n = (m1 - m0) * groups;
  scratch.resize(n);
  const uint16_t* src = static_cast<const uint16_t*>(p) + m0 * groups;
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(scratch.data() + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
  for (; i < n; ++i) scratch[i] = _cvtsh_ss(src[i]);
  return scratch.data();
}

// Horizontal sum in a fixed order (256-bit halves, 128-bit lanes, pairs).
SPARQ_TARGET_AVX512 inline float reduce_add(__m512 v) {
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  v = _mm512_add_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm512_cvtss_f32(v);
}

// Whether policy W asks narrow tiles to prefetch: it then names the memory of
// weight k of the row `rows` below a row (ahead(row, k, rows)) and the k
// steps per cache line less one (kAheadEvery, a power of two less one).
// Quantized rows are short (2-4 KB), so the hardware prefetchers, restarting
// at every row of the tile, leave the cold stream waiting; one T0 prefetch
// per line of the next tile's rows gives 1.1x (int8) to 1.25x (4-bit) at
// N = 1 cold. Dense rows do not gain (a plain stream already).
template <typename W, typename = void>
struct HasAhead : std::false_type {};
template <typename W>
struct HasAhead<W, std::void_t<decltype(std::declval<const W&>().ahead(std::declval<const typename W::Row&>(), size_t{}, size_t{}))>>
    : std::true_type {};

// out[i * NR + j] = dot(w_rows[i], activation row j of the packed group xg).
template <typename W, int MR, int NR>
SPARQ_TARGET_AVX512 void tile(const float* xg, const W& w, const typename W::Row* w_rows, size_t K,
                              float* out) {
  typename W::Row rows[MR];  // a policy may advance its rows as k grows (sparse cursors)
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) rows[i] = w_rows[i];
  __m512 acc[MR][NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_ps();
  const size_t full = K / kLanes;
  for (size_t s = 0; s < full; ++s) {
    const float* xs = xg + s * NR * kLanes;
    const size_t k = s * kLanes;
    __m512 xv[NR];
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) xv[j] = _mm512_loadu_ps(xs + j * kLanes);
    if constexpr (HasAhead<W>::value && NR == 1) {
      if ((s & W::kAheadEvery) == 0)
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i) _mm_prefetch(static_cast<const char*>(w.ahead(rows[i], k, MR)), _MM_HINT_T0);
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 wv = w.load(rows[i], k);
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_fmadd_ps(wv, xv[j], acc[i][j]);
    }
  }
  if (full * kLanes < K) {  // tail: weights masked, activations zero-padded when packed
    const float* xs = xg + full * NR * kLanes;
    const size_t k = full * kLanes;
    const __mmask16 m = static_cast<__mmask16>((1u << (K - k)) - 1u);
    __m512 xv[NR];
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) xv[j] = _mm512_loadu_ps(xs + j * kLanes);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 wv = w.load(rows[i], k, m);
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_fmadd_ps(wv, xv[j], acc[i][j]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) out[i * NR + j] = reduce_add(acc[i][j]);
}

// y[n + j, m + i] = out(i, j) (+ bias) for the mr valid rows of one tile.
template <typename W, int MR, int NR>
SPARQ_TARGET_AVX512 void tile_to_y(const float* xg, const W& w, const typename W::Row* w_rows,
                                   size_t K, const float* bias, float* y, size_t ldy, size_t n,
                                   size_t m, size_t mr) {
  float out[MR * NR];
  tile<W, MR, NR>(xg, w, w_rows, K, out);
  store_tile(out, NR, mr, bias, y, ldy, n, m);
}

// Weight rows [m, m + MR) of [m0, m1); past m1 the last row is repeated and
// its results dropped.
template <typename W, int MR>
SPARQ_TARGET_AVX512 void weight_rows(const W& w, size_t m, size_t m1, typename W::Row* w_rows) {
  for (int i = 0; i < MR; ++i) w_rows[i] = w.row(std::min(m + i, m1 - 1));
}

// One or two activation rows (GEMV-like, memory-bound): 8 weight rows per tile.
template <typename W, int NR>
SPARQ_TARGET_AVX512 void linear_narrow(const float* xg, const W& w, size_t K,
                                       const float* bias, float* y, size_t ldy, size_t n,
                                       size_t m0, size_t m1) {
  for (size_t m = m0; m < m1; m += 8) {
    typename W::Row w_rows[8];
    weight_rows<W, 8>(w, m, m1, w_rows);
    tile_to_y<W, 8, NR>(xg, w, w_rows, K, bias, y, ldy, n, m, std::min<size_t>(8, m1 - m));
  }
}

// Weight tiles (4 rows) outer, activation groups inner: each weight tile is
// read from memory once and reused from L1/L2 by every group.
template <typename W>
SPARQ_TARGET_AVX512 void linear_wide(const float* xp, const W& w, size_t K,
                                     const float* bias, float* y, size_t ldy, size_t n0,
                                     size_t n1, size_t m0, size_t m1) {
  const size_t group_stride = k_steps(K) * kLanes;  // floats per packed row
  for (size_t m = m0; m < m1; m += 4) {
    typename W::Row w_rows[4];
    weight_rows<W, 4>(w, m, m1, w_rows);
    const size_t mr = std::min<size_t>(4, m1 - m);
    const GroupPlan plan(n1 - n0);
    for (size_t g = 0, n = n0; g < plan.count; n += plan.size(g), ++g) {
      const float* xg = xp + n * group_stride;
      switch (plan.size(g)) {
        case 6: tile_to_y<W, 4, 6>(xg, w, w_rows, K, bias, y, ldy, n, m, mr); break;
        case 5: tile_to_y<W, 4, 5>(xg, w, w_rows, K, bias, y, ldy, n, m, mr); break;
        case 4: tile_to_y<W, 4, 4>(xg, w, w_rows, K, bias, y, ldy, n, m, mr); break;
        case 3: tile_to_y<W, 4, 3>(xg, w, w_rows, K, bias, y, ldy, n, m, mr); break;
        case 2: tile_to_y<W, 4, 2>(xg, w, w_rows, K, bias, y, ldy, n, m, mr); break;
        default: tile_to_y<W, 4, 1>(xg, w, w_rows, K, bias, y, ldy, n, m, mr); break;
      }
    }
  }
}

// [n0, n1) is one of the driver's activation chunks, so the packed groups
// line up with it.
template <typename W>
SPARQ_TARGET_AVX512 void linear(const float* xp, const W& wt, size_t K, const float* bias,
                                float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                                size_t m1) {
  const float* xg = xp + n0 * k_steps(K) * kLanes;
  if (n1 - n0 > 2) {
    linear_wide<W>(xp, wt, K, bias, y, ldy, n0, n1, m0, m1);
  } else if (n1 - n0 == 2) {
    linear_narrow<W, 2>(xg, wt, K, bias, y, ldy, n0, m0, m1);
  } else if (n1 - n0 == 1) {
    linear_narrow<W, 1>(xg, wt, K, bias, y, ldy, n0, m0, m1);
  }
}

// Whether policy W asks the decode-once driver below to prefetch: it then
// names, with prefetch_below(row, k, rows), the lines the row `rows` below
// reads at k (sparse rows, whose value cursors the hardware cannot guess).
template <typename W, typename = void>
struct HasPrefetchBelow : std::false_type {};
template <typename W>
struct HasPrefetchBelow<W, std::void_t<decltype(std::declval<const W&>().prefetch_below(std::declval<const typename W::Row&>(), size_t{}, size_t{}))>>
    : std::true_type {};

// Float32 rows in a scratch buffer: row m at (m - first) * stride.
struct ScratchRows {
  using Row = const float*;
  const float* base;
  size_t first, stride;
  Row row(size_t m) const { return base + (m - first) * stride; }
  SPARQ_TARGET_AVX512 __m512 load(Row r, size_t k) const { return _mm512_loadu_ps(r + k); }
  SPARQ_TARGET_AVX512 __m512 load(Row r, size_t k, __mmask16 m) const {
    return _mm512_maskz_loadu_ps(m, r + k);
  }
};

// As linear, but with at least min_rows activation rows (more than one
// packed group), each tile of 4 weight rows is decoded once into a 64-byte
// aligned scratch (L2 at K = 4096) and every group multiplies that (dense
// f32), instead of decoding it again per group. The decoded values, the FMAs
// and their order are the same either way. Sparse rows use it; quantized and
// clustered rows, cheap to decode here, ran slower through the scratch
// (node bench/ab.js --weights int4 / clustered4 --cache cold: 0.76x / 0.71x at
// N = 8, 1.03x / 0.84x at N = 32), unlike on AVX2 (tiles_avx2.h).
template <typename P>
SPARQ_TARGET_AVX512 void linear_decoded_once(const float* xp, const P& p, size_t K, const float* bias,
                                             float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                                             size_t m1, size_t min_rows) {
  if (n1 - n0 < std::max(min_rows, kGroup + 1)) {
    linear(xp, p, K, bias, y, ldy, n0, n1, m0, m1);
    return;
  }
  const size_t steps = k_steps(K), stride = steps * kLanes;
  LargeVector<float> scratch(4 * stride);
  for (size_t m = m0; m < m1; m += 4) {
    const size_t rows = std::min<size_t>(4, m1 - m);
    for (size_t i = 0; i < rows; ++i) {
      typename P::Row r = p.row(m + i);
      float* dst = scratch.data() + i * stride;
      for (size_t s = 0; s < steps; ++s) {
        const size_t k = s * kLanes;
        if constexpr (HasPrefetchBelow<P>::value)
          if ((s & 3) == 0) p.prefetch_below(r, k, 4);
        const __m512 v = k + kLanes <= K ? p.load(r, k)
                                         : p.load(r, k, static_cast<__mmask16>((1u << (K - k)) - 1u));
        _mm512_storeu_ps(dst + k, v);
      }
    }
    linear_wide(xp, ScratchRows{scratch.data(), m, stride}, K, bias, y, ldy, n0, n1, m, m + rows);
  }
}

}  // namespace avx512
}  // namespace sparq

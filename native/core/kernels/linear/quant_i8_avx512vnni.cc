// AVX-512 VNNI linear with int8 activations: per 64 weights (two blocks of 32)
// the codes become 64 unsigned bytes in K order, VPDPBUSD multiplies them with
// the int8 activations into 16 lanes of 4-product sums (lanes 0-7: the first
// block, 8-15: the second), the code offset is taken off with the lanes'
// activation sums (computed the same way against ones), and each lane is
// scaled by its block's weight scale times activation scale (plus min times
// activation sum) into float accumulators, reduced at the end.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "../../target.h"
#include "tile_store.h"
#include "quant.h"
#include "tiles_avx512.h"

namespace sparq {
namespace {

template <CodeType Code, bool HasMin>
struct Weights {
  const uint8_t* codes;
  const float* scales;  // rows [m0, m1) as float32
  const float* mins;
  size_t m0, row_bytes, groups;
  unsigned shift;

  // 64 codes from k as unsigned bytes in K order (32 when only one block is left).
  SPARQ_TARGET_AVX512VNNI __m512i codes_u8(size_t m, size_t k, bool half) const {
    const uint8_t* row = codes + m * row_bytes;
    if (Code == CodeType::kNibble) {
      const uint8_t* p = row + (k >> 5) * 16;
      const __m256i b = half ? _mm256_maskz_loadu_epi8(0xFFFF, p)
                             : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
      const __m256i nib = _mm256_set1_epi8(0x0F);
      const __m512i lo = _mm512_castsi256_si512(_mm256_and_si256(b, nib));
      const __m512i hi = _mm512_castsi256_si512(_mm256_and_si256(_mm256_srli_epi16(b, 4), nib));
      // [A low nibbles, B low, ...] + [A high, B high, ...] -> A0-15 A16-31 B0-15 B16-31
      return _mm512_permutex2var_epi64(lo, _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), hi);
    }
    __m512i b = half ? _mm512_maskz_loadu_epi8(0xFFFFFFFFull, row + k) : _mm512_loadu_si512(row + k);
    if (Code == CodeType::kInt8) b = _mm512_xor_si512(b, _mm512_set1_epi8(static_cast<char>(0x80)));
    return b;
  }

  // Per-lane values of a [m - m0, groups] table for the blocks at k and k + 32
  // (lanes 0-7 and 8-15): one broadcast when both blocks share a group, else
  // a 2-float load spread by a permute (groups of 32).
  SPARQ_TARGET_AVX512VNNI __m512 lanes(const float* table, size_t m, size_t k, bool half) const {
    const float* t = table + (m - m0) * groups + (k >> shift);
    if (shift != 5) return _mm512_set1_ps(t[0]);
    // Scales are 4-byte aligned only: movq through the unaligned-load intrinsic.
    const __m128 pair = half ? _mm_load_ss(t) : _mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(t)));
    const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(pair));
  }
};

// Activation side of one 64-wide step of row n.
struct ActStep {
  __m512i q;               // 64 int8 activations
  __m512i sum;             // per lane: sum of its 4 activations
  __m512i neg_offset_sum;  // per lane: -(code offset) * sum
  __m512 scale;            // per lane: the block's activation scale
};

SPARQ_TARGET_AVX512VNNI inline ActStep act_step(const Int8Activations& x, size_t K, size_t n,
                                                size_t k, bool half, int offset_shift) {
  ActStep a;
  const int8_t* q = x.q + n * K + k;
  a.q = half ? _mm512_maskz_loadu_epi8(0xFFFFFFFFull, q) : _mm512_loadu_si512(q);
  a.sum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(1), a.q);
  a.neg_offset_sum = offset_shift > 0 ? _mm512_sub_epi32(_mm512_setzero_si512(),
                                                         _mm512_sll_epi32(a.sum, _mm_cvtsi32_si128(offset_shift)))
                                      : _mm512_setzero_si512();
  const float* s = x.scale + n * (K / 32) + k / 32;
  a.scale = _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(s[0]), _mm512_set1_ps(half ? s[0] : s[1]));
  return a;
}

template <CodeType Code, bool HasMin, int MR, int NR>
SPARQ_TARGET_AVX512VNNI void tile(const Int8Activations& x, const Weights<Code, HasMin>& w,
                                  const size_t* rows, size_t K, size_t n, int offset_shift,
                                  float* out) {
  __m512 acc[MR][NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_ps();
  for (size_t k = 0; k < K; k += 64) {
    const bool half = K - k < 64;
    ActStep a[NR];
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) a[j] = act_step(x, K, n + j, k, half, offset_shift);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512i u = w.codes_u8(rows[i], k, half);
      const __m512 ws = w.lanes(w.scales, rows[i], k, half);
      __m512 wm = _mm512_setzero_ps();
      if (HasMin) wm = w.lanes(w.mins, rows[i], k, half);
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) {
        // dot - offset * sum: start the dot product from -offset * sum.
        const __m512i dot = _mm512_dpbusd_epi32(a[j].neg_offset_sum, u, a[j].q);
        acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(ws, a[j].scale), acc[i][j]);
        if (HasMin) {
          acc[i][j] = _mm512_fmadd_ps(_mm512_mul_ps(wm, a[j].scale), _mm512_cvtepi32_ps(a[j].sum), acc[i][j]);
        }
      }
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) out[i * NR + j] = avx512::reduce_add(acc[i][j]);
}

template <CodeType Code, bool HasMin, int MR, int NR>
SPARQ_TARGET_AVX512VNNI void tile_to_y(const Int8Activations& x, const Weights<Code, HasMin>& w,
                                       size_t K, size_t n, size_t m, size_t m1, int offset_shift,
                                       const float* bias, float* y, size_t ldy) {
  size_t rows[MR];
  for (int i = 0; i < MR; ++i) rows[i] = std::min(m + i, m1 - 1);
  float out[MR * NR];
  tile<Code, HasMin, MR, NR>(x, w, rows, K, n, offset_shift, out);
  const size_t mr = std::min<size_t>(MR, m1 - m);
  store_tile(out, NR, mr, bias, y, ldy, n, m);
}

template <CodeType Code, bool HasMin>
SPARQ_TARGET_AVX512VNNI void run(const Int8Activations& x, const QuantWeights& qw, size_t K,
                                 const float* bias, float* y, size_t ldy, size_t n0, size_t n1,
                                 size_t m0, size_t m1) {
  thread_local std::vector<float> scale_scratch, min_scratch;
  Weights<Code, HasMin> w;
  w.codes = qw.codes;
  w.m0 = m0;
  w.row_bytes = quant_row_bytes(qw, K);
  w.groups = quant_groups(qw, K);
  w.shift = qw.group_size == 0 ? 63u : static_cast<unsigned>(__builtin_ctzll(qw.group_size));
  w.scales = avx512::scale_rows(qw.scales, qw.scale_type, w.groups, m0, m1, scale_scratch);
  w.mins = HasMin ? avx512::scale_rows(qw.mins, qw.scale_type, w.groups, m0, m1, min_scratch) : nullptr;
  const int offset = quant_code_offset(qw);
  const int offset_shift = offset == 0 ? 0 : __builtin_ctz(static_cast<unsigned>(offset));
  if (n1 - n0 == 1) {
    for (size_t m = m0; m < m1; m += 8) tile_to_y<Code, HasMin, 8, 1>(x, w, K, n0, m, m1, offset_shift, bias, y, ldy);
    return;
  }
  for (size_t m = m0; m < m1; m += 4) {
    for (size_t n = n0; n < n1;) {
      switch (std::min<size_t>(3, n1 - n)) {
        case 3: tile_to_y<Code, HasMin, 4, 3>(x, w, K, n, m, m1, offset_shift, bias, y, ldy); n += 3; break;
        case 2: tile_to_y<Code, HasMin, 4, 2>(x, w, K, n, m, m1, offset_shift, bias, y, ldy); n += 2; break;
        default: tile_to_y<Code, HasMin, 4, 1>(x, w, K, n, m, m1, offset_shift, bias, y, ldy); n += 1; break;
      }
    }
  }
}

}  // namespace

SPARQ_TARGET_AVX512VNNI void linear_quant_i8_avx512vnni(const Int8Activations& x,
                                                        const QuantWeights& w, size_t K,
                                                        const float* bias, float* y, size_t ldy,
                                                        size_t n0, size_t n1, size_t m0,
                                                        size_t m1) {
  visit_quant_format(w, [&](auto code, auto has_min) {
    run<decltype(code)::value, decltype(has_min)::value>(x, w, K, bias, y, ldy, n0, n1, m0, m1);
  });
}

}  // namespace sparq

// AVX-512 VNNI linear with int8 activations. A step is one 64-byte load of a
// row's codes: 128 weights (four blocks of 32) for 4-bit codes, 64 (two
// blocks) for byte codes. Each task first lays its activation rows out step by
// step to match the codes as they come out of the register (ActStep below),
// so the inner loop is: load the codes, split nibbles with two ANDs and a
// shift (NF4: then two VPSHUFB through its table rounded to int8), one or
// two VPDPBUSD (16 lanes of 4-product sums, started from minus the code
// offset times the activations' lane sums), and one FMA of the
// lanes, converted to float, by the lanes' weight scale times activation
// scale. Lane l belongs to block l / 4 (4-bit) or l / 8 (bytes); lanes are
// reduced once per output. With one scale per row the scale (and min) are
// applied to the reduced sum instead, once per output. Mins per group do not
// depend on the codes: their term, the dot product of the row's mins with the
// activation row's scaled sums per group, is added once per output (16 groups
// an FMA) after the steps, not once a step.
//
// Every output runs the same instruction sequence whatever the tile shape, N
// or thread split, so results are bit-identical across them.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "../../target.h"
#include "quant.h"
#include "tile_store.h"
#include "tiles_avx512.h"

namespace sparq {
namespace {
constexpr size_t kBlock = 32;  // weights per activation scale

// Tiles of adjacent rows (N > 1, and N = 1 with mins) also prefetch into L2,
// each step, the code line that the row this many rows below reads at the
// same step: the hardware prefetchers alone restart on every tile's short
// rows (measured 1.46x on 4-bit weights from DRAM at N = 1 when tiles were
// adjacent rows there too; bench/ab.js --weights int4 --activations int8
// --cache cold). N = 1 without mins walks rows in stripes instead (run).
constexpr size_t kPrefetchRows = 8;

// One step of one activation row, laid out for the codes of a step.
// 4-bit: q[16b + j] = x[32b + j] and q[64 + 16b + j] = x[32b + 16 + j] for
// block b of the step (the low and high nibbles of code byte 16b + j).
// Bytes: q[j] = x[j], j < 64. Past K everything is zero.
template <int QBytes>
struct alignas(64) ActStep {
  int8_t q[QBytes];
  int32_t neg_offset_sum[16];  // -(code offset) * the lane's activation sum
  float scale[16];             // the lane's block scale
};

template <CodeType Code>
struct StepShape {
  static constexpr bool kNibble = Code == CodeType::kNibble;
  static constexpr size_t kWeights = kNibble ? 128 : 64;
  static constexpr int kQBytes = kNibble ? 128 : 64;
  static constexpr int kLaneShift = kNibble ? 2 : 3;  // block of lane l = l >> kLaneShift
  using Act = ActStep<kQBytes>;
};

// Lane i of the result = t[i >> lane_shift] (t: per-block values of a step).
SPARQ_TARGET_AVX512VNNI inline __m512 spread(__m512 t, int lane_shift) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  return _mm512_permutexvar_ps(_mm512_srl_epi32(lane, _mm_cvtsi32_si128(lane_shift)), t);
}

// Packed activations: per row, `steps` ActSteps, then (weights with mins per
// group) the row's scaled sums per weight group (sum over the group's blocks
// of block scale * block code sum; zero-padded to whole lines), then one line
// whose first float is the sum over the whole row (for mins per row).
template <CodeType Code>
struct PackedRows {
  using Act = typename StepShape<Code>::Act;
  static_assert(sizeof(Act) % sizeof(ActivationLine) == 0, "ActStep is whole lines");
  static constexpr size_t kLineFloats = sizeof(ActivationLine) / sizeof(float);
  size_t steps, min_groups, group_lines, row_lines;
  // groups: weight groups per row with a min each (0: no mins, or one per row).
  PackedRows(size_t K, size_t groups)
      : steps((K + StepShape<Code>::kWeights - 1) / StepShape<Code>::kWeights),
        min_groups(groups),
        group_lines((groups + kLineFloats - 1) / kLineFloats),
        row_lines(steps * (sizeof(Act) / sizeof(ActivationLine)) + group_lines + 1) {}
  const Act* row(const ActivationLine* x, size_t n) const { return reinterpret_cast<const Act*>(x + n * row_lines); }
  Act* row(ActivationLine* x, size_t n) const { return reinterpret_cast<Act*>(x + n * row_lines); }
  const float* groups(const ActivationLine* x, size_t n) const {
    return reinterpret_cast<const float*>(x + n * row_lines + row_lines - 1 - group_lines);
  }
  float* groups(ActivationLine* x, size_t n) const {
    return reinterpret_cast<float*>(x + n * row_lines + row_lines - 1 - group_lines);
  }
  const float* sum(const ActivationLine* x, size_t n) const {
    return reinterpret_cast<const float*>(x + n * row_lines + row_lines - 1);
  }
  float* sum(ActivationLine* x, size_t n) const { return reinterpret_cast<float*>(x + n * row_lines + row_lines - 1); }
};

// Quantizes the 32 activations at p by quantize_activations' rule: the codes
// of p[0..15] and p[16..31], and the block's scale.
SPARQ_TARGET_AVX512VNNI inline void quantize_block(const float* p, __m128i& q0, __m128i& q1, float& scale) {
  const __m512 a = _mm512_loadu_ps(p), b = _mm512_loadu_ps(p + 16);
  const float d = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b))) / 127.0f;
  scale = d;
  if (d == 0) {
    q0 = q1 = _mm_setzero_si128();
    return;
  }
  const __m512 dv = _mm512_set1_ps(d);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  constexpr int kNearest = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  const __m512i ca = _mm512_cvt_roundps_epi32(_mm512_div_ps(a, dv), kNearest);
  const __m512i cb = _mm512_cvt_roundps_epi32(_mm512_div_ps(b, dv), kNearest);
  q0 = _mm512_cvtepi32_epi8(_mm512_min_epi32(_mm512_max_epi32(ca, lo), hi));
  q1 = _mm512_cvtepi32_epi8(_mm512_min_epi32(_mm512_max_epi32(cb, lo), hi));
}

// Quantizes and lays out one activation row (see ActStep); writes the scaled
// sums of groups of group_blocks blocks to group_sums (if not null) and
// returns the row's scaled sum (the sum of block scale * block code sum).
template <CodeType Code>
SPARQ_TARGET_AVX512VNNI float pack_row(const float* x, size_t K, int offset, typename StepShape<Code>::Act* out,
                                       size_t steps, float* group_sums, size_t group_blocks) {
  using S = StepShape<Code>;
  const __m512i ones = _mm512_set1_epi8(1);
  __m512 total = _mm512_setzero_ps();
  for (size_t s = 0; s < steps; ++s) {
    typename S::Act& a = out[s];
    const size_t k = s * S::kWeights, blocks = std::min(S::kWeights, K - k) / kBlock;
    alignas(16) float scales[4] = {0, 0, 0, 0};
    __m128i* q = reinterpret_cast<__m128i*>(a.q);
    for (size_t b = 0; b < S::kWeights / kBlock; ++b) {
      __m128i q0 = _mm_setzero_si128(), q1 = _mm_setzero_si128();
      if (b < blocks) quantize_block(x + k + b * kBlock, q0, q1, scales[b]);
      if (group_sums != nullptr && b < blocks) {
        const int code_sum = _mm512_reduce_add_epi32(_mm512_add_epi32(_mm512_cvtepi8_epi32(q0), _mm512_cvtepi8_epi32(q1)));
        group_sums[(k / kBlock + b) / group_blocks] += scales[b] * static_cast<float>(code_sum);
      }
      // 4-bit: block b's first 16 codes go with the low nibbles (line 0), its
      // last 16 with the high ones (line 1); bytes: in order.
      _mm_store_si128(q + (S::kNibble ? b : 2 * b), q0);
      _mm_store_si128(q + (S::kNibble ? 4 + b : 2 * b + 1), q1);
    }
    __m512i sum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, _mm512_load_si512(a.q));
    if (S::kNibble) sum = _mm512_dpbusd_epi32(sum, ones, _mm512_load_si512(a.q + 64));
    _mm512_store_si512(a.neg_offset_sum, _mm512_mullo_epi32(sum, _mm512_set1_epi32(-offset)));
    const __m512 scale = spread(_mm512_castps128_ps512(_mm_load_ps(scales)), S::kLaneShift);
    _mm512_store_ps(a.scale, scale);
    total = _mm512_add_ps(total, _mm512_mul_ps(scale, _mm512_cvtepi32_ps(sum)));
  }
  return avx512::reduce_add(total);
}

// Scales (and mins) per step: kGroups distinct groups in a step (1, 2 or 4),
// or 0 for one group per row, applied after the reduction.
// Lut: 4-bit codes through a table rounded to int8 (QuantWeights::i8_codes,
// one VPSHUFB per 64 codes; NF4), each output then scaled by i8_scale.
template <CodeType Code, bool HasMin, int kGroups, bool Lut>
struct Weights {
  using S = StepShape<Code>;
  const uint8_t* codes;
  __m512i table;  // Lut: i8_codes in each 128-bit lane
  float table_scale;
  const float* scales;  // rows [m0, m1) as float32, `groups` per row
  const float* mins;
  const uint16_t* scales16;  // Half steps (see step): every row's float16 scales as stored
  const uint16_t* mins16;
  bool prefetch = true;  // each step prefetches the line kPrefetchRows rows below
  size_t m0, row_bytes, groups;
  unsigned shift;  // group of weight k = k >> shift
  // N = 1: the stored scales (and mins) of the next tile's rows, prefetched
  // over this tile's steps (null: none).
  const char* next_scales = nullptr;
  const char* next_mins = nullptr;
  size_t next_lines = 0, lines_per_step = 0;

  // The step's 64 code bytes as unsigned bytes: lo (and hi, the high nibbles).
  template <bool Tail>
  SPARQ_TARGET_AVX512VNNI void codes_u8(const uint8_t* p, __mmask64 tail, __m512i& lo, __m512i& hi) const {
    const __m512i b = Tail ? _mm512_maskz_loadu_epi8(tail, p) : _mm512_loadu_si512(p);
    if (S::kNibble) {
      const __m512i nib = _mm512_set1_epi8(0x0F);
      lo = _mm512_and_si512(b, nib);
      hi = _mm512_and_si512(_mm512_srli_epi16(b, 4), nib);
      if (Lut) {
        lo = _mm512_shuffle_epi8(table, lo);
        hi = _mm512_shuffle_epi8(table, hi);
      }
    } else {
      lo = Code == CodeType::kInt8 ? _mm512_xor_si512(b, _mm512_set1_epi8(static_cast<char>(0x80))) : b;
    }
  }

  // Per-lane values of a table (scales or mins) for the step at weight k.
  template <bool Tail>
  SPARQ_TARGET_AVX512VNNI __m512 lanes(const float* table, size_t m, size_t k, __mmask16 groups_tail) const {
    const float* t = table + (m - m0) * groups + (k >> shift);
    if (kGroups == 1) return _mm512_set1_ps(t[0]);
    const __mmask16 all = static_cast<__mmask16>((1u << kGroups) - 1u);
    const __m512 v = _mm512_castps128_ps512(_mm_maskz_loadu_ps(Tail ? groups_tail : all, t));
    return spread(v, kGroups == 2 ? 3 : 2);
  }

  // The same from the stored float16 table of row m (scales16 or mins16).
  template <bool Tail>
  SPARQ_TARGET_AVX512VNNI __m512 lanes_half(const uint16_t* table, size_t m, size_t k, __mmask16 groups_tail) const {
    const uint16_t* t = table + m * groups + (k >> shift);
    if (kGroups == 1) return _mm512_set1_ps(_cvtsh_ss(t[0]));
    const __mmask8 all = static_cast<__mmask8>((1u << kGroups) - 1u);
    const __m128i h = _mm_maskz_loadu_epi16(Tail ? static_cast<__mmask8>(groups_tail) : all, t);
    return spread(_mm512_castps128_ps512(_mm_cvtph_ps(h)), kGroups == 2 ? 3 : 2);
  }
};

// Half: scales read as stored (float16) instead of from the float32 copy.
template <CodeType Code, bool HasMin, int kGroups, bool Lut, int MR, int NR, bool Tail, bool Half>
SPARQ_TARGET_AVX512VNNI inline void step(const Weights<Code, HasMin, kGroups, Lut>& w,
                                         const uint8_t* const* rows, const size_t* ms,
                                         const typename StepShape<Code>::Act* const* act, size_t s,
                                         __mmask64 code_tail, __mmask16 groups_tail,
                                         __m512 (&acc)[MR][NR]) {
  using S = StepShape<Code>;
  const size_t k = s * S::kWeights;
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    __m512i lo, hi;
    if (!Tail && w.prefetch) _mm_prefetch(reinterpret_cast<const char*>(rows[i] + s * 64 + kPrefetchRows * w.row_bytes), _MM_HINT_T1);
    w.template codes_u8<Tail>(rows[i] + s * 64, code_tail, lo, hi);
    __m512 ws = _mm512_setzero_ps();
    if (kGroups != 0)
      ws = Half ? w.template lanes_half<Tail>(w.scales16, ms[i], k, groups_tail)
                : w.template lanes<Tail>(w.scales, ms[i], k, groups_tail);
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      const typename S::Act& a = act[j][s];
      __m512i dot = _mm512_dpbusd_epi32(_mm512_load_si512(a.neg_offset_sum), lo, _mm512_load_si512(a.q));
      if (S::kNibble) dot = _mm512_dpbusd_epi32(dot, hi, _mm512_load_si512(a.q + 64));
      const __m512 xs = _mm512_load_ps(a.scale);
      acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), kGroups == 0 ? xs : _mm512_mul_ps(ws, xs), acc[i][j]);
    }
  }
}

// Weight rows m + i * stride (i < MR, below m1) by activation rows [n, n + NR).
template <CodeType Code, bool HasMin, int kGroups, bool Lut, int MR, int NR, bool Half = false>
SPARQ_TARGET_AVX512VNNI void tile(const Weights<Code, HasMin, kGroups, Lut>& w, size_t K, size_t m,
                                  size_t m1, const ActivationLine* x, const PackedRows<Code>& packed,
                                  const float* bias, float* y, size_t ldy, size_t n, size_t stride = 1) {
  using S = StepShape<Code>;
  size_t ms[MR];
  const uint8_t* rows[MR];
  for (int i = 0; i < MR; ++i) {
    ms[i] = std::min(m + i * stride, m1 - 1);
    rows[i] = w.codes + ms[i] * w.row_bytes;
  }
  const typename S::Act* act[NR];
  for (int j = 0; j < NR; ++j) act[j] = packed.row(x, n + j);
  __m512 acc[MR][NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_ps();
  const size_t full = K / S::kWeights, rest = K % S::kWeights;
  for (size_t s = 0; s < full; ++s) {
    if (w.next_scales != nullptr) {
      for (size_t l = s * w.lines_per_step; l < std::min(w.next_lines, (s + 1) * w.lines_per_step); ++l) {
        _mm_prefetch(w.next_scales + l * 64, _MM_HINT_T0);
        if (HasMin) _mm_prefetch(w.next_mins + l * 64, _MM_HINT_T0);
      }
    }
    step<Code, HasMin, kGroups, Lut, MR, NR, false, Half>(w, rows, ms, act, s, 0, 0, acc);
  }
  if (rest != 0) {
    const size_t code_bytes = S::kNibble ? rest / 2 : rest;
    const __mmask64 code_tail = (1ull << code_bytes) - 1;
    const size_t group = size_t{1} << w.shift;
    const __mmask16 groups_tail = static_cast<__mmask16>((1u << ((rest + group - 1) / group)) - 1u);
    step<Code, HasMin, kGroups, Lut, MR, NR, true, Half>(w, rows, ms, act, full, code_tail, groups_tail, acc);
  }
  if constexpr (kGroups != 0 && HasMin) {
    for (size_t g = 0; g < w.groups; g += 16) {
      const __mmask16 valid = w.groups - g >= 16 ? static_cast<__mmask16>(0xFFFF)
                                                 : static_cast<__mmask16>((1u << (w.groups - g)) - 1u);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const __m512 mins =
            Half ? _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(valid, w.mins16 + ms[i] * w.groups + g))
                 : _mm512_maskz_loadu_ps(valid, w.mins + (ms[i] - w.m0) * w.groups + g);
#pragma GCC unroll 8
        for (int j = 0; j < NR; ++j)
          acc[i][j] = _mm512_fmadd_ps(mins, _mm512_maskz_loadu_ps(valid, packed.groups(x, n + j) + g), acc[i][j]);
      }
    }
  }
  float out[MR * NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      float r = avx512::reduce_add(acc[i][j]);
      if (kGroups == 0) {
        const size_t g = (ms[i] - w.m0) * w.groups;
        r = HasMin ? std::fma(w.scales[g], r, w.mins[g] * *packed.sum(x, n + j)) : w.scales[g] * r;
      }
      out[i * NR + j] = Lut ? r * w.table_scale : r;
    }
  store_tile_strided(out, NR, MR, stride, m1, bias, y, ldy, n, m);
}

template <CodeType Code, bool HasMin, int kGroups, bool Lut>
SPARQ_TARGET_AVX512VNNI void run(const ActivationLine* x, const QuantWeights& qw, size_t K,
                                 const float* bias, float* y, size_t ldy, size_t n0, size_t n1,
                                 size_t m0, size_t m1) {
  thread_local std::vector<float> scale_scratch, min_scratch;
  Weights<Code, HasMin, kGroups, Lut> w;
  w.codes = qw.codes;
  w.table = Lut ? _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qw.i8_codes)))
                : _mm512_setzero_si512();
  w.table_scale = qw.i8_scale;
  w.m0 = m0;
  w.row_bytes = quant_row_bytes(qw, K);
  w.groups = quant_groups(qw, K);
  w.shift = qw.group_size == 0 ? 63u : static_cast<unsigned>(__builtin_ctzll(qw.group_size));
  const PackedRows<Code> packed(K, groups_with_mins(qw, K));
  if (n1 - n0 == 1) {
    // N = 1. Scales per group in float16 are read as stored: converting a
    // whole task's first (32 KB for 128 rows in groups of 32) stalled on cold
    // memory with no code line in flight (bench/layout/int4_stream_pattern.cc).
    const bool half = kGroups != 0 && qw.scale_type == ScaleType::kF16;
    if (half) {
      w.scales16 = static_cast<const uint16_t*>(qw.scales);
      w.mins16 = static_cast<const uint16_t*>(qw.mins);
    } else {
      w.scales = avx512::scale_rows(qw.scales, qw.scale_type, w.groups, m0, m1, scale_scratch);
      w.mins = HasMin ? avx512::scale_rows(qw.mins, qw.scale_type, w.groups, m0, m1, min_scratch) : nullptr;
    }
    if (!HasMin) {
      // The task's rows in 8 stripes, a tile taking the next row of each:
      // each tile row continues a long sequential stream of codes (and of
      // scales per group) that the hardware prefetchers follow, where 8-row
      // tiles of adjacent rows (2-4 KB each) left them restarting.
      const size_t stride = (m1 - m0 + 7) / 8;
      w.prefetch = false;
      for (size_t j = 0; j < stride; ++j) {
        if (half) tile<Code, HasMin, kGroups, Lut, 8, 1, true>(w, K, m0 + j, m1, x, packed, bias, y, ldy, n0, stride);
        else tile<Code, HasMin, kGroups, Lut, 8, 1, false>(w, K, m0 + j, m1, x, packed, bias, y, ldy, n0, stride);
      }
      return;
    }
    // With mins (three streams a row), stripes ran slower: 8-row tiles of
    // adjacent rows prefetching the next tile's codes, scales and mins.
    const size_t scale_bytes = qw.scale_type == ScaleType::kF16 ? 2 : 4;
    const size_t steps = std::max<size_t>(1, K / StepShape<Code>::kWeights);
    for (size_t m = m0; m < m1; m += 8) {
      const size_t e = std::min(m + 8, m1);
      if (kGroups != 0 && e < m1) {
        w.next_lines = (std::min<size_t>(8, m1 - e) * w.groups * scale_bytes + 63) / 64;
        w.lines_per_step = (w.next_lines + steps - 1) / steps;
        w.next_scales = static_cast<const char*>(qw.scales) + e * w.groups * scale_bytes;
        w.next_mins = static_cast<const char*>(qw.mins) + e * w.groups * scale_bytes;
      } else {
        w.next_scales = w.next_mins = nullptr;
      }
      if (half) tile<Code, HasMin, kGroups, Lut, 8, 1, true>(w, K, m, m1, x, packed, bias, y, ldy, n0);
      else tile<Code, HasMin, kGroups, Lut, 8, 1, false>(w, K, m, m1, x, packed, bias, y, ldy, n0);
    }
    return;
  }
  w.scales = avx512::scale_rows(qw.scales, qw.scale_type, w.groups, m0, m1, scale_scratch);
  w.mins = HasMin ? avx512::scale_rows(qw.mins, qw.scale_type, w.groups, m0, m1, min_scratch) : nullptr;
  for (size_t m = m0; m < m1; m += 4) {
    for (size_t n = n0; n < n1;) {
      switch (std::min<size_t>(4, n1 - n)) {
        case 4: tile<Code, HasMin, kGroups, Lut, 4, 4>(w, K, m, m1, x, packed, bias, y, ldy, n); n += 4; break;
        case 3: tile<Code, HasMin, kGroups, Lut, 4, 3>(w, K, m, m1, x, packed, bias, y, ldy, n); n += 3; break;
        case 2: tile<Code, HasMin, kGroups, Lut, 4, 2>(w, K, m, m1, x, packed, bias, y, ldy, n); n += 2; break;
        default: tile<Code, HasMin, kGroups, Lut, 4, 1>(w, K, m, m1, x, packed, bias, y, ldy, n); n += 1; break;
      }
    }
  }
}

// Distinct scale groups in a step: 0 (one per row), 1, 2 or 4.
template <CodeType Code, bool HasMin, bool Lut>
SPARQ_TARGET_AVX512VNNI void run_groups(const ActivationLine* x, const QuantWeights& w, size_t K,
                                        const float* bias, float* y, size_t ldy, size_t n0,
                                        size_t n1, size_t m0, size_t m1) {
  const size_t per_step = w.group_size == 0 ? 0 : std::max<size_t>(1, StepShape<Code>::kWeights / w.group_size);
  switch (per_step) {
    case 0: run<Code, HasMin, 0, Lut>(x, w, K, bias, y, ldy, n0, n1, m0, m1); break;
    case 1: run<Code, HasMin, 1, Lut>(x, w, K, bias, y, ldy, n0, n1, m0, m1); break;
    case 2: run<Code, HasMin, 2, Lut>(x, w, K, bias, y, ldy, n0, n1, m0, m1); break;
    default:
      if constexpr (StepShape<Code>::kNibble) run<Code, HasMin, 4, Lut>(x, w, K, bias, y, ldy, n0, n1, m0, m1);
      break;  // byte codes: group_size >= 32 gives at most 2 groups a step
  }
}

}  // namespace

SPARQ_TARGET_AVX512VNNI void linear_quant_i8_pack_avx512vnni(const float* x, size_t N, size_t K,
                                                             const QuantWeights& w,
                                                             std::vector<ActivationLine>& out) {
  const auto pack = [&](auto code) {
    constexpr CodeType kCode = decltype(code)::value;
    const PackedRows<kCode> packed(K, groups_with_mins(w, K));
    out.assign(N * packed.row_lines, ActivationLine{});
    for (size_t n = 0; n < N; ++n) {
      float* group_sums = packed.min_groups != 0 ? packed.groups(out.data(), n) : nullptr;
      const float sum = pack_row<kCode>(x + n * K, K, quant_code_offset(w), packed.row(out.data(), n), packed.steps,
                                        group_sums, w.group_size / kBlock);
      *packed.sum(out.data(), n) = sum;
    }
  };
  // Byte codes (int8, uint8) share one layout.
  if (w.code_type == CodeType::kNibble) pack(std::integral_constant<CodeType, CodeType::kNibble>{});
  else pack(std::integral_constant<CodeType, CodeType::kUint8>{});
}

SPARQ_TARGET_AVX512VNNI void linear_quant_i8_avx512vnni(const ActivationLine* x,
                                                        const QuantWeights& w, size_t K,
                                                        const float* bias, float* y, size_t ldy,
                                                        size_t n0, size_t n1, size_t m0,
                                                        size_t m1) {
  visit_quant_format(w, [&](auto code, auto has_min) {
    constexpr CodeType kCode = decltype(code)::value;
    constexpr bool kHasMin = decltype(has_min)::value;
    if constexpr (kCode == CodeType::kNibble && !kHasMin) {
      if (w.i8_codes != nullptr) {
        run_groups<kCode, kHasMin, true>(x, w, K, bias, y, ldy, n0, n1, m0, m1);
        return;
      }
    }
    run_groups<kCode, kHasMin, false>(x, w, K, bias, y, ldy, n0, n1, m0, m1);
  });
}

}  // namespace sparq

// AVX2 linear with int8 activations, block by block (32 weights): the codes
// become 32 bytes in K order (4-bit: the block's low nibbles then its high
// ones, which is K order) and VPMADDUBSW + VPMADDWD give 8 lanes of
// 4-product integer sums. VPMADDUBSW saturates its 16-bit pair sums, so
// every operand pair stays below 2^15: 4-bit codes (0..15) are multiplied as
// they are; byte codes are read as signed t (int8 as stored, uint8 with the
// top bit flipped) and multiplied as |t| times the activation with t's sign
// (|t| <= 128, |q| <= 127), and so are NF4 codes through their table
// rounded to int8 (VPSHUFB; |t| <= 127). The code offset (and the 128 taken
// off uint8 codes) comes back through the activations' lane sums, prepared
// per block by the packer with the block scale. Lanes are scaled in float32
// per block, reduced once per output; with one scale per row the scale (and
// min) apply after the reduction, and mins per group as the dot product of
// the row's mins with the activation row's scaled sums per group, once per
// output, as in the VNNI kernel.
//
// Every output runs the same instruction sequence whatever the tile shape, N
// or thread split, so results are bit-identical across them.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "../../half.h"
#include "../../target.h"
#include "quant.h"
#include "tile_store.h"
#include "tiles_avx2.h"

namespace sparq {
namespace {

constexpr size_t kBlock = 32;

// One block of one activation row, two lines.
struct alignas(64) ActBlock {
  int8_t q[32];           // the block's codes in K order
  int32_t correction[8];  // (128 - offset) or -offset, times the lane's sum of q (see lane_correction)
  float scale;
};
static_assert(sizeof(ActBlock) == 2 * sizeof(ActivationLine), "ActBlock is two lines");

// The integer each lane's dot product of (codes as the kernel reads them) and
// q needs added per unit of lane sum to equal the reference's
// dot(unsigned code, q) - offset * sum: -offset for 4-bit codes, read as
// they are; 128 - offset for byte codes, read as unsigned - 128.
int lane_correction(const QuantWeights& w) {
  if (w.i8_codes != nullptr) return 0;  // table bytes read as signed (see Weights::dot)
  const int offset = quant_code_offset(w);
  return w.code_type == CodeType::kNibble ? -offset : 128 - offset;
}

// Packed rows: per row, K / 32 ActBlocks, then (weights with mins per group)
// the row's scaled sums per weight group (sum over the group's blocks of
// block scale * block code sum; zero-padded to whole lines), then one line
// whose first float is the sum over the whole row (for mins per row).
struct PackedRows {
  static constexpr size_t kLineFloats = sizeof(ActivationLine) / sizeof(float);
  size_t blocks, min_groups, group_lines, row_lines;
  // groups: weight groups per row with a min each (0: no mins, or one per row).
  PackedRows(size_t K, size_t groups)
      : blocks(K / kBlock),
        min_groups(groups),
        group_lines((groups + kLineFloats - 1) / kLineFloats),
        row_lines(blocks * 2 + group_lines + 1) {}
  const ActBlock* row(const ActivationLine* x, size_t n) const { return reinterpret_cast<const ActBlock*>(x + n * row_lines); }
  ActBlock* row(ActivationLine* x, size_t n) const { return reinterpret_cast<ActBlock*>(x + n * row_lines); }
  const float* groups(const ActivationLine* x, size_t n) const {
    return reinterpret_cast<const float*>(x + n * row_lines + blocks * 2);
  }
  float* groups(ActivationLine* x, size_t n) const { return reinterpret_cast<float*>(x + n * row_lines + blocks * 2); }
  float* sum(ActivationLine* x, size_t n) const { return reinterpret_cast<float*>(x + n * row_lines + row_lines - 1); }
  float sum(const ActivationLine* x, size_t n) const { return *reinterpret_cast<const float*>(x + n * row_lines + row_lines - 1); }
};

// quantize_activations' rule for the 32 floats at p: codes into q, returns the scale.
SPARQ_TARGET_AVX2 inline float quantize_block(const float* p, int8_t* q) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  __m256 v[4];
  __m256 amax = _mm256_setzero_ps();
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm256_loadu_ps(p + 8 * i);
    amax = _mm256_max_ps(amax, _mm256_and_ps(v[i], abs_mask));
  }
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  const float d = _mm_cvtss_f32(m) / 127.0f;
  if (d == 0) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), _mm256_setzero_si256());
    return 0;
  }
  const __m256 dv = _mm256_set1_ps(d);
  __m256i c[4];
  for (int i = 0; i < 4; ++i) {
    // cvtps rounds half to even in the default rounding mode, as nearbyint does.
    c[i] = _mm256_cvtps_epi32(_mm256_div_ps(v[i], dv));
    c[i] = _mm256_min_epi32(_mm256_max_epi32(c[i], _mm256_set1_epi32(-127)), _mm256_set1_epi32(127));
  }
  // Saturating packs keep values within ±127 exact; undo their lane interleave.
  const __m256i w16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(c[0], c[1]), 0xD8);
  const __m256i x16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(c[2], c[3]), 0xD8);
  const __m256i b = _mm256_permute4x64_epi64(_mm256_packs_epi16(w16, x16), 0xD8);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), b);
  return d;
}

// 8 lanes: sums of 4 consecutive int8 of v.
SPARQ_TARGET_AVX2 inline __m256i lane_sums(__m256i v) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), v), _mm256_set1_epi16(1));
}

// Quantizes and lays out one activation row; writes the scaled sums of
// groups of group_blocks blocks to group_sums (if not null) and returns the
// row's scaled sum (the sum of block scale * block code sum).
SPARQ_TARGET_AVX2 float pack_row(const float* x, size_t blocks, int correction, ActBlock* out,
                                 float* group_sums, size_t group_blocks) {
  __m256 total = _mm256_setzero_ps();
  for (size_t b = 0; b < blocks; ++b) {
    ActBlock& a = out[b];
    a.scale = quantize_block(x + b * kBlock, a.q);
    const __m256i sums = lane_sums(_mm256_load_si256(reinterpret_cast<const __m256i*>(a.q)));
    _mm256_store_si256(reinterpret_cast<__m256i*>(a.correction), _mm256_mullo_epi32(sums, _mm256_set1_epi32(correction)));
    const __m256 scaled_sum = _mm256_mul_ps(_mm256_set1_ps(a.scale), _mm256_cvtepi32_ps(sums));
    total = _mm256_add_ps(total, scaled_sum);
    if (group_sums != nullptr) {
      alignas(32) int32_t lanes[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), sums);
      int32_t code_sum = 0;
      for (int l = 0; l < 8; ++l) code_sum += lanes[l];
      group_sums[b / group_blocks] += a.scale * static_cast<float>(code_sum);
    }
  }
  return avx2::reduce_add(total);
}

// Lut: 4-bit codes through a table rounded to int8 (QuantWeights::i8_codes;
// NF4), each output then scaled by i8_scale.
template <CodeType Code, bool HasMin, bool PerRow, bool Lut>
struct Weights {
  const uint8_t* codes;
  __m256i table;  // Lut: the table's int8 codes (i8_codes - 128) in each 128-bit lane
  float table_scale;
  const float* scales;  // rows [m0, m1) as float32, `groups` per row
  const float* mins;
  size_t m0, row_bytes, groups;
  unsigned shift;  // group of weight k = k >> shift

  // Block b's 8 lanes of 4-product sums with q (codes as read; see the top).
  SPARQ_TARGET_AVX2 __m256i dot(const uint8_t* row, size_t b, __m256i q) const {
    __m256i pairs;
    if (Code == CodeType::kNibble) {
      const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + b * 16));
      const __m128i nib = _mm_set1_epi8(0x0F);
      const __m256i u = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(c, 4), nib), _mm_and_si128(c, nib));
      if (Lut) {  // signed table codes: |t| times q with t's sign, as byte codes
        const __m256i t = _mm256_shuffle_epi8(table, u);
        pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(t), _mm256_sign_epi8(q, t));
      } else {
        pairs = _mm256_maddubs_epi16(u, q);
      }
    } else {
      __m256i t = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + b * kBlock));
      if (Code == CodeType::kUint8) t = _mm256_xor_si256(t, _mm256_set1_epi8(static_cast<char>(0x80)));
      pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(t), _mm256_sign_epi8(q, t));
    }
    return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
  }
};

template <CodeType Code, bool HasMin, bool PerRow, bool Lut, int MR, int NR>
SPARQ_TARGET_AVX2 void tile(const Weights<Code, HasMin, PerRow, Lut>& w, size_t K, size_t m, size_t m1,
                            const ActivationLine* x, const PackedRows& packed, const float* bias,
                            float* y, size_t ldy, size_t n) {
  size_t ms[MR];
  const uint8_t* rows[MR];
  for (int i = 0; i < MR; ++i) {
    ms[i] = std::min(m + i, m1 - 1);
    rows[i] = w.codes + ms[i] * w.row_bytes;
  }
  const ActBlock* act[NR];
  for (int j = 0; j < NR; ++j) act[j] = packed.row(x, n + j);
  __m256 acc[MR][NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_setzero_ps();
  for (size_t b = 0; b < K / kBlock; ++b) {
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const size_t g = (ms[i] - w.m0) * w.groups + ((b * kBlock) >> w.shift);
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) {
        const ActBlock& a = act[j][b];
        const __m256i q = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.q));
        const __m256i dot = _mm256_add_epi32(w.dot(rows[i], b, q), _mm256_load_si256(reinterpret_cast<const __m256i*>(a.correction)));
        const __m256 s = PerRow ? _mm256_set1_ps(a.scale) : _mm256_set1_ps(w.scales[g] * a.scale);
        acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), s, acc[i][j]);
      }
    }
  }
  if constexpr (!PerRow && HasMin) {
    for (size_t g = 0; g < w.groups; g += 8) {
      const __m256i valid = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(w.groups - g)),
                                               _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const __m256 mins = _mm256_maskload_ps(w.mins + (ms[i] - w.m0) * w.groups + g, valid);
#pragma GCC unroll 8
        for (int j = 0; j < NR; ++j)
          acc[i][j] = _mm256_fmadd_ps(mins, _mm256_maskload_ps(packed.groups(x, n + j) + g, valid), acc[i][j]);
      }
    }
  }
  float out[MR * NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) {
      float r = avx2::reduce_add(acc[i][j]);
      if (PerRow) {
        const size_t g = (ms[i] - w.m0) * w.groups;
        r = HasMin ? std::fma(w.scales[g], r, w.mins[g] * packed.sum(x, n + j)) : w.scales[g] * r;
      }
      out[i * NR + j] = Lut ? r * w.table_scale : r;
    }
  store_tile(out, NR, std::min<size_t>(MR, m1 - m), bias, y, ldy, n, m);
}

// Per-group scales (or mins) of rows [m0, m1) as float32 (f16 converted into scratch).
SPARQ_TARGET_AVX2 const float* scale_rows(const void* p, ScaleType t, size_t groups, size_t m0,
                                          size_t m1, std::vector<float>& scratch) {
  if (t == ScaleType::kF32) return static_cast<const float*>(p) + m0 * groups;
  const size_t count = (m1 - m0) * groups;
  scratch.resize(count);
  const uint16_t* src = static_cast<const uint16_t*>(p) + m0 * groups;
  size_t i = 0;
  for (; i + 8 <= count; i += 8)
    _mm256_storeu_ps(scratch.data() + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < count; ++i) scratch[i] = f16_to_f32_scalar(src[i]);
  return scratch.data();
}

template <CodeType Code, bool HasMin, bool PerRow, bool Lut>
SPARQ_TARGET_AVX2 void run(const ActivationLine* x, const QuantWeights& qw, size_t K,
                           const float* bias, float* y, size_t ldy, size_t n0, size_t n1,
                           size_t m0, size_t m1) {
  thread_local std::vector<float> scale_scratch, min_scratch;
  Weights<Code, HasMin, PerRow, Lut> w;
  w.codes = qw.codes;
  w.table = _mm256_setzero_si256();
  if (Lut) {
    const __m128i t = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qw.i8_codes)), _mm_set1_epi8(static_cast<char>(0x80)));
    w.table = _mm256_set_m128i(t, t);
  }
  w.table_scale = qw.i8_scale;
  w.m0 = m0;
  w.row_bytes = quant_row_bytes(qw, K);
  w.groups = quant_groups(qw, K);
  w.shift = qw.group_size == 0 ? 63u : static_cast<unsigned>(__builtin_ctzll(qw.group_size));
  w.scales = scale_rows(qw.scales, qw.scale_type, w.groups, m0, m1, scale_scratch);
  w.mins = HasMin ? scale_rows(qw.mins, qw.scale_type, w.groups, m0, m1, min_scratch) : nullptr;
  const PackedRows packed(K, groups_with_mins(qw, K));
  if (n1 - n0 == 1) {
    for (size_t m = m0; m < m1; m += 4) tile<Code, HasMin, PerRow, Lut, 4, 1>(w, K, m, m1, x, packed, bias, y, ldy, n0);
    return;
  }
  for (size_t m = m0; m < m1; m += 2) {
    for (size_t n = n0; n < n1;) {
      switch (std::min<size_t>(3, n1 - n)) {
        case 3: tile<Code, HasMin, PerRow, Lut, 2, 3>(w, K, m, m1, x, packed, bias, y, ldy, n); n += 3; break;
        case 2: tile<Code, HasMin, PerRow, Lut, 2, 2>(w, K, m, m1, x, packed, bias, y, ldy, n); n += 2; break;
        default: tile<Code, HasMin, PerRow, Lut, 2, 1>(w, K, m, m1, x, packed, bias, y, ldy, n); n += 1; break;
      }
    }
  }
}

}  // namespace

SPARQ_TARGET_AVX2 void linear_quant_i8_pack_avx2(const float* x, size_t N, size_t K,
                                                 const QuantWeights& w,
                                                 std::vector<ActivationLine>& out) {
  const PackedRows packed(K, groups_with_mins(w, K));
  out.assign(N * packed.row_lines, ActivationLine{});
  for (size_t n = 0; n < N; ++n) {
    float* group_sums = packed.min_groups != 0 ? packed.groups(out.data(), n) : nullptr;
    *packed.sum(out.data(), n) = pack_row(x + n * K, packed.blocks, lane_correction(w), packed.row(out.data(), n),
                                          group_sums, w.group_size / kBlock);
  }
}

SPARQ_TARGET_AVX2 void linear_quant_i8_avx2(const ActivationLine* x, const QuantWeights& w,
                                            size_t K, const float* bias, float* y, size_t ldy,
                                            size_t n0, size_t n1, size_t m0, size_t m1) {
  visit_quant_format(w, [&](auto code, auto has_min) {
    constexpr CodeType kCode = decltype(code)::value;
    constexpr bool kHasMin = decltype(has_min)::value;
    const auto with_lut = [&](auto lut) {
      constexpr bool kLut = decltype(lut)::value;
      if (w.group_size == 0) run<kCode, kHasMin, true, kLut>(x, w, K, bias, y, ldy, n0, n1, m0, m1);
      else run<kCode, kHasMin, false, kLut>(x, w, K, bias, y, ldy, n0, n1, m0, m1);
    };
    if constexpr (kCode == CodeType::kNibble && !kHasMin) {
      if (w.i8_codes != nullptr) {
        with_lut(std::true_type{});
        return;
      }
    }
    with_lut(std::false_type{});
  });
}

}  // namespace sparq

// AVX-512 linear on quantized weights: codes are widened to f32 in registers
// (int8 / uint8 by sign or zero extension, 4-bit codes through a 16-entry
// table held in one register and looked up with a permute), scaled by their
// group's scale (and min) with the same single rounding as dequantize_row_ref,
// then fed to the shared tile driver (tiles_avx512.h).
#include <immintrin.h>

#include <vector>

#include "../../target.h"
#include "quant.h"
#include "tiles_avx512.h"

namespace sparq {
namespace {

// 16 codes from k (a multiple of 16): for 4-bit, the low nibbles of the
// block's 16 bytes when k is the block's first half, else the high ones.
template <CodeType Code>
SPARQ_TARGET_AVX512 inline __m512 decode(const uint8_t* row, size_t k, __m512 lut) {
  if (Code == CodeType::kNibble) {
    __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + (k >> 5) * 16));
    if (k & 16) b = _mm_srli_epi16(b, 4);
    const __m128i codes = _mm_and_si128(b, _mm_set1_epi8(0x0F));
    return _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(codes), lut);
  }
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + k));
  return _mm512_cvtepi32_ps(Code == CodeType::kInt8 ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b));
}

template <CodeType Code>
SPARQ_TARGET_AVX512 inline __m512 decode_tail(const uint8_t* row, size_t k, size_t len, __m512 lut) {
  if (Code == CodeType::kNibble) return decode<Code>(row, k, lut);  // K % 32 == 0: never a tail
  const __m128i b = _mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << len) - 1u), row + k);
  return _mm512_cvtepi32_ps(Code == CodeType::kInt8 ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b));
}

// Weights policy for the tile driver. Scales (and mins) are float32 rows of
// `groups` entries, indexed from the block's first row m0.
template <CodeType Code, bool HasMin>
struct QuantPolicy {
  struct Row {
    const uint8_t* codes;
    const float* scales;
    const float* mins;
  };
  const uint8_t* codes;
  const float* scales;
  const float* mins;
  size_t m0, row_bytes, groups;
  unsigned shift;  // group of k = k >> shift
  __m512 lut;

  Row row(size_t m) const {
    const size_t g = (m - m0) * groups;
    return {codes + m * row_bytes, scales + g, HasMin ? mins + g : nullptr};
  }
  SPARQ_TARGET_AVX512 __m512 scale(const Row& r, size_t k, __m512 v) const {
    const size_t g = k >> shift;
    const __m512 s = _mm512_set1_ps(r.scales[g]);
    return HasMin ? _mm512_fmadd_ps(s, v, _mm512_set1_ps(r.mins[g])) : _mm512_mul_ps(s, v);
  }
  SPARQ_TARGET_AVX512 __m512 load(const Row& r, size_t k) const {
    return scale(r, k, decode<Code>(r.codes, k, lut));
  }
  // Narrow tiles prefetch (tiles_avx512.h, HasAhead): the byte of weight k
  // in the row `rows` below r, once per line (k steps of 8 or 16 bytes).
  static constexpr size_t kAheadEvery = Code == CodeType::kNibble ? 7 : 3;
  const void* ahead(const Row& r, size_t k, size_t rows) const {
    return r.codes + rows * row_bytes + (Code == CodeType::kNibble ? k / 2 : k);
  }
  SPARQ_TARGET_AVX512 __m512 load(const Row& r, size_t k, __mmask16 m) const {
    const size_t len = static_cast<size_t>(__builtin_popcount(m));
    return _mm512_maskz_mov_ps(m, scale(r, k, decode_tail<Code>(r.codes, k, len, lut)));
  }
};

template <CodeType Code, bool HasMin>
SPARQ_TARGET_AVX512 void run(const float* xp, const QuantWeights& w, size_t K, const float* bias,
                             float* y, size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1) {
  thread_local std::vector<float> scale_scratch, min_scratch;
  QuantPolicy<Code, HasMin> p;
  p.codes = w.codes;
  p.m0 = m0;
  p.row_bytes = quant_row_bytes(w, K);
  p.groups = quant_groups(w, K);
  p.scales = avx512::scale_rows(w.scales, w.scale_type, p.groups, m0, m1, scale_scratch);
  p.mins = HasMin ? avx512::scale_rows(w.mins, w.scale_type, p.groups, m0, m1, min_scratch) : nullptr;
  p.shift = w.group_size == 0 ? 63u : static_cast<unsigned>(__builtin_ctzll(w.group_size));
  p.lut = w.lut ? _mm512_loadu_ps(w.lut) : _mm512_setzero_ps();
  avx512::linear(xp, p, K, bias, y, ldy, n0, n1, m0, m1);
}

}  // namespace

SPARQ_TARGET_AVX512 void linear_quant_avx512(const float* xp, size_t, const QuantWeights& w,
                                             size_t K, const float* bias, float* y, size_t ldy,
                                             size_t n0, size_t n1, size_t m0, size_t m1) {
  visit_quant_format(w, [&](auto code, auto has_min) {
    run<decltype(code)::value, decltype(has_min)::value>(xp, w, K, bias, y, ldy, n0, n1, m0, m1);
  });
}

}  // namespace sparq

// AVX-512 linear on quantized weights: codes are widened to f32 in registers
// (int8 / uint8 by sign or zero extension, 4-bit codes through a 16-entry
// table held in one register and looked up with a permute), scaled by their
// group's scale (and min) with the same single rounding as dequantize_row_ref,
// then fed to the shared tile driver (tiles_avx512.h).
#include <immintrin.h>

#include "../../target.h"
#include "quant.h"
#include "tiles_avx512.h"

namespace sparq {
namespace {

template <CodeType Code>
SPARQ_TARGET_AVX512 inline __m512 decode(const uint8_t* row, size_t k, __m512 lut) {
  if (Code == CodeType::kNibble) {
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + k / 2));
    const __m128i nib = _mm_set1_epi8(0x0F);
    const __m128i codes = _mm_unpacklo_epi8(_mm_and_si128(b, nib), _mm_and_si128(_mm_srli_epi16(b, 4), nib));
    return _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(codes), lut);
  }
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + k));
  return _mm512_cvtepi32_ps(Code == CodeType::kInt8 ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b));
}

template <CodeType Code>
SPARQ_TARGET_AVX512 inline __m512 decode_tail(const uint8_t* row, size_t k, size_t len, __m512 lut) {
  if (Code == CodeType::kNibble) {
    const __mmask16 bytes = static_cast<__mmask16>((1u << ((len + 1) / 2)) - 1u);
    const __m128i b = _mm_maskz_loadu_epi8(bytes, row + k / 2);
    const __m128i nib = _mm_set1_epi8(0x0F);
    const __m128i codes = _mm_unpacklo_epi8(_mm_and_si128(b, nib), _mm_and_si128(_mm_srli_epi16(b, 4), nib));
    return _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(codes), lut);
  }
  const __m128i b = _mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << len) - 1u), row + k);
  return _mm512_cvtepi32_ps(Code == CodeType::kInt8 ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b));
}

template <typename S>
SPARQ_TARGET_AVX512 inline float scalar(const S* p, size_t i) {
  if constexpr (sizeof(S) == 2) return _cvtsh_ss(p[i]);
  else return p[i];
}

// Weights policy for the tile driver; S is float or uint16_t (f16 scales).
template <CodeType Code, bool HasMin, typename S>
struct QuantPolicy {
  struct Row {
    const uint8_t* codes;
    const S* scales;
    const S* mins;
  };
  const uint8_t* codes;
  const S* scales;
  const S* mins;
  size_t row_bytes, groups;
  unsigned shift;  // group of k = k >> shift
  __m512 lut;

  Row row(size_t m) const {
    return {codes + m * row_bytes, scales + m * groups, HasMin ? mins + m * groups : nullptr};
  }
  SPARQ_TARGET_AVX512 __m512 scale(const Row& r, size_t k, __m512 v) const {
    const size_t g = k >> shift;
    const __m512 s = _mm512_set1_ps(scalar(r.scales, g));
    return HasMin ? _mm512_fmadd_ps(s, v, _mm512_set1_ps(scalar(r.mins, g))) : _mm512_mul_ps(s, v);
  }
  SPARQ_TARGET_AVX512 __m512 load(const Row& r, size_t k) const {
    return scale(r, k, decode<Code>(r.codes, k, lut));
  }
  SPARQ_TARGET_AVX512 __m512 load(const Row& r, size_t k, __mmask16 m) const {
    const size_t len = static_cast<size_t>(__builtin_popcount(m));
    return _mm512_maskz_mov_ps(m, scale(r, k, decode_tail<Code>(r.codes, k, len, lut)));
  }
};

template <CodeType Code, bool HasMin, typename S>
SPARQ_TARGET_AVX512 void run(const float* xp, const QuantWeights& w, size_t K, const float* bias,
                             float* y, size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1) {
  QuantPolicy<Code, HasMin, S> p;
  p.codes = w.codes;
  p.scales = static_cast<const S*>(w.scales);
  p.mins = static_cast<const S*>(w.mins);
  p.row_bytes = quant_row_bytes(w, K);
  p.groups = quant_groups(w, K);
  p.shift = w.group_size == 0 ? 63u : static_cast<unsigned>(__builtin_ctzll(w.group_size));
  p.lut = w.lut ? _mm512_loadu_ps(w.lut) : _mm512_setzero_ps();
  avx512::linear(xp, p, K, bias, y, ldy, n0, n1, m0, m1);
}

template <CodeType Code, bool HasMin>
SPARQ_TARGET_AVX512 void run_scales(const float* xp, const QuantWeights& w, size_t K,
                                    const float* bias, float* y, size_t ldy, size_t n0, size_t n1,
                                    size_t m0, size_t m1) {
  if (w.scale_type == ScaleType::kF16) run<Code, HasMin, uint16_t>(xp, w, K, bias, y, ldy, n0, n1, m0, m1);
  else run<Code, HasMin, float>(xp, w, K, bias, y, ldy, n0, n1, m0, m1);
}

}  // namespace

SPARQ_TARGET_AVX512 void linear_quant_avx512(const float* xp, size_t, const QuantWeights& w,
                                             size_t K, const float* bias, float* y, size_t ldy,
                                             size_t n0, size_t n1, size_t m0, size_t m1) {
  const bool has_min = w.mins != nullptr;
  switch (w.code_type) {
    case CodeType::kInt8:
      if (has_min) run_scales<CodeType::kInt8, true>(xp, w, K, bias, y, ldy, n0, n1, m0, m1);
      else run_scales<CodeType::kInt8, false>(xp, w, K, bias, y, ldy, n0, n1, m0, m1);
      break;
    case CodeType::kUint8:
      if (has_min) run_scales<CodeType::kUint8, true>(xp, w, K, bias, y, ldy, n0, n1, m0, m1);
      else run_scales<CodeType::kUint8, false>(xp, w, K, bias, y, ldy, n0, n1, m0, m1);
      break;
    case CodeType::kNibble:
      if (has_min) run_scales<CodeType::kNibble, true>(xp, w, K, bias, y, ldy, n0, n1, m0, m1);
      else run_scales<CodeType::kNibble, false>(xp, w, K, bias, y, ldy, n0, n1, m0, m1);
      break;
  }
}

}  // namespace sparq

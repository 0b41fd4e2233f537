// AVX2 linear on quantized weights: codes widened to f32 in registers (int8 /
// uint8 by extension; 4-bit codes through the 16-entry table as two 8-entry
// permutes and a blend on the code's top bit), scaled with the same single
// rounding as dequantize_row_ref, on the shared AVX2 tile driver.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "../../half.h"
#include "../../target.h"
#include "quant.h"
#include "tiles_avx2.h"

namespace sparq {
namespace {

template <CodeType Code, bool HasMin>
struct QuantPolicy {
  struct Row {
    const uint8_t* codes;
    size_t m;
  };
  const QuantWeights* w;
  size_t row_bytes, groups;
  unsigned shift;
  __m256 lut_lo, lut_hi;

  Row row(size_t m) const { return {w->codes + m * row_bytes, m}; }

  float scalar(const void* p, size_t i) const {
    return w->scale_type == ScaleType::kF16 ? f16_to_f32_scalar(static_cast<const uint16_t*>(p)[i])
                                            : static_cast<const float*>(p)[i];
  }

  // 8 codes from k (a multiple of 8) as f32 values.
  SPARQ_TARGET_AVX2 __m256 values(const uint8_t* codes, size_t k) const {
    if (Code == CodeType::kNibble) {
      // Block of 32: byte j holds weight j (low nibble) and j + 16 (high).
      __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + (k >> 5) * 16 + (k & 15)));
      if (k & 16) b = _mm_srli_epi16(b, 4);
      const __m256i idx = _mm256_cvtepu8_epi32(_mm_and_si128(b, _mm_set1_epi8(0x0F)));
      const __m256 lo = _mm256_permutevar8x32_ps(lut_lo, idx);
      const __m256 hi = _mm256_permutevar8x32_ps(lut_hi, idx);
      return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
    }
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + k));
    return _mm256_cvtepi32_ps(Code == CodeType::kInt8 ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b));
  }

  SPARQ_TARGET_AVX2 __m256 scale(const Row& r, size_t k, __m256 v) const {
    const size_t g = r.m * groups + (k >> shift);
    const __m256 s = _mm256_set1_ps(scalar(w->scales, g));
    return HasMin ? _mm256_fmadd_ps(s, v, _mm256_set1_ps(scalar(w->mins, g))) : _mm256_mul_ps(s, v);
  }

  SPARQ_TARGET_AVX2 __m256 load(const Row& r, size_t k) const { return scale(r, k, values(r.codes, k)); }

  // Only 8-bit codes have tails (4-bit needs K % 32 == 0).
  SPARQ_TARGET_AVX2 __m256 load_tail(const Row& r, size_t k, size_t n) const {
    uint8_t buf[8] = {};
    std::memcpy(buf, r.codes + k, n);
    const __m256 v = scale(r, k, values(buf, 0));
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), lane));
    return _mm256_and_ps(v, keep);
  }
};

template <CodeType Code, bool HasMin>
SPARQ_TARGET_AVX2 void run(const float* x, size_t ldx, const QuantWeights& w, size_t K,
                           const float* bias, float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                           size_t m1) {
  QuantPolicy<Code, HasMin> p;
  p.w = &w;
  p.row_bytes = quant_row_bytes(w, K);
  p.groups = quant_groups(w, K);
  p.shift = w.group_size == 0 ? 63u : static_cast<unsigned>(__builtin_ctzll(w.group_size));
  p.lut_lo = w.lut ? _mm256_loadu_ps(w.lut) : _mm256_setzero_ps();
  p.lut_hi = w.lut ? _mm256_loadu_ps(w.lut + 8) : _mm256_setzero_ps();
  // From 4 activation rows each block of 4 weight rows is decoded once for all
  // of them. SPARQ_ISA=avx2 node bench/ab.js --weights int4 --cache cold: N = 4
  // 1.25x, N = 8 1.52x, N = 32 2.35x; int4-asym N = 32 3.13x; int8 N = 8 1.32x.
  avx2::linear_decoded_once(x, ldx, p, K, bias, y, ldy, n0, n1, m0, m1, 4);
}

}  // namespace

SPARQ_TARGET_AVX2 void linear_quant_avx2(const float* x, size_t ldx, const QuantWeights& w,
                                         size_t K, const float* bias, float* y, size_t ldy,
                                         size_t n0, size_t n1, size_t m0, size_t m1) {
  visit_quant_format(w, [&](auto code, auto has_min) {
    run<decltype(code)::value, decltype(has_min)::value>(x, ldx, w, K, bias, y, ldy, n0, n1, m0, m1);
  });
}

}  // namespace sparq

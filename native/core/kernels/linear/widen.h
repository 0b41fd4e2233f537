// Loading weights stored as float32, float16 or bfloat16 as float32 vectors
// (exact), shared by the dense and sparse kernels of each ISA.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "../../target.h"

namespace sparq {

namespace avx512 {

// 16 values; `masked` zero-fills the lanes whose mask bit is clear (and does
// not read them).
// `broadcast` puts *p in every lane (`broadcast8`: of a 256-bit vector).
struct F32 {
  using T = float;
  SPARQ_TARGET_AVX512 static __m512 full(const float* p) { return _mm512_loadu_ps(p); }
  SPARQ_TARGET_AVX512 static __m512 broadcast(const float* p) { return _mm512_set1_ps(*p); }
  SPARQ_TARGET_AVX512 static __m256 broadcast8(const float* p) { return _mm256_set1_ps(*p); }
  SPARQ_TARGET_AVX512 static __m512 masked(const float* p, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, p);
  }
};

struct F16 {
  using T = uint16_t;
  SPARQ_TARGET_AVX512 static __m512 full(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  SPARQ_TARGET_AVX512 static __m512 masked(const uint16_t* p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
  }
  SPARQ_TARGET_AVX512 static __m512 broadcast(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<short>(*p)));
  }
  SPARQ_TARGET_AVX512 static __m256 broadcast8(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(*p)));
  }
};

struct BF16 {
  using T = uint16_t;
  SPARQ_TARGET_AVX512 static __m512 widen(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  SPARQ_TARGET_AVX512 static __m512 full(const uint16_t* p) {
    return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  SPARQ_TARGET_AVX512 static __m512 masked(const uint16_t* p, __mmask16 m) {
    return widen(_mm256_maskz_loadu_epi16(m, p));
  }
  SPARQ_TARGET_AVX512 static __m512 broadcast(const uint16_t* p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_set1_epi16(static_cast<short>(*p)), 16));
  }
  SPARQ_TARGET_AVX512 static __m256 broadcast8(const uint16_t* p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_set1_epi16(static_cast<short>(*p)), 16));
  }
};

// int8 codes (sparse values: the driver applies the row scales).
struct I8 {
  using T = int8_t;
  SPARQ_TARGET_AVX512 static __m512 full(const int8_t* p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  }
  SPARQ_TARGET_AVX512 static __m512 masked(const int8_t* p, __mmask16 m) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, p)));
  }
  SPARQ_TARGET_AVX512 static __m512 broadcast(const int8_t* p) { return _mm512_set1_ps(*p); }
  SPARQ_TARGET_AVX512 static __m256 broadcast8(const int8_t* p) { return _mm256_set1_ps(*p); }
};

}  // namespace avx512

namespace avx2 {

// 8 values.
struct F32 {
  using T = float;
  SPARQ_TARGET_AVX2 static __m256 load(const float* p) { return _mm256_loadu_ps(p); }
};

struct F16 {
  using T = uint16_t;
  SPARQ_TARGET_AVX2 static __m256 load(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
};

struct BF16 {
  using T = uint16_t;
  SPARQ_TARGET_AVX2 static __m256 load(const uint16_t* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
};

struct I8 {
  using T = int8_t;
  SPARQ_TARGET_AVX2 static __m256 load(const int8_t* p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
  }
};

}  // namespace avx2

}  // namespace sparq

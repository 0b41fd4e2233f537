// Activation vectors of the AVX-512 sparse outer-product kernels (csr, ell):
// 16 activation rows in a zmm, or 8 in a ymm (for groups of at most 8 rows:
// half the work on 256-bit units).
#pragma once
#include <immintrin.h>

#include <cstddef>

#include "../../target.h"

namespace sparq::avx512 {

struct Zmm {
  using V = __m512;
  static constexpr size_t kRows = 16;
  SPARQ_TARGET_AVX512 static V zero() { return _mm512_setzero_ps(); }
  SPARQ_TARGET_AVX512 static V set1(float v) { return _mm512_set1_ps(v); }
  SPARQ_TARGET_AVX512 static V load(const float* p) { return _mm512_loadu_ps(p); }
  SPARQ_TARGET_AVX512 static V add(V a, V b) { return _mm512_add_ps(a, b); }
  SPARQ_TARGET_AVX512 static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  SPARQ_TARGET_AVX512 static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  // Stored value i of `values` (sparse_avx512.cc's Plain / Lut4) in every lane.
  template <typename Values>
  SPARQ_TARGET_AVX512 static V broadcast(const Values& values, size_t i) { return values.broadcast(i); }
};

struct Ymm {
  using V = __m256;
  static constexpr size_t kRows = 8;
  SPARQ_TARGET_AVX512 static V zero() { return _mm256_setzero_ps(); }
  SPARQ_TARGET_AVX512 static V set1(float v) { return _mm256_set1_ps(v); }
  SPARQ_TARGET_AVX512 static V load(const float* p) { return _mm256_loadu_ps(p); }
  SPARQ_TARGET_AVX512 static V add(V a, V b) { return _mm256_add_ps(a, b); }
  SPARQ_TARGET_AVX512 static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  SPARQ_TARGET_AVX512 static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  template <typename Values>
  SPARQ_TARGET_AVX512 static V broadcast(const Values& values, size_t i) { return values.broadcast8(i); }
};

}  // namespace sparq::avx512

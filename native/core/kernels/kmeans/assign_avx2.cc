// AVX2 nearest-centroid search: 8 centroids per vector, as the AVX-512 kernel.
#include <immintrin.h>

#include <limits>

#include "../../target.h"
#include "assign.h"

namespace sparq {

SPARQ_TARGET_AVX2 void kmeans_assign_avx2(const float* p, size_t n, size_t dim, const float* ct,
                                          size_t k, size_t kp, int32_t* assign, float* dist) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (size_t i = 0; i < n; ++i) {
    const float* x = p + i * dim;
    __m256 best = _mm256_set1_ps(std::numeric_limits<float>::infinity());
    __m256i bidx = _mm256_setzero_si256();
    for (size_t c = 0; c < kp; c += 8) {
      __m256 s = _mm256_setzero_ps();
      for (size_t d = 0; d < dim; ++d) {
        const __m256 t = _mm256_sub_ps(_mm256_set1_ps(x[d]), _mm256_loadu_ps(ct + d * kp + c));
        s = _mm256_fmadd_ps(t, t, s);
      }
      const __m256 lt = _mm256_cmp_ps(s, best, _CMP_LT_OQ);
      best = _mm256_blendv_ps(best, s, lt);
      bidx = _mm256_castps_si256(_mm256_blendv_ps(
          _mm256_castsi256_ps(bidx),
          _mm256_castsi256_ps(_mm256_add_epi32(lane, _mm256_set1_epi32(static_cast<int>(c)))), lt));
    }
    alignas(32) float bv[8];
    alignas(32) int32_t bi[8];
    _mm256_store_ps(bv, best);
    _mm256_store_si256(reinterpret_cast<__m256i*>(bi), bidx);
    float m = std::numeric_limits<float>::infinity();
    int32_t idx = 0;
    for (int j = 0; j < 8; ++j)
      if (bv[j] < m || (bv[j] == m && m != std::numeric_limits<float>::infinity() && bi[j] < idx)) {
        m = bv[j];
        idx = bi[j];
      }
    (void)k;
    assign[i] = idx;
    dist[i] = m;
  }
}

}  // namespace sparq

// AVX-512 nearest-centroid search: 16 centroids per vector (centroids stored
// transposed, [dim][kp], padded with NaN, which never compares less), a
// running minimum per lane, then the lowest index among the lanes holding the
// minimum: the same choice as the scalar loop's strict '<'.
#include <immintrin.h>

#include <limits>

#include "../../target.h"
#include "assign.h"

namespace sparq {

SPARQ_TARGET_AVX512 void kmeans_assign_avx512(const float* p, size_t n, size_t dim, const float* ct,
                                              size_t k, size_t kp, int32_t* assign, float* dist) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (size_t i = 0; i < n; ++i) {
    const float* x = p + i * dim;
    __m512 best = _mm512_set1_ps(std::numeric_limits<float>::infinity());
    __m512i bidx = _mm512_setzero_si512();
    for (size_t c = 0; c < kp; c += 16) {
      __m512 s = _mm512_setzero_ps();
      for (size_t d = 0; d < dim; ++d) {
        const __m512 t = _mm512_sub_ps(_mm512_set1_ps(x[d]), _mm512_loadu_ps(ct + d * kp + c));
        s = _mm512_fmadd_ps(t, t, s);
      }
      const __mmask16 lt = _mm512_cmp_ps_mask(s, best, _CMP_LT_OQ);
      best = _mm512_mask_mov_ps(best, lt, s);
      bidx = _mm512_mask_mov_epi32(bidx, lt, _mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int>(c))));
    }
    const float m = _mm512_reduce_min_ps(best);
    const __mmask16 eq = _mm512_cmp_ps_mask(best, _mm512_set1_ps(m), _CMP_EQ_OQ);
    int32_t bi = _mm512_mask_reduce_min_epi32(eq, bidx);
    if (eq == 0) bi = 0;  // every distance is NaN or Inf: the scalar loop keeps 0
    (void)k;
    assign[i] = bi;
    dist[i] = eq == 0 ? std::numeric_limits<float>::infinity() : m;
  }
}

}  // namespace sparq

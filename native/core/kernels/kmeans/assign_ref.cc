// Scalar nearest-centroid search: the reference the SIMD kernels match bit for bit.
#include <cmath>
#include <limits>

#include "assign.h"

namespace sparq {

void kmeans_assign_ref(const float* p, size_t n, size_t dim, const float* ct, size_t k, size_t kp,
                       int32_t* assign, float* dist) {
  for (size_t i = 0; i < n; ++i) {
    const float* x = p + i * dim;
    float best = std::numeric_limits<float>::infinity();
    size_t bi = 0;
    for (size_t c = 0; c < k; ++c) {
      float s = 0;
      for (size_t d = 0; d < dim; ++d) {
        const float t = x[d] - ct[d * kp + c];
        s = std::fmaf(t, t, s);
      }
      if (s < best) {
        best = s;
        bi = c;
      }
    }
    assign[i] = static_cast<int32_t>(bi);
    dist[i] = best;
  }
}

}  // namespace sparq

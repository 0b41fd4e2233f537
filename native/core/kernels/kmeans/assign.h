// Nearest-centroid kernels of vector k-means (see KmeansAssignKernel in
// kernels.h), one per ISA level. Every level computes each distance with the
// same fused multiply-adds in the same order (d = 0, 1, ...), so all levels
// return identical assignments and distances.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sparq {

void kmeans_assign_ref(const float* p, size_t n, size_t dim, const float* ct, size_t k, size_t kp,
                       int32_t* assign, float* dist);
void kmeans_assign_avx2(const float* p, size_t n, size_t dim, const float* ct, size_t k, size_t kp,
                        int32_t* assign, float* dist);
void kmeans_assign_avx512(const float* p, size_t n, size_t dim, const float* ct, size_t k,
                          size_t kp, int32_t* assign, float* dist);

}  // namespace sparq

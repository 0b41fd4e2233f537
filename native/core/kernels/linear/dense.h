// Dense linear kernels (see DenseLinearKernel in kernels.h), one per weight
// type and ISA level.
#pragma once
#include <cstddef>

namespace sparq {

#define SPARQ_DECLARE_DENSE_LINEAR(name)                                                    \
  void name(const float* x, size_t ldx, const void* w, size_t K, const float* bias, float* y, \
            size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1)

SPARQ_DECLARE_DENSE_LINEAR(linear_dense_f32_ref);
SPARQ_DECLARE_DENSE_LINEAR(linear_dense_f16_ref);
SPARQ_DECLARE_DENSE_LINEAR(linear_dense_bf16_ref);
SPARQ_DECLARE_DENSE_LINEAR(linear_dense_f32_avx2);
SPARQ_DECLARE_DENSE_LINEAR(linear_dense_f16_avx2);
SPARQ_DECLARE_DENSE_LINEAR(linear_dense_bf16_avx2);
SPARQ_DECLARE_DENSE_LINEAR(linear_dense_f32_avx512);
SPARQ_DECLARE_DENSE_LINEAR(linear_dense_f16_avx512);
SPARQ_DECLARE_DENSE_LINEAR(linear_dense_bf16_avx512);

#undef SPARQ_DECLARE_DENSE_LINEAR

// The scalar reference dot product (eight interleaved partial sums, a fixed
// pairwise reduction), and y[n, m] = dot_ref(row, x[n, :]) (+ bias[m]) for n
// in [n0, n1): what every scalar kernel computes once it has a float32 row.
float dot_ref(const float* w, const float* x, size_t K);
void linear_rows_ref(const float* x, size_t ldx, size_t K, const float* bias, float* y, size_t ldy,
                     size_t n0, size_t n1, const float* row, size_t m);

void linear_pack_x_avx512(const float* x, size_t N, size_t K, float* packed);

}  // namespace sparq

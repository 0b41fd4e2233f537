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

void linear_pack_x_avx512(const float* x, size_t N, size_t K, float* packed);

}  // namespace sparq

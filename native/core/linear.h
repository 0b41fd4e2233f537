// Dense linear layers and matmul: drivers that split work over the thread pool
// and call the active ISA's kernels.
#pragma once
#include <cstddef>

#include "kernels.h"
#include "sparse.h"

namespace sparq {

// y[N, M] = x[N, K] . w[M, K]^T (+ bias[M]). w is row-major in `type`.
// Results are bit-identical for any thread count.
void linear_dense(const float* x, size_t N, size_t K, const void* w, WeightType type, size_t M,
                  const float* bias, float* y);

// y[N, M] = x[N, K] . w[M, K]^T (+ bias[M]) for sparse w (sparse.h): equal to
// the dense product with w's zeros, NaN and Inf included. Bit-identical for
// any thread count.
void linear_sparse(const float* x, size_t N, size_t K, const SparseWeights& w, size_t M,
                   const float* bias, float* y);

// c[M, N] = a[M, K] . b[K, N], all row-major float32.
void matmul_f32(const float* a, const float* b, float* c, size_t M, size_t K, size_t N);

}  // namespace sparq

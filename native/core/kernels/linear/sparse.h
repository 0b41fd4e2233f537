// Sparse linear kernels (see SparseLinearKernel in kernels.h), one per format
// and ISA level, and the helpers they share.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../sparse.h"

namespace sparq {

#define SPARQ_DECLARE_SPARSE_LINEAR(name)                                                      \
  void name(const float* x, size_t ldx, const float* xp, const SparseWeights& w, size_t K,     \
            const float* bias, float* y, size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1)

SPARQ_DECLARE_SPARSE_LINEAR(linear_sparse_ref);
SPARQ_DECLARE_SPARSE_LINEAR(linear_bitmap_avx2);
SPARQ_DECLARE_SPARSE_LINEAR(linear_nm_avx2);
SPARQ_DECLARE_SPARSE_LINEAR(linear_csr_avx2);
SPARQ_DECLARE_SPARSE_LINEAR(linear_bitmap_avx512);
SPARQ_DECLARE_SPARSE_LINEAR(linear_nm_avx512);
SPARQ_DECLARE_SPARSE_LINEAR(linear_csr_avx512);
SPARQ_DECLARE_SPARSE_LINEAR(linear_ell_avx2);
SPARQ_DECLARE_SPARSE_LINEAR(linear_ell_avx512);

#undef SPARQ_DECLARE_SPARSE_LINEAR

// 16 4-bit values from value i of a nibble array on, value j in bits
// [4 j, 4 j + 4). Reads bytes i / 2 .. i / 2 + 8 (kLut4 values are padded).
inline uint64_t load_nibbles16(const uint8_t* p, size_t i) {
  uint64_t lo;
  std::memcpy(&lo, p + i / 2, 8);
  const uint64_t hi = p[i / 2 + 8];
  const unsigned odd = static_cast<unsigned>(i & 1) * 4;
  return (lo >> odd) | ((hi << 60) << (4 - odd));
}

// CSR and ell on AVX-512: chunks of more than this many activation rows run
// the outer-product kernel on activations packed by linear_pack_xt_avx512;
// smaller chunks gather (csr) or permute (ell) from x as is. ell at 80%
// sparsity, 4096x4096 from DRAM, permute against the 512-bit outer product:
// 1.22 ms against 1.94-2.05 ms at N = 4, 2.95 against 2.14-2.22 at N = 8
// (node bench/ab.js --a . --weights csr --weights-b ell --n N --cache cold,
// one run with each limit, so compared across runs).
constexpr size_t kCsrGatherRows = 3;
constexpr size_t kEllPermuteRows = 4;

// Activations transposed in groups of 16 rows per driver chunk: the group of
// rows [n, n + 16) starts at float n * K and holds x[n + j, k] at k * 16 + j
// (rows past N are zero). Needs roundup(N, 16) * K floats.
void linear_pack_xt_avx512(const float* x, size_t N, size_t K, float* packed);

// Decodes row m into dense[0, K) (float32, zeros where nothing is stored).
void sparse_row_to_dense(const SparseWeights& w, size_t K, size_t m, float* dense);

}  // namespace sparq

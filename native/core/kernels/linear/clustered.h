// Linear kernels on clustered weights (see ClusteredLinearKernel in kernels.h).
#pragma once
#include <cstddef>
#include <vector>

#include "../../clustered.h"

namespace sparq {

void linear_clustered_ref(const float* x, size_t ldx, const ClusteredWeights& w, size_t K,
                          const float* bias, float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                          size_t m1);
void linear_clustered_avx2(const float* x, size_t ldx, const ClusteredWeights& w, size_t K,
                           const float* bias, float* y, size_t ldy, size_t n0, size_t n1,
                           size_t m0, size_t m1);
void linear_clustered_avx512(const float* x, size_t ldx, const ClusteredWeights& w, size_t K,
                             const float* bias, float* y, size_t ldy, size_t n0, size_t n1,
                             size_t m0, size_t m1);

// int8 activations (clustered.h; bits 4, dim 1): see ClusteredI8PackKernel
// and ClusteredI8LinearKernel.
void clustered_i8_pack_row_ref(const float* x, size_t K, ClusteredActStep* out);
void clustered_i8_pack_row_avx2(const float* x, size_t K, ClusteredActStep* out);
void clustered_i8_pack_row_avx512vnni(const float* x, size_t K, ClusteredActStep* out);
void linear_clustered_i8_ref(const ClusteredActStep* x, const ClusteredWeights& w,
                             const ClusteredI8Books& books, size_t K, const float* bias, float* y,
                             size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1);
void linear_clustered_i8_avx2(const ClusteredActStep* x, const ClusteredWeights& w,
                              const ClusteredI8Books& books, size_t K, const float* bias, float* y,
                              size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1);
void linear_clustered_i8_avx512vnni(const ClusteredActStep* x, const ClusteredWeights& w,
                                    const ClusteredI8Books& books, size_t K, const float* bias,
                                    float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                                    size_t m1);

// Row m of w decoded to f32 (the scalar rule every kernel matches).
void clustered_decode_row_ref(const ClusteredWeights& w, size_t K, size_t m, float* out);

// The codebooks of rows [m0, m1) as float32, each padded to `stride` floats
// (a multiple of its entries) by repeating its entries, so a kernel may load
// whole registers and permute with indices whose bits above the codebook's
// are garbage.
// Returns the first row's book.
const float* clustered_books_f32(const ClusteredWeights& w, size_t m0, size_t m1, size_t stride,
                                 std::vector<float>& scratch);

// Calls f(std::integral_constant<unsigned, bits>, std::integral_constant<size_t, dim>).
template <typename F>
void visit_clustered_format(const ClusteredWeights& w, F&& f) {
  const auto with_dim = [&](auto bits) {
    switch (w.dim) {
      case 2: f(bits, std::integral_constant<size_t, 2>{}); break;
      case 4: f(bits, std::integral_constant<size_t, 4>{}); break;
      case 8: f(bits, std::integral_constant<size_t, 8>{}); break;
      default: f(bits, std::integral_constant<size_t, 1>{}); break;
    }
  };
  switch (w.bits) {
    case 1: with_dim(std::integral_constant<unsigned, 1>{}); break;
    case 2: with_dim(std::integral_constant<unsigned, 2>{}); break;
    case 3: with_dim(std::integral_constant<unsigned, 3>{}); break;
    case 4: with_dim(std::integral_constant<unsigned, 4>{}); break;
    case 5: with_dim(std::integral_constant<unsigned, 5>{}); break;
    case 6: with_dim(std::integral_constant<unsigned, 6>{}); break;
    case 7: with_dim(std::integral_constant<unsigned, 7>{}); break;
    default: with_dim(std::integral_constant<unsigned, 8>{}); break;
  }
}

}  // namespace sparq

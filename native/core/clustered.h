// Clustered (palettized) weights: w[m, k] = codebook[book(m)][index(m, k / dim)][k % dim],
// with 1..8-bit indices, one codebook of 2^bits entries (each `dim` floats,
// dim in {1, 2, 4, 8}) per `rows_per_book` consecutive rows, stored as float32
// or float16. Clustering (k-means, exact in 1-D) and linear on these weights.
//
// Index packing. Each row holds K / dim indices, padded with zeros to a
// multiple of 32; every block of 32 indices takes bits * 4 bytes, stored as
// bit planes laid out so that a SIMD register of 32-bit lanes decodes 16 (or 8)
// consecutive indices with one broadcast load and one variable shift per
// lane, no shuffle (the codebook permute reads only the low bits of a lane):
//   bits 8:        32 bytes, byte i = index i.
//   otherwise the planes below, in this order, whichever `bits` needs
//   (1 = 1, 2 = 2, 3 = 2 + 1, 4 = 4, 5 = 4 + 1, 6 = 4 + 2, 7 = 4 + 2 + 1);
//   the first plane holds the low bits of each index. With j = 16h + 4b + r
//   (h = 0..1 the half block, b = 0..3, r = 0..3):
//   4-bit plane, 16 bytes: byte 4r + b holds index j in nibble h (low nibble
//                for the first 16 indices, high for the next 16): q4_0's
//                order with the 16 bytes transposed as a 4x4 matrix, so
//                32-bit word r holds the indices of lanes r, r + 4, r + 8,
//                r + 12 (lane l at bit 8 (l / 4) + 4h);
//   2-bit plane,  8 bytes: with r = 2u + a (a, u = 0..1), byte 4a + b holds
//                index j in bits 2t..2t+1, t = 2u + h (word a holds the
//                even (a = 0) or odd lanes, lane l at bit 4 (l / 2) + 2h);
//   1-bit plane,  4 bytes: a little-endian 32-bit word, bit i = index i.
// So 4-bit indices cost 16 bytes per 32 weights, 3-bit 12 (2-bit plane, then
// the high bit), 2-bit 8.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kmeans.h"
#include "quant.h"

namespace sparq {

struct ClusteredWeights {
  const uint8_t* indices;  // [M, clustered_row_bytes]
  const void* codebook;    // [books, 2^bits, dim] of codebook_type
  ScaleType codebook_type;
  unsigned bits;           // 1..8
  size_t dim;              // 1, 2, 4 or 8 (divides K)
  size_t rows_per_book;    // >= 1
};

inline size_t clustered_entries(const ClusteredWeights& w) { return (size_t{1} << w.bits) * w.dim; }
inline size_t clustered_row_indices(size_t K, size_t dim) { return (K / dim + 31) / 32 * 32; }
inline size_t clustered_row_bytes(size_t K, size_t dim, unsigned bits) {
  return clustered_row_indices(K, dim) / 32 * bits * 4;
}
inline size_t clustered_books(size_t M, size_t rows_per_book) {
  return (M + rows_per_book - 1) / rows_per_book;
}

// Index i of a packed row (the rule every kernel matches).
inline unsigned clustered_index(const uint8_t* row, unsigned bits, size_t i) {
  const uint8_t* b = row + (i >> 5) * bits * 4;
  const unsigned j = static_cast<unsigned>(i & 31);
  if (bits == 8) return b[j];
  const unsigned q = (j >> 2) & 3u, h = j >> 4;
  unsigned v = 0, shift = 0;
  if (bits >= 4) {
    v = (b[4 * (j & 3u) + q] >> (4 * h)) & 0xF;
    shift = 4;
    b += 16;
  }
  if (bits & 2) {
    v |= ((b[4 * (j & 1u) + q] >> (2 * (2 * ((j >> 1) & 1u) + h))) & 3u) << shift;
    shift += 2;
    b += 8;
  }
  if (bits & 1) v |= ((b[j >> 3] >> (j & 7)) & 1u) << shift;
  return v;
}

// Packs one row of `count` indices (each < 2^bits) into `row` (zero padded).
void clustered_pack_row(const uint8_t* idx, size_t count, unsigned bits, uint8_t* row);

// out[M, K] = the float32 weights linear computes with.
void dequantize_clustered(const ClusteredWeights& w, size_t M, size_t K, float* out);

// y[N, M] = x[N, K] . w^T (+ bias), weights looked up in registers.
void linear_clustered(const float* x, size_t N, size_t K, const ClusteredWeights& w, size_t M,
                      const float* bias, float* y);

struct ClusterOptions {
  unsigned bits;
  size_t dim;
  size_t rows_per_book;
  ScaleType codebook_type;
  size_t max_iter;   // vector entries (dim > 1): Lloyd iterations
  double tolerance;
  uint64_t seed;
};

// Clusters w [M, K] (of type vt, finite) with optional importance weights
// [M, K] (>= 0): per codebook, exact 1-D k-means (dim 1) or k-means++ and
// Lloyd (dim > 1); centroids rounded to the codebook type, then every entry
// gets the nearest stored centroid. Unused codebook entries repeat the last
// centroid. codebook: [books, 2^bits, dim] (float or uint16 for f16);
// indices: [M, clustered_row_bytes]. Returns a KmeansStatus.
int cluster_weights(const void* w, WeightType vt, size_t M, size_t K, const float* importance,
                    const ClusterOptions& opt, void* codebook, uint8_t* indices, size_t* bad_index);

}  // namespace sparq

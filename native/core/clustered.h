// Clustered (palettized) weights: w[m, k] = codebook[book(m)][index(m, k / dim)][k % dim],
// with 1..8-bit indices, one codebook of 2^bits entries (each `dim` floats,
// dim in {1, 2, 4, 8}) per `rows_per_book` consecutive rows, stored as float32
// or float16. Clustering (k-means, exact in 1-D) and linear on these weights.
//
// Index packing. Each row holds K / dim indices, padded with zeros to a
// multiple of 128 (bits 4..7) or 32 (other bits), stored as bit planes laid
// out so that a SIMD register of 32-bit lanes decodes 16 (or 8) consecutive
// indices with one load and one shift, no shuffle (the codebook permute
// reads only the low bits of a lane):
//   bits 8:      blocks of 32 indices, 32 bytes: byte i = index i.
//   bits 4..7:   superblocks of 128 indices, bits * 16 bytes: the 4-bit plane
//                (64 bytes), then for 6 and 7 four 2-bit planes (8 bytes per
//                32 indices), then for 5 and 7 four 1-bit planes (4 bytes per
//                32). 4-bit plane: little-endian 32-bit word l (0..15) holds
//                index 16 g + l of the superblock in bits [4 g, 4 g + 4),
//                g = 0..7: a 64-byte load and a right shift by 4 g put indices
//                16 g .. 16 g + 15 in the low bits of the 16 lanes.
//   bits 1..3:   blocks of 32 indices, bits * 4 bytes: a 2-bit plane (bits 2
//                and 3), then a 1-bit plane (bits 1 and 3).
//   The low bits of each index come first (5 = 4 + 1, 6 = 4 + 2, 7 = 4 + 2 +
//   1, 3 = 2 + 1). With j = 16h + 4b + r the position in a block of 32 (h =
//   0..1, b, r = 0..3):
//   2-bit plane, 8 bytes: with r = 2u + a (a, u = 0..1), byte 4a + b holds
//                index j in bits 2t..2t+1, t = 2u + h (word a holds the
//                even (a = 0) or odd lanes, lane l at bit 4 (l / 2) + 2h);
//   1-bit plane, 4 bytes: a little-endian 32-bit word, bit j = index j.
// So 4-bit indices cost 64 bytes per 128 weights, 3-bit 12 per 32 (2-bit
// plane, then the high bit), 2-bit 8 per 32.
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
// Bits with a 4-bit plane pack rows in superblocks of 128 indices.
inline bool clustered_superblocks(unsigned bits) { return bits >= 4 && bits < 8; }
inline size_t clustered_row_indices(size_t K, size_t dim, unsigned bits) {
  const size_t unit = clustered_superblocks(bits) ? 128 : 32;
  return (K / dim + unit - 1) / unit * unit;
}
inline size_t clustered_row_bytes(size_t K, size_t dim, unsigned bits) {
  return clustered_row_indices(K, dim, bits) / 32 * bits * 4;
}

// Bits t .. t + 1 of position j's entry in a 2-bit plane of a 32-block.
inline unsigned clustered_plane2(const uint8_t* plane, unsigned j) {
  return (plane[4 * (j & 1u) + ((j >> 2) & 3u)] >> (2 * (2 * ((j >> 1) & 1u) + (j >> 4)))) & 3u;
}
inline size_t clustered_books(size_t M, size_t rows_per_book) {
  return (M + rows_per_book - 1) / rows_per_book;
}

// Index i of a packed row (the rule every kernel matches).
inline unsigned clustered_index(const uint8_t* row, unsigned bits, size_t i) {
  if (clustered_superblocks(bits)) {
    const uint8_t* s = row + (i >> 7) * bits * 16;
    const unsigned t = static_cast<unsigned>(i & 127), g = t >> 4, l = t & 15u, j = t & 31u, q = t >> 5;
    unsigned v = (s[4 * l + g / 2] >> (4 * (g & 1u))) & 0xF;
    const uint8_t* b = s + 64;
    if (bits & 2) {
      v |= clustered_plane2(b + 8 * q, j) << 4;
      b += 32;
    }
    if (bits & 1) v |= ((b[4 * q + (j >> 3)] >> (j & 7)) & 1u) << (bits & 2 ? 6 : 4);
    return v;
  }
  const uint8_t* b = row + (i >> 5) * bits * 4;
  const unsigned j = static_cast<unsigned>(i & 31);
  if (bits == 8) return b[j];
  unsigned v = 0, shift = 0;
  if (bits & 2) {
    v = clustered_plane2(b, j);
    shift = 2;
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

// ---- int8 activations (4-bit scalar entries only: bits 4, dim 1)
//
// Each codebook as int8: scale s = max |entry| / 127 and entry codes
// q = round-half-even(entry / s), in [-127, 127] (all 0 when s is 0; s NaN
// when an entry is not finite). Activations as int8 in groups of 32 that
// follow the 4-bit plane (clustered.h's packing): in superblock t (indices
// 128 t .. 128 t + 127) group g (0..3) holds indices 128 t + 32 h + 16 u + l
// for h = 0..3, u = 0..1, l = 4 g .. 4 g + 3, the positions whose codes sit
// in 32-bit words 4 g .. 4 g + 3 of the plane; each group has scale
// d = max |x| / 127 and codes round-half-even(x / d) (0 when d is 0); indices
// past K count as zero. Then y[n, m] = s(book of m) * sum over groups of
// d * (the exact integer dot product of the group's activation codes with
// the entry codes of its weights), summed in float32 (+ bias).
inline bool clustered_i8_supported(const ClusteredWeights& w) { return w.bits == 4 && w.dim == 1; }

// Int8 codebooks: tables[16 b + e] = q_e + 128 (an unsigned byte) and
// scales[b] = s, for books b < books.
void clustered_i8_books(const ClusteredWeights& w, size_t books, uint8_t* tables, float* scales);

struct ClusteredI8Books {
  const uint8_t* tables;  // [books, 16]
  const float* scales;    // [books]
};

// One activation row's superblock t, as every int8 kernel reads it: lane L
// (0..15) of the plane's 32-bit words pairs bytes 4 L + h of the codes with
// q[4 L + h] (the low nibble: index 32 h + L) and q[64 + 4 L + h] (the high
// nibble: index 32 h + 16 + L); lane L belongs to group L / 4, whose scale
// is scale[L]; neg_sum[L] = -128 * (the sum of the lane's 8 codes).
struct alignas(64) ClusteredActStep {
  int8_t q[128];
  int32_t neg_sum[16];
  float scale[16];
};

inline size_t clustered_i8_steps(size_t K) { return (K + 127) / 128; }

// As linear_clustered with int8 activations (clustered_i8_supported(w)).
void linear_clustered_i8(const float* x, size_t N, size_t K, const ClusteredWeights& w,
                         const ClusteredI8Books& books, size_t M, const float* bias, float* y);

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

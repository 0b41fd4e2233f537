// Sparse weight matrices [M, K]: the storage formats the sparse linear kernels
// read. Pruned weights are structurally zero; the stored values are the rest,
// in K order within each row, as float32, float16 or bfloat16, or as int8
// codes q with one float32 scale s per row (weight = q * s; symmetric int8).
// Kernels multiply with the codes (widened exactly) and the driver scales
// each output by its row's s, so kernels never see the scales. Or as 4-bit
// indices (two per byte, value i in byte i / 2, low nibble first) into a
// table of 16 float32 weights per row (lut[16 m + index]): sparse int4 and
// sparse clustered weights, decoded by the kernels (a permute per 16 values).
//
// Every array the kernels read past its logical end is padded (values and
// column indices by kSparsePad zero elements, 4-bit values to ceil(count / 2)
// + kSparsePad bytes, N:M codes by 8 zero bytes), so
// a kernel can load whole vectors without a tail case.
//
// bitmap:  masks[m * T + t] (T = ceil(K / 16) uint16 per row): bit b is set
//          when element k = 16 t + b is stored; bits past K are 0.
//          offsets[m] .. offsets[m + 1] (M + 1 uint32): row m's values.
// csr:     K is cut into blocks of 65536 columns (B = ceil(K / 65536) per row;
//          one block when K <= 65536). offsets[m * B + b] .. offsets[m * B + b
//          + 1] (M * B + 1 uint32): row m's entries in block b; cols[i] =
//          k - 65536 b (uint16), increasing within a row.
// nm:      exactly n values in every group of `group` consecutive elements of
//          a row (group 4 or 8, 1 <= n < group, K a multiple of group; a group
//          with fewer nonzeros stores explicit zeros). Row m's values start at
//          m * (K / group) * n. Each group has a code of n * b bits (b =
//          log2(group)): its n positions in increasing order, position i in
//          bits [i b, (i + 1) b). Codes are a little-endian bit stream per row
//          (group g at bit g * n * b), rows code_stride = ceil(K / group * n *
//          b / 8) bytes apart. n * b <= 12.
// ell:     sliced ELLPACK over column panels, for few activation rows (N = 1):
//          rows in groups of kEllRows (lane l of group g is row 16 g + l),
//          columns in panels of kEllPanel (P = ceil(K / 128) per group).
//          offsets[g * P + p] .. offsets[g * P + p + 1] (G * P + 1 uint32, G =
//          ceil(M / 16)) are the entry vectors of group g in panel p; vector v
//          is entries 16 v .. 16 v + 15 of values and panel_cols, one per lane.
//          A lane's entries in a panel are its row's stored values in
//          increasing column order, then padding up to the group's longest row
//          in that panel. panel_cols[e] = k - 128 p for a stored value; a
//          padding entry has value 0 and kEllPadBit | c, with c a column of
//          the panel its row does not store (0 for lanes past M), so 0 * x[c]
//          is what the dense matrix computes there. Kernels read x padded
//          with zeros to whole panels (ell_padded_k), so every column c & 127
//          is in bounds.
//          Float values only (f32, f16, bf16) and int8 codes; no kLut4.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels.h"

namespace sparq {

enum class SparseFormat : int { kBitmap = 0, kCsr = 1, kNm = 2, kEll = 3 };

constexpr size_t kSparsePad = 16;          // zero elements after values and cols
constexpr size_t kCsrBlock = 65536;        // columns per CSR block
constexpr size_t kBitmapTile = 16;         // elements per bitmap mask word
constexpr size_t kEllRows = 16;            // rows per ell group (one per AVX-512 lane)
constexpr size_t kEllPanel = 128;          // columns per ell panel
constexpr uint8_t kEllPadBit = 0x80;       // panel_cols bit of padding entries

struct SparseWeights {
  SparseFormat format;
  WeightType value_type;
  const void* values;
  const uint32_t* offsets;  // bitmap, csr, ell
  const uint16_t* masks;    // bitmap
  const uint16_t* cols;     // csr
  const uint8_t* panel_cols;  // ell
  const uint8_t* codes;     // nm
  const float* scales;      // kI8 values: one per row
  const float* lut;         // kLut4 values: 16 per row
  uint32_t n, group;        // nm
  // nm: code -> group mask (bit j = position j stored), 1 << (n * b) entries;
  // filled by the driver (linear.cc) before the kernels run.
  const uint8_t* nm_masks;
};

// Elements of the values array (with its padding) for `count` stored values.
inline size_t sparse_values_length(WeightType t, size_t count) {
  return t == WeightType::kLut4 ? (count + 1) / 2 + kSparsePad : count + kSparsePad;
}

inline size_t bitmap_tiles(size_t K) { return (K + kBitmapTile - 1) / kBitmapTile; }
inline size_t csr_blocks(size_t K) { return (K + kCsrBlock - 1) / kCsrBlock; }
inline size_t ell_groups(size_t M) { return (M + kEllRows - 1) / kEllRows; }
inline size_t ell_panels(size_t K) { return (K + kEllPanel - 1) / kEllPanel; }
inline size_t ell_padded_k(size_t K) { return ell_panels(K) * kEllPanel; }
inline uint32_t nm_index_bits(uint32_t group) { return group == 4 ? 2 : 3; }
inline size_t nm_code_stride(size_t K, uint32_t n, uint32_t group) {
  return (K / group * n * nm_index_bits(group) + 7) / 8;
}

// The nm code of group g of a row (codes of that row at `row`).
inline uint32_t nm_code(const uint8_t* row, size_t g, uint32_t code_bits) {
  const size_t bit = g * code_bits;
  uint32_t v = 0;
  for (size_t i = 0; i < 3; ++i) v |= static_cast<uint32_t>(row[bit / 8 + i]) << (8 * i);
  return (v >> (bit % 8)) & ((1u << code_bits) - 1u);
}

}  // namespace sparq

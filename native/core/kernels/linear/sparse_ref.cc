// Scalar sparse linear: the reference path for every format. Each weight row
// is decoded into a dense float32 row, then multiplied as dense_ref does
// (linear_rows_ref): pruned
// weights are zeros, so NaN and Inf in x propagate exactly as with the dense
// matrix.
#include <cstring>
#include <vector>

#include "../../half.h"
#include "dense.h"
#include "sparse.h"

namespace sparq {
namespace {

// Stored value i of row m (kI8 codes come out unscaled: the driver scales).
inline float value_at(const SparseWeights& w, size_t m, size_t i) {
  if (w.value_type == WeightType::kLut4) return w.lut[16 * m + nibble_at(static_cast<const uint8_t*>(w.values), i)];
  return widen_scalar(w.values, w.value_type, i);
}

}  // namespace

void sparse_row_to_dense(const SparseWeights& w, size_t K, size_t m, float* dense) {
  if (K == 0) return;  // dense may be null
  std::memset(dense, 0, K * sizeof(float));
  switch (w.format) {
    case SparseFormat::kBitmap: {
      const uint16_t* masks = w.masks + m * bitmap_tiles(K);
      size_t v = w.offsets[m];
      for (size_t k = 0; k < K; ++k)
        if ((masks[k / kBitmapTile] >> (k % kBitmapTile)) & 1u) dense[k] = value_at(w, m, v++);
      break;
    }
    case SparseFormat::kCsr: {
      const size_t blocks = csr_blocks(K);
      for (size_t b = 0; b < blocks; ++b)
        for (size_t i = w.offsets[m * blocks + b]; i < w.offsets[m * blocks + b + 1]; ++i)
          if (b * kCsrBlock + w.cols[i] < K) dense[b * kCsrBlock + w.cols[i]] = value_at(w, m, i);
      break;
    }
    case SparseFormat::kNm: {
      const uint32_t bits = nm_index_bits(w.group), code_bits = w.n * bits;
      const uint8_t* codes = w.codes + m * nm_code_stride(K, w.n, w.group);
      const size_t groups = K / w.group;
      size_t v = m * groups * w.n;
      for (size_t g = 0; g < groups; ++g) {
        const uint32_t code = nm_code(codes, g, code_bits);
        for (uint32_t i = 0; i < w.n; ++i, ++v)
          dense[g * w.group + ((code >> (i * bits)) & (w.group - 1))] = value_at(w, m, v);
      }
      break;
    }
    case SparseFormat::kEll: {
      const size_t panels = ell_panels(K), lane = m % kEllRows;
      const uint32_t* offsets = w.offsets + m / kEllRows * panels;
      for (size_t p = 0; p < panels; ++p)
        for (size_t e = offsets[p] * kEllRows + lane; e < offsets[p + 1] * kEllRows; e += kEllRows) {
          const uint8_t c = w.panel_cols[e];
          if (c & kEllPadBit) break;  // padding follows a lane's stored values
          if (p * kEllPanel + c < K) dense[p * kEllPanel + c] = value_at(w, m, e);
        }
      break;
    }
  }
}

void linear_sparse_ref(const float* x, size_t ldx, const float*, const SparseWeights& w, size_t K,
                       const float* bias, float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                       size_t m1) {
  std::vector<float> row(K);
  for (size_t m = m0; m < m1; ++m) {
    sparse_row_to_dense(w, K, m, row.data());
    linear_rows_ref(x, ldx, K, bias, y, ldy, n0, n1, row.data(), m);
  }
}

}  // namespace sparq

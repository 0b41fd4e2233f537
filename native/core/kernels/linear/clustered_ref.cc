// Scalar reference for clustered weights: decode a row to f32 (codebook
// lookup of each packed index), then the dense reference dot product.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "../../half.h"
#include "clustered.h"
#include "dense.h"

namespace sparq {

void clustered_decode_row_ref(const ClusteredWeights& w, size_t K, size_t m, float* out) {
  const size_t E = clustered_entries(w);
  const size_t book = m / w.rows_per_book;
  const uint8_t* row = w.indices + m * clustered_row_bytes(K, w.dim, w.bits);
  for (size_t k = 0; k < K; ++k) {
    const size_t e = book * E + clustered_index(row, w.bits, k / w.dim) * w.dim + k % w.dim;
    out[k] = w.codebook_type == ScaleType::kF16 ? f16_to_f32_scalar(static_cast<const uint16_t*>(w.codebook)[e])
                                                : static_cast<const float*>(w.codebook)[e];
  }
}

const float* clustered_books_f32(const ClusteredWeights& w, size_t m0, size_t m1, size_t stride,
                                 std::vector<float>& scratch) {
  const size_t E = clustered_entries(w);
  const size_t b0 = m0 / w.rows_per_book, b1 = (m1 - 1) / w.rows_per_book + 1;
  scratch.resize((b1 - b0) * stride);
  for (size_t b = b0; b < b1; ++b) {
    float* dst = scratch.data() + (b - b0) * stride;
    if (w.codebook_type == ScaleType::kF16) {
      const uint16_t* src = static_cast<const uint16_t*>(w.codebook) + b * E;
      for (size_t e = 0; e < E; ++e) dst[e] = f16_to_f32_scalar(src[e]);
    } else {
      std::copy_n(static_cast<const float*>(w.codebook) + b * E, E, dst);
    }
    for (size_t e = E; e < stride; ++e) dst[e] = dst[e % E];
  }
  return scratch.data();
}

void linear_clustered_ref(const float* x, size_t ldx, const ClusteredWeights& w, size_t K,
                          const float* bias, float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                          size_t m1) {
  std::vector<float> row(K);
  for (size_t m = m0; m < m1; ++m) {
    clustered_decode_row_ref(w, K, m, row.data());
    linear_rows_ref(x, ldx, K, bias, y, ldy, n0, n1, row.data(), m);
  }
}

}  // namespace sparq

namespace sparq {

void clustered_i8_pack_row_ref(const float* x, size_t K, ClusteredActStep* out) {
  for (size_t t = 0; t < clustered_i8_steps(K); ++t) {
    ClusteredActStep& a = out[t];
    for (size_t g = 0; g < 4; ++g) {
      // The group's 32 members: position p = 64 u + 4 l + h of a.q holds index 32 h + 16 u + l.
      float v[32];
      size_t pos[32];
      float amax = 0;
      for (size_t u = 0, i = 0; u < 2; ++u)
        for (size_t l = 4 * g; l < 4 * g + 4; ++l)
          for (size_t h = 0; h < 4; ++h, ++i) {
            const size_t k = 128 * t + 32 * h + 16 * u + l;
            v[i] = k < K ? x[k] : 0.0f;
            pos[i] = 64 * u + 4 * l + h;
            amax = std::max(amax, std::fabs(v[i]));
          }
      const float d = amax / 127.0f;
      for (size_t i = 0; i < 32; ++i) a.q[pos[i]] = int8_code(v[i], d);
      for (size_t l = 4 * g; l < 4 * g + 4; ++l) {
        int32_t sum = 0;
        for (size_t h = 0; h < 4; ++h) sum += a.q[4 * l + h] + a.q[64 + 4 * l + h];
        a.neg_sum[l] = -128 * sum;
        a.scale[l] = d;
      }
    }
  }
}

// Per group of 32: the exact integer dot product of activation and entry
// codes, scaled by the group's activation scale; the book's scale once per
// output.
void linear_clustered_i8_ref(const ClusteredActStep* x, const ClusteredWeights& w,
                             const ClusteredI8Books& books, size_t K, const float* bias, float* y,
                             size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1) {
  const size_t steps = clustered_i8_steps(K), row_bytes = clustered_row_bytes(K, w.dim, w.bits);
  for (size_t m = m0; m < m1; ++m) {
    const size_t book = m / w.rows_per_book;
    const uint8_t* table = books.tables + 16 * book;
    const uint8_t* codes = w.indices + m * row_bytes;
    for (size_t n = n0; n < n1; ++n) {
      float acc = 0;
      for (size_t t = 0; t < steps; ++t) {
        const ClusteredActStep& a = x[n * steps + t];
        const uint8_t* c = codes + 64 * t;
        for (size_t g = 0; g < 4; ++g) {
          int32_t dot = 0;
          for (size_t p = 16 * g; p < 16 * g + 16; ++p) {  // bytes 4 l + h of lanes l = 4 g .. 4 g + 3
            dot += (static_cast<int32_t>(table[c[p] & 0xF]) - 128) * a.q[p];
            dot += (static_cast<int32_t>(table[c[p] >> 4]) - 128) * a.q[64 + p];
          }
          acc = std::fmaf(a.scale[4 * g], static_cast<float>(dot), acc);
        }
      }
      const float r = books.scales[book] * acc;
      y[n * ldy + m] = bias != nullptr ? r + bias[m] : r;
    }
  }
}

}  // namespace sparq

// Writing a register tile's results to y, shared by every ISA's kernels.
#pragma once
#include <algorithm>
#include <cstddef>

namespace sparq {

// y[n + j, m + i] = out[j * row_stride + i * col_stride] (+ bias[m + i]) for
// `rows` activation rows and mr weight rows.
inline void store_outputs(const float* out, size_t row_stride, size_t col_stride, size_t rows, size_t mr,
                          const float* bias, float* y, size_t ldy, size_t n, size_t m) {
  for (size_t j = 0; j < rows; ++j) {
    float* yr = y + (n + j) * ldy + m;
    for (size_t i = 0; i < mr; ++i) {
      const float v = out[j * row_stride + i * col_stride];
      yr[i] = bias ? v + bias[m + i] : v;
    }
  }
}

// y[n + j, m + i] = out[i * nr + j] (+ bias[m + i]) for the mr valid weight
// rows of a tile of nr activation rows.
inline void store_tile(const float* out, int nr, size_t mr, const float* bias, float* y,
                       size_t ldy, size_t n, size_t m) {
  store_outputs(out, 1, static_cast<size_t>(nr), static_cast<size_t>(nr), mr, bias, y, ldy, n, m);
}

// The same for weight rows m + i * stride below m1 (i < mr).
inline void store_tile_strided(const float* out, int nr, size_t mr, size_t stride, size_t m1, const float* bias,
                               float* y, size_t ldy, size_t n, size_t m) {
  if (stride == 1) {
    store_tile(out, nr, std::min(mr, m1 - m), bias, y, ldy, n, m);
    return;
  }
  for (size_t i = 0; i < mr && m + i * stride < m1; ++i) {
    const size_t r = m + i * stride;
    for (int j = 0; j < nr; ++j) {
      const float v = out[i * static_cast<size_t>(nr) + static_cast<size_t>(j)];
      y[(n + static_cast<size_t>(j)) * ldy + r] = bias ? v + bias[r] : v;
    }
  }
}

}  // namespace sparq

// Writing a register tile's results to y, shared by every ISA's kernels.
#pragma once
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

}  // namespace sparq

// Writing one register tile's results to y, shared by every ISA's driver.
#pragma once
#include <cstddef>

namespace sparq {

// y[n + j, m + i] = out[i * nr + j] (+ bias[m + i]) for the mr valid weight
// rows of a tile of nr activation rows.
inline void store_tile(const float* out, int nr, size_t mr, const float* bias, float* y,
                       size_t ldy, size_t n, size_t m) {
  for (int j = 0; j < nr; ++j) {
    float* yr = y + (n + j) * ldy + m;
    for (size_t i = 0; i < mr; ++i) yr[i] = bias ? out[i * nr + j] + bias[m + i] : out[i * nr + j];
  }
}

}  // namespace sparq

// Scalar dense linear: the reference path. Eight interleaved partial sums per
// dot product (lane j takes k = j mod 8), then a fixed pairwise reduction.
#include <cstdint>

#include "../../half.h"
#include "dense.h"

namespace sparq {
namespace {

inline float load_w(const float* w, size_t k) { return w[k]; }
inline float load_w(const uint16_t* w, size_t k, bool bf16) {
  return bf16 ? bf16_to_f32_scalar(w[k]) : f16_to_f32_scalar(w[k]);
}

template <typename Load>
void linear_rows(const float* x, size_t ldx, size_t K, const float* bias, float* y, size_t ldy,
                 size_t n0, size_t n1, size_t m0, size_t m1, Load load_row_k) {
  for (size_t n = n0; n < n1; ++n) {
    const float* xr = x + n * ldx;
    for (size_t m = m0; m < m1; ++m) {
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      size_t k = 0;
      for (; k + 8 <= K; k += 8)
        for (int j = 0; j < 8; ++j) acc[j] += load_row_k(m, k + j) * xr[k + j];
      for (int j = 0; k + j < K; ++j) acc[j] += load_row_k(m, k + j) * xr[k + j];
      float s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
      if (bias != nullptr) s += bias[m];
      y[n * ldy + m] = s;
    }
  }
}

}  // namespace

void linear_dense_f32_ref(const float* x, size_t ldx, const void* w, size_t K, const float* bias,
                          float* y, size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1) {
  const float* wf = static_cast<const float*>(w);
  linear_rows(x, ldx, K, bias, y, ldy, n0, n1, m0, m1,
              [&](size_t m, size_t k) { return load_w(wf + m * K, k); });
}

void linear_dense_f16_ref(const float* x, size_t ldx, const void* w, size_t K, const float* bias,
                          float* y, size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1) {
  const uint16_t* wh = static_cast<const uint16_t*>(w);
  linear_rows(x, ldx, K, bias, y, ldy, n0, n1, m0, m1,
              [&](size_t m, size_t k) { return load_w(wh + m * K, k, false); });
}

void linear_dense_bf16_ref(const float* x, size_t ldx, const void* w, size_t K, const float* bias,
                           float* y, size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1) {
  const uint16_t* wh = static_cast<const uint16_t*>(w);
  linear_rows(x, ldx, K, bias, y, ldy, n0, n1, m0, m1,
              [&](size_t m, size_t k) { return load_w(wh + m * K, k, true); });
}

}  // namespace sparq

// Scalar dense linear: the reference path. Eight interleaved partial sums per
// dot product (lane j takes k = j mod 8), then a fixed pairwise reduction.
#include <cstdint>
#include <vector>

#include "../../half.h"
#include "dense.h"

namespace sparq {

float dot_ref(const float* w, const float* x, size_t K) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t k = 0;
  for (; k + 8 <= K; k += 8)
    for (int j = 0; j < 8; ++j) acc[j] += w[k + j] * x[k + j];
  for (int j = 0; k + j < K; ++j) acc[j] += w[k + j] * x[k + j];
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

void linear_rows_ref(const float* x, size_t ldx, size_t K, const float* bias, float* y, size_t ldy,
                     size_t n0, size_t n1, const float* row, size_t m) {
  for (size_t n = n0; n < n1; ++n) {
    float s = dot_ref(row, x + n * ldx, K);
    if (bias != nullptr) s += bias[m];
    y[n * ldy + m] = s;
  }
}

namespace {

// Half-precision rows widened (exactly) into a float32 row, then as f32.
void linear_half_ref(const float* x, size_t ldx, const uint16_t* w, bool bf16, size_t K,
                     const float* bias, float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                     size_t m1) {
  std::vector<float> row(K);
  for (size_t m = m0; m < m1; ++m) {
    for (size_t k = 0; k < K; ++k)
      row[k] = bf16 ? bf16_to_f32_scalar(w[m * K + k]) : f16_to_f32_scalar(w[m * K + k]);
    linear_rows_ref(x, ldx, K, bias, y, ldy, n0, n1, row.data(), m);
  }
}

}  // namespace

void linear_dense_f32_ref(const float* x, size_t ldx, const void* w, size_t K, const float* bias,
                          float* y, size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1) {
  const float* wf = static_cast<const float*>(w);
  for (size_t m = m0; m < m1; ++m) linear_rows_ref(x, ldx, K, bias, y, ldy, n0, n1, wf + m * K, m);
}

void linear_dense_f16_ref(const float* x, size_t ldx, const void* w, size_t K, const float* bias,
                          float* y, size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1) {
  linear_half_ref(x, ldx, static_cast<const uint16_t*>(w), false, K, bias, y, ldy, n0, n1, m0, m1);
}

void linear_dense_bf16_ref(const float* x, size_t ldx, const void* w, size_t K, const float* bias,
                           float* y, size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1) {
  linear_half_ref(x, ldx, static_cast<const uint16_t*>(w), true, K, bias, y, ldy, n0, n1, m0, m1);
}

}  // namespace sparq

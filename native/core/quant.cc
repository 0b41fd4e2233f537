#include "quant.h"

#include <algorithm>
#include <cmath>

#include "kernels/linear/quant.h"
#include "thread_pool.h"

namespace sparq {

void dequantize(const QuantWeights& w, size_t M, size_t K, float* out) {
  constexpr size_t kRows = 64;
  parallel_for((M + kRows - 1) / kRows, [&](size_t t) {
    for (size_t m = t * kRows; m < std::min(M, (t + 1) * kRows); ++m) dequantize_row_ref(w, K, m, out + m * K);
  });
}

void quantize_activations(const float* x, size_t N, size_t K, int8_t* q, float* scale,
                          int32_t* sum) {
  const size_t blocks = K / 32;
  for (size_t b = 0; b < N * blocks; ++b) {
    const float* xb = x + b * 32;
    float amax = 0;
    for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    int32_t s = 0;
    for (size_t j = 0; j < 32; ++j) {
      q[b * 32 + j] = int8_code(xb[j], d);
      s += q[b * 32 + j];
    }
    scale[b] = d;
    sum[b] = s;
  }
}

}  // namespace sparq

// Scalar reference for quantized weights: decode a row to f32, then the dense
// reference dot product (same partial-sum order as dense_ref.cc).
#include <cmath>
#include <vector>

#include "../../half.h"
#include "dense.h"
#include "quant.h"

namespace sparq {
namespace {

float scale_at(const void* p, ScaleType t, size_t i) {
  return t == ScaleType::kF16 ? f16_to_f32_scalar(static_cast<const uint16_t*>(p)[i])
                              : static_cast<const float*>(p)[i];
}

}  // namespace

void dequantize_row_ref(const QuantWeights& w, size_t K, size_t m, float* out) {
  const size_t groups = quant_groups(w, K);
  const size_t gs = w.group_size == 0 ? K : w.group_size;
  const uint8_t* codes = w.codes + m * quant_row_bytes(w, K);
  for (size_t k = 0; k < K; ++k) {
    float v;
    switch (w.code_type) {
      case CodeType::kInt8: v = static_cast<float>(static_cast<int8_t>(codes[k])); break;
      case CodeType::kUint8: v = static_cast<float>(codes[k]); break;
      default: v = w.lut[(codes[(k >> 5) * 16 + (k & 15)] >> ((k & 16) >> 2)) & 0xF]; break;
    }
    const size_t g = m * groups + k / gs;
    const float s = scale_at(w.scales, w.scale_type, g);
    out[k] = w.mins ? std::fmaf(s, v, scale_at(w.mins, w.scale_type, g)) : s * v;
  }
}

void linear_quant_ref(const float* x, size_t ldx, const QuantWeights& w, size_t K,
                      const float* bias, float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                      size_t m1) {
  std::vector<float> row(K);
  for (size_t m = m0; m < m1; ++m) {
    dequantize_row_ref(w, K, m, row.data());
    linear_rows_ref(x, ldx, K, bias, y, ldy, n0, n1, row.data(), m);
  }
}

}  // namespace sparq

namespace sparq {
namespace {

// The reference packing: per activation row, its K codes, then its K / 32
// scales, then its K / 32 sums, each part starting on a line.
size_t lines_for(size_t bytes) { return (bytes + sizeof(ActivationLine) - 1) / sizeof(ActivationLine); }
struct RefLayout {
  size_t scale, sum, row;  // line offsets of a row's parts, and of the next row
  explicit RefLayout(size_t K)
      : scale(lines_for(K)), sum(scale + lines_for(K / 32 * 4)), row(sum + lines_for(K / 32 * 4)) {}
};

}  // namespace

void linear_quant_i8_pack_ref(const float* x, size_t N, size_t K, const QuantWeights&,
                              std::vector<ActivationLine>& packed) {
  const RefLayout L(K);
  packed.resize(N * L.row);
  for (size_t n = 0; n < N; ++n) {
    ActivationLine* r = packed.data() + n * L.row;
    quantize_activations(x + n * K, 1, K, reinterpret_cast<int8_t*>(r), reinterpret_cast<float*>(r + L.scale),
                         reinterpret_cast<int32_t*>(r + L.sum));
  }
}

// Per block of 32: an exact integer dot product of codes and activations,
// the code offset and min applied through the block sums, then scaled (and
// each output by i8_scale).
void linear_quant_i8_ref(const ActivationLine* xa, const QuantWeights& w, size_t K,
                         const float* bias, float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                         size_t m1) {
  const RefLayout L(K);
  const size_t groups = quant_groups(w, K), blocks = K / 32;
  const size_t gs = w.group_size == 0 ? K : w.group_size;
  const int offset = quant_code_offset(w);
  for (size_t m = m0; m < m1; ++m) {
    const uint8_t* codes = w.codes + m * quant_row_bytes(w, K);
    for (size_t n = n0; n < n1; ++n) {
      const ActivationLine* r = xa + n * L.row;
      const int8_t* q = reinterpret_cast<const int8_t*>(r);
      const float* x_scale = reinterpret_cast<const float*>(r + L.scale);
      const int32_t* x_sum = reinterpret_cast<const int32_t*>(r + L.sum);
      float acc = 0;
      for (size_t b = 0; b < blocks; ++b) {
        int32_t dot = 0;
        for (size_t j = 0; j < 32; ++j) {
          const size_t k = b * 32 + j;
          int32_t u;  // the code as an unsigned byte
          switch (w.code_type) {
            case CodeType::kInt8: u = static_cast<int32_t>(codes[k] ^ 0x80u); break;
            case CodeType::kUint8: u = codes[k]; break;
            default:
              u = (codes[b * 16 + (j & 15)] >> ((j & 16) >> 2)) & 0xF;
              if (w.i8_codes != nullptr) u = w.i8_codes[u];
              break;
          }
          dot += u * q[k];
        }
        const int32_t bsum = x_sum[b];
        const size_t g = m * groups + b * 32 / gs;
        float t = scale_at(w.scales, w.scale_type, g) * static_cast<float>(dot - offset * bsum);
        if (w.mins) t = std::fmaf(scale_at(w.mins, w.scale_type, g), static_cast<float>(bsum), t);
        acc = std::fmaf(x_scale[b], t, acc);
      }
      acc *= w.i8_scale;  // 1 unless the table was rounded to int8
      y[n * ldy + m] = bias ? acc + bias[m] : acc;
    }
  }
}

}  // namespace sparq

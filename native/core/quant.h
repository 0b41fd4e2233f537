// Quantized weights (int8, uint8 with mins, 4-bit codes through a 16-entry
// table) and linear layers that compute on them. Layouts are row-major and
// independent of SIMD width.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sparq {

enum class CodeType : int {
  kInt8 = 0,    // one signed byte per weight; value = code
  kUint8 = 1,   // one unsigned byte per weight; value = code
  // 4-bit codes in blocks of 32 weights: byte j (0..15) of a block holds
  // weight j in its low nibble and weight j + 16 in its high nibble (as ggml's
  // q4_0); value = lut[code]. K is a multiple of 32.
  kNibble = 2,
};

enum class ScaleType : int { kF32 = 0, kF16 = 1 };

// w[m, k] = scale[m, g] * value + min[m, g] (fused, one rounding), or
// scale[m, g] * value without mins, where g = k / group_size.
struct QuantWeights {
  const uint8_t* codes;  // [M, K] bytes, or [M, K / 2] for kNibble
  CodeType code_type;
  const void* scales;    // [M, groups] of scale_type
  const void* mins;      // [M, groups] of scale_type, or null
  ScaleType scale_type;
  size_t group_size;     // a power of two >= 16 (>= 32 for kNibble) dividing K, or 0: one group per row
  const float* lut;      // 16 values for kNibble, else null
};

inline size_t quant_groups(const QuantWeights& w, size_t K) {
  return w.group_size == 0 ? 1 : K / w.group_size;
}
inline size_t quant_row_bytes(const QuantWeights& w, size_t K) {
  return w.code_type == CodeType::kNibble ? K / 2 : K;
}

// y[N, M] = x[N, K] . w^T (+ bias), weights decoded to f32 in registers:
// exact with respect to dequantize() up to float32 summation order.
void linear_quant(const float* x, size_t N, size_t K, const QuantWeights& w, size_t M,
                  const float* bias, float* y);

// out[M, K] = the f32 weights linear_quant computes with (dequantize_row_ref).
void dequantize(const QuantWeights& w, size_t M, size_t K, float* out);

}  // namespace sparq

// Quantized weights (int8, uint8 with mins, 4-bit codes through a 16-entry
// table) and linear layers that compute on them. Layouts are row-major and
// independent of SIMD width.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

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
  // int8-activation kernels only, kNibble without mins whose table is not the
  // symmetric q - 8 (NF4): the table rounded to int8 (nibble_i8_table), as
  // the unsigned byte each code becomes (int8 code + 128); values are then
  // i8_scale * (i8_codes[code] - 128). Null: the code itself is the byte.
  const uint8_t* i8_codes = nullptr;
  float i8_scale = 1.0f;
};

inline size_t quant_groups(const QuantWeights& w, size_t K) {
  return w.group_size == 0 ? 1 : K / w.group_size;
}
// Groups per row with a min each whose min term the int8-activation kernels
// add once per output from per-group activation sums (0: no mins, or one
// min per row, applied after the reduction).
inline size_t groups_with_mins(const QuantWeights& w, size_t K) {
  return w.mins != nullptr && w.group_size != 0 ? quant_groups(w, K) : 0;
}
inline size_t quant_row_bytes(const QuantWeights& w, size_t K) {
  return w.code_type == CodeType::kNibble ? K / 2 : K;
}

// The int8 code of v at scale d: v / d rounded half to even (nearbyint in the
// default rounding mode), clamped to [-127, 127]; 0 when d is 0. The rule of
// every int8 activation and codebook code.
inline int8_t int8_code(float v, float d) {
  const float q = d == 0 ? 0.0f : std::nearbyint(v / d);
  return static_cast<int8_t>(std::min(127.0f, std::max(-127.0f, q)));
}

// Activations quantized to int8 in blocks of 32 along K (K % 32 == 0):
// x[n, k] ~ scale[n, b] * q[n, k] with b = k / 32, scale = absmax / 127 and
// q = round-half-even(x / scale) (0 when scale is 0); sum[n, b] = the block's
// sum of q. This is the rule; each ISA's packer (kernels.h) follows it
// exactly and lays the result out for its kernel in 64-byte lines.
void quantize_activations(const float* x, size_t N, size_t K, int8_t* q, float* scale,
                          int32_t* sum);
struct alignas(64) ActivationLine {
  uint8_t bytes[64];
};

// Whether a 4-bit table is the symmetric one (lut[c] = c - 8), whose codes the
// int8-activation kernels use as they are.
inline bool is_symmetric_nibble_table(const float* lut) {
  for (int c = 0; c < 16; ++c)
    if (lut[c] != static_cast<float>(c - 8)) return false;
  return true;
}

// A 4-bit table for int8 activations: scale d = max |lut| / 127 and
// codes[c] = int8_code(lut[c], d) + 128, so lut[c] ~ d * (codes[c] - 128)
// (within d / 2: for NF4, whose levels span [-1, 1], within 1/254).
inline void nibble_i8_table(const float* lut, uint8_t* codes, float* scale) {
  float amax = 0;
  for (int c = 0; c < 16; ++c) amax = std::max(amax, std::fabs(lut[c]));
  const float d = amax / 127.0f;
  for (int c = 0; c < 16; ++c) codes[c] = static_cast<uint8_t>(int8_code(lut[c], d) + 128);
  *scale = d;
}

// y[N, M] = x[N, K] . w^T (+ bias).
// Weights-only (int8_activations false): weights decoded to f32 in registers,
// exact with respect to dequantize() up to float32 summation order.
// int8_activations: x quantized as above and integer dot products per block
// (K % 32 == 0, group_size 0 or >= 32): exact with respect to dequantize() and
// the quantized activations up to float32 rounding of the per-block terms;
// 4-bit tables other than the symmetric one without mins (NF4) are rounded to
// int8 first (nibble_i8_table), the one approximation on the weights' side.
// 4-bit weights with mins need the uniform table lut[c] = c.
void linear_quant(const float* x, size_t N, size_t K, const QuantWeights& w, size_t M,
                  const float* bias, float* y, bool int8_activations);

// The integer offset o with value = code - o, for codes read as unsigned
// bytes (int8 codes are read with their top bit flipped: code + 128).
// (4-bit codes hold q + 8 when there are no mins, the symmetric scheme.)
inline int quant_code_offset(const QuantWeights& w) {
  if (w.code_type == CodeType::kInt8 || w.i8_codes != nullptr) return 128;
  return w.code_type == CodeType::kNibble && w.mins == nullptr ? 8 : 0;
}

// Calls f(std::integral_constant<CodeType, code>, std::bool_constant<has mins>)
// for w's format, so a kernel instantiates one specialisation per format.
template <typename F>
void visit_quant_format(const QuantWeights& w, F&& f) {
  const bool has_min = w.mins != nullptr;
  const auto with = [&](auto code) {
    if (has_min) f(code, std::true_type{});
    else f(code, std::false_type{});
  };
  switch (w.code_type) {
    case CodeType::kInt8: with(std::integral_constant<CodeType, CodeType::kInt8>{}); break;
    case CodeType::kUint8: with(std::integral_constant<CodeType, CodeType::kUint8>{}); break;
    case CodeType::kNibble: with(std::integral_constant<CodeType, CodeType::kNibble>{}); break;
  }
}

// out[M, K] = the f32 weights linear_quant computes with (dequantize_row_ref).
void dequantize(const QuantWeights& w, size_t M, size_t K, float* out);

}  // namespace sparq

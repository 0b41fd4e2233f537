// Scalar f32 <-> f16 / bf16 conversions: the reference every SIMD path matches
// bit for bit. Round to nearest even; NaN stays NaN with the quiet bit set (as
// x86 F16C does); overflow becomes Inf; f16 subnormals are exact.
#pragma once
#include <cstdint>
#include <cstring>

namespace sparq {

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline uint16_t f32_to_bf16_scalar(float f) {
  const uint32_t u = f32_bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // NaN
  return static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

inline float bf16_to_f32_scalar(uint16_t h) { return bits_f32(static_cast<uint32_t>(h) << 16); }

inline uint16_t f32_to_f16_scalar(float f) {
  const uint32_t u = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return sign | 0x7E00u | static_cast<uint16_t>((a >> 13) & 0x3FFu);  // NaN
  if (a >= 0x477FF000u) return sign | 0x7C00u;  // rounds to >= 65520: Inf (Inf included)
  if (a >= 0x38800000u) {                       // normal f16 (>= 2^-14)
    const uint32_t r = a + 0x0FFFu + ((a >> 13) & 1u) - (112u << 23);
    return sign | static_cast<uint16_t>(r >> 13);
  }
  if (a < 0x33000000u) return sign;  // < 2^-25: rounds to zero (ties to even: 2^-25 -> 0)
  // Subnormal f16: value = m * 2^-24. Shift the 24-bit significand into place
  // and round to nearest even.
  const uint32_t exp = a >> 23;                       // 102..112
  const uint32_t mant = (a & 0x7FFFFFu) | 0x800000u;  // 24 bits
  const uint32_t shift = 126u - exp;                  // 14..24
  const uint32_t q = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  const uint32_t rounded = q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u);
  return sign | static_cast<uint16_t>(rounded);
}

inline float f16_to_f32_scalar(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  if (exp == 0x1Fu) return bits_f32(sign | 0x7F800000u | (mant << 13));  // Inf / NaN
  if (exp != 0) return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
  // zero / subnormal: mant * 2^-24, exact in f32
  const float v = static_cast<float>(mant) * bits_f32(0x33800000u);  // 2^-24
  return bits_f32(sign | f32_bits(v));
}

}  // namespace sparq

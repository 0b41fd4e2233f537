// Element types of stored weights and values, shared by every format and by
// k-means, and their exact scalar widening.
#pragma once
#include <cstddef>
#include <cstdint>

#include "half.h"

namespace sparq {

enum class WeightType : int {
  kF32 = 0,
  kF16 = 1,
  kBF16 = 2,
  kI8 = 3,    // sparse values only: int8 with a float32 scale per row (sparse.h)
  kLut4 = 4,  // sparse values only: 4-bit indices into a table per row (sparse.h)
};

// 4-bit value i of a nibble array (value i in byte i / 2, low nibble first).
inline uint32_t nibble_at(const uint8_t* p, size_t i) { return (p[i / 2] >> (4 * (i & 1))) & 15u; }

// Element i of p as float32 (exact; kI8 gives the code itself, kLut4 the index).
inline float widen_scalar(const void* p, WeightType t, size_t i) {
  switch (t) {
    case WeightType::kF16: return f16_to_f32_scalar(static_cast<const uint16_t*>(p)[i]);
    case WeightType::kBF16: return bf16_to_f32_scalar(static_cast<const uint16_t*>(p)[i]);
    case WeightType::kI8: return static_cast<const int8_t*>(p)[i];
    case WeightType::kLut4: return static_cast<float>(nibble_at(static_cast<const uint8_t*>(p), i));
    case WeightType::kF32: break;
  }
  return static_cast<const float*>(p)[i];
}

}  // namespace sparq

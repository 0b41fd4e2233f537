// Bulk f32 <-> f16 / bf16 conversion over the thread pool.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sparq {

enum class HalfType : int { kF16 = 0, kBF16 = 1 };

void convert_f32_to_half(const float* src, uint16_t* dst, size_t n, HalfType type);
void convert_half_to_f32(const uint16_t* src, float* dst, size_t n, HalfType type);

}  // namespace sparq

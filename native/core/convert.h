// Bulk f32 <-> f16 / bf16 conversion over the thread pool, and a finiteness scan.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sparq {

enum class HalfType : int { kF16 = 0, kBF16 = 1 };

void convert_f32_to_half(const float* src, uint16_t* dst, size_t n, HalfType type);
void convert_half_to_f32(const uint16_t* src, float* dst, size_t n, HalfType type);

// The index of the first NaN or +-Inf in x[0, n), or n if all are finite.
size_t first_non_finite(const float* x, size_t n);

}  // namespace sparq

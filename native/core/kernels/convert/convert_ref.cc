// Scalar reference conversions (half.h holds the per-element rules).
#include "convert_kernels.h"

#include "../../half.h"

namespace sparq {

void f32_to_f16_ref(const float* src, uint16_t* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = f32_to_f16_scalar(src[i]);
}
void f16_to_f32_ref(const uint16_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = f16_to_f32_scalar(src[i]);
}
void f32_to_bf16_ref(const float* src, uint16_t* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = f32_to_bf16_scalar(src[i]);
}
void bf16_to_f32_ref(const uint16_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32_scalar(src[i]);
}

}  // namespace sparq

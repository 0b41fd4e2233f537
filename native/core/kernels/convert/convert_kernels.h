// f32 <-> f16 / bf16 conversion kernels, one set per ISA level.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sparq {

void f32_to_f16_ref(const float* src, uint16_t* dst, size_t n);
void f16_to_f32_ref(const uint16_t* src, float* dst, size_t n);
void f32_to_bf16_ref(const float* src, uint16_t* dst, size_t n);
void bf16_to_f32_ref(const uint16_t* src, float* dst, size_t n);

void f32_to_f16_avx2(const float* src, uint16_t* dst, size_t n);
void f16_to_f32_avx2(const uint16_t* src, float* dst, size_t n);
void f32_to_bf16_avx2(const float* src, uint16_t* dst, size_t n);
void bf16_to_f32_avx2(const uint16_t* src, float* dst, size_t n);

void f32_to_f16_avx512(const float* src, uint16_t* dst, size_t n);
void f16_to_f32_avx512(const uint16_t* src, float* dst, size_t n);
void f32_to_bf16_avx512(const float* src, uint16_t* dst, size_t n);
void bf16_to_f32_avx512(const uint16_t* src, float* dst, size_t n);

}  // namespace sparq

// Linear kernels on quantized weights (see QuantLinearKernel in kernels.h).
#pragma once
#include <cstddef>
#include <vector>

#include "../../quant.h"

namespace sparq {

void linear_quant_ref(const float* x, size_t ldx, const QuantWeights& w, size_t K,
                      const float* bias, float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                      size_t m1);
void linear_quant_avx2(const float* x, size_t ldx, const QuantWeights& w, size_t K,
                       const float* bias, float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                       size_t m1);
void linear_quant_avx512(const float* x, size_t ldx, const QuantWeights& w, size_t K,
                         const float* bias, float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                         size_t m1);

void linear_quant_i8_pack_ref(const float* x, size_t N, size_t K, const QuantWeights& w,
                              std::vector<ActivationLine>& packed);
void linear_quant_i8_ref(const ActivationLine* x, const QuantWeights& w, size_t K,
                         const float* bias, float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                         size_t m1);
void linear_quant_i8_pack_avx2(const float* x, size_t N, size_t K, const QuantWeights& w,
                               std::vector<ActivationLine>& packed);
void linear_quant_i8_avx2(const ActivationLine* x, const QuantWeights& w, size_t K,
                          const float* bias, float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                          size_t m1);
void linear_quant_i8_pack_avx512vnni(const float* x, size_t N, size_t K, const QuantWeights& w,
                                     std::vector<ActivationLine>& packed);
void linear_quant_i8_avx512vnni(const ActivationLine* x, const QuantWeights& w, size_t K,
                                const float* bias, float* y, size_t ldy, size_t n0, size_t n1,
                                size_t m0, size_t m1);

// Row m of w decoded to f32 (the scalar rule every kernel matches).
void dequantize_row_ref(const QuantWeights& w, size_t K, size_t m, float* out);

}  // namespace sparq

// The kernel table: one function pointer per op and operand type, filled once
// for the active ISA level (see dispatch.cc). Drivers (linear.cc, convert.cc)
// own threading and blocking; kernels compute one block.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "clustered.h"
#include "cpu.h"
#include "quant.h"
#include "weight_type.h"

namespace sparq {


// As DenseLinearKernel, for quantized weights.
using QuantLinearKernel = void (*)(const float* x, size_t ldx, const QuantWeights& w, size_t K,
                                   const float* bias, float* y, size_t ldy, size_t n0, size_t n1,
                                   size_t m0, size_t m1);

// Quantizes activations x [N, K] (K % 32 == 0) to int8 by
// quantize_activations' rule, exactly, and lays them out in `packed` for the
// same table's linear_quant_i8 on weights of w's format.
using QuantI8PackKernel = void (*)(const float* x, size_t N, size_t K, const QuantWeights& w,
                                   std::vector<ActivationLine>& packed);

// As QuantLinearKernel, on activations packed by linear_quant_i8_pack.
using QuantI8LinearKernel = void (*)(const ActivationLine* x, const QuantWeights& w, size_t K,
                                     const float* bias, float* y, size_t ldy, size_t n0, size_t n1,
                                     size_t m0, size_t m1);

// As QuantLinearKernel, for clustered (codebook) weights (clustered.h).
using ClusteredLinearKernel = void (*)(const float* x, size_t ldx, const ClusteredWeights& w,
                                       size_t K, const float* bias, float* y, size_t ldy,
                                       size_t n0, size_t n1, size_t m0, size_t m1);

// Quantizes one activation row x [K] (finite) to int8 by clustered.h's rule,
// exactly, into out [clustered_i8_steps(K)].
using ClusteredI8PackKernel = void (*)(const float* x, size_t K, ClusteredActStep* out);

// As ClusteredLinearKernel with int8 activations (clustered.h): x holds the
// activation rows packed by linear_clustered_i8_pack (clustered_i8_steps(K)
// steps a row), books the int8 codebooks from book 0.
using ClusteredI8LinearKernel = void (*)(const ClusteredActStep* x, const ClusteredWeights& w,
                                         const ClusteredI8Books& books, size_t K, const float* bias,
                                         float* y, size_t ldy, size_t n0, size_t n1, size_t m0,
                                         size_t m1);

// Nearest centroid of each of n points p [n, dim]: centroids are stored
// transposed, ct[d * kp + c] for c < k, kp a multiple of 16 (entries k..kp-1
// are NaN). assign[i] = argmin_c |p_i - c|^2 (ties to the lower index),
// dist[i] = that squared distance, each accumulated with fused multiply-adds
// over d = 0, 1, ... (identical on every ISA level).
using KmeansAssignKernel = void (*)(const float* p, size_t n, size_t dim, const float* ct,
                                    size_t k, size_t kp, int32_t* assign, float* dist);

// Activation rows per task in the linear driver: n0 passed to a kernel is a
// multiple of this, and n1 - n0 is at most this.
constexpr size_t kLinearChunkRows = 48;

// y[n, m] = dot(x[n, :], w[m, :]) (+ bias[m]) for n in [n0, n1), m in [m0, m1).
// x is [*, K] with row stride ldx; w is [*, K] dense row-major of the kernel's
// weight type; y has row stride ldy; bias may be null.
// Each output is a function of its own row and column only, never of the block
// bounds, so any split over threads gives bit-identical results.
using DenseLinearKernel = void (*)(const float* x, size_t ldx, const void* w, size_t K,
                                   const float* bias, float* y, size_t ldy, size_t n0, size_t n1,
                                   size_t m0, size_t m1);

struct SparseWeights;  // sparse.h

// As DenseLinearKernel, for sparse weights (sparse.h). x [*, K] is the
// activations as given (row stride ldx); xp is them packed by the format's
// packer (KernelTable), or null when it has none or the driver skipped it.
using SparseLinearKernel = void (*)(const float* x, size_t ldx, const float* xp,
                                    const SparseWeights& w, size_t K, const float* bias, float* y,
                                    size_t ldy, size_t n0, size_t n1, size_t m0, size_t m1);

// Rearranges activations x [N, K] (row-major) into the order a kernel reads
// them, in at most N * roundup(K, 16) floats.
using PackActivations = void (*)(const float* x, size_t N, size_t K, float* packed);

// Element-wise conversions, round to nearest even; NaN stays NaN (quieted),
// Inf stays Inf. Identical bits on every ISA level.
using F32ToHalfKernel = void (*)(const float* src, uint16_t* dst, size_t n);
using HalfToF32Kernel = void (*)(const uint16_t* src, float* dst, size_t n);

struct KernelTable {
  Isa isa;
  DenseLinearKernel linear_dense[3];  // indexed by WeightType
  // When set, linear_dense reads activations packed by this (its ldx is then
  // unused); when null, it reads x [N, K] as is.
  PackActivations linear_pack_x;
  QuantLinearKernel linear_quant;  // reads activations packed like linear_dense
  QuantI8PackKernel linear_quant_i8_pack;
  QuantI8LinearKernel linear_quant_i8;
  // Indexed by SparseFormat. bitmap and nm read activations packed by
  // linear_pack_x; csr and ell by linear_pack_xt (needed only above
  // kCsrGatherRows rows, see kernels/linear/sparse.h); ell reads x padded to
  // whole panels (row stride ell_padded_k(K)), and packed from that.
  SparseLinearKernel linear_sparse[4];
  PackActivations linear_pack_xt;
  ClusteredLinearKernel linear_clustered;  // reads activations packed like linear_dense
  ClusteredI8PackKernel linear_clustered_i8_pack;
  ClusteredI8LinearKernel linear_clustered_i8;
  KmeansAssignKernel kmeans_assign;
  F32ToHalfKernel f32_to_f16;
  HalfToF32Kernel f16_to_f32;
  F32ToHalfKernel f32_to_bf16;
  HalfToF32Kernel bf16_to_f32;
};

// Per-ISA tables (dispatch.cc).
extern const KernelTable kScalarKernels;
extern const KernelTable kAvx2Kernels;
extern const KernelTable kAvx512Kernels;

// The active table. init_kernels() must have succeeded first.
const KernelTable& kernels();

// Selects the ISA level: `requested` empty means the best the CPU has.
// Returns false and sets *error for an unknown name or a level this CPU lacks.
// The first successful call wins; later calls only validate.
bool init_kernels(const char* requested, const char** error);

}  // namespace sparq
